#!/usr/bin/env bash
# The report verb: a fixture campaign (tests/test_report.c --write-fixture: small synthetic cohort, one
# failed and one missing job), the figures and the data behind them, the LMM against `stats lmm` on the
# exported CSV, bad inputs, no gnuplot, and a real campaign from run --job + merge with missing jobs.
set -u
LR="${LR:-bin/lesionrank}"
BUILD="${BUILD:-build}"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_report"
rm -rf "$T"; mkdir -p "$T"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool gnuplot

"$BUILD/tests/test_report" --write-fixture "$T" >/dev/null 2>&1 && [ -f "$T/campaign.h5" ] && ok "fixture written" \
  || { bad "fixture written"; summary; exit 1; }

R="$T/report"
expect "report on the fixture" 0 "^report: $R/report.md" -- "$LR" report "$T/campaign.h5" -o "$R" --bootstrap 200
REPORT_OUT="$LAST"
for f in report.md table2.md table2.csv table2.tex interpretation.md lmm_growth.csv figures/render.sh; do
  check_file "$f" "$R/$f" 100
done
grep -q '| Proposed | last epoch | random init |' "$R/table2.md" && ok "table2.md: Proposed row" || bad "table2.md: Proposed row"
grep -q 'ImageNet ResNet50\* | best validation' "$R/table2.md" && ok "table2.md: starred row" || bad "table2.md: starred row"
grep -q 'fold 3 rep 0 failed (NaN loss at epoch 1)' "$R/table2.md" && ok "table2.md: failed job named" || bad "failed job named"
grep -q 'fold 2 rep 0 missing' "$R/table2.md" && ok "table2.md: missing job named" || bad "missing job named"
grep -q 'Unfinished campaign' "$R/report.md" && grep -q '`no_fc` fold 2 replicate 0: missing' "$R/report.md" \
  && ok "report.md lists unfinished jobs" || bad "report.md lists unfinished jobs"
grep -q 'Oracle C' "$R/table2.md" && ok "oracle line" || bad "oracle line"
[ "$(wc -l < "$R/table2.csv")" -eq 11 ] && ok "table2.csv: header + 10 rows" || bad "table2.csv rows"

# prognosis section (issue 13): tables, figures and their data; the Brier score again through `stats brier`
for f in prognosis.md prognosis.csv data/prognosis_patients.csv data/calibration.csv data/km_risk_groups.csv \
         data/td_auc.csv data/decision_curve.csv; do check_file "$f" "$R/$f" 100; done
for fig in prognosis_calibration prognosis_km_risk_groups prognosis_td_auc prognosis_decision_curve; do
  check_file "$fig.png" "$R/figures/$fig.png" 2000; check_file "$fig.svg" "$R/figures/$fig.svg" 1000
done
grep -q '## Prognosis: discrimination, accuracy, calibration' "$R/report.md" && grep -q 'Sum of diameters (RECIST-like) | 0\.' "$R/prognosis.md" \
  && ok "report.md: prognosis section with the size baselines" || bad "report.md: prognosis section"
[ "$(grep -c '^proposed,' "$R/prognosis.csv")" -ge 10 ] && ok "prognosis.csv: Proposed metrics" || bad "prognosis.csv rows"
awk -F, 'NR == 1 || $1 == "proposed"' "$R/data/prognosis_patients.csv" > "$T/proposed_oof.csv"
brier_report=$(awk -F, '$1 == "proposed" && $2 == "brier_365" {print $4}' "$R/prognosis.csv")
"$LR" stats brier "$T/proposed_oof.csv" --time time --event event --surv s365 --at 365 > "$T/brier.out" 2>&1
brier_cli=$(awk -F': ' '$1 == "brier" {print $2}' "$T/brier.out")
[ -n "$brier_report" ] && [ -n "$brier_cli" ] && close_to "Brier(365) of the report = stats brier on its patients" "$brier_report" "$brier_cli" 1e-8 \
  || bad "Brier(365): report '$brier_report', stats '$brier_cli'"
[ "$(key brier_365_proposed)" != "" ] && ok "summary prints brier_365_proposed" || bad "summary lacks brier_365_proposed"

