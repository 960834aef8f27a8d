#!/usr/bin/env bash
# On the device machine (16 Xeon cores, torch, no Swift): issue 11's Xeon targets in one run.
#   here:   bash bench/device/pack.sh
#   device: run(command: "bash bench/device/cpu.sh", carry: [".device-pack"], timeout_s: 540)
# Writes $OUT/precision.md (adaneg end to end vs torch model-only, fp32 and bf16, all cores),
# $OUT/workers.md (run's default split vs embed-images, memory of 8 workers vs 1) and
# $OUT/doctor.txt. Ends within about 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/adaneg-device-out}
mkdir -p "$OUT" /tmp/adaneg-device
tar -C /tmp/adaneg-device -xJf .device-pack/adaneg.tar.xz
export LD_LIBRARY_PATH=/tmp/adaneg-device/adaneg/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export ADANEG_CACHE_DIR=/tmp/adaneg-device/cache PYTHONUNBUFFERED=1
BIN=/tmp/adaneg-device/adaneg/adaneg
WORK=/tmp/adaneg-clip-bench
mkdir -p "$WORK"
cp -r /tmp/adaneg-device/adaneg/images "$WORK/images"
THREADS=$(nproc)
{ $BIN doctor; OPENBLAS_VERBOSE=2 $BIN doctor --json --seconds 0.5; } > "$OUT/doctor.txt" 2>&1
timeout 300 python3 bench/cpu/precision.py --adaneg "$BIN" --threads "$THREADS" --rounds 2 --images 160 \
  --work "$WORK" --results "$OUT/precision.md" 2>&1 | tail -40
timeout 150 python3 bench/cpu/workers.py --adaneg "$BIN" --work "$WORK" --images 128 --workers "1,default,8" \
  --results "$OUT/workers.md" 2>&1 | tail -20
