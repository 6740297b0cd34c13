#!/usr/bin/env bash
# run --plan on the smoke campaign: keys, totals = sum of jobs, #SBATCH lines that parse, the per-host
# calibration cache; then every job run by --job (as a SLURM array task would) and its measured core-seconds
# and peak RSS compared with the plan per kind (±30 % time, ±20 % memory).
set -u
LR="${LR:-bin/lesionrank}"
LR="$(cd "$(dirname "$LR")" && pwd)/$(basename "$LR")"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_plan"
mkdir -p "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 BLIS_NUM_THREADS=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT="$PWD"
cd "$T"
# every committed campaign config parses and lists its jobs (nothing runs, no cohort is needed)
for cfg in "$ROOT"/experiments/*.cfg; do
  expect "$(basename "$cfg") parses and lists its jobs" 0 "^jobs: [1-9]" -- "$LR" run "$cfg" --list-jobs
done
sed -e "s|results/smoke/cohort.h5|$T/cohort.h5|" -e 's/^name = "smoke";/name = "plan";/' "$ROOT/experiments/smoke.cfg" > plan.cfg
# the cohort the campaign generates from its synth block (a baseline job makes it; it is rerun below)
"$LR" run plan.cfg --job 30 > /dev/null 2>&1 && rm -f results/plan/jobs/*.h5 || bad "generating the cohort"

expect "run --plan" 0 "^total_core_hours: " -- "$LR" run plan.cfg --plan
PLAN="$LAST"
echo "$PLAN" > plan.out
for k in host blis_arch threads shapes total_core_seconds total_core_hours makespan_seconds calibration_cache; do
  [ -n "$(key $k)" ] && ok "plan key $k: $(key $k)" || bad "plan key $k missing"
done
equal "shapes calibrated now = distinct shapes" "$(key shapes_calibrated_now)" "$(key shapes)"
NJ=$(key jobs)
NMJ=$("$LR" run plan.cfg --list-jobs | awk '/^model_jobs:/ {print $2}')
equal "one line per job" "$(echo "$PLAN" | grep -c '^job_[0-9]*: ')" "$NJ"
sum=$(echo "$PLAN" | awk '/^job_[0-9]+: / {s += $4} END {printf "%.3f", s}')
close "$sum" "$(key total_core_seconds)" 0.001 0.03 && ok "total core-seconds = sum of the jobs ($sum)" || bad "total $(key total_core_seconds) vs sum of jobs $sum"
ksum=$(echo "$PLAN" | awk '/^kind_/ {s += $5; n += $3} END {printf "%.3f %d", s, n}')
close "${ksum% *}" "$(key total_core_seconds)" 0.001 0.03 && ok "kinds add up to the total" || bad "kinds ${ksum% *} vs total $(key total_core_seconds)"
equal "kinds count every job" "${ksum#* }" "$NJ"
# the #SBATCH lines parse: --array=0-N, --time=HH:MM:SS, --mem-per-cpu=NM
echo "$PLAN" | grep -Eq "^#SBATCH --array=0-$((NMJ - 1))$" && ok "#SBATCH --array covers the model jobs" || bad "array line: $(echo "$PLAN" | grep array)"
echo "$PLAN" | grep -Eq '^#SBATCH --time=[0-9]{2}:[0-5][0-9]:[0-5][0-9]$' && ok "#SBATCH --time parses" || bad "time line"
echo "$PLAN" | grep -Eq '^#SBATCH --mem-per-cpu=[1-9][0-9]*M$' && ok "#SBATCH --mem-per-cpu parses" || bad "mem line"
echo "$PLAN" | grep -Eq '^#SBATCH --cpus-per-task=1$' && ok "#SBATCH --cpus-per-task = threads" || bad "cpus line"
echo "$PLAN" | grep -Eq '^pretrain_sbatch: --array=40-41 ' && ok "pretraining tasks line (fractal and organ)" || bad "pretrain line: $(echo "$PLAN" | grep pretrain_sbatch)"
# one array per model kind: every model job in exactly one, each with its kind's own largest peak (x 1.25) and
# longest job (x 1.5, at least 10 min); a ResNet50 kind after its pretraining task (40 organ, 41 fractal)
echo "$PLAN" | awk -v nmj="$NMJ" '
  /^job_[0-9]+: / { id = substr($1, 5) + 0; kind[id] = $2 }
  /^kind_/ { k = substr($1, 6); sub(/:$/, "", k); wall[k] = $7; mem[k] = $9 }
  /^array_sbatch: / {
    k = $2; n_lines++
    split($4, a, "="); split(a[2], parts, ",")
    for (p in parts) { split(parts[p], r, "-"); hi = (r[2] == "" ? r[1] : r[2])
      for (i = r[1] + 0; i <= hi + 0; i++) { seen[i]++; if (kind[i] !~ "^" k "-") bad = bad " job " i " (" kind[i] ") in " k } }
    split($6, t, "[=:]"); secs = t[2] * 3600 + t[3] * 60 + t[4]
    want = 1.5 * wall[k]; if (want < 600) want = 600
    if (secs < want - 1 || secs > want + 61) bad = bad " " k " time " secs " for " want
    m = $7; sub(/^--mem-per-cpu=/, "", m); sub(/M$/, "", m)
    if (m + 0 < 1.25 * mem[k] - 1 || m + 0 > 1.25 * mem[k] + 1) bad = bad " " k " mem " m " for " mem[k]
    after[k] = $3 }
  END {
    for (i = 0; i < nmj; i++) if (seen[i] != 1) bad = bad " job " i " in " seen[i] + 0 " arrays"
    if (after["imagenet_resnet50"] != "after=41" || after["radimagenet_resnet50"] != "after=40" || after["proposed"] != "after=none")
      bad = bad " after: " after["imagenet_resnet50"] " " after["radimagenet_resnet50"] " " after["proposed"]
    print (n_lines == 10 && bad == "") ? "ok" : "lines " n_lines ":" bad }' > arrays.txt
[ "$(cat arrays.txt)" = ok ] && ok "array_sbatch: one array per model kind (10), each job once, its kind's limits, ResNet50 after its pretraining" \
  || bad "array_sbatch lines: $(cat arrays.txt)"
[ -s "$(key calibration_cache)" ] && ok "calibration cached per host" || bad "no cache file $(key calibration_cache)"
expect "second --plan uses the cache" 0 "^shapes_calibrated_now: 0$" -- "$LR" run plan.cfg --plan
expect "--plan --cores 8 --threads 2" 0 "^#SBATCH --cpus-per-task=2$" -- "$LR" run plan.cfg --plan --cores 8 --threads 2
equal "ranks = cores / threads" "$(key ranks)" "4"
expect "--cores without --plan is refused" 2 "--cores goes with --plan" -- "$LR" run plan.cfg --cores 4

# Plan vs actual, per kind: every job in its own process (the pretraining jobs first, as the array's dependency)
: > actual.txt
for id in $(seq "$NMJ" $((NJ - 1))) $(seq 0 $((NMJ - 1))); do
  "$LR" run plan.cfg --job "$id" 2>&1 | grep '^job_cost: ' >> actual.txt || bad "--job $id"
done
equal "every job measured" "$(wc -l < actual.txt)" "$NJ"
# The calibration times real steps on a shared machine: one disturbed timing can skew a kind, so a kind
# outside the bound is judged once more against a fresh calibration (the bounds stay as they are).
CACHE="$(key calibration_cache)"
REPLAN=""
replan() { [ -n "$REPLAN" ] || { rm -f "$CACHE"; REPLAN="$("$LR" run plan.cfg --plan 2>/dev/null)"; }; }
# Under AddressSanitizer the RSS also holds ASan's shadow memory and its quarantine of freed blocks (256 MB
# by default), which the plan does not model: there an actual above the plan may also exceed it by 20 % + 256 MB.
MEM_SLACK_MB=0
MEM_BOUND="20 %"
ldd "$LR" 2>/dev/null | grep -q libasan && MEM_SLACK_MB=256 && MEM_BOUND="20 % (+256 MB above the plan: ASan)"
mem_close() {
  close "$1" "$2" 0.20 || awk -v p="$1" -v a="$2" -v s="$MEM_SLACK_MB" 'BEGIN { exit !(s > 0 && a >= p && a <= 1.2 * p + s) }'
}
kinds=0
for k in $(echo "$PLAN" | awk -F'[_:]' '/^kind_/ {sub(/^kind_/, "", $0); sub(/:.*/, "", $0); print}'); do
  pat="^$k-f"; case "$k" in pretrain_*) pat="^pretrain-${k#pretrain_}" ;; esac
  act=$(awk -v p="$pat" '$2 ~ p {s += $6} END {printf "%.3f", s}' actual.txt)
  mem=$(awk -v p="$pat" '$2 ~ p && $8 > m {m = $8} END {printf "%.1f", m}' actual.txt)
  pl=$(echo "$PLAN" | awk -v k="kind_$k:" '$1 == k {print $5}')
  plm=$(echo "$PLAN" | awk -v k="kind_$k:" '$1 == k {print $9}')
  if ! close "$pl" "$act" 0.30 0.05 || ! mem_close "$plm" "$mem"; then
    replan
    pl=$(echo "$REPLAN" | awk -v k="kind_$k:" '$1 == k {print $5}')
    plm=$(echo "$REPLAN" | awk -v k="kind_$k:" '$1 == k {print $9}')
    echo "plan_vs_actual $k: outside the bounds; recalibrated"
  fi
  echo "plan_vs_actual $k: core_s plan $pl actual $act; peak_mb plan $plm actual $mem"
  close "$pl" "$act" 0.30 0.05 && ok "$k: core-seconds within 30 % (plan $pl, actual $act)" || bad "$k: core-seconds plan $pl, actual $act"
  mem_close "$plm" "$mem" && ok "$k: peak memory within $MEM_BOUND (plan $plm MB, actual $mem MB)" \
    || bad "$k: memory plan $plm MB, actual $mem MB"
  kinds=$((kinds + 1))
