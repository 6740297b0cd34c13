#!/usr/bin/env bash
# lesionrank stats: outputs against the R references, bootstrap intervals, input and usage errors.
# Uses $LR (bin/lesionrank) and $TMPDIR_TESTS; run from the repository root (tests/run.sh does).
set -u
LR="${LR:-bin/lesionrank}"
TMP="${TMPDIR_TESTS:-$(mktemp -d)}"
REF=tests/references/survival
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# value of KEY in "key: value" output / in a reference key,value file
out_value() { awk -v k="$1" -F': ' '$1 == k {print $2}' "$2"; }
ref_value() { awk -v k="$1" -F',' '$1 == k {print $2}' "$2"; }
expect_close() { # name key output_file expected tol
  local got; got="$(out_value "$2" "$3")"
  if close "$got" "$4" "$5" 1e-15; then ok "$1"; else bad "$1: $2 = '$got', expected $4"; fi
}

# expect_exit NAME CODE STDERR_FRAGMENT -- command...
expect_exit() {
  local name="$1" code="$2" fragment="$3"; shift 4
  "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  if [ "$rc" -ne "$code" ]; then bad "$name: exit $rc, expected $code ($(head -1 "$TMP/err"))"; return; fi
  if [ -n "$fragment" ] && ! grep -qF -- "$fragment" "$TMP/err"; then
    bad "$name: stderr '$(head -1 "$TMP/err")' lacks '$fragment'"; return; fi
  ok "$name"
}

# ---- help
expect_exit "stats --help" 0 "" -- "$LR" stats --help
for sub in cindex npll uno auc lmm bench; do
  expect_exit "stats $sub --help" 0 "" -- "$LR" stats "$sub" --help
  grep -q "usage: lesionrank stats" "$TMP/out" || bad "stats $sub --help prints usage"
done

# ---- values against R
S="--time time --event event --risk risk"
for case in small_ties lung heavy_censoring; do
  exp="$REF/${case}_expected.csv"
  "$LR" stats cindex "$REF/$case.csv" $S >"$TMP/c.out"
  for k in concordant discordant tied_risk comparable; do
    got="$(out_value "$k" "$TMP/c.out")"; want="$(ref_value "cindex_$k" "$exp")"
    equal "$case $k" "$got" "$want"
  done
  expect_close "$case cindex" cindex "$TMP/c.out" "$(ref_value cindex "$exp")" 1e-12
  for ties in breslow efron; do
    "$LR" stats npll "$REF/$case.csv" $S --ties $ties >"$TMP/n.out"
    expect_close "$case npll $ties" npll_sum "$TMP/n.out" "$(ref_value npll_$ties "$exp")" 1e-9
  done
  tau="$(ref_value uno_tau2 "$exp")"
  "$LR" stats uno "$REF/$case.csv" $S --tau "$tau" >"$TMP/u.out"
  expect_close "$case uno tau=$tau" uno_cindex "$TMP/u.out" "$(ref_value uno_cindex2 "$exp")" 1e-9
  t1="$(ref_value auc_t1 "$exp")"; t2="$(ref_value auc_t2 "$exp")"
  "$LR" stats auc "$REF/$case.csv" $S --at "$t1,$t2" >"$TMP/a.out"
  expect_close "$case auc($t1)" "auc_$t1" "$TMP/a.out" "$(ref_value auc1 "$exp")" 1e-9
  expect_close "$case auc($t2)" "auc_$t2" "$TMP/a.out" "$(ref_value auc2 "$exp")" 1e-9
done

"$LR" stats lmm "$REF/lmm_sleepstudy.csv" --response y --group g --fixed days >"$TMP/l.out"
exp="$REF/lmm_sleepstudy_reml_expected.csv"
for k in beta_days se_days df_days p_days beta_intercept tau2 sigma2 loglik; do
  expect_close "lmm REML $k" "$k" "$TMP/l.out" "$(ref_value "$k" "$exp")" 1e-6
