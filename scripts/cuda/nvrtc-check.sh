#!/usr/bin/env bash
# Compiles every CUDA kernel of Sources/CUDABackend/Kernels/kernels.cu for sm_90 (bf16 and fp16)
# through adaneg's own Swift NVRTC loader, with the libnvrtc of the PyPI wheel
# nvidia-cuda-nvrtc-cu12 (no GPU, no CUDA toolkit needed). Fails loudly: ADANEG_REQUIRE_NVRTC=1
# turns a missing library into a test failure.
#   bash scripts/cuda/nvrtc-check.sh [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=/tmp/adaneg-nvrtc
[ "${1:-}" = "--out" ] && OUT=$2
mkdir -p "$OUT"
[ -x .venv-cuda/bin/pip ] || python3 -m venv .venv-cuda
.venv-cuda/bin/pip install -q nvidia-cuda-nvrtc-cu12
LIB=$(ls "$PWD"/.venv-cuda/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.* | grep -v builtins | grep -v alt | head -1)
[ -n "$LIB" ] || { echo "nvrtc-check: FAILED: no libnvrtc in the wheel" >&2; exit 1; }
export ADANEG_NVRTC_LIBRARY=$LIB ADANEG_REQUIRE_NVRTC=1
swift test --filter KernelSourceTests 2>&1 | tee "$OUT/nvrtc-check.log" | grep -E "✔|✘|error" | tail -20
grep -q "kernelsCompileForSm90() passed" "$OUT/nvrtc-check.log" || { echo "nvrtc-check: FAILED (log: $OUT/nvrtc-check.log)" >&2; exit 1; }
