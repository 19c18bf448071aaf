#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the tests of `nas cluster`
# (nas-cli/tests/cluster.rs run their cluster cases only when `sinfo` works).
#
# Installs Slurm and MUNGE from the distribution's packages (Debian/Ubuntu, as root), writes a
# one-node slurm.conf for localhost with this machine's CPUs (the node line comes from `slurmd -C`),
# starts munged, slurmctld and slurmd, and waits until `sinfo` shows the node idle.
# Usage: sudo scripts/slurm-local.sh        (idempotent: a running cluster is left as it is)
# Exit status: 0 when the node is idle, 1 with one line saying why otherwise.
set -uo pipefail

fail() { echo "slurm-local: $*" >&2; exit 1; }

node_idle() { sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; }

if command -v sinfo >/dev/null 2>&1 && node_idle; then
  echo "slurm-local: a cluster is already up: $(sinfo -h -o '%N %c CPUs %t' | head -n 1)"
  exit 0
fi
[ "$(id -u)" = 0 ] || fail "must run as root to install and start Slurm (try: sudo $0)"

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "no apt-get: install slurm-wlm and munge by hand"
  echo "slurm-local: installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || echo "slurm-local: apt-get update failed; trying the install anyway" >&2
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/tmp/slurm-local-apt.log 2>&1 \
    || fail "apt-get install slurm-wlm munge failed (see /tmp/slurm-local-apt.log: $(tail -n 1 /tmp/slurm-local-apt.log))"
fi

# MUNGE: a key, its directories, the daemon.
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null 2>&1; then mungekey --create --keyfile=/etc/munge/munge.key
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged || fail "munged does not start (see /var/log/munge/munged.log)"
  else
    /usr/sbin/munged --force || fail "munged does not start (see /var/log/munge/munged.log)"
  fi
  sleep 1
  munge -n | unmunge >/dev/null 2>&1 || fail "munge credentials do not decode: munged is not working"
fi

# slurm.conf: one node, this machine, all its CPUs; memory is not a consumable (CR_CPU).
conf_dir=/etc/slurm
[ -d /etc/slurm-llnl ] && [ ! -d /etc/slurm ] && conf_dir=/etc/slurm-llnl
mkdir -p "$conf_dir" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
host=$(hostname -s)
node_line=$(slurmd -C 2>/dev/null | grep '^NodeName=') || fail "slurmd -C printed no NodeName line"
cat >"$conf_dir/slurm.conf" <<CONF
# Written by scripts/slurm-local.sh: a one-node cluster on localhost for the tests.
ClusterName=nas-local
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
echo "slurm-local: $conf_dir/slurm.conf: $node_line"

pgrep -x slurmctld >/dev/null || slurmctld || fail "slurmctld does not start (see /var/log/slurm/slurmctld.log: $(tail -n 1 /var/log/slurm/slurmctld.log 2>/dev/null))"
pgrep -x slurmd >/dev/null || slurmd || fail "slurmd does not start (see /var/log/slurm/slurmd.log: $(tail -n 1 /var/log/slurm/slurmd.log 2>/dev/null))"

for _ in $(seq 1 60); do
  if node_idle; then
    echo "slurm-local: up: $(sinfo -h -o '%N %c CPUs %t' | head -n 1)"
    exit 0
  fi
  state=$(sinfo -h -o '%t' 2>/dev/null | head -n 1)
  case "$state" in down*|drain*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;; esac
  sleep 1
done
fail "the node is not idle after 60 s (sinfo: $(sinfo -h -o '%N %t %E' 2>&1 | head -n 1)); see /var/log/slurm/"
