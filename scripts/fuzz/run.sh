#!/usr/bin/env bash
# Hostile input against the coordinator's HTTP API, on a coordinator that holds a finished job:
#
#   1. the demo job is run to completion (serve --token-file over HTTPS with a CA made here by openssl, + 2 workers; every client verifies the certificate), and every stored table
#      but `workers` is hashed (scripts/common/dbcheck.py dump);
#   2. schemathesis (PyPI, in the .venv-fuzz virtualenv) generates requests from openapi.yaml
#      (examples, coverage, fuzzing and stateful phases, positive and negative data) with the
#      token, in two passes (random path ids; path ids pinned to existing ones so bodies reach
#      the handlers): checks not_a_server_error and ignored_auth must hold (no 5xx; no request
#      gets in without the token); a third, informational pass runs every other schemathesis
#      check and its findings (spec conformance) are listed, not fatal;
#   3. tools/fuzz/hostile.py sends what a schema does not describe (bank deltas with impossible
#      values, lying Content-Length, 65 MB bodies, YAML alias bombs, raw protocol garbage,
#      missing or wrong tokens, and issue 13's specs: Int.max sizes, a huge memleng, an .npy whose
#      header declares an absurd shape, over the demo data; issue 22's worker ids and host names
#      with escape bytes, empty or overlong, on every route (400 naming the field), and YAML of
#      up to 64 MB under an unknown key, the coordinator's peak RSS bounded): no 5xx, no dropped
#      connection;
#   4. the coordinator must still be alive; the stored tables must hash as before (rejected
#      requests changed nothing); it is then restarted on the same database, every task's bank
#      is loaded again (the path a poisoned bank entry once crashed), the hashes are compared
#      once more and PRAGMA integrity_check must be ok;
#   5. a second job is submitted and one of its units leased by hostile.py --leased, which sends
#      completions out of range in one field each as the lease holder (all 400, naming the field,
#      the lease kept), then a valid one: the store must hold exactly that one (dbcheck only-unit).
#
#   scripts/fuzz/run.sh [--examples 100] [--seed N] [--max-time 90] [--out DIR] [--keep]
#   (--max-time bounds each of the two gating schemathesis passes)
#
# ADANEG=/path/to/adaneg selects the binary. Installs schemathesis from PyPI into .venv-fuzz
# (tools/fuzz/requirements.txt) when missing.
set -euo pipefail
source "$(dirname "$0")/../common/lib.sh"
hz_init fuzz

EXAMPLES=100 SEED=$(( $(date +%s) % 100000 )) MAX_TIME=90 OUT="" KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --examples) EXAMPLES=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --max-time) MAX_TIME=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) hz_die "unknown option $1" ;;
  esac
done
hz_find_adaneg
command -v curl >/dev/null || hz_ensure_packages curl
if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/adaneg-fuzz.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cleanup_out() { [ "$KEEP" = 1 ] || [ "${FUZZ_FAILED:-0}" = 1 ] || rm -rf "$OUT/data" 2>/dev/null; }
hz_on_cleanup cleanup_out

# --- schemathesis -------------------------------------------------------------------------------
VENV="$HZ_ROOT/.venv-fuzz"
ST="$VENV/bin/schemathesis"
if ! [ -x "$ST" ] || ! "$ST" --version >/dev/null 2>&1; then
  hz_log "installing schemathesis into $VENV (PyPI)"
  "$HZ_PY" -m venv "$VENV" 2>/dev/null || { hz_ensure_packages python3-venv; "$HZ_PY" -m venv "$VENV"; } \
    || hz_die "cannot create a virtualenv at $VENV"
  "$VENV/bin/pip" install -q -r "$HZ_ROOT/tools/fuzz/requirements.txt" >"$OUT/pip.log" 2>&1 \
    || hz_die "pip install schemathesis failed (log $OUT/pip.log)"
fi
hz_log "$("$ST" --version), seed $SEED, $EXAMPLES examples per operation, output $OUT"