# the data behind the figures hold the expected counts
n_test=$(key test_lesions); n_obs=$(key growth_n_obs)
[ "${n_test:-0}" -gt 0 ] && [ "${n_obs:-0}" -gt 0 ] && ok "report prints test_lesions and growth_n_obs" \
  || bad "report lacks test_lesions/growth_n_obs: '$n_test' '$n_obs'"
equal "fig3 counts add up to the test lesions" "$(awk '!/^#/ && NF {s += $5} END {print s}' "$R/data/fig3_stats.dat")" "$n_test"
equal "fig4 counts = LMM observations" "$(awk '!/^#/ && NF {s += $5} END {print s}' "$R/data/fig4_stats.dat")" "$n_obs"
equal "lmm_growth.csv rows" "$(($(wc -l < "$R/lmm_growth.csv") - 1))" "$n_obs"
head -1 "$R/lmm_growth.csv" | grep -qx 'risk,growing,patient' && ok "lmm_growth.csv header" || bad "lmm_growth.csv header"
[ "$(grep -vc '^#' "$R/data/fig5_patch1.dat")" = 72 ] && ok "fig5 patch is 72 rows" || bad "fig5 patch rows"
[ "$(key figure5)" = "drawn" ] && ok "figure 5 drawn" || bad "figure 5: $(key figure5)"

# the LMM equals `lesionrank stats lmm` on the exported CSV
expect "stats lmm on lmm_growth.csv" 0 "^beta_growing" -- \
  "$LR" stats lmm "$R/lmm_growth.csv" --response risk --group patient --fixed growing
close_to "LMM beta = stats lmm" "$(echo "$REPORT_OUT" | awk -F': ' '$1=="growth_beta"{print $2}')" "$(key beta_growing)" 1e-5
close_to "LMM se = stats lmm" "$(echo "$REPORT_OUT" | awk -F': ' '$1=="growth_se"{print $2}')" "$(key se_growing)" 1e-5
close_to "LMM df = stats lmm" "$(echo "$REPORT_OUT" | awk -F': ' '$1=="growth_df"{print $2}')" "$(key df_growing)" 1e-5
close_to "LMM one-sided p = stats lmm" "$(echo "$REPORT_OUT" | awk -F': ' '$1=="growth_p_one_sided"{print $2}')" \
  "$(key p_one_sided_growing)" 1e-5

for fig in fig3_organs fig4_growth fig5_lesions training_curves truth_scatter; do
  check_file "$fig.png" "$R/figures/$fig.png" 10000
  check_file "$fig.svg" "$R/figures/$fig.svg" 5000
done
[ "$(echo "$REPORT_OUT" | awk -F': ' '$1=="figures_failed"{print $2}')" = 0 ] && ok "no gnuplot failure" || bad "gnuplot failures"
errs=$(grep -vi 'warning' "$R/figures/gnuplot.log" | grep -c 'line [0-9]*:')
[ "$errs" = 0 ] && ok "gnuplot reported no error" || bad "gnuplot log: $(grep -vi warning "$R/figures/gnuplot.log" | head -3)"

# bad inputs and the output directory
expect "refuses a non-empty report dir" 1 "exists and is not empty; refusing to overwrite \(use --force\)" -- \
  "$LR" report "$T/campaign.h5" -o "$R" --bootstrap 0
expect "--force rewrites" 0 "^report:" -- "$LR" report "$T/campaign.h5" -o "$R" --force --bootstrap 0
# --fold K prints that fold's numbers for scripts (experiments/science.sh)
expect "report --fold 1" 0 "^fold_cindex_proposed: " -- "$LR" report "$T/campaign.h5" -o "$T/rf1" --fold 1 --bootstrap 0
for k in fold_cindex_lesion_count fold_annotated_truth_cindex organ_highest_median organ_lowest_median lesion_rho; do
  echo "$LAST" | grep -q "^$k: ." && ok "--fold key $k" || bad "--fold: no $k"
done
ceiling="$(echo "$LAST" | awk -F': ' '$1 == "fold_annotated_truth_cindex" {print $2}')"
awk -v c="$ceiling" 'BEGIN { exit !(c > 0.5 && c <= 1) }' && ok "fold ceiling $ceiling in (0.5, 1]" || bad "fold ceiling '$ceiling'"
expect "a cohort is not a campaign" 1 "not a campaign file: format = 'lesionrank-cohort'" -- \
  "$LR" report "$T/cohort.h5" -o "$T/r2"
