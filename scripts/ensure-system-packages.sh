#!/usr/bin/env bash
# Installs the Debian packages adaneg builds and runs against, when any is missing.
# Sourced by the quick-start scripts; safe to run repeatedly.
set -euo pipefail

ADANEG_APT_PACKAGES=(
  libopenblas-dev      # BLAS (cblas_sgemm) for fp32 matrix products
  libdnnl-dev          # oneDNN: bf16 matrix products (AMX, AVX512-BF16)
  libjpeg62-turbo-dev  # JPEG decoding
  libpng-dev           # PNG decoding
  zlib1g-dev           # gzip (compressed test fixtures, PNG)
  libsqlite3-dev       # the coordinator's store
  libcurl4-openssl-dev # http(s) image fetching
  wordnet-base         # NegMining candidates (data.noun, data.adj)
)

# The tests also drive headless Chromium (the HTML report's rendering check).
if [ "${1:-}" = "--with-test-tools" ]; then
  ADANEG_APT_PACKAGES+=(chromium)
fi

missing=()
for pkg in "${ADANEG_APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing missing system packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