# --- a finished job ---------------------------------------------------------------------------
JOB=fuzz-demo
TOKEN="$OUT/token"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN"
chmod 600 "$TOKEN"
# Over TLS (issue 23): a CA made here by openssl; every client (schemathesis, hostile.py, submit,
# the workers) verifies the coordinator's certificate against it.
hz_tls_pki "$OUT/pki" "IP:127.0.0.1,DNS:localhost"
TLS=(--tls-cert "$OUT/pki/server.pem" --tls-key "$OUT/pki/server.key")
CA=(--ca-file "$OUT/pki/ca.pem")
hz_demo_data "$OUT/data"
hz_demo_job "$OUT/job.yaml" "$JOB" "$OUT/data" 1
DB="$OUT/fuzz.sqlite"
LOG="$OUT/coordinator.log"
rm -f "$DB" "$DB-wal" "$DB-shm"
hz_start_coordinator "$DB" "$LOG" 127.0.0.1 0 --token-file "$TOKEN" "${TLS[@]}" --lease-seconds 5
URL="https://127.0.0.1:$HZ_COORD_PORT"
"$ADANEG" submit --coordinator "$URL" --token-file "$TOKEN" "${CA[@]}" "$OUT/job.yaml" >>"$LOG" 2>&1 || hz_die "submit failed"
hz_spawn "$OUT/worker1.log" "$ADANEG" worker --coordinator "$URL" --token-file "$TOKEN" "${CA[@]}" --threads 1 --id fuzz-w1
W1=$HZ_LAST_PID
hz_spawn "$OUT/worker2.log" "$ADANEG" worker --coordinator "$URL" --token-file "$TOKEN" "${CA[@]}" --threads 1 --id fuzz-w2
W2=$HZ_LAST_PID
hz_wait_exit "$W1" 300 || hz_die "worker 1 failed: $(tail -n 3 "$OUT/worker1.log")"
hz_wait_exit "$W2" 300 || hz_die "worker 2 failed: $(tail -n 3 "$OUT/worker2.log")"
hz_dbcheck check --db "$DB" --job "$JOB" >/dev/null || hz_die "the job did not finish cleanly before fuzzing"
hz_dbcheck dump --db "$DB" --readonly >"$OUT/dump.before.json"
hz_log "job $JOB finished: $(jq -c '{results: .results.rows, units: .units.rows, bank_entries: .bank_entries.rows}' "$OUT/dump.before.json" 2>/dev/null || head -c 200 "$OUT/dump.before.json")"
TASKS=$("$HZ_PY" -c "import sqlite3,sys; print(','.join(str(r[0]) for r in sqlite3.connect(sys.argv[1]).execute('SELECT id FROM tasks ORDER BY id')))" "$DB")
DONE_UNIT=$("$HZ_PY" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT min(id) FROM units WHERE state='done'\").fetchone()[0])" "$DB")

FAILED=0
fail() { hz_log "FAILURE: $*"; FAILED=1; FUZZ_FAILED=1; }

# --- schemathesis, gating passes -------------------------------------------------------------
# Pass 1 draws every parameter at random (mostly unknown ids); pass 2 pins the path ids to ones
# that exist (a done unit, the first task, the job), so generated bodies reach the handlers
# behind the 404s: the bank decoder, the completion checks, the lease-holder checks.
cat >"$OUT/schemathesis-known-ids.toml" <<EOF
[[operations]]
include-path = "/v1/tasks/{task}/bank"
parameters = { "path.task" = ${TASKS%%,*} }

[[operations]]
include-path-regex = "^/v1/units/"
parameters = { "path.unit" = $DONE_UNIT }

[[operations]]
include-path = "/v1/plans/{job}"
parameters = { "path.job" = 1 }

[[operations]]
include-path-regex = "^/v1/jobs/[{]name[}]"
parameters = { "path.name" = "$JOB", "query.task" = ${TASKS%%,*} }
EOF
ST_RC=0
CASES=0
for pass in random-ids known-ids; do
  config=()
  [ $pass = known-ids ] && config=(--config-file "$OUT/schemathesis-known-ids.toml")
  hz_log "schemathesis, $pass (gating: not_a_server_error, ignored_auth; up to ${MAX_TIME}s)"
  set +e
  timeout $((MAX_TIME + 120)) "$ST" "${config[@]}" run "$HZ_ROOT/openapi.yaml" --url "$URL" --tls-verify "$OUT/pki/ca.pem" \
    -H "Authorization: Bearer $(cat "$TOKEN")" \
    --checks not_a_server_error,ignored_auth --max-examples "$EXAMPLES" --seed "$SEED" \
    --max-time "$MAX_TIME" --workers 1 --request-timeout 60 --generation-database none --no-color \
    --report junit --report-junit-path "$OUT/schemathesis-$pass.junit.xml" >"$OUT/schemathesis-$pass.log" 2>&1
  rc=$?
  set -e
  grep -E "generated|Tested:|❌" "$OUT/schemathesis-$pass.log" | sed 's/^/  /' >&2 || true
  n=$(grep -Eo '[0-9]+ generated' "$OUT/schemathesis-$pass.log" | head -n 1 | grep -Eo '[0-9]+' || echo 0)
  CASES=$((CASES + n))
  [ $rc = 0 ] || { ST_RC=$rc; fail "schemathesis ($pass) found server errors or ignored authentication (exit $rc; see $OUT/schemathesis-$pass.log)"; }
  hz_alive "$HZ_COORD_PID" || fail "the coordinator died during schemathesis ($pass): $(tail -n 5 "$LOG")"
