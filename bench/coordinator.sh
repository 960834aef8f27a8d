#!/usr/bin/env bash
# Coordinator benchmarks (release build): planning a 300,000-sample job, merging 256-entry bank
# deltas into an ImageNet-shaped bank, lease+complete round trips with no-op clients on
# loopback, and the share of worker time spent waiting on the coordinator with 8 workers whose
# batches cost 100 ms. Prints a Markdown table. A first release build takes 10+ minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
swift build -c release --scratch-path "$SCRATCH" --product AdaNegBench >/dev/null
"$SCRATCH/release/AdaNegBench"
