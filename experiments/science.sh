#!/usr/bin/env bash
# The science check of issue 12 (not in CI: about 3 x the demo's wall time, ~45 min on 2 cores): the demo
# campaign (experiments/demo.cfg) on several synthetic cohort seeds, then one table, per seed and fold:
#   Proposed test C | annotated-truth C (the reachable ceiling, that fold's test patients) | best size
#   baseline (by test C) and Δ = Proposed − it | lesion ρ(r_l, true h_l) | organ with the highest and the
#   lowest median predicted lesion risk | growth one-sided p, nested model (each lesion once) and the
#   paper's | whole-volume train C
# and per seed the pooled paired Δ vs each size baseline with its 95 % BCa interval (report's table2.csv).
# usage: experiments/science.sh [bin/lesionrank]
# Environment: SEEDS (cohort seeds, default "7 1 2"), RANKS (default cores + 1), CFG (the campaign to repeat,
# default experiments/demo.cfg), OUT (default results/science: configs, campaigns, reports). A quick smoke
# run of the script itself: CFG=experiments/smoke.cfg OUT=/tmp/science SEEDS=3 experiments/science.sh
# Do not tune on these numbers: they are the test folds.
set -euo pipefail
LR="${1:-bin/lesionrank}"
SEEDS="${SEEDS:-7 1 2}"
CFG="${CFG:-experiments/demo.cfg}"
out="${OUT:-results/science}"
export BLIS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
ranks="${RANKS:-$(( $(getconf _NPROCESSORS_ONLN) + 1 ))}"
mkdir -p "$out"
key() { awk -F': ' -v k="$1" '$1 == k { print $2; exit }' "$2"; }
start=$(date +%s)
for seed in $SEEDS; do
  cfg="$out/science_s$seed.cfg"
  # the same campaign on another cohort seed, everything under $out
  awk -v seed="$seed" -v out="$out" '
    /^name = / { print "name = \"science_s" seed "\";"; print "results_dir = \"" out "/results\";"; next }
    /^results_dir = / { next }
    /^ *path = / && !cohort_path { sub(/"[^"]*"/, "\"" out "/science_s" seed "/cohort.h5\""); cohort_path = 1 }
    match($0, /synth = \{ patients = [0-9]+; seed = [0-9]+;/) {
      s = substr($0, RSTART, RLENGTH); sub(/seed = [0-9]+;/, "seed = " seed ";", s)
      $0 = substr($0, 1, RSTART - 1) s substr($0, RSTART + RLENGTH) }
    { print }' "$CFG" > "$cfg"
  grep -Eq "synth = \{ patients = [0-9]+; seed = $seed;" "$cfg" && grep -q "science_s$seed/cohort.h5" "$cfg" \
    || { echo "science: cannot derive $cfg from $CFG" >&2; exit 1; }
  camp="$out/results/science_s$seed.h5"
  t0=$(date +%s)
  if command -v mpirun >/dev/null; then mpirun -np "$ranks" "$LR" run "$cfg"; else "$LR" run "$cfg"; fi
  echo "science: seed $seed campaign $(( $(date +%s) - t0 )) s" >&2
  "$LR" inspect "$out/science_s$seed/cohort.h5" > "$out/cohort_s$seed.txt"
  "$LR" report "$camp" -o "$out/s$seed/all" --all-folds --force > "$out/s$seed.all.txt"
  for fold in 0 1 2 3; do
    "$LR" report "$camp" -o "$out/s$seed/fold$fold" --fold "$fold" --force > "$out/s$seed.f$fold.txt"
  done
done

printf '| seed | fold | Proposed test C | annotated-truth C | best size baseline | Δ C | lesion ρ | top organ | bottom organ | growth p nested | growth p paper | whole-volume train C |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for seed in $SEEDS; do
  for fold in 0 1 2 3; do
    f="$out/s$seed.f$fold.txt"
    prop="$(key fold_cindex_proposed "$f" | awk '{print $3}')"
    best=""; bestc=-1
    for b in total_volume sum_diameters lesion_count; do
      c="$(key "fold_cindex_$b" "$f" | awk '{print $3}')"
      [ -n "$c" ] && awk -v a="$c" -v b="$bestc" 'BEGIN { exit !(a > b) }' && { best=$b; bestc=$c; }
    done
    delta="$(awk -v a="$prop" -v b="$bestc" 'BEGIN { printf "%+.3f", a - b }')"
    wv="$(key fold_cindex_whole_volume "$f" | awk '{print $1}')"
    printf '| %s | %s | %s | %s | %s %s | %s | %s | %s | %s | %s | %s | %s |\n' "$seed" "$fold" "$prop" \
      "$(key fold_annotated_truth_cindex "$f")" "$best" "$bestc" "$delta" "$(key lesion_rho "$f")" \
      "$(key organ_highest_median "$f")" "$(key organ_lowest_median "$f")" \
      "$(key growth_nested_p_one_sided "$f")" "$(key growth_p_one_sided "$f")" "$wv"
  done
done
echo
printf '| seed | oracle C | annotated-truth C | pooled Proposed C | Δ vs total_volume [BCa] | Δ vs sum_diameters [BCa] | Δ vs lesion_count [BCa] |\n|---|---|---|---|---|---|---|\n'
for seed in $SEEDS; do
  csv="$out/s$seed/all/table2.csv"
  row() { awk -F, -v m="$1" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
          $1 == m { printf "%+.3f [%+.3f, %+.3f]", -$col["diff_vs_proposed"], -$col["diff_bca_high"], -$col["diff_bca_low"] }' "$csv"; }
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$seed" "$(key oracle_cindex "$out/cohort_s$seed.txt")" \
    "$(key annotated_truth_cindex "$out/cohort_s$seed.txt")" "$(key pooled_test_c_proposed "$out/s$seed.all.txt")" \
    "$(row total_volume)" "$(row sum_diameters)" "$(row lesion_count)"
done
echo
echo "science: $(( $(date +%s) - start )) s for seeds $SEEDS; reports under $out/s<seed>/"
