#!/usr/bin/env bash
# Issue 26 target (d): kill -9 of the coordinator during the 1,000-worker scale simulation, then
# a restart on the same database and port: nothing lost or doubled.
#
# The coordinator (`AdaNegBench scale-serve`, Sources/AdaNegBench/Scale.swift) and the simulated
# fleet (`AdaNegBench scale-clients`: the wire protocol of `adaneg worker`, lease, bank push and
# pull per batch, heartbeats, completion, no embedding) run as separate processes. While the
# fleet works, the coordinator is killed with SIGKILL KILLS times at random moments and started
# again at once; the clients retry through each outage (CoordinatorClient's backoff), and a unit
# whose lease went elsewhere is given up as `adaneg worker` gives it up. At the end: every unit
# done, every sample exactly one result, no duplicate completion, PRAGMA integrity_check ok
# (scripts/common/dbcheck.py check), and the clients exited 0.
#
#   scripts/chaos/scale-kill.sh [--workers 1000] [--samples 2048000] [--unit-batches 4]
#                               [--batch-ms 2000] [--kills 1] [--dim 512] [--seed N] [--out DIR]
#
# BENCH=/path/to/AdaNegBench selects the binary (default: next to $ADANEG, else .build/debug).
# Writes $OUT/scale-kill.tsv (one line: the figures and the result); exit status 0 only if all
# checks hold.
set -euo pipefail
source "$(dirname "$0")/../common/lib.sh"
hz_init scale-kill

WORKERS=1000 SAMPLES=2048000 UNIT_BATCHES=4 BATCH_MS=2000 KILLS=1 SEED=$(( $(date +%s) % 32768 )) OUT="" DIM=512 ENTRIES=16
while [ $# -gt 0 ]; do
  case $1 in
    --workers) WORKERS=$2; shift 2 ;;
    --samples) SAMPLES=$2; shift 2 ;;
    --unit-batches) UNIT_BATCHES=$2; shift 2 ;;
    --batch-ms) BATCH_MS=$2; shift 2 ;;
    --kills) KILLS=$2; shift 2 ;;
    --dim) DIM=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) hz_die "unknown option $1" ;;
  esac
done
RANDOM=$SEED
if [ -z "${BENCH:-}" ]; then
  if [ -n "${ADANEG:-}" ] && [ -x "$(dirname "$ADANEG")/AdaNegBench" ]; then BENCH=$(dirname "$ADANEG")/AdaNegBench
  else BENCH="$HZ_ROOT/.build/debug/AdaNegBench"; fi
fi
[ -x "$BENCH" ] || hz_die "no AdaNegBench binary at $BENCH: build it (swift build --product AdaNegBench) or set BENCH"
command -v "$HZ_PY" >/dev/null || hz_die "python3 is required"
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/adaneg-scale-kill.XXXXXX)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DATA="$OUT/scale-data" DB="$OUT/scale-kill.sqlite" LOG="$OUT/scale-serve.log"
rm -rf "$DATA" "$DB" "$DB-wal" "$DB-shm"
PORT=$("$HZ_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SHAPE=(--samples "$SAMPLES" --workers "$WORKERS" --unit-batches "$UNIT_BATCHES" --batch-ms "$BATCH_MS" --dim "$DIM" --entries "$ENTRIES")
hz_log "$WORKERS simulated workers, $SAMPLES samples, units of $UNIT_BATCHES batches, $BATCH_MS ms per batch, $KILLS coordinator kill(s), seed $SEED, $BENCH"

start_serve() {
  hz_spawn "$LOG" "$BENCH" scale-serve "${SHAPE[@]}" --dir "$DATA" --db "$DB" --port "$PORT"
  SERVE_PID=$HZ_LAST_PID
  hz_wait_until 120 "scale-serve listening on $PORT" bash -c "[ \$(grep -c 'SCALE-SERVE listening' '$LOG') -ge $1 ]"
}

started=$SECONDS
start_serve 1
hz_spawn "$OUT/scale-clients.log" "$BENCH" scale-clients "${SHAPE[@]}" --url "http://127.0.0.1:$PORT" --out "$OUT/clients.json"
CLIENTS_PID=$HZ_LAST_PID
# The ideal run lasts (units per worker) × unit_batches × batch_ms; kill within its first 60 %.
IDEAL_MS=$(( (SAMPLES / (256 * UNIT_BATCHES) + WORKERS - 1) / WORKERS * UNIT_BATCHES * BATCH_MS ))
for k in $(seq 1 "$KILLS"); do
  hz_sleep_ms "$(hz_rand $(( IDEAL_MS / 10 + 500 )) $(( IDEAL_MS * 6 / 10 + 1000 )))"
  hz_alive "$CLIENTS_PID" || break
  hz_log "kill -9 of the coordinator ($k of $KILLS)"
  kill -9 "$SERVE_PID"
  wait "$SERVE_PID" 2>/dev/null || true
  start_serve $(( k + 1 ))
done
rc=0
hz_wait_exit "$CLIENTS_PID" 900 || rc=$?
kill -9 "$SERVE_PID" 2>/dev/null || true
wait "$SERVE_PID" 2>/dev/null || true
seconds=$(( SECONDS - started ))
check=$(hz_dbcheck check --db "$DB" --job scale)
read -r samples lost duplicates integrity problems < <(echo "$check" | "$HZ_PY" -c '
import json, sys
d = json.load(sys.stdin)
print(d.get("samples", 0), d["lost"], d["duplicates"], d["integrity_check"], len(d["problems"] or []))')
abandoned=$("$HZ_PY" -c "import json; print(len(json.load(open('$OUT/clients.json')).get('lease', [])))" 2>/dev/null || echo "?")
result=ok
if [ "$rc" != 0 ] || [ "$lost" != 0 ] || [ "$duplicates" != 0 ] || [ "$integrity" != ok ] || [ "$problems" != 0 ]; then result=FAILED; fi
printf 'workers\tsamples\tkills\tlost\tduplicates\tintegrity\tclients_exit\tleases\tseconds\tresult\n%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
  "$WORKERS" "$samples" "$KILLS" "$lost" "$duplicates" "$integrity" "$rc" "$abandoned" "$seconds" "$result" | tee "$OUT/scale-kill.tsv"
[ "$result" = ok ] || hz_die "scale-kill: $(echo "$check" | head -c 600) (clients exit $rc; logs in $OUT)"
hz_log "scale-kill: $WORKERS workers, $KILLS coordinator kill(s): nothing lost or doubled, integrity ok (${seconds}s)"
