#!/usr/bin/env bash
# Repeated cross-validation: identities and shard names per repeat, the splits of repeats 0 and 1 (both
# stratified, different, repeat 0 = the split of a campaign without repeats), the same campaign file for
# mpirun -np 2 and -np 3, train --repeat, --plan and the report over repeats x folds.
# Sweeps: a 2-setting sweep runs, the report's selected setting per fold is the argmax of the validation C
# recorded in the shards, bad sweep keys are refused naming the key (and nothing is written).
set -u
LR="${LR:-bin/lesionrank}"
LR="$(cd "$(dirname "$LR")" && pwd)/$(basename "$LR")"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_repeats"
mkdir -p "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none BLIS_NUM_THREADS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool h5diff h5dump mpirun
ROOT="$PWD"
export LESIONRANK_ANALYSIS="${LESIONRANK_ANALYSIS:-$ROOT/analysis}"
cd "$T"

# values of a 1-D dataset (or a scalar attribute with -a), one per line
h5vals() { h5dump -w 0 "$@" 2>/dev/null | sed -n 's/^ *([0-9,]*): *//p' | tr ',' '\n' | sed 's/^ *//; /^$/d'; }
h5num() { h5vals -m %.17g "$@"; } # floats at full precision

# 24 patients, 3 folds, 1 epoch: proposed (learned) and lesion_count (a baseline) x 2 repeats = 12 jobs
base() { # name repeats-line
  sed -e "s|results/smoke/cohort.h5|$T/cohort.h5|" -e 's/^folds = 4;/folds = 3;/' \
      -e 's/^models = .*/models = ["proposed", "lesion_count"];/' \
      -e '/^ *"imagenet_resnet50", "radimagenet_resnet50", "total_volume"/d' \
      -e 's/patients = 40;/patients = 24;/' -e 's/ volumes = "8x32x32";//' -e 's/epochs = 2;/epochs = 1;/' \
      -e "s/^name = \"smoke\";/name = \"$1\";$2/" "$ROOT/experiments/smoke.cfg"
}
base rep "\nrepeats = 2;" > rep.cfg
base one "" > one.cfg
grep -q '^repeats = 2;' rep.cfg && ok "config with repeats = 2" || bad "sed of the config"

expect "list-jobs" 0 "^repeats: 2$" -- "$LR" run rep.cfg --list-jobs
equal "12 jobs (2 models x 2 repeats x 3 folds)" "$(key jobs)" 12
echo "$LAST" | grep -Eq '^ *3  proposed +-1 +1 +0 +0 .* proposed-rep1-f0-r0$' && ok "job order model x repeat x fold, names carry the repeat" \
  || bad "job 3: $(echo "$LAST" | grep -E "^ *3 ")"
expect "one split: old names" 0 "proposed-f0-r0$" -- "$LR" run one.cfg --list-jobs
expect "--plan counts every repeat's jobs" 0 "^total_core_hours: " -- "$LR" run rep.cfg --plan
equal "plan: one line per job" "$(echo "$LAST" | grep -c '^job_[0-9]*: ')" 12
echo "$LAST" | grep -q '^job_3: proposed-rep1-f0-r0 ' && ok "plan names the repeat's job" || bad "plan job_3: $(echo "$LAST" | grep "^job_3")"

out="$(mpirun -np 2 "$LR" run rep.cfg 2>&1)"; rc=$?
[ $rc -eq 0 ] && ok "mpirun -np 2 run" || bad "mpirun -np 2 (exit $rc): $(echo "$out" | tail -3 | tr '\n' ' ')"
J=results/rep/jobs
cp results/rep.h5 np2.h5

