#!/usr/bin/env bash
# Several hosts on one machine: network namespaces joined by veth pairs through a bridge.
#
#   namespace <p>c   the coordinator: bridge br0 10.231.0.1/24, `adaneg serve --host 10.231.0.1
#                    --tls-cert --tls-key --tokens` (HTTPS with a CA made here by openssl, and
#                    one token per role: worker, submit, read)
#   namespace <p>w1..w3   one worker each: eth0 10.231.0.11..13/24, `adaneg worker --ca-file CA
#                    --token-file WORKER` (submit uses the submit token)
#
# The addresses exist only inside these namespaces (nothing is routed to or from the machine's
# own network). Scenarios, each on a fresh database:
#
#   hosts       submit from a worker host and complete the demo job over those addresses
#   link-down   as above, and worker 2's link goes down (ip link set eth0 down) while it holds a
#               lease, stays down until the coordinator has taken the unit back (longer than
#               the lease), then comes back up
#   netem-loss  the same with tc netem loss 100% on worker 2's link instead of link down
#   isolated    workers that see no file of the coordinator's: each runs in its own mount
#               namespace with an empty tmpfs over the job's data folder and an empty working
#               folder, so text features come from GET /v1/artefacts and feature rows in the
#               leases (the worker's artefact cache lives outside the data folder)
#   images-local, images-hub
#               image jobs on an isolated worker: the images served over HTTP from host w3's
#               namespace, the tiny CLIP of the tests as a local model folder on the
#               coordinator (the worker loads the coordinator's copy) or as a Hub id from a
#               mock hub (the worker downloads the pinned commit into its own Hugging Face
#               cache); one worker syncing after every batch, so every score and prediction
#               must equal `adaneg run` of the same job
#
# After each: every unit done, every sample exactly one result, no duplicate completion,
# integrity_check ok, MCM/NegLabel per sample equal to the first run's; worker 2 rides out the
# outage (exits 0). Also checks that requests without a token get 401, the worker token reading
# the job list 403, the read token 200, and that a client not trusting the CA gets no answer.
#
#   scripts/multihost/run.sh [--out DIR] [--keep] [--batch-ms 300] [--lease 3]
#
# Needs root (namespaces) and iproute2 (installed with apt-get when missing).
set -euo pipefail
source "$(dirname "$0")/../common/lib.sh"
hz_init multihost

OUT="" KEEP=0 BATCH_MS=300 LEASE=3
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --batch-ms) BATCH_MS=$2; shift 2 ;;
    --lease) LEASE=$2; shift 2 ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) hz_die "unknown option $1" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || hz_die "network namespaces need root"
command -v ip >/dev/null && command -v tc >/dev/null || hz_ensure_packages iproute2
command -v curl >/dev/null || hz_ensure_packages curl
hz_find_adaneg
ADANEG_HUB_MOCK=${ADANEG_HUB_MOCK:-$(dirname "$ADANEG")/adaneg-hub-mock}
[ -x "$ADANEG_HUB_MOCK" ] || hz_die "no adaneg-hub-mock next to $ADANEG (swift build --product adaneg-hub-mock)"
if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/adaneg-multihost.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

P="adz$$"                 # namespace prefix, unique per run
NS_C="${P}c"
SUBNET=10.231.0
COORD_IP=$SUBNET.1
NAMESPACES=()