[ ! -e "$T/r2" ] && ok "nothing written for a bad input" || bad "wrote $T/r2 for a bad input"
echo "not hdf5" > "$T/junk.h5"
expect "not HDF5" 1 "junk.h5" -- "$LR" report "$T/junk.h5" -o "$T/r3"
expect "missing -o" 2 "missing -o DIR" -- "$LR" report "$T/campaign.h5"
expect "unknown model" 2 "unknown model 'best'" -- "$LR" report "$T/campaign.h5" -o "$T/r4" --model best
expect "model without lesion risks" 2 "has no lesion risks" -- "$LR" report "$T/campaign.h5" -o "$T/r4" --model total_volume
expect "fold with a missing job" 0 "lesion_figures: skipped \(no ok job of model 'no_fc' at fold 2\)" -- \
  "$LR" report "$T/campaign.h5" -o "$T/r5" --model no_fc --fold 2 --bootstrap 0
expect "cohort not readable: figure 5 skipped" 0 "figure5: the cohort file /nonexistent/c.h5 is not readable" -- \
  "$LR" report "$T/campaign.h5" -o "$T/r6" --cohort /nonexistent/c.h5 --bootstrap 0
grep -q "Figure 5 — highest and lowest risk lesions" "$T/r6/report.md" && grep -q "Skipped: the cohort file" "$T/r6/report.md" \
  && ok "report.md says why Figure 5 is missing" || bad "report.md Figure 5 note"
expect "all folds" 0 "^test_lesions:" -- "$LR" report "$T/campaign.h5" -o "$T/r7" --all-folds --bootstrap 0
[ "$(key test_lesions)" -gt "$n_test" ] && ok "all folds has more lesions" || bad "all folds lesions"

# no gnuplot: data and render.sh, figures reported as skipped, exit 0
expect "without gnuplot" 0 "gnuplot: not found" -- env PATH=/nonexistent "$LR" report "$T/campaign.h5" -o "$T/nognuplot" --bootstrap 0
[ -s "$T/nognuplot/data/fig3_violins.dat" ] && [ ! -e "$T/nognuplot/figures/fig3_organs.png" ] && \
  grep -q "gnuplot -e" "$T/nognuplot/figures/render.sh" && grep -q "gnuplot was not found" "$T/nognuplot/report.md" \
  && ok "without gnuplot: data, render.sh and a note" || bad "without gnuplot"
(cd "$T/nognuplot" && sh figures/render.sh >/dev/null 2>&1) && [ -s "$T/nognuplot/figures/fig3_organs.png" ] \
  && ok "render.sh draws the figures later" || bad "render.sh"

# a real campaign: run --job for part of a 3-model smoke campaign, merge, report (other jobs missing)
sed -e "s|results/smoke/cohort.h5|$T/real/cohort.h5|" -e "s|^retries = 1;|retries = 1;\nresults_dir = \"$T/real\";|" \
    -e 's/^models = .*/models = ["proposed", "total_volume", "lesion_count"];/' -e '/^          "imagenet_resnet50"/d' \
    experiments/smoke.cfg > "$T/mini.cfg"
mkdir -p "$T/real"
runs_ok=1
for id in 0 4 5 6 7 8 9 10 11; do "$LR" run "$T/mini.cfg" --job "$id" >/dev/null 2>&1 || runs_ok=0; done
[ "$runs_ok" = 1 ] && ok "real campaign: 9 of 12 jobs ran" || bad "real campaign jobs"
"$LR" merge "$T/mini.cfg" >/dev/null 2>&1 && [ -f "$T/real/smoke.h5" ] && ok "real campaign merged" || bad "merge"
h5ls "$T/real/smoke.h5/survival" 2>/dev/null | grep -q 'patient_surv *Dataset {12, 40, 26}' \
  && ok "merge wrote /survival/patient_surv [jobs, patients, grid]" || bad "merge /survival: $(h5ls "$T/real/smoke.h5/survival" 2>&1 | head -3)"