done
"$LR" stats lmm "$REF/lmm_orthodont.csv" --response y --group g --fixed age,female --ml --test female >"$TMP/l.out"
exp="$REF/lmm_orthodont_ml_expected.csv"
for k in beta_female se_female df_containment_female p_containment_female loglik lrt_p; do
  expect_close "lmm ML $k" "$k" "$TMP/l.out" "$(ref_value "$k" "$exp")" 1e-6
done
"$LR" stats lmm "$REF/lmm_unbalanced.csv" --response y --group g --fixed xw,xb --df containment >"$TMP/l.out"
expect_close "lmm --df containment" df_xb "$TMP/l.out" 28 0
# nested (1 | g) + (1 | g:n): the growth test counting each lesion once, against lme4 + lmerTest
"$LR" stats lmm "$REF/lmm_nested_growth.csv" --response y --group g --nested n --fixed growing,x >"$TMP/l.out"
exp="$REF/lmm_nested_growth_reml_expected.csv"
for k in beta_growing se_growing df_growing p_growing p_one_sided_growing tau2 tau2_nested sigma2 loglik; do
  expect_close "lmm --nested $k" "$k" "$TMP/l.out" "$(ref_value "$k" "$exp")" 1e-5
done
expect_close "lmm --nested n_nested" n_nested "$TMP/l.out" 184 0
expect_exit "lmm --nested with --df containment" 2 "--df containment is for one grouping level" -- \
  "$LR" stats lmm "$REF/lmm_nested_growth.csv" --response y --group g --nested n --fixed growing --df containment
expect_exit "lmm --nested missing column" 1 "no column 'lesion'" -- \
  "$LR" stats lmm "$REF/lmm_nested_growth.csv" --response y --group g --nested lesion --fixed growing

# ---- bootstrap interval brackets the estimate and is reproducible
for ci in percentile bca; do
  "$LR" stats cindex "$REF/lung.csv" $S --bootstrap 300 --seed 4 --ci $ci >"$TMP/b1.out"
  "$LR" stats cindex "$REF/lung.csv" $S --bootstrap 300 --seed 4 --ci $ci >"$TMP/b2.out"
  lo="$(out_value ci_low "$TMP/b1.out")"; hi="$(out_value ci_high "$TMP/b1.out")"; c="$(out_value cindex "$TMP/b1.out")"
  if awk -v l="$lo" -v h="$hi" -v c="$c" 'BEGIN { exit !(l < c && c < h && h - l < 0.2) }'; then ok "bootstrap $ci brackets C"
  else bad "bootstrap $ci: [$lo, $hi] vs $c"; fi
  cmp -s "$TMP/b1.out" "$TMP/b2.out" && ok "bootstrap $ci reproducible" || bad "bootstrap $ci reproducible"
done
"$LR" stats cindex "$REF/lung.csv" $S --compare risk_other --bootstrap 200 --seed 1 >"$TMP/b.out"
grep -q "^diff_ci_low: " "$TMP/b.out" && ok "paired difference interval" || bad "paired difference interval"

# ---- bad input: exit 1, one line naming file, line and column
printf 'time,event,risk\n1,1,0.5\n2,0,abc\n' >"$TMP/text.csv"
printf 'time,event,risk\n1,1,0.5\n2,0,NaN\n' >"$TMP/nan.csv"
printf 'time,event,risk\n1,1,0.5\n-2,0,0.1\n' >"$TMP/neg.csv"
printf 'time,event,risk\n1,1,0.5\n2,2,0.1\n' >"$TMP/event.csv"
printf 'time,event,risk\n1,1,0.5\n2,0\n' >"$TMP/ragged.csv"
: >"$TMP/empty.csv"
expect_exit "non-numeric risk" 1 "text.csv:3: column 'risk' (column 3)" -- "$LR" stats cindex "$TMP/text.csv" $S
expect_exit "NaN risk" 1 "nan.csv:3: column 'risk' (column 3)" -- "$LR" stats npll "$TMP/nan.csv" $S
expect_exit "negative time" 1 "neg.csv:3: column 'time' (column 1): negative time" -- "$LR" stats uno "$TMP/neg.csv" $S
expect_exit "event not 0/1" 1 "event.csv:3: column 'event' (column 2): '2' is not 0 or 1" -- "$LR" stats cindex "$TMP/event.csv" $S
expect_exit "ragged row" 1 "ragged.csv:3:" -- "$LR" stats cindex "$TMP/ragged.csv" $S
expect_exit "empty file" 1 "empty.csv: empty file" -- "$LR" stats cindex "$TMP/empty.csv" $S
expect_exit "missing column" 1 "no column 'hazard'" -- "$LR" stats cindex "$REF/lung.csv" --time time --event event --risk hazard
expect_exit "missing file" 1 "cannot open" -- "$LR" stats cindex "$TMP/nope.csv" $S
expect_exit "lmm missing column" 1 "no column 'nope'" -- "$LR" stats lmm "$REF/lmm_sleepstudy.csv" --response y --group g --fixed nope
[ "$(wc -l <"$TMP/err")" -eq 1 ] && ok "errors are one line" || bad "errors are one line"

