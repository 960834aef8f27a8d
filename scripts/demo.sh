#!/usr/bin/env bash
# Quick start, command 1: run the demo job end to end on generated (synthetic) data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-packages.sh
swift build --product adaneg
exec .build/debug/adaneg demo "$@"
