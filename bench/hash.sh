#!/usr/bin/env bash
# What checking a job's input files against their digests costs (issue 22 item 5): a
# 60,000 × 512 float32 feature file (123 MB) hashed once, as the planner or the first lease does,
# then the stat-only check every later lease makes; `sha256sum` on the same kind of file for
# reference. Prints a Markdown table with the load average. BUILD=debug uses the debug build
# (no release build needed; swift-crypto's C is then unoptimised too).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
BUILD=${BUILD:-release}
if [ "$BUILD" = release ]; then swift build -c release --scratch-path "$SCRATCH" --product AdaNegBench >/dev/null; fi
"$SCRATCH/$BUILD/AdaNegBench" hash "${ROWS:-60000}" "${COLS:-512}" "${LEASES:-10000}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
head -c $(( ${ROWS:-60000} * ${COLS:-512} * 4 + 128 )) /dev/urandom > "$tmp/f.npy"
cat "$tmp/f.npy" > /dev/null
start=$(date +%s.%N); sha256sum "$tmp/f.npy" > /dev/null; end=$(date +%s.%N)
echo "sha256sum, same size: $(echo "$end - $start" | bc) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