# identities differ across repeats (and across folds), shards record the repeat
i0="$(h5vals -a /identity $J/proposed-rep0-f0-r0.h5)"; i1="$(h5vals -a /identity $J/proposed-rep1-f0-r0.h5)"
[ -n "$i0" ] && [ -n "$i1" ] && [ "$i0" != "$i1" ] && ok "identities differ across repeats ($i0, $i1)" || bad "identities '$i0' '$i1'"
equal "shard attribute repeat" "$(h5vals -a /repeat $J/proposed-rep1-f0-r0.h5 | tr -d '"')" 1
equal "/jobs/repeat: one row per job" "$(h5vals -d /jobs/repeat np2.h5 | tr '\n' ' ')" "0 0 0 1 1 1 0 0 0 1 1 1 "

# the splits: roles of the baseline's shards (0 train, 1 valid, 2 test) per repeat and fold
for k in 0 1; do for f in 0 1 2; do h5vals -d /patients/role $J/lesion_count-rep$k-f$f-r0.h5 > role_$k$f; done; done
h5vals -d /patients/event "$T/cohort.h5" > event; h5vals -d /patients/arm "$T/cohort.h5" > arm
[ "$(wc -l < event)" = 24 ] && [ "$(wc -l < role_00)" = 24 ] && ok "read 24 roles and events" || bad "roles/events: $(wc -l < role_00) $(wc -l < event)"
cmp -s role_00 role_10 && bad "repeats 0 and 1 have the same split" || ok "the splits of repeats 0 and 1 differ"
for k in 0 1; do
  # every patient is tested exactly once per repeat; per fold the test part's size and each arm x event
  # stratum differ by at most one between folds
  r="$(paste role_${k}0 role_${k}1 role_${k}2 arm event | awk '
    { n = 0; for (f = 1; f <= 3; f++) if ($f == 2) { n++; size[f]++; s[f, $4, $5]++; st[$4, $5] = 1 } if (n != 1) bad = 1 }
    END { for (f = 1; f <= 3; f++) for (g = 1; g <= 3; g++) { if (size[f] - size[g] > 1) bad = 1
            for (key in st) { split(key, a, SUBSEP); if (s[f, a[1], a[2]] - s[g, a[1], a[2]] > 1) bad = 1 } }
          print bad ? "no" : "yes" }')"
  equal "repeat $k: stratified (one test fold per patient, sizes and strata within one)" "$r" yes
done

# repeat 0 is the split (and the job) of the same campaign without repeats
"$LR" run one.cfg --job 0 > /dev/null 2>&1 && "$LR" run one.cfg --job 3 > /dev/null 2>&1 || bad "one.cfg jobs"
h5vals -d /patients/role results/one/jobs/lesion_count-f0-r0.h5 > role_one
[ -s role_one ] && cmp -s role_one role_00 && ok "repeat 0 split = the split without repeats" || bad "repeat 0 split differs from the one-split campaign"
h5diff -q -d 0 results/one/jobs/proposed-f0-r0.h5 $J/proposed-rep0-f0-r0.h5 /patients/risk /patients/risk \
  && ok "repeat 0's proposed job = the job without repeats (same risks)" || bad "repeat 0 proposed risks differ"

# train --repeat: the campaign's split of that repeat
"$LR" train rep.cfg --model lesion_count --fold 0 --repeat 1 -o tr1.h5 --quiet > tr1.out 2>&1 \
  && ok "train --repeat 1" || bad "train --repeat 1: $(tail -2 tr1.out)"
h5vals -d /patients/role tr1.h5 > role_tr1
[ -s role_tr1 ] && cmp -s role_tr1 role_10 && ok "train --repeat 1 uses repeat 1's split" || bad "train --repeat split"
expect "train --repeat beyond repeats is refused" 1 "repeat 2: the experiment has 2 repeat" -- \
  "$LR" train rep.cfg --model lesion_count --fold 0 --repeat 2 -o tr2.h5
[ ! -e tr2.h5 ] && ok "nothing written" || bad "tr2.h5 written"

# the same campaign file for any number of ranks
rm -rf results/rep results/rep.h5
out="$(mpirun -np 3 "$LR" run rep.cfg 2>&1)"; rc=$?
[ $rc -eq 0 ] && ok "mpirun -np 3 run" || bad "mpirun -np 3 (exit $rc): $(echo "$out" | tail -3 | tr '\n' ' ')"
same_campaign "-np 3 equals -np 2" np2.h5 results/rep.h5

