#!/usr/bin/env bash
# The predict verb: a small campaign (proposed, mean_largest5, lesion_count), predict on its own cohort
# (the kept models reproduce the campaign's /risks/lesion bit for bit), on a new synthetic cohort with 1 and
# 2 ranks (same file), external C against `stats cindex` on the CSV, bad inputs refused with nothing
# overwritten, and both saliency maps concentrated in the lesion (with a shuffled negative control).
set -u
LR="${LR:-bin/lesionrank}"
LR="$(cd "$(dirname "$LR")" && pwd)/$(basename "$LR")"
BUILD="${BUILD:-build}"
BUILD="$(cd "$BUILD" && pwd)"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_predict"
rm -rf "$T"; mkdir -p "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none BLIS_NUM_THREADS=1
# the figure finds its plot templates next to the binary; build-asan/bin has none beside it
export LESIONRANK_ANALYSIS="${LESIONRANK_ANALYSIS:-$PWD/analysis}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool h5dump h5diff mpirun gnuplot
ROOT="$PWD"
HELP="$BUILD/tests/test_predict"
cd "$T"

sed -e "s|results/smoke/cohort.h5|$T/cohort.h5|" -e "s|^retries = 1;|retries = 1;\nresults_dir = \"$T/results\";|" \
    -e 's/^models = .*/models = ["proposed", "mean_largest5", "lesion_count"];/' -e '/^          "imagenet_resnet50"/d' \
    -e 's/^name = "smoke";/name = "pred";/' "$ROOT/experiments/smoke.cfg" > pred.cfg
mpirun -np 3 "$LR" run pred.cfg > run.out 2>&1 && [ -s results/pred.h5 ] && ok "campaign of 12 jobs" \
  || { bad "campaign: $(tail -3 run.out)"; summary; exit 1; }
C=results/pred.h5
h5dump -d /models/kept -y -w 0 "$C" 2>/dev/null | grep -q '1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0' \
  && ok "/models/kept: the 8 learned jobs" || bad "/models/kept: $(h5dump -d /models/kept "$C" 2>&1 | grep -A2 DATA)"

# values of one dataset slab, one per line (float32 printed with 9 digits: exact)
vals() { # file dataset start count
  h5dump -y -w 0 -m %.9g -d "$2" -s "$3" -c "$4" "$1" 2>/dev/null |
    awk '/DATA \{/ {on = 1; next} on && /\}/ {on = 0} on' | tr ',' '\n' | awk 'NF {print $1}'
}
L=$(h5dump -H -d /cohort/lesion_organ "$C" | awk -F'[()]' '/DATASPACE/ {gsub(/ /, "", $2); print $2; exit}')

# 1. the kept models reproduce the campaign: every lesion, every fold model, bit for bit
expect "predict on the training cohort" 0 "^models: 4" -- "$LR" predict "$C" --model proposed --cohort cohort.h5 -o own.h5 --bootstrap 0
for model in proposed mean_largest5; do
  [ $model = mean_largest5 ] && { "$LR" predict "$C" --model $model --cohort cohort.h5 -o own.h5 --force --bootstrap 0 >/dev/null 2>&1 || bad "predict $model"; }
  same=0; n=0
  for k in 0 1 2 3; do
    job=$(vals own.h5 /models/job "$k" 1)
    vals own.h5 /lesions/risk "0,$k" "$L,1" > p$k.txt
    vals "$C" /risks/lesion "$job,0" "1,$L" > c$k.txt
    n=$((n + $(wc -l < p$k.txt)))
    [ "$(wc -l < p$k.txt)" = "$L" ] && cmp -s p$k.txt c$k.txt && same=$((same + 1))
  done
  [ "$same" = 4 ] && [ "$n" -gt 0 ] && ok "$model: predict = /risks/lesion of each job ($n lesion risks)" \
    || bad "$model: predicted lesion risks differ from the campaign's ($same of 4 folds equal, $n values)"
done

# 2. a new cohort: 1 and 2 ranks give the same files; external C = stats cindex on the CSV
"$LR" synth -o new.h5 --seed 11 --patients 24 > /dev/null 2>&1 || bad "synth new cohort"
expect "predict on a new cohort" 0 "^external_cindex: " -- "$LR" predict "$C" --model proposed --cohort new.h5 -o p1.h5 --csv p1.csv --bootstrap 100
ONE="$LAST"
expect "predict under mpirun -np 2" 0 "^ranks: 2" -- mpirun -np 2 "$LR" predict "$C" --model proposed --cohort new.h5 -o p2.h5 --csv p2.csv --bootstrap 100
h5diff -q p1.h5 p2.h5 > /dev/null 2>&1 && ok "PRED.h5 identical for 1 and 2 ranks" || bad "PRED.h5 differs: $(h5diff p1.h5 p2.h5 2>&1 | head -3 | tr '\n' ' ')"
cmp -s p1.csv p2.csv && ok "CSV identical for 1 and 2 ranks" || bad "CSV differs between 1 and 2 ranks"
for d in /patients/risk /patients/risk_mean /patients/surv /annotations/risk /lesions/risk /lesions/scale /lesions/used /metrics/estimate; do
  h5dump -H -d $d p1.h5 > /dev/null 2>&1 || bad "PRED.h5 lacks $d"
