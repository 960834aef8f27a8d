#!/usr/bin/env bash
# Fault injection on the demo job's data: coordinator (`adaneg serve`) and workers (`adaneg
# worker`) as separate processes on loopback, short leases, and faults injected while the job runs:
#
#   worker-kill       kill -9 a random worker at a random moment, restart it        (K times)
#   coordinator-kill  kill -9 the coordinator at a random moment, restart it on the
#                     same database and port                                          (C times)
#   sigstop           SIGSTOP a worker that holds a lease until the unit has gone to
#                     another worker (past its lease), then SIGCONT                   (P times)
#   outage            kill -9 the coordinator and keep it down (ci: 20 s, full: 5 min)
#                     before restarting it on the same database and port; every worker
#                     must ride it out (retrying, logging each retry) and resume         (O times)
#   disk-full         the database on a small tmpfs: fill it with a dummy file until
#                     the coordinator's writes fail, hold, free it                    (F times)
#   combined (full)   all of the above in one run
#   scale-kill        kill -9 the coordinator during the 1,000-worker scale simulation
#                     (scripts/chaos/scale-kill.sh: AdaNegBench scale-serve + scale-clients),
#                     restart it on the same database and port; nothing lost or doubled
#                     (ci: 1,000 workers, D = 64, one unit of one batch each, 1 kill; full: the
#                     2,048,000-sample run of issue 26, 2 kills)                      (1 run)
#
# Each scenario runs on a fresh database; an undisturbed run with the same worker count, unit
# size and sync schedule is the baseline. After each run: every unit done, every sample exactly
# one result, no duplicate completion (scripts/common/dbcheck.py check), PRAGMA integrity_check
# ok, per-sample MCM/NegLabel/prediction identical to the baseline, and AdaNeg's AUROC / FPR95
# per OOD set within 0.2 / 1 point of the baseline (the distributed-vs-sequential tolerance).
#
# The data is the demo's synthetic generator at the size on which that tolerance is checked
# (10,000 ID + 10,000 OOD samples per set: three tasks of 20,000). At the demo's own size (1,500
# OOD per set, 54 units) ten kills redo a fifth of the stream out of order and AdaNeg's FPR95
# on one set moved by 1.4-1.5 points on about one seed in seven; see docs/reliability.md.
#
#   scripts/chaos/run.sh [--mode ci|full] [--workers 3] [--seed N] [--out DIR] [--keep]
#                        [--batch-ms 250] [--lease 2] [--id-samples 10000] [--ood-samples 10000]
#                        [--outage-seconds N]
#                        [--only worker-kill,coordinator-kill,sigstop,outage,disk-full,combined,scale-kill]
#
#   ci   (default) 10 worker kills, 3 coordinator kills, 1 SIGSTOP, 1 20-s outage, 1 disk fill
#   full 20 worker kills, 5 coordinator kills, 3 SIGSTOPs, 1 5-min outage, 2 disk fills, combined
#
# Units may be leased up to 20 times here (serve --max-attempts 20): a unit whose worker is
# killed is counted an attempt, and three deaths on one unit would otherwise park it as failed
# (what the crash-loop rule is for, but here the kills are random, not the unit's fault).
#
# ADANEG=/path/to/adaneg selects the binary (default .build/debug/adaneg). Needs root for the
# tmpfs (disk-full); without it that scenario fails loudly. Writes $OUT/summary.tsv and
# $OUT/summary.md. Exit status 0 only if every check of every scenario holds.
set -euo pipefail
source "$(dirname "$0")/../common/lib.sh"
hz_init chaos

MODE=ci WORKERS=3 SEED=$(( $(date +%s) % 32768 )) OUT="" KEEP=0 BATCH_MS=250 LEASE=2 ID_SAMPLES=10000 OOD_SAMPLES=10000 ONLY="" OUTAGE_SECONDS=""
while [ $# -gt 0 ]; do
  case $1 in
    --mode) MODE=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --batch-ms) BATCH_MS=$2; shift 2 ;;
    --lease) LEASE=$2; shift 2 ;;
    --id-samples) ID_SAMPLES=$2; shift 2 ;;
    --ood-samples) OOD_SAMPLES=$2; shift 2 ;;
    --only) ONLY=",$2,"; shift 2 ;;
    --outage-seconds) OUTAGE_SECONDS=$2; shift 2 ;;
    -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
    *) hz_die "unknown option $1" ;;
  esac
