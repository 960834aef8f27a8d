#!/usr/bin/env bash
# Model download speed: `adaneg fetch-model` against a plain `curl -L` of the same weights file
# from the same mock Hub (adaneg-hub-mock: Hub + CDN on loopback), in one script, alternating runs.
# adaneg's time is the whole fetch (4 HEADs, the redirect, sha256 while writing, the 3 small
# files, the rename and links); curl only writes the weights to a file. Target: adaneg >= 90%.
#   SIZE_MB=512 RUNS=5 bash bench/hub.sh            # debug binaries from `swift build`
#   ADANEG=.build-release/release/adaneg HUB_MOCK=.build-release/release/adaneg-hub-mock bash bench/hub.sh
#   TMPDIR=/dev/shm ...                             # both clients write to tmpfs: no disk writeback
set -euo pipefail
cd "$(dirname "$0")/.."
ADANEG=${ADANEG:-.build/debug/adaneg}
HUB_MOCK=${HUB_MOCK:-.build/debug/adaneg-hub-mock}
SIZE_MB=${SIZE_MB:-600}   # about the size of clip-vit-base-patch16's model.safetensors
RUNS=${RUNS:-5}
if [ ! -x "$ADANEG" ] || [ ! -x "$HUB_MOCK" ]; then
  swift build --product adaneg >/dev/null 2>&1
  swift build --product adaneg-hub-mock >/dev/null 2>&1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/adaneg-hub-bench.XXXXXX")
mock_pid=
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/model"
head -c $((SIZE_MB * 1000000)) /dev/urandom > "$work/model/model.safetensors"
echo '{"model_type": "clip"}' > "$work/model/config.json"
echo '{"a</w>": 0}' > "$work/model/vocab.json"
printf '#version: 0.2\n' > "$work/model/merges.txt"

"$HUB_MOCK" adaneg-bench/clip "$work/model" > "$work/mock.out" &
mock_pid=$!
for _ in $(seq 100); do grep -q HUB= "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
hub=$(sed -n 's/^HUB=\([^ ]*\) .*/\1/p' "$work/mock.out")
[ -n "$hub" ] || { echo "mock hub did not start" >&2; exit 1; }
url="$hub/adaneg-bench/clip/resolve/main/model.safetensors"

now() { date +%s.%N; }
curl_mbps=() adaneg_mbps=() ratios=()
for run in $(seq "$RUNS"); do
  rm -f "$work/curl.bin"
  t0=$(now); curl -sfL -o "$work/curl.bin" "$url"; t1=$(now)
  curl_mbps+=("$(echo "$SIZE_MB / ($t1 - $t0)" | bc -l)")
  rm -rf "$work/cache"
  t0=$(now); HF_ENDPOINT="$hub" HF_HUB_CACHE="$work/cache" "$ADANEG" fetch-model adaneg-bench/clip >/dev/null 2>"$work/adaneg.err"; t1=$(now)
  adaneg_mbps+=("$(echo "$SIZE_MB / ($t1 - $t0)" | bc -l)")
  cmp -s "$work/curl.bin" "$work/model/model.safetensors" || { echo "curl copy differs" >&2; exit 1; }
  cmp -s "$work/cache/models--adaneg-bench--clip/snapshots/"*/model.safetensors "$work/model/model.safetensors" \
    || { echo "adaneg copy differs" >&2; cat "$work/adaneg.err" >&2; exit 1; }
  ratios+=("$(echo "100 * ${adaneg_mbps[-1]} / ${curl_mbps[-1]}" | bc -l)")
  printf 'run %d: curl %7.1f MB/s   adaneg %7.1f MB/s   %5.1f%%\n' "$run" "${curl_mbps[-1]}" "${adaneg_mbps[-1]}" "${ratios[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
c=$(median "${curl_mbps[@]}"); a=$(median "${adaneg_mbps[@]}")
# The per-run ratio pairs runs taken moments apart, which cancels most of the load of a shared machine.
printf 'median of %d runs, %d MB: curl %.1f MB/s, adaneg %.1f MB/s; median adaneg/curl per run = %.0f%%\n' \
  "$RUNS" "$SIZE_MB" "$c" "$a" "$(median "${ratios[@]}")"