# the report: repeats x folds
expect "report" 0 "^repeats: 2$" -- "$LR" report np2.h5 -o report --bootstrap 50
grep -q '^- repeats: 2 ' report/report.md && ok "report.md header states repeats" || bad "report.md: $(grep -m1 repeats report/report.md)"
grep -q 'repeated 2 times' report/table2.md && ok "table2.md: over repeats x folds" || bad "table2.md text"
n=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $1 == "proposed" { print $c["folds"] }' report/table2.csv)
equal "Table 2 row over 6 (repeat, fold) units" "$n" 6

# ---- sweeps with nested selection ----
base sweep "\nsweep = { train = { lr = [1e-3, 4e-3]; }; };" > sweep.cfg
expect "sweep: list-jobs" 0 "^setting_1: train.lr=0.004$" -- "$LR" run sweep.cfg --list-jobs
equal "sweep: 9 jobs (2 settings x 3 folds of proposed, 3 of the baseline)" "$(key jobs)" 9
echo "$LAST" | grep -Eq '^ *3  proposed +1 +0 +0 +0 .* proposed-s1-f0-r0$' && ok "sweep: setting in the job table and name" \
  || bad "sweep job 3: $(echo "$LAST" | grep -E '^ *3 ')"
echo "$LAST" | grep -Eq '^ *6  lesion_count +-1 ' && ok "sweep: the size baseline is not expanded" || bad "sweep baseline row"
expect "sweep: --plan" 0 "^total_core_hours: " -- "$LR" run sweep.cfg --plan
equal "sweep: plan counts the expanded jobs" "$(echo "$LAST" | grep -c '^job_[0-9]*: ')" 9
out="$(mpirun -np 3 "$LR" run sweep.cfg 2>&1)"; rc=$?
[ $rc -eq 0 ] && ok "sweep: mpirun -np 3 run" || bad "sweep run (exit $rc): $(echo "$out" | tail -3 | tr '\n' ' ')"
S=results/sweep/jobs
i0="$(h5vals -a /identity $S/proposed-s0-f0-r0.h5)"; i1="$(h5vals -a /identity $S/proposed-s1-f0-r0.h5)"
[ -n "$i0" ] && [ "$i0" != "$i1" ] && ok "sweep: identities differ across settings" || bad "sweep identities '$i0' '$i1'"
equal "sweep: /jobs/setting" "$(h5vals -d /jobs/setting results/sweep.h5 | tr '\n' ' ')" "0 0 0 1 1 1 -1 -1 -1 "
equal "sweep: /sweep/key" "$(h5vals -d /sweep/key results/sweep.h5 | tr -d '"')" "train.lr"
equal "sweep: /sweep/values" "$(h5vals -d /sweep/values results/sweep.h5 | tr '\n' ' ')" "0.001 0.004 "
expect "sweep: report" 0 "^selection: " -- "$LR" report results/sweep.h5 -o sweep_report --bootstrap 50
grep -q '^| Proposed \[train.lr=0.001\] ' sweep_report/table2.md && grep -q '^| Proposed \[train.lr=0.004\] ' sweep_report/table2.md \
  && grep -q '^| Proposed \[selected\] ' sweep_report/table2.md && ok "sweep: a row per setting and the selected row" \
  || bad "sweep rows: $(grep -c Proposed sweep_report/table2.md)"