remove_namespaces() {
  local ns
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}
hz_on_cleanup remove_namespaces
cleanup_out() { [ "$KEEP" = 1 ] || [ "${MH_FAILED:-0}" = 1 ] || rm -rf "$OUT/data" "$OUT"/*.sqlite* 2>/dev/null; }
hz_on_cleanup cleanup_out

# --- the network -------------------------------------------------------------------------------
ip netns add "$NS_C" || hz_die "cannot create network namespace $NS_C (root? a kernel with netns?)"
NAMESPACES+=("$NS_C")
ip -n "$NS_C" link set lo up
ip -n "$NS_C" link add br0 type bridge
ip -n "$NS_C" addr add "$COORD_IP/24" dev br0
ip -n "$NS_C" link set br0 up
for i in 1 2 3; do
  ns="${P}w$i"
  ip netns add "$ns" || hz_die "cannot create network namespace $ns"
  NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
  # One veth pair per host: vh<i> on the bridge in the coordinator's namespace, eth0 in the host's.
  ip link add "vh$i$P" netns "$NS_C" type veth peer name eth0 netns "$ns" \
    || hz_die "cannot create a veth pair (iproute2 too old?)"
  ip -n "$NS_C" link set "vh$i$P" master br0 up
  ip -n "$ns" addr add "$SUBNET.1$i/24" dev eth0
  ip -n "$ns" link set eth0 up
done
hz_log "namespaces: ${NAMESPACES[*]} (coordinator $COORD_IP, workers $SUBNET.11-13)"

# TLS with role tokens (issue 23): a private CA made here, a certificate for the coordinator's
# address, one token per role; the workers trust the CA with --ca-file.
hz_tls_pki "$OUT/pki" "IP:$COORD_IP"
TOKENS="$OUT/tokens.txt"
: >"$TOKENS"
for role in worker submit read; do
  rm -f "$OUT/$role.secret"
  "$ADANEG" token new --role "$role" --name "multihost-$role" --secret-out "$OUT/$role.secret" >>"$TOKENS" \
    || hz_die "adaneg token new --role $role failed"
done
TOKEN="$OUT/worker.secret"
SERVE_TLS=(--tls-cert "$OUT/pki/server.pem" --tls-key "$OUT/pki/server.key" --tokens "$TOKENS")
CA=(--ca-file "$OUT/pki/ca.pem")
JOB=multihost-demo
hz_demo_data "$OUT/data"
hz_demo_job "$OUT/job.yaml" "$JOB" "$OUT/data" 1
SUMMARY="$OUT/summary.tsv"
printf 'scenario\toutage\tsamples\tlost\tduplicates\tworker2_exit\tlate_work_refused\tintegrity\tseconds\tresult\n' >"$SUMMARY"
FAILED=0

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

W_PID=()
ISOLATE=0
start_worker() {
  local i=$1
  local worker=("$ADANEG" worker --coordinator "$URL" --token-file "$TOKEN" "${CA[@]}" --threads 1 --id "host$i"
                --simulate-batch-ms "$BATCH_MS" --artefact-cache "$OUT/cache-w$i")
  if [ "$ISOLATE" = 1 ]; then
    # A private mount namespace: the data folder replaced by an empty tmpfs, an empty cwd.
    mkdir -p "$OUT/empty-w$i"
    hz_spawn "$LOG.w$i" ip netns exec "${P}w$i" unshare --mount --propagation private \
      sh -c 'mount -t tmpfs adaneg-empty "$1" && test -z "$(ls -A "$1")" && cd "$2" && shift 2 && exec "$@"' \
      isolate "$OUT/data" "$OUT/empty-w$i" "${worker[@]}"
  else
    hz_spawn "$LOG.w$i" ip netns exec "${P}w$i" "${worker[@]}"
  fi
  W_PID[$i]=$HZ_LAST_PID
}

progress() { hz_dbcheck progress --db "$DB" --job "$JOB" 2>/dev/null || echo "0 1 0 0 0"; }
job_done() { local p; p=$(progress); set -- $p; [ "$1" = "$2" ] && [ "$2" != 0 ]; }
holds_unit() { UNIT=$(hz_dbcheck leased-by --db "$DB" --worker host2 | head -n 1); [ -n "$UNIT" ]; }
unit_moved_on() {
  local state owner
  read -r state owner < <(hz_dbcheck unit --db "$DB" --unit "$UNIT")
  [ "$state" = "done" ] || [ "$state" = pending ] || { [ "$state" = leased ] && [ "$owner" != host2 ]; }
}
workers_gone() { local i; for i in 1 2 3; do hz_alive "${W_PID[$i]}" && return 1; done; return 0; }

outage() {
  local kind=$1 ns="${P}w2"
  hz_wait_until 60 "worker 2 to hold a lease" holds_unit
  case $kind in
    link-down) ip -n "$ns" link set eth0 down ;;
    netem-loss)
      # 100% loss both ways: netem where the kernel has it, else a zero-length FIFO (every
      # packet dropped at enqueue) on both ends of the link.
      if ip netns exec "$ns" tc qdisc add dev eth0 root netem loss 100% 2>/dev/null; then
        LOSS_QDISC=netem
      else
        ip netns exec "$ns" tc qdisc add dev eth0 root pfifo limit 0 || hz_die "tc cannot add a qdisc"
        ip -n "$NS_C" link show "vh2$P" >/dev/null && ip netns exec "$NS_C" tc qdisc add dev "vh2$P" root pfifo limit 0
        LOSS_QDISC="pfifo limit 0 (no sch_netem in this kernel)"
      fi
      kind="loss 100% via $LOSS_QDISC"
      ;;
  esac
  local t0=$SECONDS
  hz_log "  $kind on worker 2 ($SUBNET.12) while it holds unit $UNIT, progress $(progress)"
  hz_wait_until $((20 * LEASE + 60)) "unit $UNIT to leave the unreachable worker" unit_moved_on
  local unit_state
  unit_state=$(hz_dbcheck unit --db "$DB" --unit "$UNIT")
  # Keep the link cut for at least two leases in all (outage length, not synchronisation).
  local rest=$((2 * LEASE - (SECONDS - t0)))
  [ $rest -le 0 ] || sleep "$rest"
  case $kind in
    link-down) ip -n "$ns" link set eth0 up ;;
    loss*)
      ip netns exec "$ns" tc qdisc del dev eth0 root
      ip netns exec "$NS_C" tc qdisc del dev "vh2$P" root 2>/dev/null || true
      ;;
  esac
  OUTAGE="$kind for $((SECONDS - t0))s (lease ${LEASE}s); unit $UNIT was then '$unit_state'"
  hz_log "  link of worker 2 restored after $((SECONDS - t0))s; unit $UNIT: $unit_state"
}

reaches() { [ "$(in_ns "${P}w$1" curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$OUT/pki/ca.pem" "$URL/v1/jobs")" = 401 ]; }

BASE_DB=""
run_scenario() {
  local name=$1 kind=$2 started=$SECONDS
  hz_log "=== $name"
  DB="$OUT/$name.sqlite" LOG="$OUT/$name.log" OUTAGE="none"
  rm -f "$DB" "$DB-wal" "$DB-shm" "$LOG".*
  HZ_NETNS_EXEC=(ip netns exec "$NS_C")
  hz_start_coordinator "$DB" "$LOG.coordinator" "$COORD_IP" 0 "${SERVE_TLS[@]}" --lease-seconds "$LEASE"
  HZ_NETNS_EXEC=()  # back to this namespace for what follows
  URL="https://$COORD_IP:$HZ_COORD_PORT"
  local code i
  # Every host reaches the coordinator over the bridge (curl: no ping on a minimal Debian).
  for i in 1 2 3; do hz_wait_until 20 "host w$i to reach $URL" reaches "$i"; done
  code=$(in_ns "${P}w1" curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$OUT/pki/ca.pem" "$URL/v1/jobs")
  [ "$code" = 401 ] || hz_die "a request without the token got $code, not 401"
  code=$(in_ns "${P}w1" curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$OUT/pki/ca.pem" -H "Authorization: Bearer $(cat "$TOKEN")" "$URL/v1/jobs")
  [ "$code" = 403 ] || hz_die "the worker token reading the job list got $code, not 403"
  code=$(in_ns "${P}w1" curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$OUT/pki/ca.pem" -H "Authorization: Bearer $(cat "$OUT/read.secret")" "$URL/v1/jobs")
  [ "$code" = 200 ] || hz_die "the read token got $code, not 200"
  code=$(in_ns "${P}w1" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/v1/jobs" || true)
  [ "$code" = 000 ] || hz_die "a client that does not trust the CA got an answer ($code)"
  in_ns "${P}w1" "$ADANEG" submit --coordinator "$URL" --token-file "$OUT/submit.secret" "${CA[@]}" "$OUT/job.yaml" >>"$LOG.coordinator" 2>&1 \
    || hz_die "submit from host w1 failed (log $LOG.coordinator)"
  for i in 1 2 3; do start_worker "$i"; done
  [ "$kind" = none ] || outage "$kind"
  hz_wait_until 300 "the job to finish ($name)" job_done
  hz_wait_until 180 "the workers to exit" workers_gone
  local rc2=0 i rc
  for i in 1 3; do
    rc=0; wait "${W_PID[$i]}" || rc=$?
    [ $rc = 0 ] || hz_log "worker $i exited with status $rc: $(tail -n 2 "$LOG.w$i")"
    [ $rc = 0 ] || FAILED=1
  done
  wait "${W_PID[2]}" || rc2=$?
  in_ns "$NS_C" true
  kill -TERM "$HZ_COORD_PID"
  hz_wait_exit "$HZ_COORD_PID" 30 || true
  local seconds=$((SECONDS - started)) refused
  refused=$(grep -Ec "409 to /v1/units/[0-9]+/complete|already completed elsewhere|lease on unit [0-9]+ lost" "$LOG.w2" || true)
  local check_rc=0 same_rc=0
  hz_dbcheck check --db "$DB" --job "$JOB" --json "$OUT/$name.check.json" >/dev/null || check_rc=$?
  [ -z "$BASE_DB" ] || hz_dbcheck same-scores --db "$BASE_DB" --other "$DB" --job "$JOB" || same_rc=$?
  [ -n "$BASE_DB" ] || BASE_DB=$DB
  local samples lost dups integrity
  read -r samples lost dups integrity < <("$HZ_PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['samples'], d['lost'], d['duplicates'], d['integrity_check'].replace(' ', '_'))" "$OUT/$name.check.json")
  local result=ok
  [ $check_rc = 0 ] || result="FAILED(check)"
  [ $same_rc = 0 ] || result="FAILED(per-sample scores)"
  [ $rc2 = 0 ] || result="FAILED(worker 2 exited $rc2)"
  [ "$result" = ok ] || { FAILED=1; MH_FAILED=1; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$OUTAGE" "$samples" "$lost" "$dups" "$rc2" "$refused" "$integrity" "$seconds" "$result" >>"$SUMMARY"
  hz_log "$name: samples $samples, lost $lost, duplicates $dups, worker 2 exit $rc2, late completion refused/abandoned $refused, integrity $integrity, ${seconds}s: $result"
}

run_scenario hosts none
run_scenario link-down link-down
run_scenario netem-loss netem-loss
ISOLATE=1
rm -rf "$OUT"/cache-w*
run_scenario isolated none
ISOLATE=0
# The isolated workers fetched the text features (once each) and read no feature file.
for i in 1 2 3; do
  if grep -q "cannot read\|No such file" "$LOG.w$i"; then hz_log "isolated worker $i could not read a file: $(grep -m1 "cannot read\|No such file" "$LOG.w$i")"; FAILED=1; fi
done
fetched=$(grep -l "text.npy is not on this machine" "$OUT"/isolated.log.w* 2>/dev/null | wc -l)
[ "$fetched" -ge 1 ] || { hz_log "no isolated worker fetched the text features from the coordinator"; FAILED=1; }
hz_log "isolated: $fetched worker(s) fetched text.npy from the coordinator"

# --- image jobs on an isolated worker ----------------------------------------------------------
FIXTURES="$HZ_ROOT/Tests/CLIPTests/Fixtures"
IMG="$OUT/data/images" MODEL="$OUT/data/tiny-model"
mkdir -p "$IMG" "$MODEL"
for f in "$FIXTURES"/images/*; do case $(basename "$f") in tiny*) ;; *) cp "$f" "$IMG/" ;; esac; done
cp "$FIXTURES/models/tiny-p32-quickgelu-fp32/config.json" "$MODEL/"
gzip -dc "$FIXTURES/models/tiny-p32-quickgelu-fp32/model.safetensors.gz" >"$MODEL/model.safetensors"
for f in vocab.json merges.txt; do gzip -dc "$FIXTURES/tokenizer/$f.gz" >"$MODEL/$f"; done
"$ADANEG" synthesize --layout job --out "$OUT/data/text" --classes 2 --negatives 12 --dim 32 \
  --id-samples 4 --ood-samples 4 --seed 1 >/dev/null || hz_die "adaneg synthesize failed"
IMG_HOST=$SUBNET.13 IMG_PORT=8089
hz_spawn "$OUT/images-http.log" ip netns exec "${P}w3" "$HZ_PY" -m http.server --bind "$IMG_HOST" --directory "$IMG" "$IMG_PORT"
images_up() { [ "$(in_ns "${P}w1" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$IMG_HOST:$IMG_PORT/")" = 200 ]; }
hz_wait_until 20 "the image server on host w3" images_up
: >"$OUT/data/id.txt"
: >"$OUT/data/ood.txt"
i=0
for f in $(cd "$IMG" && ls | sort); do
  echo "http://$IMG_HOST:$IMG_PORT/$f $((i % 2))" >>"$OUT/data/id.txt"
  echo "http://$IMG_HOST:$IMG_PORT/$f" >>"$OUT/data/ood.txt"
  i=$((i + 1))
done
echo "http://$IMG_HOST:$IMG_PORT/missing.jpg" >>"$OUT/data/ood.txt"   # one sample error, stored as such
# The mock hub on host w1's loopback: the submitter and w1's worker reach it, nothing else does.
rm -f "$OUT/hub.log" "$OUT/images-http.log"
hz_spawn "$OUT/hub.log" ip netns exec "${P}w1" "$ADANEG_HUB_MOCK" adaneg-test/tiny-clip "$MODEL"
hub_up() { grep -q HUB= "$OUT/hub.log" 2>/dev/null; }
hz_wait_until 20 "the mock hub" hub_up
HUB=$(sed -n 's/^HUB=\([^ ]*\) .*/\1/p' "$OUT/hub.log")

image_job() {
  printf '%s\n' "name: $2" "model: $3" \
    "id: {num_classes: 2, images: {list: $OUT/data/id.txt}}" \
    "ood:" "  - {name: http-images, images: {list: $OUT/data/ood.txt}}" \
    "negatives: {text_features: $OUT/data/text/text.npy, count: 12}" \
    "scoring: {batch_size: 4, memleng: 3, groups: 2, thres: 0.5, gap: 0, proxy: task}" \
    "seed: 3" "unit_batches: 2" "sync_every: 1" >"$1"
}

# The isolated worker computes with as many BLAS threads as `adaneg run --workers 1` gives its
# one worker (every core): some kernels (OpenBLAS' Haswell sgemm) round a row differently with
# the way the threads split a product, and the comparison below is exact.
BASE_THREADS=$(nproc)

run_image_scenario() {
  local name=$1 model=$2 started=$SECONDS
  hz_log "=== $name ($model)"
  local job="$OUT/$name.yaml" base="$OUT/$name.base.sqlite"
  DB="$OUT/$name.sqlite" LOG="$OUT/$name.log"
  rm -f "$DB"* "$base"* "$LOG".*
  rm -rf "$OUT/cache-$name" "$OUT/hf-$name"
  image_job "$job" "$name" "$model"
  # The reference: `adaneg run` on host w1, which sees every file (the submitter's HF cache is
  # under the data folder, so the isolated worker cannot see it).
  in_ns "${P}w1" env HF_ENDPOINT="$HUB" HF_HOME="$OUT/data/hf" "$ADANEG" run "$job" --workers 1 --db "$base" \
    >"$LOG.base" 2>&1 || hz_die "adaneg run of $name failed: $(tail -n 5 "$LOG.base")"
  HZ_NETNS_EXEC=(ip netns exec "$NS_C")
  hz_start_coordinator "$DB" "$LOG.coordinator" "$COORD_IP" 0 "${SERVE_TLS[@]}"
  HZ_NETNS_EXEC=()
  URL="https://$COORD_IP:$HZ_COORD_PORT"
  in_ns "${P}w1" env HF_ENDPOINT="$HUB" HF_HOME="$OUT/data/hf" "$ADANEG" submit --coordinator "$URL" --token-file "$OUT/submit.secret" "${CA[@]}" "$job" \
    >>"$LOG.coordinator" 2>&1 || hz_die "submit of $name failed (log $LOG.coordinator)"
  mkdir -p "$OUT/empty-$name"
  local rc=0
  ip netns exec "${P}w1" env HF_ENDPOINT="$HUB" HF_HOME="$OUT/hf-$name" \
    unshare --mount --propagation private \
    sh -c 'mount -t tmpfs adaneg-empty "$1" && test -z "$(ls -A "$1")" && cd "$2" && shift 2 && exec "$@"' \
    isolate "$OUT/data" "$OUT/empty-$name" \
    "$ADANEG" worker --coordinator "$URL" --token-file "$TOKEN" "${CA[@]}" --threads "$BASE_THREADS" --id isolated \
    --artefact-cache "$OUT/cache-$name" >"$LOG.w1" 2>&1 || rc=$?
  kill -TERM "$HZ_COORD_PID"
  hz_wait_exit "$HZ_COORD_PID" 30 || true
  local result=ok check_rc=0 same_rc=0 samples lost dups integrity how
  hz_dbcheck check --allow-errors --db "$DB" --job "$name" --json "$OUT/$name.check.json" >/dev/null || check_rc=$?
  hz_dbcheck same-scores --exact --db "$base" --other "$DB" --job "$name" || same_rc=$?
  read -r samples lost dups integrity < <("$HZ_PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['samples'], d['lost'], d['duplicates'], d['integrity_check'].replace(' ', '_'))" "$OUT/$name.check.json")
  [ $check_rc = 0 ] || result="FAILED(check)"
  [ $same_rc = 0 ] || result="FAILED(scores differ from adaneg run)"
  local errors
  errors=$("$HZ_PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['errored'])" "$OUT/$name.check.json")
  [ "$errors" = 1 ] || result="FAILED($errors sample errors, expected 1: missing.jpg)"
  case $model in
    /*) how="model from the coordinator"
        grep -q "loading the coordinator's copy" "$LOG.w1" || result="FAILED(the model was not fetched from the coordinator)" ;;
    *) how="model from the mock hub"
       [ -n "$(ls "$OUT/hf-$name/hub/models--adaneg-test--tiny-clip/snapshots" 2>/dev/null)" ] || result="FAILED(no snapshot in the worker's HF cache)" ;;
  esac
  grep -q "text.npy is not on this machine" "$LOG.w1" || result="FAILED(the text features were not fetched)"
  [ $rc = 0 ] || result="FAILED(worker exited $rc: $(tail -n 1 "$LOG.w1"))"
  [ "$result" = ok ] || { FAILED=1; MH_FAILED=1; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "isolated worker, HTTP images, $how" "$samples" "$lost" "$dups" "$rc" "-" "$integrity" "$((SECONDS - started))" "$result" >>"$SUMMARY"
  hz_log "$name: samples $samples, lost $lost, duplicates $dups, worker exit $rc, integrity $integrity, $how: $result"
}
run_image_scenario images-local "$MODEL"
run_image_scenario images-hub adaneg-test/tiny-clip

{
  echo "| scenario | outage | samples | lost | duplicates | worker 2 exit | late completion refused or work abandoned | integrity | s | result |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  tail -n +2 "$SUMMARY" | awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n" }'
} >"$OUT/summary.md"
cat "$OUT/summary.md"
[ "$FAILED" = 0 ] || { MH_FAILED=1; hz_die "multihost: a scenario failed (see $SUMMARY and the logs in $OUT)"; }
hz_log "multihost: all scenarios passed"