done
equal "every kind compared" "$kinds" "12"

# The ETA. Without a calibration for this host it says "unknown" until it can say.
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
sed -e 's/^name = "plan";/name = "noplan";/' -e 's/^models = .*/models = ["proposed", "lesion_count"];/' \
    -e '/^ *"imagenet_resnet50", "radimagenet_resnet50", "total_volume"/d' plan.cfg > noplan.cfg
echo 'results_dir = "elsewhere";' >> noplan.cfg
out="$("$LR" run noplan.cfg 2>&1)" || bad "noplan run: $(echo "$out" | tail -2)"
echo "$out" | grep -q "^plan: no calibration cached for this host" && ok "run says it has no plan" || bad "no-plan message: $(echo "$out" | head -2)"
first="$(echo "$out" | grep -m1 'status: ')"
echo "$first" | grep -q "ETA unknown$" && ok "ETA unknown before any job finished: $first" || bad "first status without a plan: $first"
echo "$out" | grep -Eq "status: [1-9][0-9]*/8 done.*ETA [0-9]+s$" && ok "ETA known once jobs of every pending kind finished" || bad "ETA never known: $(echo "$out" | grep status | tail -2)"

# With the plan (cached above): the ETA printed at the halfway point against the actual remaining time.
sed -e 's/^name = "plan";/name = "eta";/' plan.cfg > eta.cfg
out="$(mpirun -np 3 "$LR" run eta.cfg 2>&1)" || bad "eta run: $(echo "$out" | tail -2)"
echo "$out" | grep -q "^plan: .* of jobs from .*calibration-.*; layout 2 ranks x 1 thread$" && ok "run prints the plan and the layout" || bad "plan line: $(echo "$out" | grep '^plan:')"
echo "$out" | grep 'status: ' | sed -E 's/^\[ *([0-9.]+)s\].*ETA ([0-9]+|unknown)s?$/\1 \2/' > eta.txt
half="$(awk '{t[NR] = $1; e[NR] = $2} END {T = t[NR]; best = 1; for (i = 1; i <= NR; i++) if ((t[i] - T / 2)^2 < (t[best] - T / 2)^2) best = i;
            printf "%s %s %.1f", t[best], e[best], T - t[best]}' eta.txt)"
set -- $half
echo "eta at halfway: at ${1}s the ETA said ${2}s, ${3}s remained"
close "$2" "$3" 0.5 && ok "ETA at halfway within 50 % (said ${2}s, ${3}s remained)" || bad "ETA at halfway: said ${2}s, ${3}s remained"
[ "$(wc -l < eta.txt)" -ge 20 ] && ok "a status line after every job ($(wc -l < eta.txt))" || bad "status lines: $(wc -l < eta.txt)"

cd "$ROOT"
summary
