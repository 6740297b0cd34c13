#!/bin/bash
# Submit a campaign as a SLURM job array: [pretraining] -> one task per job -> merge + report.
# usage: slurm/submit.sh CONFIG [--wait] [extra sbatch options, e.g. --partition=gpu --time=4:00:00]
# Run from the repository root. Finished jobs are skipped by their tasks, so resubmitting resumes.
# --time and --mem-per-cpu come from `lesionrank run CONFIG --plan` (its #SBATCH lines, which include
# the safety factors) unless given here; the plan calibrates once per host (cached in the results dir).
set -euo pipefail
CONFIG="${1:?usage: slurm/submit.sh CONFIG [--wait] [sbatch options]}"
shift
WAIT=""
if [ "${1:-}" = "--wait" ]; then WAIT="--wait"; shift; fi
LR="${LR:-bin/lesionrank}"
here="$(cd "$(dirname "$0")" && pwd)"
list="$("$LR" run "$CONFIG" --list-jobs)"
n="$(echo "$list" | awk '/^model_jobs:/ {print $2}')"
pre="$(echo "$list" | awk '/^pretrain_jobs:/ {print $2}')"   # e.g. 40-41 (fractal and organ tasks) or none
threads="$(echo "$list" | awk '/^threads:/ {print $2}')"
cpus="--cpus-per-task=${threads:-1}"   # the config's CNN threads per task; a --cpus-per-task given here wins
user_time=0; user_mem=0
for a in "$@"; do
  case "$a" in --time=*|-t|--time|-t*) user_time=1 ;; --mem=*|--mem-per-cpu=*|--mem|--mem-per-cpu) user_mem=1 ;; esac
done
arr_res=(); pre_res=()
if [ $user_time = 0 ] || [ $user_mem = 0 ]; then
  plan="$("$LR" run "$CONFIG" --plan)" || { echo "submit.sh: run --plan failed; give --time and --mem-per-cpu" >&2; exit 1; }
  echo "$plan" | grep -E '^(total_core_hours:|#SBATCH |pretrain_sbatch:)'
  pre_line="$(echo "$plan" | awk -F': ' '/^pretrain_sbatch:/ {print $2}')"
  for opt in time mem-per-cpu; do
    [ $opt = time ] && [ $user_time = 1 ] && continue
    [ $opt = mem-per-cpu ] && [ $user_mem = 1 ] && continue
    v="$(echo "$plan" | sed -n "s/^#SBATCH --$opt=//p")"
    [ -n "$v" ] && arr_res+=("--$opt=$v")
    v="$(echo "$pre_line" | tr ' ' '\n' | sed -n "s/^--$opt=//p")"
    [ -n "$v" ] && pre_res+=("--$opt=$v")
  done
fi
dep=""
if [ -n "$pre" ] && [ "$pre" != none ]; then
  pid="$(sbatch --parsable "$cpus" ${pre_res[@]+"${pre_res[@]}"} "$@" --array="$pre" "$here/table2-array.sbatch" "$CONFIG")"
  echo "pretraining: $pid (array tasks $pre) ${pre_res[*]:-}"
  dep="--dependency=afterany:${pid%%;*}"   # a failed pretraining is redone inline by the ResNet50 tasks
fi
aid="$(sbatch --parsable "$cpus" ${arr_res[@]+"${arr_res[@]}"} "$@" $dep --array="0-$((n - 1))" "$here/table2-array.sbatch" "$CONFIG")"
echo "jobs: $aid (array 0-$((n - 1))) ${arr_res[*]:-}"
mid="$(sbatch --parsable "$@" $WAIT --dependency=afterany:"${aid%%;*}" "$here/merge.sbatch" "$CONFIG")"
echo "merge: $mid"