done
P=$(($(wc -l < p1.csv) - 1))
head -1 p1.csv | grep -qx 'patient_id,risk_mean,risk_fold0,risk_fold1,risk_fold2,risk_fold3,surv_at_365,surv_at_730' \
  && [ "$P" = 24 ] && ok "CSV header and 24 rows" || bad "CSV: $(head -1 p1.csv), $P rows"
{ echo "time_days,event"; paste -d, <(vals new.h5 /patients/time_days 0 "$P") <(vals new.h5 /patients/event 0 "$P"); } > outcome.csv
paste -d, p1.csv outcome.csv > joined.csv
expect "stats cindex on the CSV joined with the outcomes" 0 "^cindex: " -- "$LR" stats cindex joined.csv --time time_days --event event --risk risk_mean
LAST_STATS="$LAST"; LAST="$ONE"
printed=$(key external_cindex); LAST="$LAST_STATS"; recomputed=$(key cindex)
close_to "external_cindex = stats cindex ($printed)" "$printed" "$recomputed" 1e-8
LAST="$ONE"
for k in external_uno_cindex external_auc_365 external_brier_730 external_ipa_730 external_cindex_ci_low external_cindex_ci_high; do
  v=$(key $k); awk -v v="$v" 'BEGIN { exit !(v + 0 == v && v > -1 && v < 1.01) }' && ok "$k = $v" || bad "$k: '$v'"
done

# 3. bad inputs: refused, with the reason, and nothing overwritten
before=$(md5sum < p1.h5)
expect "existing -o refused" 1 "p1.h5 exists; refusing to overwrite \(use --force\)" -- \
  "$LR" predict "$C" --model proposed --cohort new.h5 -o p1.h5 --bootstrap 0
expect "unknown row lists the rows" 1 "unknown model 'best'.*kept models: proposed, mean_largest5" -- \
  "$LR" predict "$C" --model best --cohort new.h5 -o p1.h5 --force --bootstrap 0
expect "row not in the campaign" 1 "model 'no_fc' is not in the campaign" -- \
  "$LR" predict "$C" --model no_fc --cohort new.h5 -o p1.h5 --force --bootstrap 0
expect "size baseline refused" 1 "lesion_count' is not learned" -- \
  "$LR" predict "$C" --model lesion_count --cohort new.h5 -o p1.h5 --force --bootstrap 0
cp "$C" failed.h5; "$HELP" --set-string failed.h5 /jobs/status 2 failed
expect "failed row refused" 1 "model 'proposed' failed in failed.h5: job 2 \(repeat 0, fold 2, replicate 0\) is failed" -- \
  "$LR" predict failed.h5 --model proposed --cohort new.h5 -o p1.h5 --force --bootstrap 0
cp "$C" old.h5; "$HELP" --drop old.h5 /models
expect "campaign without /models" 1 "old.h5 has no /models: the campaign was merged before trained models were kept" -- \
  "$LR" predict old.h5 --model proposed --cohort new.h5 -o p1.h5 --force --bootstrap 0
cp "$C" patch.h5; "$HELP" --set-int patch.h5 /models/patch_size 64
expect "patch size differs" 1 "new.h5: patch size 72, the models of patch.h5 were trained on 64 x 64 patches" -- \
  "$LR" predict patch.h5 --model proposed --cohort new.h5 -o p1.h5 --force --bootstrap 0
cp new.h5 organ.h5; "$HELP" --set-string organ.h5 /organs/name 1 pancreas
expect "organ names must map" 1 "organ.h5: organ 'pancreas' \(/organs/name\[1\]\) is not a training organ" -- \
  "$LR" predict "$C" --model proposed --cohort organ.h5 -o p1.h5 --force --bootstrap 0
expect "missing cohort" 1 "cohort.*nonexistent.h5" -- "$LR" predict "$C" --model proposed --cohort nonexistent.h5 -o p1.h5 --force
expect "a cohort is not a campaign" 1 "not a campaign file: format = 'lesionrank-cohort'" -- \
  "$LR" predict new.h5 --model proposed --cohort new.h5 -o x.h5
expect "missing --model" 2 "missing --model" -- "$LR" predict "$C" --cohort new.h5 -o x.h5
expect "failing under mpirun: reported by rank 0" 1 "patch size 72" -- \
  mpirun -np 2 "$LR" predict patch.h5 --model proposed --cohort new.h5 -o x.h5
