#!/usr/bin/env bash
# The train verb: every model on the smoke config, config errors with file and line, failure exits.
set -u
LR="${LR:-bin/lesionrank}"
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_train"
mkdir -p "$T"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tool h5dump

# A private copy of the smoke config with its outputs under $T.
sed -e "s|results/smoke/cohort.h5|$T/cohort.h5|" -e "s|^retries = 1;|retries = 1;\nresults_dir = \"$T/results\";|" \
  experiments/smoke.cfg > "$T/smoke.cfg"

for m in proposed no_fc no_scaler mean_largest5 whole_volume imagenet_resnet50 radimagenet_resnet50 \
         total_volume sum_diameters lesion_count; do
  expect "train $m" 0 "^status: ok" -- "$LR" train "$T/smoke.cfg" --model "$m" --fold 0 -o "$T/$m.h5" --quiet
  h5dump -a /status "$T/$m.h5" 2>/dev/null | grep -q '"ok"' && ok "shard $m status ok" || bad "shard $m status"
done
expect "resnet50 provenance is honest" 0 "weights: pretrained: synthetic organ task" -- \
  "$LR" train "$T/smoke.cfg" --model imagenet_resnet50 --fold 1 -o "$T/r50f1.h5" --quiet
expect "refuses to overwrite a shard" 1 "exists; refusing to overwrite" -- \
  "$LR" train "$T/smoke.cfg" --model proposed --fold 0 -o "$T/proposed.h5"
expect "fold out of range" 1 "the experiment has 4 folds" -- \
  "$LR" train "$T/smoke.cfg" --model proposed --fold 4 -o "$T/x.h5"
expect "unknown model" 2 "unknown model 'best_model'" -- "$LR" train "$T/smoke.cfg" --model best_model --fold 0 -o "$T/x.h5"
expect "missing fold" 2 "missing --fold" -- "$LR" train "$T/smoke.cfg" --model proposed -o "$T/x.h5"

# Config errors: file, line, key, expectation; nothing trained.
bad_cfg() { # name, sed expression, expected regex
  sed -e "$2" "$T/smoke.cfg" > "$T/bad.cfg"
  expect "config: $1" 1 "$3" -- "$LR" train "$T/bad.cfg" --model proposed --fold 0 -o "$T/bad.h5"
  [ ! -e "$T/bad.h5" ] && ok "config: $1 wrote nothing" || { bad "config: $1 wrote a shard"; rm -f "$T/bad.h5"; }
}
bad_cfg "unknown key" 's/^train = { epochs = 2;/train = { epoch = 2;/' "bad.cfg:[0-9]+: unknown key 'train.epoch'"
bad_cfg "wrong type" 's/epochs = 2;/epochs = "two";/' "bad.cfg:[0-9]+: 'train.epochs': expected an integer"
bad_cfg "out of range" 's/lr = 1e-3;/lr = -1.0;/' "bad.cfg:[0-9]+: 'train.lr': out of range"
bad_cfg "unknown model in list" 's/"no_fc", /"no_fc", "nofc", /' "unknown model 'nofc'"
bad_cfg "ties" 's/ties = "breslow"/ties = "exact"/' "'train.ties': expected \"breslow\" or \"efron\""
bad_cfg "syntax" "s/^folds = 4;/folds = = 4;/" "bad.cfg:[0-9]+: syntax error"
bad_cfg "missing weights file" 's/resnet50 = { width = 4;/resnet50 = { width = 4; imagenet_weights = "\/nonexistent\/w.h5";/' \
  "resnet50.imagenet_weights.*no such file"
# whole_volume on a cohort without /volumes/ct
sed -e "s|$T/cohort.h5|$T/novol.h5|" -e 's/ volumes = "8x32x32";//' "$T/smoke.cfg" > "$T/novol.cfg"
expect "whole_volume needs volumes" 1 "whole_volume needs /volumes/ct" -- \
  "$LR" train "$T/novol.cfg" --model whole_volume --fold 0 -o "$T/wv.h5"

# merge into a results_dir that does not exist yet; a standalone train shard is named for what it is
sed -e "s|results_dir = \"$T/results\";|results_dir = \"$T/new/results\";|" "$T/smoke.cfg" > "$T/newdir.cfg"
grep -q "$T/new/results" "$T/newdir.cfg" && [ ! -e "$T/new" ] && ok "newdir.cfg points at a missing results_dir" || bad "newdir.cfg"
expect "merge creates results_dir" 0 "^not_ok: 40" -- "$LR" merge "$T/newdir.cfg"
[ -s "$T/new/results/smoke.h5" ] && ok "campaign file written" || bad "no campaign file under $T/new/results"
mkdir -p "$T/new/results/smoke/jobs" && cp "$T/proposed.h5" "$T/new/results/smoke/jobs/proposed-f0-r0.h5"
expect "merge with a standalone shard" 0 "^not_ok: 40" -- "$LR" merge "$T/newdir.cfg"
h5dump -d /jobs/error "$T/new/results/smoke.h5" 2>/dev/null | grep -q "standalone train verb" \
  && ok "standalone shard reported as such" || bad "standalone shard: $(h5dump -d /jobs/error "$T/new/results/smoke.h5" 2>&1 | grep -m1 '(0)')"
expect "train -o ''" 2 "-o '': expected a file name" -- "$LR" train "$T/smoke.cfg" --model proposed --fold 0 -o ''

# The CNN engine's threads: a training job gives the same bits with 1 and 2 threads (every dataset of the
# shard; attributes carry timings and the thread count itself).
require_tool h5diff
expect "train --threads 1" 0 "^status: ok" -- "$LR" train "$T/smoke.cfg" --model proposed --fold 1 --threads 1 -o "$T/t1.h5" --quiet
expect "train --threads 2" 0 "^status: ok" -- "$LR" train "$T/smoke.cfg" --model proposed --fold 1 --threads 2 -o "$T/t2.h5" --quiet
h5dump -a /threads "$T/t2.h5" 2>/dev/null | grep -q "(0): 2" && ok "shard records threads 2" || bad "shard lacks threads = 2"
h5dump -a /blis_arch "$T/t1.h5" 2>/dev/null | grep -Eq '"[a-z0-9]+"' && ok "shard records blis_arch" || bad "shard lacks blis_arch"
diffs="$(for d in $(h5ls -r "$T/t1.h5" | awk '$2 == "Dataset" {print $1}'); do h5diff "$T/t1.h5" "$T/t2.h5" "$d" "$d" >/dev/null 2>&1 || echo "$d"; done)"
n_sets="$(h5ls -r "$T/t1.h5" | awk '$2 == "Dataset"' | wc -l)"
[ "$n_sets" -gt 3 ] && [ -z "$diffs" ] && ok "1 and 2 threads: every dataset ($n_sets) identical" || bad "threads change datasets: $diffs"
expect "train --threads 0" 2 "--threads '0': expected 1..256" -- "$LR" train "$T/smoke.cfg" --model proposed --fold 1 --threads 0 -o "$T/t0.h5"

summary
