#!/usr/bin/env bash
# Packs the release binary with the shared libraries it needs beyond glibc, libstdc++ and libgcc
# into .device-pack/adaneg.tar.xz (git-ignored), for the device machine of DEVELOPERS.md, which
# has no Swift toolchain. The pack also carries the synthetic JPEGs of bench/clip (made here,
# where Pillow is), so the device run needs only its own torch.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${ADANEG:-.build-release/release/adaneg}   # e.g. ADANEG=/work/rel/release/adaneg
[ -x "$BIN" ] || { echo "no release binary at $BIN (swift build -c release --product adaneg --scratch-path .build-release)" >&2; exit 2; }
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/adaneg/lib" .device-pack
cp "$BIN" "$STAGE/adaneg/"
ldd "$BIN" | awk '/=> \// {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) ;;
    *) cp -L "$lib" "$STAGE/adaneg/lib/" ;;
  esac
done
# Any Python with Pillow and numpy (PYTHON=/work/venv-cpu/bin/python in a session whose venv lives there).
"${PYTHON:-.venv-clip/bin/python}" - "$STAGE/adaneg/images" <<'PY'
import os, sys
sys.path.insert(0, "bench/clip")
from bench import make_images
make_images(sys.argv[1], 256)
PY
tar -C "$STAGE" -cJf .device-pack/adaneg.tar.xz adaneg
ls -la .device-pack/adaneg.tar.xz
