#!/usr/bin/env bash
# Repeated cross-validation: identities and shard names per repeat, the splits of repeats 0 and 1 (both
# stratified, different, repeat 0 = the split of a campaign without repeats), the same campaign file for
# mpirun -np 2 and -np 3, train --repeat, --plan and the report over repeats x folds.
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
h5vals() { h5dump -w 0 "$@" 2>/dev/null | sed -n 's/^ *([0-9]*): *//p' | tr ',' '\n' | sed 's/^ *//; /^$/d'; }

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
echo "$LAST" | grep -Eq '^ *3  proposed +1 +0 +0 .* proposed-rep1-f0-r0$' && ok "job order model x repeat x fold, names carry the repeat" \
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
summary