done
case $MODE in
  ci) WORKER_KILLS=10 COORD_KILLS=3 STOPS=1 FILLS=1 COMBINED=0 OUTAGES=1 OUTAGE_DEFAULT=20 ;;
  full) WORKER_KILLS=20 COORD_KILLS=5 STOPS=3 FILLS=2 COMBINED=1 OUTAGES=1 OUTAGE_DEFAULT=300 ;;
  *) hz_die "--mode must be ci or full" ;;
esac
OUTAGE_SECONDS=${OUTAGE_SECONDS:-$OUTAGE_DEFAULT}
RANDOM=$SEED
hz_find_adaneg
command -v "$HZ_PY" >/dev/null || hz_die "python3 is required"
command -v curl >/dev/null || hz_ensure_packages curl
if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/adaneg-chaos.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cleanup_out() { [ "$KEEP" = 1 ] || [ "${CHAOS_FAILED:-0}" = 1 ] || rm -rf "$OUT/data" "$OUT"/*.sqlite* 2>/dev/null; }
hz_on_cleanup cleanup_out
hz_log "mode $MODE, $WORKERS workers, lease ${LEASE}s, ${BATCH_MS} ms per batch (no-op embedder), seed $SEED, output $OUT"
hz_log "binary $ADANEG"

JOB=chaos-demo
hz_demo_data "$OUT/data" "$ID_SAMPLES" "$OOD_SAMPLES"
hz_demo_job "$OUT/job.yaml" "$JOB" "$OUT/data" 1
SUMMARY="$OUT/summary.tsv"
printf 'scenario\tfault\tinjected\tsamples\tlost\tduplicates\tunexpected_worker_exits\tcoordinator_restarts\tmax_d_auroc_pt\tmax_d_fpr95_pt\tintegrity\tseconds\tresult\n' >"$SUMMARY"
FAILED=0

# ---------------------------------------------------------------------------------------------
# Processes of the current scenario
W_PID=()
W_GEN=()
UNEXPECTED_EXITS=0
COORD_RESTARTS=0
DB="" LOG="" URL="" PORT=0

start_worker() {
  local i=$1
  W_GEN[$i]=$(( ${W_GEN[$i]:--1} + 1 ))
  hz_spawn "$LOG.w$i" "$ADANEG" worker --coordinator "$URL" --threads 1 --id "chaos-w$i-g${W_GEN[$i]}" \
    --simulate-batch-ms "$BATCH_MS"
  W_PID[$i]=$HZ_LAST_PID
}

start_coordinator() {
  hz_start_coordinator "$DB" "$LOG.coordinator" 127.0.0.1 "$PORT" --lease-seconds "$LEASE" --max-attempts 20
  PORT=$HZ_COORD_PORT
  URL="http://127.0.0.1:$PORT"
}

progress() { hz_dbcheck progress --db "$DB" --job "$JOB" 2>/dev/null || echo "0 1 0 0 0"; }
job_done() { local p; p=$(progress); set -- $p; [ "$1" = "$2" ] && [ "$2" != 0 ]; }
job_not_done() { ! job_done; }
progress_at_least() { local p; p=$(progress); set -- $p; [ $(( 100 * $1 / $2 )) -ge "$TARGET_PCT" ]; }

# Restarts any worker that exited while work remains (an exit status other than 0 counts as
# unexpected: a worker should ride out every fault here). Also restarts a dead coordinator.
supervise() {
  local i rc
  for i in "${!W_PID[@]}"; do
    if ! hz_alive "${W_PID[$i]}"; then
      rc=0
      wait "${W_PID[$i]}" 2>/dev/null || rc=$?
      if [ "$rc" != 0 ] && [ "$rc" != 137 ]; then
        UNEXPECTED_EXITS=$((UNEXPECTED_EXITS + 1))
        hz_log "worker $i exited with status $rc: $(tail -n 2 "$LOG.w$i" | tr '\n' ' ')"
      fi
      if job_not_done; then start_worker "$i"; else W_PID[$i]=""; unset 'W_PID[$i]'; fi
    fi
  done
  if ! hz_alive "$HZ_COORD_PID"; then
    hz_log "the coordinator died by itself; restarting it: $(tail -n 3 "$LOG.coordinator" | tr '\n' ' ')"
    wait "$HZ_COORD_PID" 2>/dev/null || true
    COORD_RESTARTS=$((COORD_RESTARTS + 1))
    start_coordinator
  fi
}

all_workers_gone() {
  local i
  for i in "${!W_PID[@]}"; do hz_alive "${W_PID[$i]}" && return 1; done
  return 0
}

supervised_wait_done() {
  local limit=$1 deadline=$((SECONDS + $1))
  while job_not_done; do
    [ $SECONDS -ge $deadline ] && hz_die "job not finished after ${limit}s: $(progress) (logs in $OUT)"
    supervise
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------
# Fault injectors (each runs while the job is in progress)

inject_worker_kills() {
  local n=$1 k i pid
  for ((k = 1; k <= n; k++)); do
    hz_sleep_ms "$(hz_rand 100 450)"
    job_done && hz_die "the job finished after $((k - 1)) of $n worker kills: raise --batch-ms"
    i=$(hz_rand 0 $((WORKERS - 1)))
    pid=${W_PID[$i]:-}
    if [ -z "$pid" ] || ! hz_alive "$pid"; then supervise; pid=${W_PID[$i]}; fi
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    INJECTED=$((INJECTED + 1))
    hz_log "  kill -9 worker $i (pid $pid) [$k/$n], progress $(progress)"
    start_worker "$i"
  done
}

inject_coordinator_kills() {
  local n=$1 k
  for ((k = 1; k <= n; k++)); do
    hz_sleep_ms "$(hz_rand 400 1400)"
    supervise
    job_done && hz_die "the job finished after $((k - 1)) of $n coordinator kills: raise --batch-ms"
    kill -9 "$HZ_COORD_PID"
    wait "$HZ_COORD_PID" 2>/dev/null || true
    INJECTED=$((INJECTED + 1))
    hz_log "  kill -9 coordinator [$k/$n], progress $(progress); restarting on the same database and port $PORT"
    hz_sleep_ms "$(hz_rand 0 1000)" # down for a random while
    COORD_RESTARTS=$((COORD_RESTARTS + 1))
    start_coordinator
  done
}

# The coordinator down for a long while (not a quick restart): workers keep retrying with
# backoff for their --patience (1 h by default) and each retry is logged; none may exit. Then
# it is restarted on the same database and port, and the job must finish as if nothing happened.
retry_lines() { cat "$LOG".w* 2>/dev/null | grep -c 'connection refused; retry' || true; }

inject_outages() {
  local n=$1 seconds=$2 k i before end gone
  for ((k = 1; k <= n; k++)); do
    TARGET_PCT=$(( 100 * k / (n + 2) ))
    hz_wait_until 300 "progress $TARGET_PCT%" progress_at_least
    supervise
    job_done && hz_die "the job finished before outage $k (raise --batch-ms)"
    before=$(retry_lines)
    kill -9 "$HZ_COORD_PID"
    wait "$HZ_COORD_PID" 2>/dev/null || true
    INJECTED=$((INJECTED + 1))
    hz_log "  coordinator down for ${seconds}s [$k/$n], progress $(progress)"
    end=$((SECONDS + seconds))
    gone=0
    while [ $SECONDS -lt $end ]; do
      for i in "${!W_PID[@]}"; do hz_alive "${W_PID[$i]}" || gone=$((gone + 1)); done
      [ "$gone" = 0 ] || break
      sleep 1 # the outage's duration is the fault itself, not a synchronisation
    done
    [ "$gone" = 0 ] || hz_log "    a worker exited during the outage (counted by supervise)"
    hz_log "    workers logged $(( $(retry_lines) - before )) retries during the outage; restarting the coordinator"
    [ "$(retry_lines)" -gt "$before" ] || { hz_log "    no worker logged a retry"; OUTAGE_SILENT=1; }
    COORD_RESTARTS=$((COORD_RESTARTS + 1))
    start_coordinator
    supervise
  done
}

holder_worker() { # prints "index unit" of a random worker holding a lease, if any
  local order i unit
  order=$(shuf -i 0-$((WORKERS - 1)) --random-source=<(yes "$RANDOM"))
  for i in $order; do
    [ -n "${W_PID[$i]:-}" ] && hz_alive "${W_PID[$i]}" || continue
    unit=$(hz_dbcheck leased-by --db "$DB" --worker "chaos-w$i-g${W_GEN[$i]}" | head -n 1)
    if [ -n "$unit" ]; then echo "$i $unit"; return 0; fi
  done
  return 1
}

unit_moved_on() { # the unit is no longer leased by the stopped worker
  local state owner
  read -r state owner < <(hz_dbcheck unit --db "$DB" --unit "$1")
  [ "$state" = "done" ] || { [ "$state" = leased ] && [ "$owner" != "$2" ]; } || [ "$state" = pending ]
}

inject_sigstops() {
  local n=$1 k found i unit pid worker
  for ((k = 1; k <= n; k++)); do
    found=""
    hz_poll 30 eval 'found=$(holder_worker)' || hz_die "no worker held a lease within 30s"
    read -r i unit <<<"$found"
    pid=${W_PID[$i]}
    worker="chaos-w$i-g${W_GEN[$i]}"
    kill -STOP "$pid"
    INJECTED=$((INJECTED + 1))
    hz_log "  SIGSTOP worker $i ($worker, pid $pid) holding unit $unit [$k/$n]"
    # Past its lease: wait until the coordinator has taken the unit back (another worker's
    # lease call expires it; then it is re-leased or done).
    hz_wait_until $((20 * LEASE + 30)) "unit $unit to leave the stopped worker" unit_moved_on "$unit" "$worker"
    hz_log "    unit $unit: $(hz_dbcheck unit --db "$DB" --unit "$unit"); SIGCONT worker $i"
    kill -CONT "$pid"
    hz_sleep_ms "$(hz_rand 200 800)"
  done
}

TMPFS=""
unmount_tmpfs() { [ -n "$TMPFS" ] && mountpoint -q "$TMPFS" && umount -l "$TMPFS"; }

# A write request answered 5xx: the coordinator cannot write its database. The probe is a lease
# (every lease records its worker), given straight back if it got a unit; a refused heartbeat
# would not do, as it writes nothing.
probe_write_fails() {
  local reply code unit
  reply=$(curl -s --max-time 10 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"worker":"chaos-probe","host":"probe"}' "$URL/v1/leases" || true)
  code=${reply##*$'\n'}
  [ "${code:0:1}" = 5 ] && return 0
  unit=$(printf '%s' "$reply" | grep -o '"unit":[0-9]*' | head -n 1 | cut -d: -f2)
  if [ -n "$unit" ]; then
    code=$(hz_curl_status -X POST -H 'Content-Type: application/json' -d '{"worker":"chaos-probe"}' "$URL/v1/units/$unit/release")
    [ "${code:0:1}" = 5 ] && return 0
  fi
  return 1
}

probe_write_fails_or_done() { probe_write_fails || job_done; }

inject_disk_fills() {
  local n=$1 k hold
  for ((k = 1; k <= n; k++)); do
    TARGET_PCT=$(( 100 * k / (n + 2) ))
    hz_wait_until 120 "progress $TARGET_PCT%" progress_at_least
    supervise
    job_done && hz_die "the job finished before disk fill $k"
    dd if=/dev/zero of="$TMPFS/fill" bs=64k status=none 2>/dev/null || true
    hz_log "  filled $TMPFS ($(df --output=avail -k "$TMPFS" | tail -n 1 | tr -d ' ') KiB left) [$k/$n], progress $(progress)"
    if hz_poll 60 probe_write_fails_or_done && ! job_done; then
      INJECTED=$((INJECTED + 1))
      hz_log "    the coordinator's writes fail (5xx), as expected"
    else
      rm -f "$TMPFS/fill"
      hz_die "disk fill $k had no effect: no write failed before the job finished (raise --batch-ms)"
    fi
    hold=$(hz_rand 2000 4000)
    hz_sleep_ms "$hold" # hold the disk full (fault duration, not synchronisation)
    supervise
    rm -f "$TMPFS/fill"
    hz_log "    freed the disk after ${hold} ms; coordinator $(hz_alive "$HZ_COORD_PID" && echo alive || echo dead), progress $(progress)"
  done
}

# ---------------------------------------------------------------------------------------------
# One scenario

run_scenario() {
  local name=$1 fault=$2
  shift 2
  if [ -n "$ONLY" ] && [ "$name" != baseline ] && [[ "$ONLY" != *",$name,"* ]]; then return 0; fi
  local started=$SECONDS
  hz_log "=== $name: $fault"
  W_PID=() W_GEN=() UNEXPECTED_EXITS=0 COORD_RESTARTS=0 INJECTED=0 PORT=0 OUTAGE_SILENT=0
  local dir=$OUT
  if [ "$name" = disk-full ] || [ "$name" = combined ]; then
    [ "$(id -u)" -eq 0 ] || hz_die "$name needs root to mount a tmpfs"
    TMPFS="$OUT/tmpfs-$name"
    mkdir -p "$TMPFS"
    mount -t tmpfs -o size=48m tmpfs "$TMPFS" || hz_die "cannot mount a tmpfs on $TMPFS"
    dir=$TMPFS
  fi
  DB="$dir/$name.sqlite"
  LOG="$OUT/$name.log"
  rm -f "$DB" "$DB-wal" "$DB-shm" "$LOG".*
  start_coordinator
  "$ADANEG" submit --coordinator "$URL" "$OUT/job.yaml" >>"$LOG.coordinator" 2>&1 || hz_die "submit failed (log $LOG.coordinator)"
  local i
  for ((i = 0; i < WORKERS; i++)); do start_worker "$i"; done
  "$@"
  supervised_wait_done 300
  hz_wait_until 120 "workers to exit after the job finished" all_workers_gone
  supervise # collects exit statuses
  kill -TERM "$HZ_COORD_PID"
  hz_wait_exit "$HZ_COORD_PID" 30 || true
  local seconds=$((SECONDS - started))

  "$ADANEG" report --db "$DB" "$JOB" --format json --out "$OUT/$name.report.json" \
    || hz_die "adaneg report failed on $DB"
  local check_rc=0 compare_rc=0 same_rc=0
  hz_dbcheck check --db "$DB" --job "$JOB" --json "$OUT/$name.check.json" >/dev/null || check_rc=$?
  local lost dups integrity samples
  read -r samples lost dups integrity < <("$HZ_PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['samples'], d['lost'], d['duplicates'], d['integrity_check'].replace(' ', '_'))" "$OUT/$name.check.json")
  local dauroc="-" dfpr="-"
  if [ "$name" != baseline ]; then
    hz_dbcheck compare --baseline "$OUT/baseline.report.json" --run "$OUT/$name.report.json" \
      --json "$OUT/$name.compare.json" || compare_rc=$?
    read -r dauroc dfpr < <("$HZ_PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.3f %.3f' % (d['worst_adaneg_d_auroc'], d['worst_adaneg_d_fpr95']))" "$OUT/$name.compare.json")
    hz_dbcheck same-scores --db "$OUT/baseline.sqlite" --other "$DB" --job "$JOB" || same_rc=$?
  fi
  local result=ok
  if [ $check_rc != 0 ]; then result="FAILED(check)"; "$HZ_PY" -c "import json,sys; print('\n'.join(json.load(open(sys.argv[1]))['problems']))" "$OUT/$name.check.json" >&2; fi
  [ $compare_rc = 0 ] || result="FAILED(metrics)"
  [ $same_rc = 0 ] || result="FAILED(per-sample scores)"
  [ "$UNEXPECTED_EXITS" = 0 ] || result="FAILED(worker exits)"
  [ "$OUTAGE_SILENT" = 0 ] || result="FAILED(no retry logged)"
  if [ "$name" != baseline ] && [ "$INJECTED" = 0 ]; then result="FAILED(nothing injected)"; fi
  [ "$result" = ok ] || { FAILED=1; CHAOS_FAILED=1; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$fault" "$INJECTED" "$samples" "$lost" "$dups" \
    "$UNEXPECTED_EXITS" "$COORD_RESTARTS" "$dauroc" "$dfpr" "$integrity" "$seconds" "$result" >>"$SUMMARY"
  hz_log "$name: injected $INJECTED, samples $samples, lost $lost, duplicates $dups, integrity $integrity, max |dAUROC| $dauroc pt, max |dFPR95| $dfpr pt, ${seconds}s: $result"
  if [ -n "$TMPFS" ]; then
    cp "$DB" "$OUT/$name.sqlite" 2>/dev/null || true
    umount "$TMPFS" || umount -l "$TMPFS"
    rmdir "$TMPFS" 2>/dev/null || true
    TMPFS=""
  fi
}
hz_on_cleanup unmount_tmpfs

no_faults() { :; }
worker_kills() { inject_worker_kills "$WORKER_KILLS"; }
coordinator_kills() { inject_coordinator_kills "$COORD_KILLS"; }
sigstops() { inject_sigstops "$STOPS"; }
disk_fills() { inject_disk_fills "$FILLS"; }
outages() { inject_outages "$OUTAGES" "$OUTAGE_SECONDS"; }
combined() {
  inject_worker_kills 5
  inject_disk_fills 1
  inject_sigstops 1
  inject_coordinator_kills 2
  inject_worker_kills 5
}

run_scenario baseline "none (undisturbed, the reference)" no_faults
run_scenario worker-kill "kill -9 a random worker, restart it" worker_kills
run_scenario coordinator-kill "kill -9 the coordinator, restart it on the same database" coordinator_kills
run_scenario sigstop "SIGSTOP a lease holder past its lease, then SIGCONT" sigstops
run_scenario outage "the coordinator down for ${OUTAGE_SECONDS}s, restarted on the same database and port" outages
run_scenario disk-full "fill the tmpfs under the database, then free it" disk_fills
if [ "$COMBINED" = 1 ]; then
  run_scenario combined "10 worker kills, 1 disk fill, 1 SIGSTOP, 2 coordinator kills in one run" combined
fi
if [ -z "$ONLY" ] || [[ "$ONLY" == *",scale-kill,"* ]]; then
  hz_log "=== scale-kill: kill -9 the coordinator during the 1,000-worker scale simulation"
  if [ "$MODE" = full ]; then SCALE_ARGS=(--samples 2048000 --unit-batches 4 --batch-ms 2000 --kills 2)
  else SCALE_ARGS=(--samples 256000 --unit-batches 1 --batch-ms 1000 --dim 64 --kills 1); fi
  sk_started=$SECONDS
  if bash "$(dirname "$0")/scale-kill.sh" --workers 1000 "${SCALE_ARGS[@]}" --seed "$SEED" --out "$OUT/scale-kill" >"$OUT/scale-kill.log" 2>&1; then
    sk_result=ok
  else
    sk_result=FAILED FAILED=1 CHAOS_FAILED=1
  fi
  IFS=$'\t' read -r _ sk_samples _ sk_lost sk_dup sk_integrity _ _ _ _ < <(tail -n 1 "$OUT/scale-kill/scale-kill.tsv" 2>/dev/null || echo)
  printf 'scale-kill\tkill -9 the coordinator during the 1,000-worker simulation\t%s\t%s\t%s\t%s\t0\t%s\t-\t-\t%s\t%s\t%s\n' \
    "${SCALE_ARGS[-1]}" "${sk_samples:-?}" "${sk_lost:-?}" "${sk_dup:-?}" "${SCALE_ARGS[-1]}" "${sk_integrity:-?}" "$((SECONDS - sk_started))" "$sk_result" >>"$SUMMARY"
  hz_log "    scale-kill: $sk_result (log $OUT/scale-kill.log)"
fi

{
  echo "| scenario | fault | injected | samples | lost | duplicates | worker exits | coordinator restarts | max abs dAUROC (pt) | max abs dFPR95 (pt) | integrity | s | result |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  tail -n +2 "$SUMMARY" | awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n" }'
} >"$OUT/summary.md"
cat "$OUT/summary.md"
if [ "$FAILED" != 0 ]; then hz_die "chaos: a scenario failed (see $SUMMARY and the logs in $OUT)"; fi
hz_log "chaos ($MODE): all scenarios passed (seed $SEED)"
