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
# --time and --mem-per-cpu from run --plan (none given here): the printed #SBATCH lines, passed to sbatch
echo "$out" | grep -Eq '^#SBATCH --time=[0-9]{2}:[0-9]{2}:[0-9]{2}$' && ok "submit.sh printed the plan's #SBATCH lines" || bad "no plan lines: $out"
ptime="$(echo "$out" | sed -n 's/^#SBATCH --time=//p')"; pmem="$(echo "$out" | sed -n 's/^#SBATCH --mem-per-cpu=//p')"
echo "$out" | grep -q "^jobs: .* --time=$ptime --mem-per-cpu=$pmem" && ok "the array was submitted with the plan's --time=$ptime --mem-per-cpu=$pmem" || bad "array submitted without the plan: $(echo "$out" | grep '^jobs:')"
nlogs=$(ls lesionrank-job_*_*.out 2>/dev/null | wc -l)
[ "$nlogs" -ge 10 ] && ok "one log per array task (%x_%A_%a): $nlogs" || bad "array logs: $nlogs"
[ -f results/slurmcamp/report/table2.md ] && ok "merge.sbatch wrote the report" || bad "no report: $(cat lesionrank-merge_*.out 2>/dev/null | tail -3)"
[ -f results/slurmcamp.h5 ] && cp results/slurmcamp.h5 slurm.h5
rm -rf results
mpirun -np 3 "$LR" run camp.cfg > mpirun.out 2>&1 && ok "mpirun -np 3 of the same campaign" || bad "mpirun: $(tail -3 mpirun.out)"
same_campaign "SLURM array result equals the mpirun result" slurm.h5 results/slurmcamp.h5
cd "$ROOT"
summary