done

# --- schemathesis, informational pass ----------------------------------------------------------
hz_log "schemathesis (informational: every other check, fewer examples)"
set +e
timeout 300 "$ST" run "$HZ_ROOT/openapi.yaml" --url "$URL" --tls-verify "$OUT/pki/ca.pem" -H "Authorization: Bearer $(cat "$TOKEN")" \
  --checks all --exclude-checks not_a_server_error,ignored_auth --max-examples 20 --seed "$SEED" \
  --workers 1 --generation-database none --no-color >"$OUT/schemathesis-conformance.log" 2>&1
set -e
grep -E "^  ❌ " "$OUT/schemathesis-conformance.log" | sed 's/^/  conformance finding:/' >&2 || true
hz_alive "$HZ_COORD_PID" || fail "the coordinator died during the conformance pass: $(tail -n 5 "$LOG")"

# --- hand-written hostile requests -------------------------------------------------------------
hz_log "hostile requests (tools/fuzz/hostile.py)"
if ! "$HZ_PY" "$HZ_ROOT/tools/fuzz/hostile.py" --url "$URL" --token-file "$TOKEN" --ca-file "$OUT/pki/ca.pem" --job "$JOB" --tasks "$TASKS" \
    --dimension 128 --done-unit "$DONE_UNIT" --data "$OUT/data" --pid "$HZ_COORD_PID" --json "$OUT/hostile.json" >"$OUT/hostile.log" 2>&1; then
  fail "hostile requests: $(grep -E 'FAILURE|DEAD' "$OUT/hostile.log" | head -n 10)"
fi
tail -n 1 "$OUT/hostile.log" >/dev/null
grep -E "hostile requests;" "$OUT/hostile.log" | sed 's/^/  /' >&2 || true
grep -E "^  finding:" "$OUT/hostile.log" | cut -c1-200 | sed 's/^/  /' >&2 || true
hz_alive "$HZ_COORD_PID" || fail "the coordinator died during the hostile requests: $(tail -n 5 "$LOG")"

# --- stored data unchanged, restart, bank reload, integrity ------------------------------------
hz_dbcheck dump --db "$DB" --readonly >"$OUT/dump.after.json"
if ! cmp -s "$OUT/dump.before.json" "$OUT/dump.after.json"; then
  fail "stored data changed during fuzzing: $(diff "$OUT/dump.before.json" "$OUT/dump.after.json" | head -n 20)"
