#!/usr/bin/env bash
# Bring up a one-node Slurm cluster on this machine for abtui's Slurm tests. Idempotent.
#
#   bash .ci/slurm-up.sh          install slurm-wlm + munge if missing, write a minimal
#                                 slurm.conf for this host, start munged, slurmctld, slurmd
#   bash .ci/slurm-up.sh --down   stop the daemons this script started
#
# The node advertises 4 "gpu" generic resources, /dev/abtui-gpu0..3 (character devices like
# /dev/null, made here):
# `--gres=gpu:N` is then scheduled and accounted exactly as on a GPU cluster, while the
# arms train on the CPU. No slurmdbd: job states come from squeue / scontrol (MinJobAge
# keeps ended jobs visible for an hour) and from the job's own exit file.
# Logs: /var/log/abtui-slurm/. Needs root.
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/var/lib/abtui-slurm
LOGS=/var/log/abtui-slurm
say() { echo "slurm-up: $*" >&2; }

if [[ "${1:-}" == "--down" ]]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    for _ in $(seq 50); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || exit 0; sleep 0.2; done
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d" "$LOGS" /run/munge /var/log/munge
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# the munge key: made once; munged refuses a key that others can read
if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key

cat >"$CONF_DIR/slurm.conf" <<EOF
# written by abtui's .ci/slurm-up.sh: a one-node cluster for tests
ClusterName=abtui
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
MinJobAge=3600
KillWait=5
OverTimeLimit=0
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:4 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
echo "# no cgroup enforcement here (proctrack/linuxproc, task/none)" >"$CONF_DIR/cgroup.conf"
for i in 0 1 2 3; do [[ -e /dev/abtui-gpu$i ]] || mknod -m 0666 /dev/abtui-gpu$i c 1 3; done
cat >"$CONF_DIR/gres.conf" <<EOF
NodeName=$host Name=gpu File=/dev/abtui-gpu[0-3]
EOF

if ! pgrep -x munged >/dev/null; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged --force 2>>"$LOGS/munged.err" \
        || /usr/sbin/munged --force
fi
if ! pgrep -x slurmctld >/dev/null; then
    say "starting slurmctld"
    /usr/sbin/slurmctld -i
fi
if ! pgrep -x slurmd >/dev/null; then
    say "starting slurmd"
    /usr/sbin/slurmd
fi

deadline=$((SECONDS + 60))
until sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; do
    if (( SECONDS > deadline )); then
        say "the node never became idle"; sinfo -N -l >&2 || true
        tail -n 20 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 || true
        exit 1
    fi
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    sleep 1
done
say "up: $(sinfo -h -N -o '%N %T %G')"