[ "$(md5sum < p1.h5)" = "$before" ] && [ ! -e x.h5 ] && ! ls ./*.tmp.* > /dev/null 2>&1 \
  && ok "nothing overwritten or left behind by the refusals" || bad "a refusal touched p1.h5 or left files"
expect "--force replaces" 0 "^predictions: p1.h5" -- "$LR" predict "$C" --model proposed --cohort new.h5 -o p1.h5 --force --bootstrap 0

# 4. saliency: map mass per pixel inside the lesion's disc over outside, and a shuffled control that fails
"$LR" synth -o tiny.h5 --seed 12 --patients 2 > /dev/null 2>&1 || bad "synth tiny cohort"
expect "predict --saliency" 0 "^saliency: /saliency/occlusion /saliency/gradient \[[0-9]+,72,72\]" -- \
  "$LR" predict "$C" --model proposed --cohort tiny.h5 -o sal.h5 --saliency --bootstrap 0 --figures fig
check_file "saliency figure (PNG)" fig/figures/saliency_lesions.png 10000
check_file "saliency figure (SVG)" fig/figures/saliency_lesions.svg 5000
[ "$(wc -l < fig/data/saliency4_gradient.dat)" -ge 72 ] && ok "figure data written" || bad "figure data"
expect "--figures without --saliency" 2 "--figures needs --saliency" -- "$LR" predict "$C" --model proposed --cohort tiny.h5 -o x.h5 --figures fig2
for spec in occlusion:1.5 gradient:1.2; do
  map=${spec%%:*}; margin=${spec##*:}
  ratio=$("$HELP" --saliency-ratio sal.h5 /saliency/$map | awk -F': ' '$1 == "saliency_inside_ratio" {print $2}')
  control=$("$HELP" --saliency-ratio sal.h5 /saliency/$map --shuffle | awk -F': ' '$1 == "saliency_inside_ratio" {print $2}')
  [ -n "$ratio" ] && awk -v r="$ratio" -v m="$margin" 'BEGIN { exit !(r > m) }' && ok "$map map concentrates in the lesion (inside/outside $ratio > $margin)" \
    || bad "$map map: inside/outside ratio '$ratio' <= $margin"
  [ -n "$control" ] && awk -v r="$control" -v m="$margin" 'BEGIN { exit !(r < 1.1 && r < m) }' && ok "$map map shuffled fails the same test (ratio $control)" \
    || bad "$map map: the shuffled control passes: ratio '$control'"
done

# 5. the report's Figure 5 with the occlusion maps of its four lesions (predict --saliency-lesions)
expect "report: the rows of Figure 5" 0 "^figure5_lesions: [0-9]+,[0-9]+,[0-9]+,[0-9]+$" -- "$LR" report "$C" -o rep0 --bootstrap 0
rows=$(key figure5_lesions)
expect "predict --saliency-lesions (Figure 5's rows)" 0 "^saliency: " -- \
  "$LR" predict "$C" --model proposed --cohort cohort.h5 -o fig5.h5 --saliency-lesions "$rows" --bootstrap 0
first=${rows%%,*}; other=$(( first == 0 ? 1 : 0 ))
[ "$(vals fig5.h5 /saliency/occlusion "$first,0,0" "1,72,72" | grep -vc nan)" = 5184 ] \
  && [ "$(vals fig5.h5 /saliency/occlusion "$other,0,0" "1,72,72" | grep -c nan)" = 5184 ] \
  && ok "maps only for the listed rows (row $first finite, row $other NaN)" || bad "--saliency-lesions: maps of listed/unlisted rows"
expect "report --saliency" 0 "^figure5_saliency: fig5.h5$" -- "$LR" report "$C" -o rep1 --bootstrap 0 --saliency fig5.h5
n=0; for k in 1 2 3 4; do [ "$(grep -vc '^#' rep1/data/fig5_saliency$k.dat 2>/dev/null)" -ge 5184 ] && n=$((n + 1)); done
[ "$n" = 4 ] && grep -q 'occlusion map' rep1/report.md && ok "Figure 5 panels carry the maps (data and caption)" \
  || bad "Figure 5 saliency panels: $n of 4"
expect "report --saliency: another cohort refused" 1 "predicted on another cohort" -- "$LR" report "$C" -o rep2 --bootstrap 0 --saliency sal.h5
"$LR" predict "$C" --model proposed --cohort cohort.h5 -o row.h5 --saliency-lesions "$other" --bootstrap 0 > /dev/null 2>&1
expect "report --saliency: rows without maps refused" 1 "no map for lesion row" -- "$LR" report "$C" -o rep3 --bootstrap 0 --saliency row.h5
expect "report --saliency: another model refused" 1 "maps are of model 'proposed'" -- "$LR" report "$C" -o rep4 --bootstrap 0 --model mean_largest5 --saliency fig5.h5
expect "--saliency-lesions: a row out of range" 1 "expected comma-separated lesion rows in \[0, $L\)" -- \
  "$LR" predict "$C" --model proposed --cohort cohort.h5 -o bad.h5 --saliency-lesions "0,$L" --bootstrap 0
[ ! -e bad.h5 ] && ok "nothing written for a bad row list" || bad "bad.h5 written"
expect "--figures with --saliency-lesions" 2 "not with --saliency-lesions" -- "$LR" predict "$C" --model proposed --cohort cohort.h5 -o bad.h5 --saliency-lesions 0 --figures f3
summary
