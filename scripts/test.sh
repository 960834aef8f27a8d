#!/usr/bin/env bash
# Quick start, command 2: run the test suite (debug build; no Python, no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-packages.sh
swift build --build-tests
swift test --skip-build "$@"
