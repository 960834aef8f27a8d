#!/usr/bin/env bash
# libFuzzer (with AddressSanitizer) on the parsers of outside data that build without the rest
# of the package: NPY files, the header-only NPY reader the job loader and planner use, the bank-delta wire format,
# OpenOOD image lists, and the API's JSON bodies with the completion checks. Each target is compiled with `swiftc -sanitize=fuzzer,address` straight
# from the sources it exercises (tools/fuzz/libfuzzer/<target>.swift names them) and run for a
# bounded time from its committed seed corpus (tools/fuzz/corpus/<target>/, copied: the
# corpus grown during a run stays in the output folder). Any crash, sanitizer report, leak or
# timeout fails the run; the crashing input is kept in the output folder, to become a test.
#
#   scripts/fuzz/libfuzzer.sh [--seconds 30] [--only npy,npyheader,bankwire,imagelist,messages] [--out DIR]
#
# Writes DIR/summary.tsv (target, runs, seconds, runs/s, coverage edges, features, result).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_PER=30 ONLY="" OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --only) ONLY=",$2,"; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/adaneg-libfuzzer.XXXXXX)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD="$ROOT/.build/fuzz"
mkdir -p "$BUILD"
log() { echo "[libfuzzer $(date +%H:%M:%S)] $*" >&2; }

# target → the package sources it is compiled with
declare -A SOURCES=(
  [npy]="Sources/NPY/*.swift"
  [npyheader]="Sources/NPY/*.swift"
  [bankwire]="Sources/JobPlan/Protocol/BankWire.swift Sources/AdaNeg/Bank/*.swift"
  [imagelist]="Sources/JobSpec/ImageList.swift Sources/JobSpec/JobSpecError.swift"
  [messages]="Sources/JobPlan/Protocol/Messages.swift Sources/JobPlan/Protocol/Records.swift Sources/JobPlan/Planning/WorkPlan.swift Sources/Coordinator/Service/CompletionCheck.swift Sources/AdaNeg/Scoring/ScoringParameters.swift Sources/AdaNeg/Scoring/SampleResult.swift Sources/AdaNeg/Scoring/SampleScore.swift Sources/AdaNeg/Scoring/MemoryEstimate.swift Sources/AdaNeg/Scoring/PermutationSource.swift Sources/AdaNeg/Bank/*.swift Sources/JobSpec/JobSpec.swift Sources/Platform/Precision.swift Sources/Platform/CPUFeatures.swift"
)
# targets that compile Platform's sources also need stand-ins for its C shim
declare -A EXTRA=(
  [messages]="tools/fuzz/libfuzzer/platform-cpuid-stub.swift"
)
printf 'target\truns\tseconds\truns_per_s\tcov\tft\tresult\n' >"$OUT/summary.tsv"
FAILED=0
for target in npy npyheader bankwire imagelist messages; do
  if [ -n "$ONLY" ] && [[ "$ONLY" != *",$target,"* ]]; then continue; fi
  binary="$BUILD/fuzz-$target"
  log "building $target"
  # One module: the sources are copied with their imports of package modules removed (those
  # modules' sources are part of the same list).
  src="$BUILD/src-$target"
  rm -rf "$src"
  mkdir -p "$src"
  # shellcheck disable=SC2086 # the source lists are globs
  for f in $(cd "$ROOT" && ls ${SOURCES[$target]}); do
    sed -E '/^import (NPY|AdaNeg|JobSpec|JobPlan|JobStore|Coordinator|Platform|CPlatform)$/d' "$ROOT/$f" >"$src/$(echo "$f" | tr '/' '_')"
  done
  for f in ${EXTRA[$target]:-}; do cp "$ROOT/$f" "$src/"; done
  (swiftc -sanitize=fuzzer,address -parse-as-library -O -g "$src"/*.swift "$ROOT/tools/fuzz/libfuzzer/$target.swift" \
     -o "$binary") >"$OUT/$target.build.log" 2>&1 \
    || { log "build of $target failed: $(grep -m 3 error "$OUT/$target.build.log")"; FAILED=1; continue; }
  corpus="$OUT/corpus-$target"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$OUT/crashes-$target"
  cp "$ROOT/tools/fuzz/corpus/$target/"* "$corpus/" 2>/dev/null || true
  log "running $target for ${SECONDS_PER}s"
  rc=0
  (cd "$OUT/crashes-$target" && "$binary" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
     -print_final_stats=1 "$corpus") >"$OUT/$target.log" 2>&1 || rc=$?
  runs=$(grep -ao 'Done [0-9]* runs in [0-9]* second' "$OUT/$target.log" | tail -n 1 | awk '{print $2}')
  secs=$(grep -ao 'Done [0-9]* runs in [0-9]* second' "$OUT/$target.log" | tail -n 1 | awk '{print $5}')
  cov=$(grep -ao 'cov: [0-9]*' "$OUT/$target.log" | tail -n 1 | awk '{print $2}')
  ft=$(grep -ao 'ft: [0-9]*' "$OUT/$target.log" | tail -n 1 | awk '{print $2}')
  result=ok
  if [ "$rc" != 0 ] || [ -z "$runs" ]; then
    result="FAILED(exit $rc)"
    FAILED=1
    log "$target: $(grep -aE 'ERROR|SUMMARY|Fatal error|deadly signal' "$OUT/$target.log" | head -n 3)"
  fi
  rate=$(( ${runs:-0} / (${secs:-1} > 0 ? ${secs:-1} : 1) ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "${runs:-0}" "${secs:-0}" "$rate" "${cov:-?}" "${ft:-?}" "$result" >>"$OUT/summary.tsv"
  log "$target: ${runs:-0} runs in ${secs:-0} s ($rate/s), coverage $cov edges, $ft features: $result"
done
column -t -s $'\t' "$OUT/summary.tsv" >&2
[ "$FAILED" = 0 ] || { log "a target failed (logs and crashing inputs in $OUT)"; exit 1; }
log "all targets ran ${SECONDS_PER}s without a crash, leak or timeout"
