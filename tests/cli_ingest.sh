#!/usr/bin/env bash
# CLI behaviour of ingest: synth -> NIfTI -> ingest -> inspect round trip (1 and 2 MPI ranks give the same
# file), --volumes, bad studies with clear messages, --skip-bad, no half-written or overwritten output.
set -u
LR="${LR:-bin/lesionrank}"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_ingest"
rm -rf "$T"; mkdir -p "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool h5diff mpirun
no_tmp_left() { if ls "$T" | grep -q 'tmp-'; then bad "$1: temporary file left behind"; else ok "$1: no temporary file"; fi; }

expect "help" 0 "usage: lesionrank ingest" -- "$LR" ingest --help
expect "missing --clinical" 2 "missing --clinical" -- "$LR" ingest --studies "$T" -o "$T/x.h5"
expect "bad --volume-shape" 2 "--volume-shape 'x'" -- "$LR" ingest --clinical a --studies b -o c --volume-shape x
expect "bad --connectivity" 2 "--connectivity '8'" -- "$LR" ingest --clinical a --studies b -o c --connectivity 8

# --- round trip: synth (4 patients, 48 x 96 x 96 NIfTI grid) -> ingest -> inspect ---
expect "synth --nifti" 0 "nifti_grid: 48x96x96" -- "$LR" synth -o "$T/synth.h5" --patients 4 --seed 5 --volumes 48x96x96 --nifti "$T/nii"
S="$T/nii"; CSV="$S/clinical.csv"
expect "synth --nifti refuses existing studies" 1 "clinical.csv exists; refusing to overwrite" -- "$LR" synth -o "$T/synth_b.h5" --patients 4 --nifti "$S"
expect "ingest" 0 "studies_per_minute: " -- "$LR" ingest --clinical "$CSV" --studies "$S" -o "$T/i1.h5"
a="$("$LR" inspect "$T/synth.h5")"; b="$("$LR" inspect "$T/i1.h5")"; rc=$?
[ $rc -eq 0 ] && ok "inspect ingested cohort" || bad "inspect ingested cohort (exit $rc)"
for key in patients events annotations lesions readers_per_patient_mean lesions_per_patient_median followup_fraction \
           organ_lung organ_mediastinum organ_bone organ_liver organ_other organ_spleen organ_kidney organ_stomach \
           lesion_keys physical_lesions lesions_matched_fraction; do
  va="$(echo "$a" | grep "^$key: ")"; vb="$(echo "$b" | grep "^$key: ")"
  [ -n "$va" ] && [ "$va" = "$vb" ] && ok "round trip $key" || bad "round trip $key: synth '$va' ingest '$vb'"
done

# lesion identity: ingest's mask-overlap matching recovers the generator's keys row by row
expect "ingest matches readers' lesions (keys = synth truth)" 0 "" -- h5diff -d 0 "$T/synth.h5" "$T/i1.h5" /lesions/lesion_key
mf="$(echo "$b" | sed -n 's/^lesions_matched_fraction: //p')"
awk -v f="$mf" 'BEGIN { exit !(f > 0.5 && f < 1) }' && ok "lesions_matched_fraction $mf in (0.5, 1)" || bad "lesions_matched_fraction '$mf'"
# --- 2 MPI ranks write the same cohort (and volumes) as 1 ---
VOPT=(--volumes --volume-shape 24x48x48 --volume-spacing 25,7.8125,7.8125)
expect "ingest 1 rank --volumes" 0 "ranks: 1" -- "$LR" ingest --clinical "$CSV" --studies "$S" -o "$T/v1.h5" "${VOPT[@]}"
expect "ingest 2 ranks --volumes" 0 "ranks: 2" -- mpirun -np 2 "$LR" ingest --clinical "$CSV" --studies "$S" -o "$T/v2.h5" "${VOPT[@]}"
expect "1 and 2 ranks identical" 0 "" -- h5diff "$T/v1.h5" "$T/v2.h5"
expect "inspect volumes" 0 "volume_shape: 24x48x48" -- "$LR" inspect "$T/v1.h5"

