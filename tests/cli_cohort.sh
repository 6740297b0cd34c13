#!/usr/bin/env bash
# CLI behaviour of the cohort verbs and the program skeleton: help, usage errors, clear failures.
set -u
LR="${LR:-bin/lesionrank}"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_cohort"
mkdir -p "$T"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool h5diff

expect "no verb" 2 "missing verb" -- "$LR"
expect "program help" 0 "usage: lesionrank" -- "$LR" --help
expect "unknown verb" 2 "unknown verb 'frobnicate'" -- "$LR" frobnicate
# Every verb of the design is listed by --help, in this order, and answers its own --help.
listed="$("$LR" --help | awk '/^verbs:/ {on = 1; next} on && /^  [a-z]/ {print $1}' | tr '\n' ' ')"
[ "$listed" = "synth inspect ingest train run merge report stats predict forward bench " ] && ok "help lists the 11 verbs" \
  || bad "help lists '$listed'"
"$LR" --help | grep -qi "not implemented" && bad "help calls a verb not implemented" || ok "every verb implemented"
n=0
for v in $listed; do
  expect "help $v" 0 "^usage: lesionrank $v" -- "$LR" "$v" --help; n=$((n + 1))
done
[ "$n" = 11 ] && ok "checked the help of 11 verbs" || bad "checked the help of $n verbs"

expect "synth without -o" 2 "missing -o" -- "$LR" synth
expect "synth -o ''" 2 "-o '': expected a file name" -- "$LR" synth -o ''
expect "synth bad patients" 2 "--patients 'abc'" -- "$LR" synth -o "$T/x.h5" --patients abc
expect "synth bad volumes" 2 "--volumes '12x'" -- "$LR" synth -o "$T/x.h5" --volumes 12x
expect "synth bad option" 2 "unknown or incomplete option" -- "$LR" synth --bogus
expect "synth small" 0 "wrote: " -- "$LR" synth -o "$T/c.h5" --patients 8 --seed 3 --volumes 8x32x32
sum_before="$(md5sum "$T/c.h5" | cut -d' ' -f1)"
expect "synth refuses overwrite" 1 "exists; refusing to overwrite" -- "$LR" synth -o "$T/c.h5" --patients 5
[ "$(md5sum "$T/c.h5" | cut -d' ' -f1)" = "$sum_before" ] && ok "existing file untouched" || bad "existing file changed"
expect "synth deterministic" 0 "" -- "$LR" synth -o "$T/c2.h5" --patients 8 --seed 3 --volumes 8x32x32
expect "same seed, same datasets" 0 "" -- h5diff "$T/c.h5" "$T/c2.h5"

out="$("$LR" inspect "$T/c.h5")"; rc=$?
[ $rc -eq 0 ] && ok "inspect valid" || bad "inspect valid (exit $rc)"
for key in patients events censored_fraction median_time_days annotations readers_per_patient_mean lesions \
           lesions_per_patient_median lesions_per_patient_q1 lesions_per_patient_q3 followup_fraction \
           organ_lung organ_bone organ_stomach oracle_cindex volume_shape; do
  echo "$out" | grep -Eq "^$key: " && ok "inspect prints $key" || bad "inspect lacks $key"
done
echo "$out" | grep -q '^patients: 8$' && ok "inspect patients = 8" || bad "inspect patients"

expect "inspect missing file" 1 "no such file" -- "$LR" inspect "$T/nope.h5"
: > "$T/empty.h5"
expect "inspect empty file" 1 "empty file" -- "$LR" inspect "$T/empty.h5"
echo "not hdf5" > "$T/text.h5"
expect "inspect not hdf5" 1 "not an HDF5 file" -- "$LR" inspect "$T/text.h5"
expect "inspect no args" 2 "expected exactly one" -- "$LR" inspect

summary
