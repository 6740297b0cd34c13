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
for sub in cindex npll uno auc lmm km breslow brier ibs cox calibration bench; do
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

# ---- prognostic statistics (km, breslow, brier, ibs, cox, calibration) against R
# (tests/gen_prognosis_refs.R): each line of CASE_args.txt is "PREFIX VERB OPTIONS"; every reference key
# PREFIX_K must equal the verb's key K, and every reference key must be checked by some line.
PREF=tests/references/prognosis
# same value: both nan, or close within a relative tolerance
same_value() { [ "$1" = nan ] && [ "$2" = nan ] && return 0; [ "$1" = nan ] || [ "$2" = nan ] && return 1; close "$1" "$2" "$3"; }
n_cases=0
for args_file in "$PREF"/*_args.txt; do
  [ -e "$args_file" ] || continue
  case="$(basename "$args_file" _args.txt)"; exp="$PREF/${case}_expected.csv"
  n_cases=$((n_cases + 1)); total_checked=0
  while read -r prefix verb opts; do
    # shellcheck disable=SC2086
    if ! "$LR" stats "$verb" "$PREF/$case.csv" --time time --event event $opts >"$TMP/p.out" 2>"$TMP/p.err"; then
      bad "$case $prefix: stats $verb failed: $(head -1 "$TMP/p.err")"; continue; fi
    case "$prefix" in cox*|cal) tol=1e-7 ;; *) tol=1e-10 ;; esac
    checked=0; wrong=""
    while IFS=, read -r key want; do
      [ "${key#"${prefix}_"}" = "$key" ] && continue
      got="$(out_value "${key#"${prefix}_"}" "$TMP/p.out")"
      checked=$((checked + 1))
      same_value "$got" "$want" "$tol" || wrong="$wrong ${key#"${prefix}_"}=$got(R $want)"
    done < <(tail -n +2 "$exp")
    total_checked=$((total_checked + checked))
    if [ "$checked" -eq 0 ]; then bad "$case $prefix: no reference key checked"
    elif [ -n "$wrong" ]; then bad "$case $prefix:$wrong"
    else ok "$case stats $verb ($prefix, $checked keys)"; fi
  done <"$args_file"
  n_ref=$(($(wc -l <"$exp") - 1))
  [ "$total_checked" -eq "$n_ref" ] && ok "$case: all $n_ref reference keys checked" \
    || bad "$case: $total_checked of $n_ref reference keys checked"
done
[ "$n_cases" -ge 4 ] && ok "prognosis reference cases found ($n_cases)" || bad "prognosis reference cases: $n_cases"

# ---- prognostic statistics: bad input names the file and the column; usage errors exit 2
printf 'time,event,s\n1,1,0.5\n2,0,1.2\n3,1,0.4\n' >"$TMP/prob.csv"
printf 'time,event,s,c\n4,0,0.5,1\n5,0,0.6,1\n6,1,0.4,1\n' >"$TMP/late.csv"
L="$PREF/lung.csv"; TE="--time time --event event"
expect_exit "brier: probability outside [0,1]" 1 "prob.csv:3: column 's' (column 3): 1.2 is not a probability in [0, 1]" -- "$LR" stats brier "$TMP/prob.csv" $TE --surv s --at 2
expect_exit "calibration: probability outside [0,1]" 1 "prob.csv:3: column 's'" -- "$LR" stats calibration "$TMP/prob.csv" $TE --surv s --at 2
expect_exit "ibs: probability outside [0,1]" 1 "prob.csv:3: column 's'" -- "$LR" stats ibs "$TMP/prob.csv" $TE --surv s --at 2
expect_exit "brier: t beyond follow-up" 1 "lung.csv: --at 5000 is beyond the last follow-up time 1022 (column 'time')" -- "$LR" stats brier "$L" $TE --surv s360 --at 5000
expect_exit "km: t beyond follow-up" 1 "lung.csv: --at 2000 is beyond the last follow-up" -- "$LR" stats km "$L" $TE --at 90,2000
expect_exit "km: t beyond a group's follow-up" 1 "group 2" -- "$LR" stats km "$L" $TE --group sex --at 1000
expect_exit "breslow: t beyond follow-up" 1 "beyond the last follow-up" -- "$LR" stats breslow "$L" $TE --risk risk --at 1100
expect_exit "calibration: t beyond follow-up" 1 "beyond the last follow-up" -- "$LR" stats calibration "$L" $TE --surv s360 --at 1100
expect_exit "ibs: t beyond follow-up" 1 "beyond the last follow-up" -- "$LR" stats ibs "$TMP/late.csv" $TE --surv s --at 7
expect_exit "brier: no events before t" 1 "late.csv: no event (column 'event') at or before --at 5" -- "$LR" stats brier "$TMP/late.csv" $TE --surv s --at 5
expect_exit "calibration: no events before t" 1 "no event (column 'event') at or before --at 5" -- "$LR" stats calibration "$TMP/late.csv" $TE --surv s --at 5
expect_exit "brier: missing column" 1 "no column 'surv'" -- "$LR" stats brier "$L" $TE --surv surv --at 360
expect_exit "cox: missing column" 1 "no column 'stage'" -- "$LR" stats cox "$L" $TE --covariate stage
expect_exit "km: missing group column" 1 "no column 'arm'" -- "$LR" stats km "$L" $TE --group arm
expect_exit "km: missing time column" 1 "no column 'days'" -- "$LR" stats km "$L" --time days --event event
grep -q "lung.csv" "$TMP/err" && ok "missing column names the file" || bad "missing column names the file"
expect_exit "cox: constant covariate" 1 "late.csv: cox: information matrix is singular" -- "$LR" stats cox "$TMP/late.csv" $TE --covariate c
printf 'time,event,x\n1,1,5\n2,1,4\n3,1,3\n4,0,2\n5,0,1\n' >"$TMP/mono.csv"
expect_exit "cox: separation" 1 "mono.csv: cox: information matrix is singular (constant covariate or separation)" -- "$LR" stats cox "$TMP/mono.csv" $TE --covariate x
expect_exit "calibration: bad --bins" 2 "--bins" -- "$LR" stats calibration "$L" $TE --surv s360 --at 360 --bins 0
expect_exit "brier without --surv" 2 "--surv" -- "$LR" stats brier "$L" $TE --at 360
expect_exit "breslow without --at" 2 "--at is required" -- "$LR" stats breslow "$L" $TE --risk risk
expect_exit "breslow bad --ties" 2 "--ties wants breslow or efron, got 'exact'" -- "$LR" stats breslow "$L" $TE --risk risk --at 90 --ties exact
expect_exit "cox bad --level" 2 "--level wants a number in (0, 1), got '2'" -- "$LR" stats cox "$L" $TE --covariate age --level 2
expect_exit "ibs unknown option" 2 "unknown option" -- "$LR" stats ibs "$L" $TE --surv s360 --at 360 --frob 1
expect_exit "km without --event" 2 "--time and --event are required" -- "$LR" stats km "$L" --time time
expect_exit "calibration two files" 2 "unexpected argument" -- "$LR" stats calibration "$L" "$L" $TE --surv s360 --at 360
expect_exit "ibs: --surv/--at mismatch" 2 "equally many" -- "$LR" stats ibs "$L" $TE --surv s60,s120 --at 60
expect_exit "cox without --covariate" 2 "--covariate" -- "$LR" stats cox "$L" $TE
expect_exit "km without --event" 2 "--time and --event" -- "$LR" stats km "$L" --time time
"$LR" stats km "$PREF/lung.csv" $TE --at 5000 >/dev/null 2>"$TMP/err"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && ok "prognosis errors are one line" || bad "prognosis errors are one line"

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
