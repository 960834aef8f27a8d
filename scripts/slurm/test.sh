#!/usr/bin/env bash
# Tests deploy/slurm/adaneg-workers.sbatch for real on a single-node Slurm cluster made here:
#
#   1. installs slurm-wlm and munge from Debian when missing (apt-get);
#   2. starts a private munged (own key, socket and state under the work directory) and a
#      private slurmctld + slurmd on this host (own slurm.conf, free ports, linuxproc process
#      tracking: no cgroups or systemd needed), and waits until the node is idle;
#   3. starts a coordinator over TLS with role tokens (a CA made by openssl; the array's tasks get
#      a worker token and --ca-file through ADANEG_CA_FILE), submits the demo job, and submits the worker
#      array (sbatch --array=0-(N-1)) against it;
#   4. waits (bounded) for the array to leave the queue and checks: every array task ran an
#      adaneg worker that exited 0, the job is complete with exactly one result per sample, no
#      duplicate completion, PRAGMA integrity_check ok, and units were done by Slurm workers.
#
#   scripts/slurm/test.sh [--workers 3] [--out DIR] [--keep] [--timeout 300]
#
# If Slurm or munge cannot be installed or started, it says so loudly and exits non-zero. It
# never skips. Needs root. Everything it starts is stopped by pid on exit.
set -euo pipefail
source "$(dirname "$0")/../common/lib.sh"
hz_init slurm

WORKERS=3 OUT="" KEEP=0 TIMEOUT=300
while [ $# -gt 0 ]; do
  case $1 in
    --workers) WORKERS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) hz_die "unknown option $1" ;;
  esac
done

