#!/usr/bin/env bash
# Image jobs end to end (`adaneg run` on images) against `embed-images` on the same images.
# Needs the tools/clip venv (.venv-clip) for the random-weight ViT-B/16 and the JPEGs; a first
# release build takes 10+ minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build-release}
swift build -c release --scratch-path "$SCRATCH" --product adaneg >/dev/null
.venv-clip/bin/python bench/images/bench.py --adaneg "$SCRATCH/release/adaneg" "$@"
