#!/usr/bin/env bash
# libFuzzer (with AddressSanitizer) on every parser of outside data: NPY files, the header-only
# NPY reader the job loader and planner use, the bank-delta wire format, OpenOOD image lists,
# the API's JSON bodies with the completion checks, safetensors checkpoints, CLIP `config.json`,
# the BPE tokenizer's text input, JPEG/PNG decoding (and gunzip) through the C shim, job-spec
# YAML, class-name files and NegMining lexicons. Each target is compiled with
# `swiftc -sanitize=fuzzer,address` straight from the sources it exercises (the SOURCES table
# below; tools/fuzz/libfuzzer/<target>.swift says what it calls), linked with the libraries of
# the LIBS table (each target builds while the one before it runs): C code (the image shim, Yams' CYaml) compiled with
# `clang -fsanitize=fuzzer-no-link,address` behind a module map, and Yams' Swift sources built
# as their own module. Yams' sources come from `.build/checkouts/Yams` (there after `swift build`).
# Each target runs for a bounded time from its committed seed corpus (tools/fuzz/corpus/<target>/,
# copied: the corpus grown during a run stays in the output folder). Any crash, sanitizer
# report, leak or timeout fails the run, and so does a target that does not build; the crashing
# input is kept in the output folder, to become a test.
#
#   scripts/fuzz/libfuzzer.sh [--seconds 30] [--runs N] [--only npy,jobspec,...] [--out DIR]
#
# --runs N stops a target after N executions (libFuzzer's -runs) or --seconds, whichever
# comes first. Writes DIR/summary.tsv (target, runs, seconds, runs/s, coverage edges, features, result).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_PER=30 RUNS=-1 ONLY="" OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --only) ONLY=",$2,"; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^# comes first/p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/adaneg-libfuzzer.XXXXXX)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD="$ROOT/.build/fuzz"
mkdir -p "$BUILD"
log() { echo "[libfuzzer $(date +%H:%M:%S)] $*" >&2; }
# Leaks in the Swift runtime's own libraries that the targets reach (each one explained there)
# A trap is reported by libFuzzer at once, without the Swift runtime's symbolicating backtracer
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS="suppressions=$ROOT/tools/fuzz/libfuzzer/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