# the selection recomputed from the shards: per fold the setting with the larger validation C (ties: 0)
n=0
for f in 0 1 2; do
  v0="$(h5num -d /cindex/final $S/proposed-s0-f$f-r0.h5 | sed -n 2p)"; v1="$(h5num -d /cindex/final $S/proposed-s1-f$f-r0.h5 | sed -n 2p)"
  want="$(awk -v a="$v0" -v b="$v1" 'BEGIN { print (b + 0 > a + 0) ? 1 : 0 }')"
  got="$(awk -F, -v f=$f '$1 == "proposed" && $2 == 0 && $3 == f {print $4}' sweep_report/selection.csv)"
  equal "sweep: fold $f selects the argmax of the shards' validation C ($v0, $v1)" "$got" "$want"
  test_c="$(h5num -d /cindex/final $S/proposed-s$want-f$f-r0.h5 | sed -n 3p)"
  sel_c="$(awk -F, -v f=$f '$1 == "proposed" && $2 == 0 && $3 == f {print $NF}' sweep_report/selection.csv)"
  close "$sel_c" "$test_c" 1e-6 && ok "sweep: fold $f reports the selected setting's test C" || bad "fold $f test C '$sel_c' vs '$test_c'"
  n=$((n + 1))
done
equal "sweep: every fold checked" "$n" 3
# predict applies the selected setting's model of each fold (the row of /jobs: setting s, fold f -> job 3 s + f)
expect "sweep: predict" 0 "^models: 3$" -- "$LR" predict results/sweep.h5 --model proposed --cohort "$T/cohort.h5" -o pred.h5 --bootstrap 0
want_jobs="$(for f in 0 1 2; do awk -F, -v f=$f '$1 == "proposed" && $2 == 0 && $3 == f {print 3 * $4 + f}' sweep_report/selection.csv; done | tr '\n' ' ')"
equal "sweep: predict's models are the selected settings' jobs" "$(h5vals -d /models/job pred.h5 | tr '\n' ' ')" "$want_jobs"
expect "repeats: predict" 0 "^models: 6$" -- "$LR" predict np2.h5 --model proposed --cohort "$T/cohort.h5" -o pred2.h5 --bootstrap 0
equal "repeats: one model per (repeat, fold)" "$(h5vals -d /models/label pred2.h5 | tr -d '"' | tr '\n' ' ')" \
  "repeat0_fold0 repeat0_fold1 repeat0_fold2 repeat1_fold0 repeat1_fold1 repeat1_fold2 "
# bad sweeps: refused before anything runs, naming the key, the file and the line; nothing written
bad_sweep() { # name sweep-text regex
  base "bad$1" "\n$2" > "bad$1.cfg"
  expect "sweep refused: $1" 1 "$3" -- "$LR" run "bad$1.cfg"
  [ ! -e "results/bad$1" ] && [ ! -e "results/bad$1.h5" ] && ok "sweep refused: $1: nothing written" || bad "bad$1 wrote results"
}
bad_sweep unknown 'sweep = { train = { lrate = [1e-3]; }; };' "bad(unknown)?\.cfg:[0-9]+: sweep: unknown key 'train.lrate'"
bad_sweep nonnumeric 'sweep = { train = { ties = ["efron"]; }; };' "badnonnumeric\.cfg:[0-9]+: sweep: key 'train.ties' is not numeric"
bad_sweep range 'sweep = { cnn = { width = [4, 2000]; }; };' "badrange\.cfg:[0-9]+: sweep: key 'cnn.width': value 2000 out of range"
bad_sweep empty 'sweep = { train = { lr = []; }; };' "badempty\.cfg:[0-9]+: sweep: key 'train.lr': expected a non-empty list"
bad_sweep group 'sweep = { resnet50 = { width = [4, 8]; }; };' "badgroup\.cfg:[0-9]+: sweep: key 'resnet50.width' cannot be swept"
bad_sweep float 'sweep = { cnn = { width = [4.5]; }; };' "badfloat\.cfg:[0-9]+: sweep: key 'cnn.width': expected integer values"
expect "sweep: dotted names get a hint" 1 "setting names cannot contain '\.'" -- \
  sh -c "sed 's/^sweep = .*/sweep = { train.lr = [1e-3]; };/' sweep.cfg > dotted.cfg && \"$LR\" run dotted.cfg"
summary
