#!/usr/bin/env bash
# The campaign runner: determinism across rank counts and job-by-job, resume after kill -9, failing
# jobs, interrupted merge, config errors under mpirun.
set -u
LR="${LR:-bin/lesionrank}"
LR="$(cd "$(dirname "$LR")" && pwd)/$(basename "$LR")"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_run"
mkdir -p "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none BLIS_NUM_THREADS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool h5diff h5dump mpirun
ROOT="$PWD"
# the report finds its plot templates next to the binary; build-asan/bin has none beside it
export LESIONRANK_ANALYSIS="${LESIONRANK_ANALYSIS:-$ROOT/analysis}"
cd "$T"
# 3 folds x (proposed, imagenet_resnet50 via organ pretraining, lesion_count) = 9 jobs + pretraining
sed -e "s|results/smoke/cohort.h5|$T/cohort.h5|" -e 's/^folds = 4;/folds = 3;/' \
    -e 's/^models = .*/models = ["proposed", "imagenet_resnet50", "lesion_count"];/' \
    -e '/^ *"imagenet_resnet50", "radimagenet_resnet50", "total_volume"/d' \
    "$ROOT/experiments/smoke.cfg" > camp.cfg
grep -q '^name = "smoke";' camp.cfg && sed -i 's/^name = "smoke";/name = "camp";/' camp.cfg
NJ=$("$LR" run camp.cfg --list-jobs | awk '/^jobs:/ {print $2}')
[ "$NJ" = "10" ] && ok "list-jobs counts 10 jobs" || bad "list-jobs: '$NJ' jobs"


# Reference: every job by --job in one process, then merge.
refok=1
for id in $(seq 0 $((NJ - 1))); do
  "$LR" run camp.cfg --job "$id" > /dev/null 2>"job$id.err" || { refok=0; bad "--job $id: $(tail -1 job$id.err)"; }
done
[ $refok = 1 ] && ok "every job by --job"
"$LR" merge camp.cfg > merge.out 2>&1 && ok "merge (1 process)" || bad "merge: $(tail -2 merge.out)"
cp results/camp.h5 ref.h5
"$LR" run camp.cfg --job 0 | grep -q "already finished" && ok "--job skips a finished job" || bad "--job rerun"
mv results results.ref

for np in 2 3 4; do
  out="$(mpirun -np $np "$LR" run camp.cfg 2>&1)"; rc=$?
  [ $rc -eq 0 ] && ok "mpirun -np $np run" || bad "mpirun -np $np run (exit $rc): $(echo "$out" | tail -3 | tr '\n' ' ')"
  echo "$out" | grep -q "status: 10/10 done" && ok "-np $np progress display" || bad "-np $np progress"
  same_campaign "-np $np equals job-by-job" ref.h5 results/camp.h5
  if [ $np = 3 ]; then
    mpirun -np 2 "$LR" merge camp.cfg > /dev/null 2>&1 && same_campaign "merge with 2 ranks equals" ref.h5 results/camp.h5 || bad "merge -np 2"
    out="$(mpirun -np 3 "$LR" run camp.cfg 2>&1)"
    echo "$out" | grep -q "10 already finished (resume), 0 to run" && ok "rerun skips finished jobs" || bad "rerun: $(echo "$out" | head -2)"
  fi
  rm -rf results
done

# kill -9 a worker mid-campaign, then rerun: only unfinished jobs run; the result equals the reference.
sed -e 's/epochs = 2;/epochs = 4;/' camp.cfg > kill.cfg
sed -i 's/^name = "camp";/name = "kill";/' kill.cfg
for id in $(seq 0 $((NJ - 1))); do "$LR" run kill.cfg --job "$id" > /dev/null 2>&1; done
"$LR" merge kill.cfg > /dev/null 2>&1; cp results/kill.h5 kill_ref.h5; rm -rf results
mpirun -np 3 "$LR" run kill.cfg > kill1.out 2>&1 &
MPIPID=$!
killed=0
for i in $(seq 1 600); do
  if ls results/kill/checkpoints/*.h5 >/dev/null 2>&1 && ls results/kill/jobs/*.h5 >/dev/null 2>&1; then
    for p in $(pgrep -f "$LR run kill.cfg"); do
      if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -q '^OMPI_COMM_WORLD_RANK=1$'; then kill -9 "$p"; killed=1; fi
    done
    break
  fi
  sleep 0.1
done
wait $MPIPID; rc1=$?
[ $killed = 1 ] && [ $rc1 -ne 0 ] && ok "kill -9 of a worker ends the run" || bad "kill: killed=$killed rc=$rc1"
ndone=$(ls results/kill/jobs/*.h5 2>/dev/null | wc -l)
out="$(mpirun -np 3 "$LR" run kill.cfg 2>&1)"; rc=$?
[ $rc -eq 0 ] && ok "rerun after kill" || bad "rerun after kill: $(echo "$out" | tail -3)"
echo "$out" | grep -Eq "[1-9][0-9]* already finished \(resume\)" && ok "rerun skips the $ndone finished jobs" || bad "rerun did not skip: $(echo "$out" | head -1)"
grep -h "resumed from checkpoint" results/kill/logs/*.log >/dev/null 2>&1 && ok "a killed job resumed from its checkpoint" || bad "no job resumed from a checkpoint"
same_campaign "after kill -9 and rerun equals an uninterrupted run" kill_ref.h5 results/kill.h5

# Interrupted merge: kill it, leave a stale temporary file, merge again: the same file.
cp results/kill.h5 merged_before.h5
# Kill the merge while its temporary file is open (busy-wait for it: the window is tens of milliseconds),
# and check it really was killed mid-write (exit 137, the temporary file left, the campaign file unchanged).
rm -f results/kill.h5.tmp
"$LR" merge kill.cfg > /dev/null 2>&1 & P=$!
i=0; while [ $i -lt 3000000 ] && [ ! -e results/kill.h5.tmp ] && kill -0 $P 2>/dev/null; do i=$((i + 1)); done
kill -9 $P 2>/dev/null; wait $P 2>/dev/null; rc=$?
[ $rc -eq 137 ] && [ -e results/kill.h5.tmp ] && cmp -s merged_before.h5 results/kill.h5 \
  && ok "merge killed mid-write leaves the campaign file as it was" || bad "merge not killed mid-write (exit $rc)"
echo "garbage" > results/kill.h5.tmp
"$LR" merge kill.cfg > /dev/null 2>&1 && same_campaign "merge after an interrupted merge" merged_before.h5 results/kill.h5 || bad "merge after kill"

# Shards of another config are never mixed in: run refuses and points at --fresh, which moves them aside.
sed -i 's/lr = 1e-3;/lr = 2e-3;/' kill.cfg
out="$(mpirun -np 2 "$LR" run kill.cfg 2>&1)"; rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "made with another config" && ok "stale shards refused" || bad "stale shards: exit $rc $(echo "$out" | head -2)"
out="$("$LR" run kill.cfg --job 1 2>&1)"; rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "run --fresh" && ok "--job refuses a stale shard" || bad "--job stale: exit $rc"
# same name as kill.cfg (its results are what --fresh moves aside), another model list
sed -e 's/^models = .*/models = ["lesion_count"];/' kill.cfg > fresh.cfg
grep -q '^name = "kill";' fresh.cfg && ! cmp -s kill.cfg fresh.cfg && ok "fresh.cfg: same name, other models" || bad "fresh.cfg"
out="$("$LR" run fresh.cfg --fresh 2>&1)"; rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "fresh: moved results/kill to results/kill.old-" && ok "--fresh moves old results aside" || bad "--fresh: exit $rc $(echo "$out" | head -2)"
ls -d results/kill.old-* >/dev/null 2>&1 && ok "old results kept" || bad "old results gone"

