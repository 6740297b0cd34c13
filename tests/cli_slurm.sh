#!/usr/bin/env bash
# A real SLURM on this machine (munge, slurmctld, slurmd; tests/slurm/slurm.conf.in): the reduced smoke
# campaign submitted through slurm/submit.sh (pretraining -> job array -> merge + report) must give the
# same campaign file as mpirun. CI installs slurm-wlm and munge (.ci/run); elsewhere the test is skipped
# when SLURM is not installed.
set -u
ROOT="$PWD"
LR="${LR:-bin/lesionrank}"
LR="$(cd "$(dirname "$LR")" && pwd)/$(basename "$LR")"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "FAIL slurm-wlm/munge not installed in CI"; echo "0 passed, 1 failed"; exit 1; fi
  echo "skip: slurm-wlm and munge are not installed (apt-get install slurm-wlm munge)"; echo "0 passed, 0 failed"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "skip: the test cluster needs root"; echo "0 passed, 0 failed"; exit 0; fi
T="${TMPDIR_TESTS:-$(mktemp -d)}/cli_slurm"
mkdir -p "$T/state" "$T/spool"
HOST="$(hostname -s)"
sed -e "s|@HOST@|$HOST|g" -e "s|@DIR@|$T|g" "$ROOT/tests/slurm/slurm.conf.in" > "$T/slurm.conf"
export SLURM_CONF="$T/slurm.conf"

# munge: a key and a running daemon
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge; dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge; chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
cleanup() {
  scancel --user=root >/dev/null 2>&1
  [ -f "$T/slurmd.pid" ] && kill "$(cat "$T/slurmd.pid")" 2>/dev/null
  [ -f "$T/slurmctld.pid" ] && kill "$(cat "$T/slurmctld.pid")" 2>/dev/null
}
trap cleanup EXIT
slurmctld -f "$T/slurm.conf" && slurmd -f "$T/slurm.conf" || bad "start slurmctld/slurmd"
up=0
for i in $(seq 1 60); do
  sinfo -h -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc)' && { up=1; break; }
  sleep 1
done
[ $up = 1 ] && ok "test cluster is up ($(sinfo -h -o '%P %D %t' | head -1))" || { bad "cluster not idle: $(sinfo 2>&1 | head -3) $(tail -3 "$T/slurmctld.log")"; echo "$pass passed, $fail failed"; exit 1; }

cd "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export LESIONRANK_ANALYSIS="$ROOT/analysis"
sed -e "s|results/smoke/cohort.h5|$T/cohort.h5|" -e 's/^folds = 4;/folds = 3;/' -e 's/^name = "smoke";/name = "slurmcamp";/' \
    -e 's/^models = .*/models = ["proposed", "imagenet_resnet50", "lesion_count"];/' \
    -e '/^ *"imagenet_resnet50", "radimagenet_resnet50", "total_volume"/d' \
    "$ROOT/experiments/smoke.cfg" > camp.cfg
ln -sfn "$ROOT/slurm" slurm
mkdir -p bin && ln -sfn "$LR" bin/lesionrank
t0=$(date +%s)
out="$(timeout 900 slurm/submit.sh camp.cfg --wait 2>&1)"; rc=$?
t1=$(date +%s)
[ $rc -eq 0 ] && ok "submit.sh --wait: array + merge finished in $((t1 - t0)) s" || bad "submit.sh exit $rc: $(echo "$out" | tail -3 | tr '\n' ' ') $(tail -3 lesionrank-merge_*.out 2>/dev/null)"
echo "$out" | grep -q "^pretraining: " && ok "pretraining submitted first" || bad "no pretraining job: $out"
# --time and --mem-per-cpu from run --plan (none given here): one array per model kind with its own limits,
# printed by the plan (array_sbatch lines) and passed to sbatch; a ResNet50 array waits for its pretraining task
echo "$out" | grep -Eq '^#SBATCH --time=[0-9]{2}:[0-9]{2}:[0-9]{2}$' && ok "submit.sh printed the plan's #SBATCH lines" || bad "no plan lines: $out"
nk=$(echo "$out" | grep -c '^array_sbatch: ')
[ "$nk" -eq 3 ] && ok "one array_sbatch line per model kind: $nk" || bad "array_sbatch lines: $nk: $out"
pid="$(echo "$out" | sed -n 's/^pretraining: \([0-9]*\) .*/\1/p')"
while read -r kind after arr cpus tim mem; do
  got="$(echo "$out" | grep "^jobs $kind: ")"
  case "$got" in
    "jobs $kind: "*" (array ${arr#--array=}) $tim $mem"*) ok "the $kind array was submitted with the plan's ${arr#--array=} $tim $mem" ;;
    *) bad "the $kind array: plan '$arr $tim $mem', submitted '$got'" ;;
  esac
  if [ "$after" = after=none ]; then
    case "$got" in *--dependency*) bad "$kind waits for no pretraining: $got" ;; *) ok "the $kind array starts at once (no dependency)" ;; esac
  else
    case "$got" in *" --dependency=afterany:${pid}_${after#after=}") ok "the $kind array waits for pretraining task ${after#after=} only" ;;
      *) bad "$kind dependency: $got" ;; esac
  fi
done < <(echo "$out" | sed -n 's/^array_sbatch: //p')
echo "$out" | grep -q '^array_sbatch: imagenet_resnet50 after=[0-9]' && ok "the ImageNet row needs a pretraining task" || bad "imagenet_resnet50 after: $out"
nlogs=$(ls lesionrank-proposed_*_*.out lesionrank-imagenet_resnet50_*_*.out lesionrank-lesion_count_*_*.out 2>/dev/null | wc -l)
[ "$nlogs" -eq 9 ] && ok "one log per array task (%x_%A_%a, %x the kind): $nlogs" || bad "array logs: $nlogs: $(ls)"
[ -f results/slurmcamp/report/table2.md ] && ok "merge.sbatch wrote the report" || bad "no report: $(cat lesionrank-merge_*.out 2>/dev/null | tail -3)"
[ -f results/slurmcamp.h5 ] && cp results/slurmcamp.h5 slurm.h5
# both limits given: one array of every job, with the user's limits (held, then cancelled: nothing runs)
held="$(slurm/submit.sh camp.cfg --hold --time=00:30:00 --mem-per-cpu=500M 2>&1)"; rc=$?
scancel --user=root >/dev/null 2>&1
[ $rc -eq 0 ] && echo "$held" | grep -Eq '^jobs all: [0-9]+ \(array 0-8\) --dependency=afterany:[0-9]+$' && ! echo "$held" | grep -q '^array_sbatch' \
  && ok "--time and --mem-per-cpu given: one array, no plan" || bad "user limits: rc $rc: $held"
rm -rf results
mpirun -np 3 "$LR" run camp.cfg > mpirun.out 2>&1 && ok "mpirun -np 3 of the same campaign" || bad "mpirun: $(tail -3 mpirun.out)"
same_campaign "SLURM array result equals the mpirun result" slurm.h5 results/slurmcamp.h5
cd "$ROOT"
summary