TARGETS=(npy npyheader bankwire imagelist messages safetensors clipconfig tokenizer images jobspec classnames lexicon)
# Platform's precision type, with stand-ins for its C shim's cpuid functions (no fuzzed input reaches them)
PRECISION="Sources/Platform/Precision.swift Sources/Platform/CPUFeatures.swift tools/fuzz/libfuzzer/platform-cpuid-stub.swift"
# Platform's one check that an input path is a regular file, used by every file reader
FILES="Sources/Platform/RegularFile.swift"
CLIP_TEXT="Sources/CLIP/CLIPTokenizer.swift Sources/CLIP/TextCleaner.swift Sources/CLIP/TextCleanupTables.swift Sources/CLIP/CLIPErrors.swift"
# target → the sources it is compiled with, as one Swift module: package sources are copied with
# their imports of package modules removed (those modules' sources are part of the same list);
# tools/fuzz/libfuzzer/*-stub.swift files stand in for code no fuzzed input reaches
declare -A SOURCES=(
  [npy]="Sources/NPY/*.swift $FILES"
  [npyheader]="Sources/NPY/*.swift $FILES"
  [bankwire]="Sources/JobProtocol/BankWire.swift Sources/JobProtocol/HalfPrecision.swift Sources/JobProtocol/BankSync.swift Sources/AdaNegCore/Bank/*.swift"
  [imagelist]="Sources/JobSpec/ImageList.swift Sources/JobSpec/JobSpecError.swift $FILES"
  [messages]="Sources/JobProtocol/Messages.swift Sources/JobProtocol/WireColumns.swift Sources/JobProtocol/Artefacts.swift Sources/JobProtocol/Records.swift Sources/JobProtocol/WorkPlan.swift Sources/Coordinator/Service/CompletionCheck.swift Sources/JobProtocol/BankWire.swift Sources/JobProtocol/HalfPrecision.swift Sources/JobProtocol/BankSync.swift Sources/JobProtocol/UnitRows.swift Sources/Coordinator/Service/BankSyncCheck.swift Sources/AdaNegCore/Scoring/ScoringParameters.swift Sources/AdaNegCore/Scoring/ScoringParameter.swift Sources/AdaNegCore/Scoring/SampleResult.swift Sources/AdaNegCore/Scoring/SampleScore.swift Sources/AdaNegCore/Scoring/MemoryEstimate.swift Sources/AdaNegCore/Scoring/PermutationSource.swift Sources/AdaNegCore/Bank/*.swift Sources/JobSpec/JobSpec.swift $PRECISION"
  [safetensors]="Sources/CLIP/Safetensors.swift Sources/CLIP/CLIPErrors.swift $FILES $PRECISION tools/fuzz/libfuzzer/tensor-mappedweights-stub.swift"
  [clipconfig]="Sources/CLIP/CLIPConfig.swift Sources/CLIP/CLIPErrors.swift $FILES $PRECISION"
  [tokenizer]="$CLIP_TEXT $FILES $PRECISION"
  [images]="Sources/CLIP/ImageDecoding.swift Sources/CLIP/ImagePreprocessing.swift $CLIP_TEXT $FILES $PRECISION"
  [jobspec]="Sources/JobSpec/*.swift Sources/NPY/*.swift Sources/Platform/Plural.swift Sources/AdaNegCore/Scoring/ScoringParameters.swift Sources/AdaNegCore/Scoring/ScoringParameter.swift Sources/AdaNegCore/Scoring/MemoryEstimate.swift Sources/AdaNegCore/Scoring/PermutationSource.swift Sources/AdaNegCore/Bank/*.swift $FILES $PRECISION"
  [classnames]="Sources/JobSpec/ClassNamesFile.swift Sources/JobSpec/JobSpecError.swift $FILES"
  [lexicon]="Sources/JobSpec/LexiconFile.swift Sources/JobSpec/JobSpecError.swift $FILES"
)
# target → the libraries it imports and links, in build order
declare -A LIBS=(
  [tokenizer]="CImageCodecs"
  [images]="CImageCodecs"
  [jobspec]="CYaml Yams"
)
# library → its sources: C files (compiled with clang, instrumented, behind a module map) or
# Swift files (their own module, instrumented, a static library)
YAMS="$ROOT/.build/checkouts/Yams"
declare -A LIB_SOURCES=(
  [CImageCodecs]="$ROOT/Sources/CImageCodecs/*.c"
  [CYaml]="$YAMS/Sources/CYaml/src/*.c"
  [Yams]="$YAMS/Sources/Yams/*.swift"
)
# C library → its public headers; its preprocessor flags (also given to Swift's importer); what it links
declare -A LIB_INCLUDE=([CImageCodecs]="$ROOT/Sources/CImageCodecs/include" [CYaml]="$YAMS/Sources/CYaml/include")
declare -A LIB_DEFINES=([CYaml]="-DYAML_DECLARE_STATIC")
declare -A LIB_LINK=([CImageCodecs]="-ljpeg -lpng -lz")
# Swift library → its compiler flags (Yams imports CYaml only when built as a package)
declare -A LIB_SWIFTFLAGS=([Yams]="-DSWIFT_PACKAGE")

