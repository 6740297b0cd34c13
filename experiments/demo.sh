#!/usr/bin/env bash
# `make demo`: the README's main job. Today it generates the synthetic cohort (with small whole
# volumes) and prints its summary; it grows into the full Table 2 run as training lands.
set -euo pipefail
LR="${1:-bin/lesionrank}"
OUT="results/demo"
mkdir -p "$OUT"
if [ -f "$OUT/cohort.h5" ]; then
  echo "demo: reusing $OUT/cohort.h5 (delete it to regenerate)"
else
  "$LR" synth -o "$OUT/cohort.h5" --seed 7 --volumes 24x96x96
fi
"$LR" inspect "$OUT/cohort.h5" | tee "$OUT/cohort-summary.txt"
echo "demo: cohort summary written to $OUT/cohort-summary.txt"
