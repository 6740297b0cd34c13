#!/usr/bin/env bash
# Failed jobs: run --list-jobs marks them FAILED with their last error line; run --retry-failed reruns
# exactly those (same seed: the result equals a run that never failed), leaving jobs not yet started alone.
set -u
LR="${LR:-bin/lesionrank}"
LR="$(cd "$(dirname "$LR")" && pwd)/$(basename "$LR")"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_retry"
mkdir -p "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none BLIS_NUM_THREADS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool h5diff mpirun
ROOT="$PWD"
cd "$T"
# 3 folds x (proposed, lesion_count, sum_diameters) = 9 jobs
sed -e "s|results/smoke/cohort.h5|$T/cohort.h5|" -e 's/^folds = 4;/folds = 3;/' -e 's/^name = "smoke";/name = "retry";/' \
    -e 's/^models = .*/models = ["proposed", "lesion_count", "sum_diameters"];/' \
    -e '/^ *"imagenet_resnet50", "radimagenet_resnet50", "total_volume"/d' \
    "$ROOT/experiments/smoke.cfg" > retry.cfg

# the reference: a run where nothing failed
"$LR" run retry.cfg > ref.out 2>&1 && cp results/retry.h5 ref.h5 || bad "reference run: $(tail -2 ref.out)"
mv results results.ref

expect "list-jobs before any run: all pending" 0 "^jobs_pending: 9$" -- "$LR" run retry.cfg --list-jobs
# every learned job fails (fault injection: stopped after one epoch, on every attempt)
out="$(LESIONRANK_TEST_STOP_AFTER_EPOCHS=1 mpirun -np 2 "$LR" run retry.cfg 2>&1)"; rc=$?
[ $rc -ne 0 ] && ok "run with failing jobs exits non-zero" || bad "failing run exit $rc"
# one finished baseline job is removed: not started as far as the campaign knows
rm -f results/retry/jobs/sum_diameters-f2-r0.h5
expect "list-jobs counts the failed jobs" 0 "^jobs_failed: 3$" -- "$LR" run retry.cfg --list-jobs
LIST="$LAST"
equal "failed jobs are the proposed ones" "$(echo "$LIST" | grep -c ' FAILED  *proposed-f[0-2]-r0: ')" "3"
echo "$LIST" | grep ' FAILED ' | head -1 | grep -q ": interrupted after epoch 1 (testing) (raised at .*train.c:[0-9]*)" \
  && ok "FAILED rows carry the last error line with its origin" || bad "error line: $(echo "$LIST" | grep FAILED | head -1)"
equal "the removed job is pending" "$(echo "$LIST" | awk '$NF == "sum_diameters-f2-r0" {print $(NF - 1)}')" "pending"
equal "done jobs" "$(key jobs_done)" "5"

out="$(mpirun -np 2 "$LR" run retry.cfg --retry-failed 2>&1)"; rc=$?
[ $rc -eq 0 ] && ok "--retry-failed exits 0" || bad "--retry-failed exit $rc: $(echo "$out" | tail -3)"
equal "it reruns exactly the failed jobs" "$(echo "$out" | grep -c '^retry: job [0-9]* proposed-f[0-2]-r0 (failed: interrupted')" "3"
echo "$out" | grep -q "^retry-failed: 3 failed job(s) to rerun, 1 not started (left for a later run)$" && ok "retry summary" || bad "summary: $(echo "$out" | grep retry-failed)"
equal "jobs started" "$(echo "$out" | grep -c ' started on rank ')" "3"
echo "$out" | grep -q "sum_diameters-f2-r0 started" && bad "a job that had not failed was run" || ok "the not-started job was left alone"
expect "list-jobs after the retry" 0 "^jobs_failed: 0$" -- "$LR" run retry.cfg --list-jobs
equal "the not-started job is still pending" "$(key jobs_pending)" "1"
"$LR" run retry.cfg > rest.out 2>&1 && ok "a normal run finishes the rest" || bad "rest: $(tail -2 rest.out)"
grep -q "8 already finished (resume), 1 to run" rest.out && ok "only the pending job ran" || bad "rest: $(grep campaign rest.out)"
same_campaign "retried campaign equals one that never failed (same seeds)" ref.h5 results/retry.h5
expect "--retry-failed and --job do not combine" 2 "combines with --threads only" -- "$LR" run retry.cfg --retry-failed --job 1

cd "$ROOT"
summary
