#!/usr/bin/env bash
# Quick start, command 2: run the test suite (debug build; no Python, no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-packages.sh --with-test-tools
bash scripts/check-layering.sh
swift build --build-tests
# Serially: several suites start real processes and measure nothing by time, but a 2-core
# machine shared by parallel suites makes their bounded waits needlessly tight.
swift test --skip-build --no-parallel "$@"
