# shellcheck shell=bash
# Shared helpers of the hardening scripts (scripts/chaos, scripts/multihost, scripts/fuzz,
# scripts/slurm). Source it; it defines functions and a few variables, nothing runs.
#
#   HZ_ROOT      the repository root
#   ADANEG       the adaneg binary ($ADANEG, else .build/debug/adaneg, else .build-chaos/debug/adaneg)
#   HZ_PY        python3 (stdlib only) for scripts/common/dbcheck.py
#
# Every background process a script starts goes through hz_spawn, which records its pid;
# hz_cleanup (installed as the EXIT trap by hz_init) kills exactly those pids, never by name.

HZ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HZ_PY=${HZ_PY:-python3}
HZ_DBCHECK="$HZ_ROOT/scripts/common/dbcheck.py"
HZ_PIDS=()
HZ_CLEANUP_HOOKS=()
HZ_NAME=${HZ_NAME:-hardening}

hz_log() { printf '[%s %s] %s\n' "$HZ_NAME" "$(date +%H:%M:%S)" "$*" >&2; }

hz_die() {
  printf '\n[%s] FAILED: %s\n\n' "$HZ_NAME" "$*" >&2
  exit 1
}

# Finds the adaneg binary and makes ADANEG absolute.
hz_find_adaneg() {
  local candidate
  if [ -n "${ADANEG:-}" ]; then
    candidate=$ADANEG
  elif [ -x "$HZ_ROOT/.build/debug/adaneg" ]; then
    candidate="$HZ_ROOT/.build/debug/adaneg"
  elif [ -x "$HZ_ROOT/.build-chaos/debug/adaneg" ]; then
    candidate="$HZ_ROOT/.build-chaos/debug/adaneg"
  else
    hz_die "no adaneg binary: set ADANEG=/path/to/adaneg or build one (swift build --product adaneg)"
  fi
  [ -x "$candidate" ] || hz_die "ADANEG=$candidate is not an executable"
  ADANEG=$(cd "$(dirname "$candidate")" && pwd)/$(basename "$candidate")
  export ADANEG
}

# Installs Debian packages that are missing (root: apt-get; otherwise it says what to install).
hz_ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || hz_die "missing Debian packages: ${missing[*]} (run as root or install them)"
  hz_log "installing missing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null || hz_die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || hz_die "apt-get install ${missing[*]} failed"
}

hz_cleanup() {
  local rc=$? hook pid
  set +e
  for pid in "${HZ_PIDS[@]}"; do
    kill -CONT "$pid" 2>/dev/null
    kill -9 "$pid" 2>/dev/null
  done
  for pid in "${HZ_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for hook in "${HZ_CLEANUP_HOOKS[@]}"; do "$hook" >/dev/null 2>&1; done
  return $rc
}

# hz_init NAME: names the log prefix and installs the cleanup trap.
hz_init() {
  HZ_NAME=$1
  trap hz_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

hz_on_cleanup() { HZ_CLEANUP_HOOKS+=("$1"); }

# hz_spawn LOG CMD...: starts CMD in the background with stdout+stderr to LOG; sets HZ_LAST_PID.
hz_spawn() {
  local log=$1
  shift
  "$@" >>"$log" 2>&1 &
  HZ_LAST_PID=$!
  HZ_PIDS+=("$HZ_LAST_PID")
}

hz_alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }

# hz_wait_until SECONDS DESCRIPTION CMD...: polls CMD every 0.1 s until it succeeds; dies on timeout.
hz_wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then hz_die "timed out after ${limit}s waiting for: $what"; fi
    sleep 0.1
  done
}