# ---- a UTF-8 byte-order mark (Excel's CSV export) before the header is not part of the first column's name
{ printf '\xef\xbb\xbf'; cat "$REF/lung.csv"; } >"$TMP/bom.csv"
"$LR" stats cindex "$REF/lung.csv" $S >"$TMP/nobom.out" 2>&1
expect_exit "BOM in the header" 0 "" -- "$LR" stats cindex "$TMP/bom.csv" $S
cmp -s "$TMP/out" "$TMP/nobom.out" && [ -s "$TMP/out" ] && ok "BOM: same result as without" || bad "BOM: $(head -2 "$TMP/out")"

# ---- lmm inputs lme4 refuses: exit 1 naming the file and the column
printf 'y,g,x\n1,a,1\n2,a,2\n3,a,3\n5,a,4\n' >"$TMP/onegroup.csv"
expect_exit "lmm single group" 1 "onegroup.csv: column 'g' (--group) has a single group" -- \
  "$LR" stats lmm "$TMP/onegroup.csv" --response y --group g --fixed x
printf 'y,g,x,z\n1,a,1,2\n2,a,2,4\n3,b,3,6\n5,b,4,8\n4,c,2,4\n' >"$TMP/collinear.csv"
expect_exit "lmm collinear fixed effects" 1 "collinear.csv: column 'z' (--fixed) is collinear" -- \
  "$LR" stats lmm "$TMP/collinear.csv" --response y --group g --fixed x,z
printf 'y,g,x,z\n1,a,1,2\n2,b,2,5\n' >"$TMP/few.csv"
expect_exit "lmm too few rows" 1 "few.csv: 2 rows for 3 fixed effects" -- \
  "$LR" stats lmm "$TMP/few.csv" --response y --group g --fixed x,z

# ---- usage errors: exit 2
expect_exit "no sub-command" 2 "" -- "$LR" stats
expect_exit "unknown sub-command" 2 "unknown sub-command" -- "$LR" stats frobnicate x.csv
expect_exit "missing file argument" 2 "missing FILE" -- "$LR" stats cindex $S
expect_exit "missing --risk" 2 "required" -- "$LR" stats cindex "$REF/lung.csv" --time time --event event
expect_exit "bad --ties" 2 "--ties" -- "$LR" stats npll "$REF/lung.csv" $S --ties exact
expect_exit "bad --ci" 2 "--ci" -- "$LR" stats cindex "$REF/lung.csv" $S --bootstrap 10 --ci normal
expect_exit "bad --bootstrap" 2 "--bootstrap" -- "$LR" stats cindex "$REF/lung.csv" $S --bootstrap x
expect_exit "bad --at" 2 "--at" -- "$LR" stats auc "$REF/lung.csv" $S --at 1,x
expect_exit "auc without --at" 2 "--at" -- "$LR" stats auc "$REF/lung.csv" $S
expect_exit "unknown option" 2 "" -- "$LR" stats cindex "$REF/lung.csv" $S --frob
expect_exit "lmm --test not fixed" 2 "--test" -- "$LR" stats lmm "$REF/lmm_sleepstudy.csv" --response y --group g --fixed days --test age

summary
