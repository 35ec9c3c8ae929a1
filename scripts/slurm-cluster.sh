#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the tests marked `slurm` (and for trying `--launcher slurm`).
#
#   scripts/slurm-cluster.sh start DIR     start munged, slurmctld and slurmd with their config and state in DIR,
#                                          wait until the node is idle, print `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm-cluster.sh stop DIR      stop the three daemons by the pids recorded in DIR
#   scripts/slurm-cluster.sh run CMD...    start in a temporary DIR, run CMD with SLURM_CONF exported, stop
#
# Needs root and Debian's packages: apt-get install -y slurm-wlm munge. One node with this machine's cores and
# memory, proctrack/linuxproc, task/none, select/cons_tres, one default partition `debug`; its own munge key and
# socket, and ports picked free, so it touches nothing of a system cluster and two can run side by side.
set -euo pipefail

die() { echo "slurm-cluster: $*" >&2; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() {
    local dir=$1
    for tool in munged slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null || die "$tool not found: apt-get install -y slurm-wlm munge"
    done
    [ "$(id -u)" = 0 ] || die "needs root (the daemons run as root here)"
    mkdir -p "$dir"/{munge,state,spool,log}
    dir=$(cd "$dir" && pwd)
    chmod 700 "$dir" "$dir/munge"
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
    munged --force --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"

    local cpus mem_mb host ctld_port d_port
    cpus=$(nproc)
    mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    host=$(hostname)
    ctld_port=$(free_port); d_port=$(free_port)
    cat > "$dir/slurm.conf" <<CONF
ClusterName=bench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
KillWait=5
OverTimeLimit=0
InactiveLimit=0
MessageTimeout=30
DefMemPerCPU=$(( mem_mb / cpus ))
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    for _ in $(seq 1 120); do
        if [ "$(sinfo -h -o %t 2>/dev/null)" = idle ]; then
            echo "export SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.5
    done
    stop "$dir"
    die "the node did not become idle within 60 s; see $dir/log/"
}

stop() {
    local dir=$1 pidfile pid
    if [ -s "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
        # jobs still running would leave their step daemons behind once slurmd is gone: cancel them first
        SLURM_CONF=$dir/slurm.conf scancel --quiet --user "$(id -un)" 2>/dev/null || true
        for _ in $(seq 1 40); do
            [ -z "$(SLURM_CONF=$dir/slurm.conf squeue -h 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
}

case "${1:-}" in
    start) [ $# = 2 ] || die "usage: $0 start DIR"; start "$2" ;;
    stop) [ $# = 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
    run)
        shift; [ $# -ge 1 ] || die "usage: $0 run CMD..."
        tmp=$(mktemp -d /tmp/slurm-cluster.XXXXXX)
        trap 'stop "$tmp"; rm -rf "$tmp"' EXIT
        start "$tmp" >/dev/null
        export SLURM_CONF=$tmp/slurm.conf
        "$@" ;;
    *) die "usage: $0 start DIR | stop DIR | run CMD..." ;;
esac
