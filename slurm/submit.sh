#!/bin/bash
# Submit a campaign as SLURM job arrays: [pretraining] -> one array per model kind, one task per job ->
# merge + report.
# usage: slurm/submit.sh CONFIG [--wait] [extra sbatch options, e.g. --partition=gpu --time=4:00:00]
# Run from the repository root. Finished jobs are skipped by their tasks, so resubmitting resumes.
# --time and --mem-per-cpu come from `lesionrank run CONFIG --plan` (its array_sbatch lines, which include
# the safety factors) unless given here; the plan calibrates once per host (cached in the results dir).
# Each model kind (proposed, imagenet_resnet50, total_volume, ...) is an array of its own with its own limits,
# so the size baselines do not queue with a ResNet50's; a ResNet50 array waits only for the pretraining task it
# needs, the others start at once. With both --time and --mem-per-cpu given here, one array holds every job.
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
pre_res=(); kinds=()
if [ $user_time = 0 ] || [ $user_mem = 0 ]; then
  plan="$("$LR" run "$CONFIG" --plan)" || { echo "submit.sh: run --plan failed; give --time and --mem-per-cpu" >&2; exit 1; }
  echo "$plan" | grep -E '^(total_core_hours:|#SBATCH |pretrain_sbatch:|array_sbatch:)'
  pre_line="$(echo "$plan" | awk -F': ' '/^pretrain_sbatch:/ {print $2}')"
  for opt in time mem-per-cpu; do
    [ $opt = time ] && [ $user_time = 1 ] && continue
    [ $opt = mem-per-cpu ] && [ $user_mem = 1 ] && continue
    v="$(echo "$pre_line" | tr ' ' '\n' | sed -n "s/^--$opt=//p")"
    [ -n "$v" ] && pre_res+=("--$opt=$v")
  done
  # array_sbatch: KIND after=ID|none --array=LIST --cpus-per-task=T --time=... --mem-per-cpu=...
  while IFS= read -r line; do kinds+=("$line"); done < <(echo "$plan" | sed -n 's/^array_sbatch: //p')
  [ ${#kinds[@]} -gt 0 ] || { echo "submit.sh: run --plan printed no array_sbatch line" >&2; exit 1; }
else
  kinds=("all after=all --array=0-$((n - 1))")
fi
pid=""
if [ -n "$pre" ] && [ "$pre" != none ]; then
  pid="$(sbatch --parsable "$cpus" ${pre_res[@]+"${pre_res[@]}"} --job-name=lesionrank-pretrain "$@" --array="$pre" "$here/table2-array.sbatch" "$CONFIG")"
  pid="${pid%%;*}"
  echo "pretraining: $pid (array tasks $pre) ${pre_res[*]:-}"
fi
# a failed pretraining is redone inline by the ResNet50 tasks, hence afterany
ids=()
for line in "${kinds[@]}"; do
  read -r kind after rest <<< "$line"
  after="${after#after=}"
  res=(); array=""
  for o in $rest; do
    case "$o" in
      --array=*) array="${o#--array=}" ;;
      --time=*) [ $user_time = 0 ] && res+=("$o") ;;
      --mem-per-cpu=*) [ $user_mem = 0 ] && res+=("$o") ;;
    esac
  done
  dep=()
  if [ -n "$pid" ] && [ "$after" = all ]; then dep=("--dependency=afterany:$pid")
  elif [ -n "$pid" ] && [ "$after" != none ]; then dep=("--dependency=afterany:${pid}_$after"); fi
  name=lesionrank-job; [ "$kind" != all ] && name="lesionrank-$kind"
  id="$(sbatch --parsable "$cpus" ${res[@]+"${res[@]}"} --job-name="$name" "$@" ${dep[@]+"${dep[@]}"} --array="$array" "$here/table2-array.sbatch" "$CONFIG")"
  id="${id%%;*}"
  ids+=("$id")
  shown=(${res[@]+"${res[@]}"} ${dep[@]+"${dep[@]}"})
  echo "jobs $kind: $id (array $array)${shown[*]:+ ${shown[*]}}"
done
deps="$(IFS=:; echo "${ids[*]}")"
mid="$(sbatch --parsable "$@" $WAIT --dependency=afterany:"$deps" "$here/merge.sbatch" "$CONFIG")"
echo "merge: $mid"
