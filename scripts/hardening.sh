#!/usr/bin/env bash
# Hardening checks of issues 7 and 13, in their bounded form for CI (about 10 minutes on 2 cores,
# plus first-time apt and pip installs; every step has a hard time limit, 32 minutes in all):
#
#   chaos      scripts/chaos/run.sh --mode ci   kill -9 workers (10) and the coordinator (3),
#                                                SIGSTOP past a lease, a 20-s coordinator outage,
#                                                disk full under the DB
#   multihost  scripts/multihost/run.sh         network namespaces + veth, token, link down and
#                                                100% loss longer than a lease
#   fuzz       scripts/fuzz/run.sh              schemathesis from openapi.yaml + hostile requests:
#                                                no 5xx, no crash, stored data unchanged
#   libfuzzer  scripts/fuzz/libfuzzer.sh        libFuzzer + ASan on every parser of outside data
#                                                (12 targets: NPY, safetensors, config.json, tokenizer,
#                                                JPEG/PNG, job-spec YAML, lists, bank wire, API bodies),
#                                                30 s each, ~8 min with the builds (full: 10⁶ runs or 30 min each)
#   slurm      scripts/slurm/test.sh            a single-node Slurm runs deploy/slurm's array
#   cuda       scripts/cuda/nvrtc-check.sh      every CUDA kernel compiled for sm_90 through the
#                                                Swift NVRTC loader (PyPI nvidia-cuda-nvrtc-cu12, .venv-cuda)
#
# Uses an already-built debug binary: $ADANEG, else .build/debug/adaneg. Needs root (tmpfs,
# network namespaces, Slurm daemons) and installs what is missing with apt-get (iproute2,
# slurm-wlm, munge, python3-venv) and PyPI (schemathesis into .venv-fuzz). Fails loudly: exit 1
# if any step fails, with its log. `--full` runs the fuller fault schedule (20 worker kills,
# 5 coordinator kills, 3 SIGSTOPs, 2 disk fills, a combined run) and longer fuzzing.
#
#   ADANEG=.build/debug/adaneg bash scripts/hardening.sh [--full] [--only chaos,fuzz]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
FULL=0 ONLY=""
while [ $# -gt 0 ]; do
  case $1 in
    --full) FULL=1; shift ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "hardening: unknown option $1" >&2; exit 2 ;;
  esac
done

ADANEG=${ADANEG:-$ROOT/.build/debug/adaneg}
if ! [ -x "$ADANEG" ]; then
  echo "hardening: FAILED: no adaneg binary at $ADANEG (build it first: swift build --product adaneg, or set ADANEG)" >&2
  exit 1
fi
ADANEG=$(cd "$(dirname "$ADANEG")" && pwd)/$(basename "$ADANEG")
export ADANEG
if [ "$(id -u)" -ne 0 ]; then
  echo "hardening: FAILED: needs root (tmpfs for the disk-full fault, network namespaces, Slurm daemons)" >&2
  exit 1
fi
source "$ROOT/scripts/common/lib.sh"
HZ_NAME=hardening
hz_ensure_packages procps iproute2 curl python3-venv util-linux coreutils
command -v python3 >/dev/null || hz_ensure_packages python3

OUT=${HARDENING_OUT:-$(mktemp -d /tmp/adaneg-hardening.XXXXXX)}
mkdir -p "$OUT"
echo "hardening: binary $ADANEG, logs in $OUT" >&2

if [ $FULL = 1 ]; then
  CHAOS_ARGS=(--mode full) FUZZ_ARGS=(--examples 500 --max-time 300) LIBFUZZER_ARGS=(--runs 1000000 --seconds 1800) LIMITS=(2100 600 900 600 8100 900)
else
  CHAOS_ARGS=(--mode ci) FUZZ_ARGS=(--examples 100 --max-time 90) LIBFUZZER_ARGS=(--seconds 30) LIMITS=(600 300 420 300 600 900)
fi
STEPS=(chaos multihost fuzz slurm libfuzzer cuda)
COMMANDS=(
  "bash scripts/chaos/run.sh ${CHAOS_ARGS[*]} --out $OUT/chaos"
  "bash scripts/multihost/run.sh --out $OUT/multihost"
  "bash scripts/fuzz/run.sh ${FUZZ_ARGS[*]} --out $OUT/fuzz"
  "bash scripts/slurm/test.sh --out $OUT/slurm"
  "bash scripts/fuzz/libfuzzer.sh ${LIBFUZZER_ARGS[*]} --out $OUT/libfuzzer"
  "bash scripts/cuda/nvrtc-check.sh --out $OUT/cuda"
)
passed=0 failed=0 failures=()
for i in "${!STEPS[@]}"; do
  step=${STEPS[$i]}
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$step,"* ]]; then continue; fi
  started=$SECONDS
  echo "hardening: --- $step (limit ${LIMITS[$i]}s): ${COMMANDS[$i]}" >&2
  # Own process group per step, so a timeout ends the whole step and its cleanup trap runs.
  timeout --signal=TERM --kill-after=60 "${LIMITS[$i]}" ${COMMANDS[$i]} >"$OUT/$step.log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then
    passed=$((passed + 1))
    echo "hardening: $step passed in $((SECONDS - started))s" >&2
    grep -E "^\| |passed|: all scenarios|no 5xx|completed job" "$OUT/$step.log" | tail -n 12 | sed 's/^/  /' >&2
  else
    failed=$((failed + 1))
    failures+=("$step")
    [ $rc = 124 ] && echo "hardening: $step TIMED OUT after ${LIMITS[$i]}s" >&2
    echo "hardening: $step FAILED (exit $rc) in $((SECONDS - started))s; last lines of $OUT/$step.log:" >&2
    tail -n 40 "$OUT/$step.log" | sed 's/^/  | /' >&2
  fi
done
echo "hardening: $passed passed, $failed failed"
if [ $failed != 0 ]; then
  echo "hardening: FAILED: ${failures[*]} (logs in $OUT)" >&2
  exit 1
fi