# Like hz_wait_until but returns 1 on timeout instead of dying.
hz_poll() {
  local limit=$1
  shift
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

# hz_wait_exit PID SECONDS: waits for a child to exit (bounded); returns its status, or dies.
hz_wait_exit() {
  local pid=$1 limit=$2
  hz_poll "$limit" bash -c "! kill -0 $pid 2>/dev/null || [ \"\$(ps -o stat= -p $pid | cut -c1)\" = Z ]" \
    || hz_die "process $pid did not exit within ${limit}s"
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  return $rc
}

# A random integer in [lo, hi].
hz_rand() { echo $(($1 + RANDOM % ($2 - $1 + 1))); }

# hz_sleep_ms N: a pause of N milliseconds (fault timing, never synchronisation).
hz_sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# hz_start_coordinator DB LOG HOST PORT [serve options...]: starts `adaneg serve` (PORT 0 picks
# a free port) and waits until it listens; sets HZ_COORD_PID and HZ_COORD_PORT. Every
# incarnation appends to LOG. Runs inside the namespace in HZ_NETNS_EXEC (multihost).
hz_start_coordinator() {
  local db=$1 log=$2 host=$3 port=$4
  shift 4
  local before
  before=$(grep -ac "coordinator listening on" "$log" 2>/dev/null || true)
  hz_spawn "$log" "${HZ_NETNS_EXEC[@]}" "$ADANEG" serve --db "$db" --host "$host" --port "$port" "$@"
  HZ_COORD_PID=$HZ_LAST_PID
  local deadline=$((SECONDS + 60))
  until [ "$(grep -ac "coordinator listening on" "$log" 2>/dev/null || true)" -gt "${before:-0}" ]; do
    hz_alive "$HZ_COORD_PID" || hz_die "the coordinator exited at start (log $log): $(tail -n 5 "$log")"
    [ $SECONDS -ge $deadline ] && hz_die "the coordinator did not listen within 60s (log $log)"
    sleep 0.05
  done
  HZ_COORD_PORT=$(grep -ao 'coordinator listening on https\{0,1\}://[^ ]*' "$log" | tail -n 1 | sed 's/.*://')
}

# hz_curl URL [curl options...]: prints the HTTP status code only.
hz_curl_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true
}

hz_dbcheck() { "$HZ_PY" "$HZ_DBCHECK" "$@"; }

# hz_demo_data DIR [ID_SAMPLES OOD_SAMPLES]: the demo's synthetic data (C = 100, M = 1000,
# D = 128, 3000 ID samples, three OOD sets of 1500), as `adaneg demo` writes it; the sizes can
# be changed.
hz_demo_data() {
  local dir=$1 id=${2:-3000} ood=${3:-1500}
  [ -f "$dir/ood-near-id.npy" ] && return 0
  "$ADANEG" synthesize --layout job --out "$dir" --classes 100 --negatives 1000 --dim 128 \
    --id-samples "$id" --ood-samples "$ood" --seed 0 >/dev/null || hz_die "adaneg synthesize failed"
}

# hz_demo_job FILE NAME DATA_DIR [UNIT_BATCHES]: the demo job (jobs/demo.yaml's settings) over
# DATA_DIR, with units of UNIT_BATCHES batches of 256 (default 1: 54 units, so faults land in
# many places), syncing after every batch.
# hz_new_token FILE MODE: a random bearer token in FILE with permissions MODE.
# A private CA and a coordinator certificate signed by it, made with openssl (none is committed):
# DIR/ca.pem (what clients trust with --ca-file), DIR/server.pem and DIR/server.key (serve's
# --tls-cert/--tls-key). SAN is the certificate's subjectAltName, e.g. "IP:10.231.0.1,DNS:localhost".
hz_tls_pki() {
  local dir=$1 san=$2
  command -v openssl >/dev/null || hz_ensure_packages openssl
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 -subj "/CN=adaneg test CA" 2>/dev/null \
    || hz_die "openssl could not make the test CA"
  openssl req -newkey rsa:2048 -nodes -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=adaneg coordinator" 2>/dev/null \
    || hz_die "openssl could not make the coordinator's key"
  printf 'subjectAltName=%s\n' "$san" >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -out "$dir/server.pem" \
    -days 2 -extfile "$dir/san.ext" 2>/dev/null || hz_die "openssl could not sign the coordinator's certificate"
  chmod 600 "$dir/ca.key" "$dir/server.key"
}

hz_new_token() {
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"
  chmod "$2" "$1"
}

hz_demo_job() {
  local file=$1 name=$2 data=$3 unit_batches=${4:-1}
  cat >"$file" <<EOF
# Written by the hardening scripts: the synthetic demo job (jobs/demo.yaml) in small units.
name: $name
id:
  features: $data/id.npy
  labels: $data/id-labels.npy
ood:
  - {name: covered, group: far, features: $data/ood-covered.npy}
  - {name: uncovered, group: far, features: $data/ood-uncovered.npy}
  - {name: near-id, group: near, features: $data/ood-near-id.npy}
negatives:
  count: 1000
  text_features: $data/text.npy
  permutation: seed
scoring:
  batch_size: 256
  proxy: task
seed: 0
unit_batches: $unit_batches
sync_every: 1
keep_features: true
EOF
}

HZ_NETNS_EXEC=()