# Builds library $1 into $BUILD/lib-$1; appends to SWIFT_FLAGS and LINK_INPUTS.
build_library() {
  local name=$1 dir="$BUILD/lib-$1" f
  # shellcheck disable=SC2086 # the source lists are globs
  ls ${LIB_SOURCES[$name]} >/dev/null 2>&1 \
    || { echo "no sources for $name (${LIB_SOURCES[$name]}); Yams' come with 'swift build' or 'swift package resolve'"; return 1; }
  rm -rf "$dir"
  mkdir -p "$dir/module"
  if [[ "${LIB_SOURCES[$name]}" == *.c ]]; then
    for f in ${LIB_SOURCES[$name]}; do
      # shellcheck disable=SC2086
      clang -fsanitize=fuzzer-no-link,address -O1 -g ${LIB_DEFINES[$name]:-} -I "${LIB_INCLUDE[$name]}" -c "$f" -o "$dir/$(basename "$f" .c).o" || return 1
    done
    if [ -f "${LIB_INCLUDE[$name]}/module.modulemap" ]; then
      cp "${LIB_INCLUDE[$name]}/module.modulemap" "${LIB_INCLUDE[$name]}"/*.h "$dir/module/"
    else
      { echo "module $name {"; for f in "${LIB_INCLUDE[$name]}"/*.h; do echo "  header \"$f\""; done; echo "  export *"; echo "}"; } >"$dir/module/module.modulemap"
    fi
    SWIFT_FLAGS+=(-I "$dir/module")
    for f in ${LIB_DEFINES[$name]:-}; do SWIFT_FLAGS+=(-Xcc "$f"); done
    LINK_INPUTS+=("$dir"/*.o)
    for f in ${LIB_LINK[$name]:-}; do LINK_INPUTS+=("$f"); done
  else
    # shellcheck disable=SC2086
    swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name "$name" ${LIB_SWIFTFLAGS[$name]:-} "${SWIFT_FLAGS[@]}" \
      -emit-module -emit-module-path "$dir/module/$name.swiftmodule" -emit-library -static -o "$dir/lib$name.a" ${LIB_SOURCES[$name]} || return 1
    SWIFT_FLAGS+=(-I "$dir/module")
    LINK_INPUTS+=("$dir/lib$name.a")
  fi
}

# Builds target $1 into $BUILD/fuzz-$1 (log: $OUT/$1.build.log): its sources copied into one
# module with their imports of package modules removed, its libraries first.
build_target() {
  local target=$1 src="$BUILD/src-$1" f lib started=$SECONDS
  SWIFT_FLAGS=() LINK_INPUTS=()
  {
    rm -rf "$src" && mkdir -p "$src" || return 1
    # shellcheck disable=SC2086 # the source lists are globs
    for f in $(cd "$ROOT" && ls ${SOURCES[$target]}); do
      sed -E '/^import (NPY|AdaNeg|AdaNegCore|JobSpec|JobProtocol|JobPlan|JobStore|Coordinator|Platform|CPlatform|Tensor|TensorCore|CLIP)$/d' "$ROOT/$f" >"$src/$(echo "$f" | tr '/' '_')" || return 1
    done
    for lib in ${LIBS[$target]:-}; do build_library "$lib" || return 1; done
    swiftc -sanitize=fuzzer,address -parse-as-library -O -g "${SWIFT_FLAGS[@]}" "$src"/*.swift "$ROOT/tools/fuzz/libfuzzer/$target.swift" \
      "${LINK_INPUTS[@]}" -o "$BUILD/fuzz-$target" || return 1
    echo "built in $((SECONDS - started)) s"
  } >"$OUT/$target.build.log" 2>&1
}

SELECTED=()
for target in "${TARGETS[@]}"; do
  if [ -z "$ONLY" ] || [[ "$ONLY" == *",$target,"* ]]; then SELECTED+=("$target"); fi
done
[ ${#SELECTED[@]} -gt 0 ] || { log "no target matches --only ${ONLY//,/ }"; exit 2; }
printf 'target\truns\tseconds\truns_per_s\tcov\tft\tresult\n' >"$OUT/summary.tsv"
FAILED=0
log "building ${SELECTED[0]}"
build_target "${SELECTED[0]}" & BUILD_PID=$!
for i in "${!SELECTED[@]}"; do
  target=${SELECTED[$i]}
  binary="$BUILD/fuzz-$target"
  built=0
  wait "$BUILD_PID" && built=1
  # The next target builds while this one runs (libFuzzer uses one core).
  next=${SELECTED[$((i + 1))]:-}
  if [ -n "$next" ]; then
    log "building $next"
    build_target "$next" & BUILD_PID=$!
  fi
  if [ $built = 0 ]; then
    log "build of $target failed: $(grep -m 3 -E 'error|no sources' "$OUT/$target.build.log")"
    printf '%s\t0\t0\t0\t?\t?\t%s\n' "$target" "FAILED(build)" >>"$OUT/summary.tsv"
    FAILED=1
    continue
  fi
  corpus="$OUT/corpus-$target"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$OUT/crashes-$target"
  ls "$ROOT/tools/fuzz/corpus/$target/"* >/dev/null 2>&1 || { log "no seed corpus in tools/fuzz/corpus/$target"; FAILED=1; continue; }
  cp "$ROOT/tools/fuzz/corpus/$target/"* "$corpus/"
  log "running $target for ${SECONDS_PER}s$([ "$RUNS" -ge 0 ] && echo " or $RUNS runs")"
  rc=0
  (cd "$OUT/crashes-$target" && "$binary" -max_total_time="$SECONDS_PER" -runs="$RUNS" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
     -print_final_stats=1 "$corpus") >"$OUT/$target.log" 2>&1 || rc=$?
  rm -f /dev/shm/adaneg-fuzz-"$target"-* "${TMPDIR:-/tmp}"/adaneg-fuzz-"$target"-*  # the targets' scratch files
  # "Done N runs in S second(s)" (exit on time or runs); the final stats count exact runs
  runs=$(grep -ao 'stat::number_of_executed_units: [0-9]*' "$OUT/$target.log" | tail -n 1 | awk '{print $2}')
  secs=$(grep -ao 'Done [0-9]* runs in [0-9]* second' "$OUT/$target.log" | tail -n 1 | awk '{print $5}')
  cov=$(grep -ao 'cov: [0-9]*' "$OUT/$target.log" | tail -n 1 | awk '{print $2}')
  ft=$(grep -ao 'ft: [0-9]*' "$OUT/$target.log" | tail -n 1 | awk '{print $2}')
  result=ok
  if [ "$rc" != 0 ] || [ -z "$secs" ]; then
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
log "all targets ran without a crash, leak or timeout"
