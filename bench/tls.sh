#!/usr/bin/env bash
# The coordinator over HTTPS against plain HTTP, in the same run (issue 23): lease + complete round
# trips with 8 no-op clients and bank syncs (16 entries of D = 512 pushed per sync, 4 clients),
# alternating plain and TLS rounds, each with the load average before and after. The certificate
# is made with openssl at run time. Sources/AdaNegBench/TLSBench.swift.
#
#   bash bench/tls.sh [ROUNDS]      # default 3
#
# Release build (SCRATCH=.build-release by default; BENCH=/path/to/AdaNegBench skips the build).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build-release}
if [ -z "${BENCH:-}" ]; then
  swift build -c release --scratch-path "$SCRATCH" --product AdaNegBench >/dev/null
  BENCH="$SCRATCH/release/AdaNegBench"
fi
"$BENCH" tls "${1:-3}"
