#!/usr/bin/env bash
# `make demo`: the README's main job. The 258-patient synthetic cohort, every Table 2 row x 4 folds
# (experiments/demo.cfg) under MPI with 2 workers, then the report. Rerunning resumes: finished jobs
# are skipped (delete results/demo/ and results/demo.h5, or use `run --fresh`, to start over).
set -euo pipefail
LR="${1:-bin/lesionrank}"
CFG=experiments/demo.cfg
export BLIS_NUM_THREADS=1 OMP_NUM_THREADS=1
# Open MPI refuses root without these; one rank more than cores (the master costs almost nothing).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
ranks=$(( $(getconf _NPROCESSORS_ONLN) + 1 ))   # (nproc would honour OMP_NUM_THREADS=1)
start=$(date +%s)
status=0
if command -v mpirun >/dev/null; then
  mpirun -np "$ranks" "$LR" run "$CFG" || status=$?
else
  "$LR" run "$CFG" || status=$?
fi
"$LR" inspect results/demo/cohort.h5 > results/demo/cohort-summary.txt
"$LR" report results/demo.h5 -o results/demo/report --force
echo "demo: campaign file results/demo.h5, cohort summary results/demo/cohort-summary.txt"
echo "demo: report in results/demo/report/report.md (table2.md, figures/, interpretation.md)"
echo "demo: $(( $(date +%s) - start )) s"
exit "$status"