# --- existing output ---
sum="$(md5sum "$T/i1.h5" | cut -d' ' -f1)"
expect "refuses existing output" 1 "exists; refusing to overwrite" -- "$LR" ingest --clinical "$CSV" --studies "$S" -o "$T/i1.h5"
[ "$(md5sum "$T/i1.h5" | cut -d' ' -f1)" = "$sum" ] && ok "existing output untouched" || bad "existing output changed"

# --- bad inputs: each names the patient and the file; nothing is written ---
B="$T/bad"; cp -r "$S" "$B"
rm "$B/SYN0002/ct.nii.gz"
expect "missing CT" 1 "patient SYN0002: .*SYN0002: missing ct.nii.gz" -- "$LR" ingest --clinical "$CSV" --studies "$B" -o "$T/b.h5"
[ ! -e "$T/b.h5" ] && ok "failed ingest writes nothing" || bad "failed ingest left $T/b.h5"
no_tmp_left "missing CT"
expect "--skip-bad" 0 "skipped_patient: SYN0002" -- "$LR" ingest --clinical "$CSV" --studies "$B" -o "$T/b.h5" --skip-bad
expect "--skip-bad cohort valid" 0 "patients: 3" -- "$LR" inspect "$T/b.h5"
cp "$S/SYN0002/ct.nii.gz" "$B/SYN0002/"

m="$(ls "$B/SYN0003"/lesions_*.nii.gz | grep -v followup | head -1)"; cp "$m" "$T/mask.bak"
head -c $(( $(stat -c %s "$T/mask.bak") / 2 )) "$T/mask.bak" > "$m"
expect "truncated gzip" 1 "patient SYN0003: .*$(basename "$m"): (corrupt or truncated gzip|cannot read the voxel data)" -- "$LR" ingest --clinical "$CSV" --studies "$B" -o "$T/b2.h5"
echo "not an image" | gzip > "$m"
expect "not NIfTI" 1 "patient SYN0003: .*$(basename "$m"): not a NIfTI file" -- "$LR" ingest --clinical "$CSV" --studies "$B" -o "$T/b2.h5"
cp "$T/mask.bak" "$m"

mkdir "$B/EXTRA"
expect "directory without CSV row" 1 "EXTRA: study directory without a row in" -- "$LR" ingest --clinical "$CSV" --studies "$B" -o "$T/b2.h5"
rmdir "$B/EXTRA"
{ printf '\xef\xbb\xbf'; cat "$CSV"; } > "$T/c_bom.csv"
expect "clinical CSV with a byte-order mark" 0 "studies_per_minute: " -- "$LR" ingest --clinical "$T/c_bom.csv" --studies "$S" -o "$T/bom.h5"
expect "BOM: the same cohort" 0 "" -- h5diff "$T/i1.h5" "$T/bom.h5"
sed 's/^SYN0001,[^,]*,/SYN0001,0,/' "$CSV" > "$T/c_time.csv"
expect "time <= 0" 1 "c_time.csv:2: patient SYN0001: time_days '0': expected a number > 0" -- "$LR" ingest --clinical "$T/c_time.csv" --studies "$B" -o "$T/b2.h5"
sed 's/^\(SYN0004,[^,]*\),[01],/\1,2,/' "$CSV" > "$T/c_event.csv"
expect "event not 0/1" 1 "patient SYN0004: event '2': expected 0" -- "$LR" ingest --clinical "$T/c_event.csv" --studies "$B" -o "$T/b2.h5"
{ cat "$CSV"; echo "SYN0099,100,1,0"; } > "$T/c_extra.csv"
expect "patient without study directory" 1 "patient SYN0099: no study directory" -- "$LR" ingest --clinical "$T/c_extra.csv" --studies "$B" -o "$T/b2.h5"
rm "$B/SYN0002/ct.nii.gz"
expect "bad study under 2 ranks" 1 "patient SYN0002: .*missing ct.nii.gz" -- mpirun -np 2 "$LR" ingest --clinical "$CSV" --studies "$B" -o "$T/b3.h5"
[ ! -e "$T/b3.h5" ] && ok "2 ranks: nothing written" || bad "2 ranks: output written"
no_tmp_left "2 ranks"

summary