expect "report on the real campaign" 0 "incomplete_rows: 1" -- "$LR" report "$T/real/smoke.h5" -o "$T/real/report" --bootstrap 200
grep -q 'Proposed | last epoch | random init[^|]* | .* | 1/4 ok (0 failed, 3 missing)' "$T/real/report/table2.md" \
  && ok "real: Proposed marked 1/4 ok" || bad "real: Proposed row: $(grep Proposed "$T/real/report/table2.md")"
grep -q 'Total lesion volume | no training | none (size only) | .* | 4/4 ok |' "$T/real/report/table2.md" \
  && ok "real: size baseline complete" || bad "real: baseline row"
grep -q '| ImageNet ResNet50 | .*not in campaign' "$T/real/report/table2.md" && ok "real: absent model marked" \
  || bad "real: absent model"
[ "$(key figure5)" = "drawn" ] && ok "real: figure 5 from the cohort" || bad "real: figure 5: $(key figure5)"

# the Python reader (python3-h5py is a test dependency): 12 job lines, then 40 patients with out-of-fold S(t)
/usr/bin/python3 analysis/read_campaign.py "$T/real/smoke.h5" --model total_volume >"$T/reader.txt" 2>&1 \
  && ok "read_campaign.py runs" || bad "read_campaign.py: $(tail -2 "$T/reader.txt")"
[ "$(grep -c ' test C ' "$T/reader.txt")" = 12 ] && ok "reader: one line per job" || bad "reader: job lines"
awk -F, 'f { n++; if (!($4 >= 0 && $4 <= 1 && $5 >= 0 && $5 <= $4)) bad++ } /^patient,time_days,event,surv_at_365,surv_at_730$/ { f = 1 }
         END { exit !(f && n == 40 && bad == 0) }' "$T/reader.txt" \
  && ok "reader: 40 patients, 0 <= S(730) <= S(365) <= 1" || bad "reader: survival table: $(grep -A2 '^patient,' "$T/reader.txt")"
expect "reader: a row without finished jobs" 1 "no finished job of model 'no_fc'" -- \
  /usr/bin/python3 analysis/read_campaign.py "$T/real/smoke.h5" --model no_fc

# the R reader (hdf5r; not a CI dependency: skipped without R): the same first patients' S(t) as the Python reader
if command -v Rscript >/dev/null && Rscript -e 'quit(status = !requireNamespace("hdf5r", quietly = TRUE))' >/dev/null 2>&1; then
  Rscript analysis/read_campaign.R "$T/real/smoke.h5" total_volume >"$T/reader_r.txt" 2>&1 && ok "read_campaign.R runs" \
    || bad "read_campaign.R: $(tail -2 "$T/reader_r.txt")"
  grep -Eq '^[0-9]+ +total_volume +0\.[0-9]+' "$T/reader_r.txt" && ok "R reader: mean test C per model" || bad "R reader: C table: $(head -5 "$T/reader_r.txt")"
  # R prints head(): rows 1..6 "i time event s365 s730"; Python prints "p,time,event,s365,s730" with p from 0
  awk -F'[ ,]+' 'FNR == NR { if (f && $1 ~ /^[0-9]+$/ && $1 < 6) { t[$1] = $2; a[$1] = $4; b[$1] = $5 } if (/^patient,/) f = 1; next }
       /surv_at_365/ { g = 1; next }
       g && $2 ~ /^[0-9]+$/ { i = $2 - 1; n++; d = ($3 - t[i]) ^ 2 > 1e-6 || ($5 - a[i]) ^ 2 > 1e-8 || ($6 - b[i]) ^ 2 > 1e-8; bad += d }
       END { exit !(n == 6 && bad == 0) }' "$T/reader.txt" <(sed 's/^/ /' "$T/reader_r.txt") \
    && ok "R reader: first 6 patients' S(365), S(730) equal the Python reader's (1e-4)" \
    || bad "R reader vs Python: $(tail -7 "$T/reader_r.txt" | tr '\n' '|') vs $(grep -A6 '^patient,' "$T/reader.txt" | tr '\n' '|')"
else
  echo "skip: R reader (Rscript with hdf5r not installed: apt-get install r-cran-hdf5r)"
fi

summary
