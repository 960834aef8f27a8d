#!/usr/bin/env bash
# The coordinator over HTTPS against plain HTTP, in the same run (issue 23):
#   1. `AdaNegBench tls ROUNDS`: lease + complete round trips with 8 no-op clients and bank syncs
#      (16 entries of D = 512 pushed per sync, 4 clients), alternating plain and TLS rounds, each
#      with the load average before and after (Sources/AdaNegBench/TLSBench.swift);
#   2. the scale simulation (bench/scale.sh's, smaller: SAMPLES, 64 workers) alternating plain and
#      `--tls-dir` rounds, with the load average around each.
# Certificates are made with openssl at run time in a temporary folder.
#
#   bash bench/tls.sh [ROUNDS]      # default 3; SAMPLES=200000 by default
#
# Release build (SCRATCH=.build-release by default; BENCH=/path/to/AdaNegBench skips the build).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build-release}
if [ -z "${BENCH:-}" ]; then
  swift build -c release --scratch-path "$SCRATCH" --product AdaNegBench >/dev/null
  BENCH="$SCRATCH/release/AdaNegBench"
fi
ROUNDS=${1:-3}
SAMPLES=${SAMPLES:-200000}
"$BENCH" tls "$ROUNDS"

TLS_DIR=$(mktemp -d /tmp/adaneg-tls-bench.XXXXXX)
trap 'rm -rf "$TLS_DIR"' EXIT
(
  cd "$TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=bench" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null
)
echo
echo "scale simulation, $SAMPLES samples, 64 workers, D = 512, 16 entries per batch:"
for round in $(seq 1 "$ROUNDS"); do
  for transport in plain TLS; do
    extra=()
    [ "$transport" = TLS ] && extra=(--tls-dir "$TLS_DIR")
    before=$(cut -d' ' -f1-3 /proc/loadavg)
    line=$("$BENCH" scale --samples "$SAMPLES" --workers 64 --dim 512 --entries 16 "${extra[@]}" | grep -E "^planning:|^\| bank sync|^check:" | tr '\n' ' ')
    after=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "round $round $transport: $line| load before $before, after $after"
  done
done
