#!/bin/bash
# Submit a campaign as a SLURM job array: [pretraining] -> one task per job -> merge + report.
# usage: slurm/submit.sh CONFIG [--wait] [extra sbatch options, e.g. --partition=gpu --time=4:00:00]
# Run from the repository root. Finished jobs are skipped by their tasks, so resubmitting resumes.
set -euo pipefail
CONFIG="${1:?usage: slurm/submit.sh CONFIG [--wait] [sbatch options]}"
shift
WAIT=""
if [ "${1:-}" = "--wait" ]; then WAIT="--wait"; shift; fi
LR="${LR:-bin/lesionrank}"
here="$(cd "$(dirname "$0")" && pwd)"
list="$("$LR" run "$CONFIG" --list-jobs)"
n="$(echo "$list" | awk '/^model_jobs:/ {print $2}')"
pre="$(echo "$list" | awk '/^pretrain_job:/ {print $2}')"
threads="$(echo "$list" | awk '/^threads:/ {print $2}')"
cpus="--cpus-per-task=${threads:-1}"   # the config's CNN threads per task; a --cpus-per-task given here wins
dep=""
if [ "$pre" -ge 0 ]; then
  pid="$(sbatch --parsable "$cpus" "$@" --array="$pre" "$here/table2-array.sbatch" "$CONFIG")"
  echo "pretraining: $pid (array task $pre)"
  dep="--dependency=afterany:${pid%%;*}"   # a failed pretraining is redone inline by the ResNet50 tasks
fi
aid="$(sbatch --parsable "$cpus" "$@" $dep --array="0-$((n - 1))" "$here/table2-array.sbatch" "$CONFIG")"
echo "jobs: $aid (array 0-$((n - 1)))"
mid="$(sbatch --parsable "$@" $WAIT --dependency=afterany:"${aid%%;*}" "$here/merge.sbatch" "$CONFIG")"
echo "merge: $mid"