loud() {
  printf '\n[slurm] ############################################################\n' >&2
  printf '[slurm] SLURM TEST FAILED: %s\n' "$*" >&2
  printf '[slurm] ############################################################\n\n' >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || loud "needs root (to install and run slurmctld, slurmd and munged)"
hz_find_adaneg
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
  hz_log "installing slurm-wlm and munge from Debian"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >/tmp/adaneg-slurm-apt.log 2>&1 \
    || loud "cannot install slurm-wlm and munge with apt-get (log /tmp/adaneg-slurm-apt.log): $(tail -n 3 /tmp/adaneg-slurm-apt.log)"
fi
for tool in slurmctld slurmd sbatch squeue sinfo scontrol munged mungekey; do
  command -v "$tool" >/dev/null || loud "$tool is missing after installing slurm-wlm and munge"
done
command -v curl >/dev/null || hz_ensure_packages curl

if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/adaneg-slurm.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
chmod 755 "$OUT"
cleanup_out() { [ "$KEEP" = 1 ] || [ "${SLURM_TEST_FAILED:-0}" = 1 ] || rm -rf "$OUT/data" "$OUT/slurm/state" 2>/dev/null; }
hz_on_cleanup cleanup_out
hz_log "$(slurmctld -V), $(munged -V 2>&1 | head -n 1); work directory $OUT"

free_port() { "$HZ_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- munge -------------------------------------------------------------------------------------
M="$OUT/munge"
mkdir -p "$M"
chmod 700 "$M"
dd if=/dev/urandom of="$M/munge.key" bs=1024 count=1 status=none
chmod 400 "$M/munge.key"
MUNGE_SOCKET="$M/munge.socket"
hz_spawn "$M/munged.out" munged --foreground --force --socket="$MUNGE_SOCKET" --key-file="$M/munge.key" \
  --pid-file="$M/munged.pid" --log-file="$M/munged.log" --seed-file="$M/munged.seed"
MUNGED_PID=$HZ_LAST_PID
munge_up() { [ -S "$MUNGE_SOCKET" ] && munge --socket="$MUNGE_SOCKET" -n 2>/dev/null | unmunge --socket="$MUNGE_SOCKET" >/dev/null 2>&1; }
hz_poll 30 munge_up || loud "munged did not start: $(tail -n 5 "$M/munged.out" "$M/munged.log" 2>/dev/null)"
hz_log "munged up (socket $MUNGE_SOCKET)"

# --- slurm -------------------------------------------------------------------------------------
S="$OUT/slurm"
mkdir -p "$S/state" "$S/spool"
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ { print $2 }' /proc/meminfo) / 1024 - 1024 ))
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
export SLURM_CONF="$S/slurm.conf"
cat >"$SLURM_CONF" <<EOF
# A private single-node cluster for scripts/slurm/test.sh.
ClusterName=adaneg-test
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool/slurmd-%n
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd-%n.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=10
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
hz_spawn "$S/slurmctld.out" slurmctld -D -i -f "$SLURM_CONF"
CTLD_PID=$HZ_LAST_PID
hz_spawn "$S/slurmd.out" slurmd -D -f "$SLURM_CONF"
SLURMD_PID=$HZ_LAST_PID
node_idle() {
  hz_alive "$MUNGED_PID" || loud "munged exited: $(tail -n 5 "$M/munged.log" 2>/dev/null)"
  hz_alive "$CTLD_PID" || loud "slurmctld exited: $(tail -n 8 "$S/slurmctld.out" "$S/slurmctld.log" 2>/dev/null)"
  hz_alive "$SLURMD_PID" || loud "slurmd exited: $(tail -n 8 "$S/slurmd.out" "$S/slurmd.log" 2>/dev/null)"
  sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)'
}
hz_poll 90 node_idle || loud "the Slurm node did not become idle within 90s: $(sinfo -N 2>&1 | tail -n 3); $(tail -n 5 "$S/slurmctld.log" "$S/slurmd.log" 2>/dev/null)"
hz_log "slurmctld (port $CTLD_PORT) and slurmd (port $SLURMD_PORT) up: $(sinfo -h -N -o '%N %T %c CPUs' | head -n 1)"

stop_slurm_jobs() { [ -n "${ARRAY_JOB:-}" ] && scancel "$ARRAY_JOB" 2>/dev/null; true; }
hz_on_cleanup stop_slurm_jobs

# --- coordinator and job ---------------------------------------------------------------------
# TLS with role tokens (issue 23): a CA made here by openssl, a worker token for the array
# (readable by the Slurm job's user, as the test's token file always was) and a submit token.
hz_tls_pki "$OUT/pki" "IP:127.0.0.1"
TOKENS="$OUT/tokens.txt"
rm -f "$OUT/worker.secret" "$OUT/submit.secret"
"$ADANEG" token new --role worker --name slurm-array --secret-out "$OUT/worker.secret" >"$TOKENS" || loud "adaneg token new failed"
"$ADANEG" token new --role submit --name slurm-submit --secret-out "$OUT/submit.secret" >>"$TOKENS" || loud "adaneg token new failed"
chmod 644 "$OUT/worker.secret" "$OUT/pki/ca.pem"
TOKEN="$OUT/worker.secret"
JOB=slurm-demo
hz_demo_data "$OUT/data"
hz_demo_job "$OUT/job.yaml" "$JOB" "$OUT/data" 1
DB="$OUT/slurm.sqlite"
LOG="$OUT/coordinator.log"
hz_start_coordinator "$DB" "$LOG" 127.0.0.1 0 --tls-cert "$OUT/pki/server.pem" --tls-key "$OUT/pki/server.key" --tokens "$TOKENS" --lease-seconds 10
URL="https://127.0.0.1:$HZ_COORD_PORT"
"$ADANEG" submit --coordinator "$URL" --token-file "$OUT/submit.secret" --ca-file "$OUT/pki/ca.pem" "$OUT/job.yaml" >>"$LOG" 2>&1 || loud "submit failed: $(tail -n 3 "$LOG")"

# --- the worker array ---------------------------------------------------------------------------
mkdir -p "$OUT/logs"
ARRAY_JOB=$(cd "$OUT/logs" && ADANEG_COORDINATOR="$URL" ADANEG_TOKEN_FILE="$TOKEN" ADANEG_CA_FILE="$OUT/pki/ca.pem" ADANEG_BIN="$ADANEG" ADANEG_THREADS=1 \
  sbatch --parsable --array=0-$((WORKERS - 1)) --cpus-per-task=1 --mem-per-cpu=512M --time=00:10:00 \
    --output="$OUT/logs/worker-%A_%a.log" "$HZ_ROOT/deploy/slurm/adaneg-workers.sbatch") \
  || loud "sbatch failed"
ARRAY_JOB=${ARRAY_JOB%%;*}
hz_log "submitted worker array $ARRAY_JOB (${WORKERS} tasks): $(squeue -h -j "$ARRAY_JOB" -o '%i %T' | tr '\n' ' ')"
array_gone() { [ -z "$(squeue -h -j "$ARRAY_JOB" -o '%i' 2>/dev/null)" ]; }
hz_poll "$TIMEOUT" array_gone || { SLURM_TEST_FAILED=1; loud "the worker array did not finish within ${TIMEOUT}s: $(squeue -j "$ARRAY_JOB" 2>&1 | tail -n 5)"; }

FAILED=0
for ((i = 0; i < WORKERS; i++)); do
  state=$(scontrol show job "${ARRAY_JOB}_$i" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n 1 || true)
  exitc=$(scontrol show job "${ARRAY_JOB}_$i" 2>/dev/null | grep -o ' ExitCode=[0-9:]*' | head -n 1 || true)
  summary=$(grep -a "^worker slurm-" "$OUT/logs/worker-${ARRAY_JOB}_$i.log" 2>/dev/null | tail -n 1 || true)
  hz_log "array task $i: ${state:-?}${exitc:-}; ${summary:-no worker summary}"
  if [ "$state" != JobState=COMPLETED ] || [ -z "$summary" ]; then
    FAILED=1
    tail -n 5 "$OUT/logs/worker-${ARRAY_JOB}_$i.log" 2>/dev/null >&2 || true
  fi
done
kill -TERM "$HZ_COORD_PID"
hz_wait_exit "$HZ_COORD_PID" 30 || true
hz_dbcheck check --db "$DB" --job "$JOB" --json "$OUT/check.json" >/dev/null || { FAILED=1; cat "$OUT/check.json" >&2; }
BY_SLURM=$("$HZ_PY" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM units WHERE completed_by LIKE 'slurm-%'\").fetchone()[0])" "$DB")
TOTAL=$("$HZ_PY" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM units').fetchone()[0])" "$DB")
[ "$BY_SLURM" = "$TOTAL" ] || { FAILED=1; hz_log "only $BY_SLURM of $TOTAL units were completed by Slurm workers"; }
read -r SAMPLES LOST DUPS INTEGRITY < <("$HZ_PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['samples'], d['lost'], d['duplicates'], d['integrity_check'])" "$OUT/check.json")
printf 'workers\t%s\nsamples\t%s\nlost\t%s\nduplicates\t%s\nunits_by_slurm_workers\t%s/%s\nintegrity\t%s\n' \
  "$WORKERS" "$SAMPLES" "$LOST" "$DUPS" "$BY_SLURM" "$TOTAL" "$INTEGRITY" | tee "$OUT/summary.tsv" >&2
if [ $FAILED != 0 ]; then SLURM_TEST_FAILED=1; loud "the Slurm worker array did not complete the job cleanly (logs in $OUT)"; fi
hz_log "slurm: array $ARRAY_JOB of $WORKERS workers completed job $JOB: $SAMPLES samples, lost $LOST, duplicates $DUPS, integrity $INTEGRITY"
