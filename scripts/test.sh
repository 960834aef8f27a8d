#!/usr/bin/env bash
# Quick start, command 2: run the test suite (debug build; no Python, no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-packages.sh --with-test-tools
bash scripts/check-layering.sh
swift build --build-tests
# The test process loads OpenBLAS before any test runs and cannot re-execute itself, as adaneg
# does when OpenBLAS falls back to a generic kernel (README, "No silent fallback kernel"). Tests
# that compare the CLI's numbers with in-process ones bit for bit need both on one kernel, so
# where the user has not chosen one, the suite runs on the kernel adaneg itself picks here.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  kernel=$(.build/debug/adaneg doctor --seconds 0 --json 2>/dev/null | sed -n 's/^ *"kernel" : "\([A-Za-z0-9]*\)".*/\1/p' | head -n 1)
  if [ -n "$kernel" ]; then
    echo "test.sh: OPENBLAS_CORETYPE=$kernel for the test run (the kernel adaneg runs on this CPU)" >&2
    export OPENBLAS_CORETYPE=$kernel
  fi
fi
# Serially: several suites start real processes and measure nothing by time, but a 2-core
# machine shared by parallel suites makes their bounded waits needlessly tight.
swift test --skip-build --no-parallel "$@"