# A job that fails every try: reported, in the jobs table, and run exits non-zero.
# (fault injection: learned jobs stop after one epoch on every attempt; baselines have no epochs)
sed -e 's/^models = .*/models = ["proposed", "lesion_count"];/' camp.cfg > failing.cfg
sed -i 's/^name = "camp";/name = "failing";/' failing.cfg
out="$(LESIONRANK_TEST_STOP_AFTER_EPOCHS=1 mpirun -np 2 "$LR" run failing.cfg 2>&1)"; rc=$?
[ $rc -ne 0 ] && ok "run exits non-zero when jobs fail" || bad "failing run exit $rc"
echo "$out" | grep -q "FAILED on rank 1 after 2 attempts" && ok "failure reported after retries" || bad "no failure report: $(echo "$out" | grep -i fail | head -2)"
echo "$out" | grep -q "failed_jobs: 3" && ok "summary counts 3 failed jobs" || bad "summary: $(echo "$out" | tail -2)"
[ "$(h5dump -d /jobs/status results/failing.h5 2>/dev/null | grep -o '"failed"' | wc -l)" = 3 ] && ok "jobs table marks them failed" || bad "jobs table status"

# A config error under mpirun: one clear message, every rank exits, non-zero.
sed -e 's/^train = { epochs = 2;/train = { epochz = 2;/' camp.cfg > badcfg.cfg
out="$(timeout 60 mpirun -np 3 "$LR" run badcfg.cfg 2>&1)"; rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok "config error under mpirun exits" || bad "config error exit $rc"
[ "$(echo "$out" | grep -c "unknown key 'train.epochz'")" = 1 ] && ok "config error reported once" || bad "config error message: $(echo "$out" | head -3)"

# A campaign whose jobs ran on different BLIS kernels (a heterogeneous cluster): merge and report say so.
# BLIS 0.9.0's arch ids: 5 penryn (SSE), 25 generic; both run on any x86-64 CPU.
sed -e 's/^models = .*/models = ["proposed"];/' -e 's/^name = "camp";/name = "mixed";/' camp.cfg > mixed.cfg
BLIS_ARCH_TYPE=25 "$LR" run mixed.cfg --job 0 > /dev/null 2>&1 && ok "job 0 on generic kernels" || bad "job 0 (generic)"
for id in 1 2; do BLIS_ARCH_TYPE=5 "$LR" run mixed.cfg --job $id > /dev/null 2>&1 || bad "job $id (penryn)"; done
out="$("$LR" merge mixed.cfg 2>&1)"
echo "$out" | grep -q "blis_arch: mixed (generic, penryn)" && ok "merge reports mixed BLIS kernels" || bad "merge: $(echo "$out" | grep blis)"
out="$("$LR" report results/mixed.h5 -o mixed_report 2>&1)"
echo "$out" | grep -q "^blis_arch: mixed: generic, penryn" && ok "report key names both kernels" || bad "report: $(echo "$out" | grep blis)"
grep -q "Mixed BLIS kernels" mixed_report/report.md && ok "report.md warns of mixed kernels" || bad "report.md lacks the warning"
out="$("$LR" report ref.h5 -o ref_report 2>&1)"   # the reference campaign: every job on one machine
echo "$out" | grep -Eq "^blis_arch: [a-z0-9]+$" && ok "one kind of kernels: named, no warning" || bad "report (one arch): $(echo "$out" | grep blis)"
grep -q "Mixed BLIS kernels" ref_report/report.md && bad "report.md warns without reason" || ok "report.md: no mixed-kernel warning"

cd "$ROOT"
summary