fi
kill -TERM "$HZ_COORD_PID"
hz_wait_exit "$HZ_COORD_PID" 30 || true
hz_start_coordinator "$DB" "$LOG" 127.0.0.1 "$HZ_COORD_PORT" --token-file "$TOKEN" "${TLS[@]}" --lease-seconds 5
for t in ${TASKS//,/ }; do
  code=$("$HZ_PY" - "$URL" "$TOKEN" "$t" "$OUT/pki/ca.pem" <<'EOF'
import http.client, ssl, struct, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPSConnection(u.hostname, u.port, timeout=60, context=ssl.create_default_context(cafile=sys.argv[4]))
try:
    c.request("POST", f"/v1/tasks/{sys.argv[3]}/bank", struct.pack("<6I7q", 0x4B424441, 2, 128, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0),
              {"Authorization": "Bearer " + open(sys.argv[2]).read().strip(), "Content-Type": "application/octet-stream"})
    print(c.getresponse().status)
except OSError as e:
    print("no answer: %s" % e)
EOF
)
  [ "$code" = 200 ] || fail "after a restart, loading the bank of task $t answered: $code ($(tail -n 3 "$LOG"))"
done
hz_alive "$HZ_COORD_PID" || fail "the restarted coordinator died loading its banks: $(grep -m3 -E 'Fatal|error' "$LOG")"
kill -TERM "$HZ_COORD_PID"
hz_wait_exit "$HZ_COORD_PID" 30 || true
hz_dbcheck dump --db "$DB" >"$OUT/dump.restarted.json"
cmp -s "$OUT/dump.before.json" "$OUT/dump.restarted.json" || fail "stored data differ after the restart"
hz_dbcheck check --db "$DB" --job "$JOB" --json "$OUT/check.json" >/dev/null || fail "database check after fuzzing: $(cat "$OUT/check.json")"

# --- out-of-range completions from the holder of a live lease ----------------------------------
# A finished job has no leased unit, so a second job over the same data is submitted. hostile.py
# leases one of its units and, as the holder, sends completions that are each out of range in
# one field (every one must be 400, with the lease kept), then one valid completion. What is
# stored must be exactly that one: the unit done with pred 0 and every score 0.5, nothing else.
hz_start_coordinator "$DB" "$LOG" 127.0.0.1 "$HZ_COORD_PORT" --token-file "$TOKEN" "${TLS[@]}" --lease-seconds 300
hz_demo_job "$OUT/leased.yaml" fuzz-leased "$OUT/data" 1
"$ADANEG" submit --coordinator "$URL" --token-file "$TOKEN" "${CA[@]}" "$OUT/leased.yaml" >>"$LOG" 2>&1 || fail "submit of the leased-phase job failed"
if ! "$HZ_PY" "$HZ_ROOT/tools/fuzz/hostile.py" --url "$URL" --token-file "$TOKEN" --ca-file "$OUT/pki/ca.pem" --job fuzz-leased --tasks 0 --dimension 128 \
    --leased 100 --json "$OUT/hostile-leased.json" >"$OUT/hostile-leased.log" 2>&1; then
  fail "leased-unit completions: $(grep -E 'FAILURE|DEAD' "$OUT/hostile-leased.log" | head -n 10)"
fi
grep -E "hostile requests;" "$OUT/hostile-leased.log" | sed 's/^/  leased phase: /' >&2 || true
grep -E "^  finding:" "$OUT/hostile-leased.log" | cut -c1-200 | sed 's/^/  /' >&2 || true
LEASED_UNIT=$(awk '/^leased unit:/ {print $3}' "$OUT/hostile-leased.log")
hz_alive "$HZ_COORD_PID" || fail "the coordinator died during the leased-unit completions: $(tail -n 5 "$LOG")"
kill -TERM "$HZ_COORD_PID"
hz_wait_exit "$HZ_COORD_PID" 30 || true
if LEASED_CHECK=$(hz_dbcheck only-unit --db "$DB" --job fuzz-leased --unit "${LEASED_UNIT:-0}" --worker hostile-holder 2>&1); then
  hz_log "leased phase: $LEASED_CHECK"
else
  fail "leased phase: $LEASED_CHECK"
fi
LEASED=$("$HZ_PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['requests'], json.dumps(d['statuses'], sort_keys=True))" "$OUT/hostile-leased.json" 2>/dev/null || echo "? ?")

HOSTILE=$("$HZ_PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['requests'], json.dumps(d['statuses'], sort_keys=True))" "$OUT/hostile.json" 2>/dev/null || echo "? ?")
printf 'schemathesis_cases\t%s\nschemathesis_exit\t%s\nhostile_requests_and_statuses\t%s\nleased_unit_requests_and_statuses\t%s\nstored_data_unchanged\t%s\n' \
  "$CASES" "$ST_RC" "$HOSTILE" "$LEASED" "$([ $FAILED = 0 ] && echo yes || echo see-log)" >"$OUT/summary.tsv"
cat "$OUT/summary.tsv" >&2
[ $FAILED = 0 ] || hz_die "fuzz: failures above (logs in $OUT)"
hz_log "fuzz: no 5xx, no crash, stored data unchanged (schemathesis $CASES cases, seed $SEED; hostile $HOSTILE; leased unit $LEASED)"
