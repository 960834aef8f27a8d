#!/usr/bin/env bash
# Artefact serving: `GET /v1/artefacts/{sha256}` from `adaneg serve` on loopback, read by a plain
# `curl` (the coordinator's serving rate; target >= 200 MB/s), and the same file fetched by a
# worker with an empty artefact cache (sha256 while writing, fsync, rename), in one script,
# alternating runs. The artefact is a job's label text features of SIZE_MB (random float32 rows
# of 1024 values), the size of a ViT-B/16 checkpoint by default. Needs `unshare` (util-linux) with
# user namespaces, or root, for the worker's private mount namespace.
#   SIZE_MB=600 RUNS=3 bash bench/artefacts.sh                   # debug binary from `swift build`
#   ADANEG=/work/rel/release/adaneg bash bench/artefacts.sh      # a release binary
set -euo pipefail
cd "$(dirname "$0")/.."
ADANEG=${ADANEG:-.build/debug/adaneg}
SIZE_MB=${SIZE_MB:-600}
RUNS=${RUNS:-3}
[ -x "$ADANEG" ] || swift build --product adaneg >/dev/null 2>&1

work=$(mktemp -d "${TMPDIR:-/tmp}/adaneg-artefact-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A small features job whose text features are SIZE_MB of rows: 10 ID classes, then candidates.
"$ADANEG" synthesize --layout job --out "$work/data" --classes 10 --negatives 100 --dim 1024 \
  --id-samples 64 --ood-samples 64 --seed 0 >/dev/null
rows=$((SIZE_MB * 1000000 / 4096))
python3 - "$work/data/text.npy" "$rows" <<'EOF'
import os, sys
path, rows = sys.argv[1], int(sys.argv[2])
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 1024), }" % rows
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    chunk = os.urandom(1 << 22)
    left = rows * 4096
    while left > 0:
        # Random bytes read as float32 include NaNs; rescaled into [0, 1) on 23 mantissa bits.
        piece = bytearray(chunk[: min(left, len(chunk))])
        piece[3::4] = b"\x3f" * (len(piece) // 4)
        f.write(piece)
        left -= len(piece)
EOF
bytes=$(stat -c %s "$work/data/text.npy")
cat > "$work/job.yaml" <<EOF
name: artefact-bench
id: {features: $work/data/id.npy, labels: $work/data/id-labels.npy}
ood: [{name: covered, features: $work/data/ood-covered.npy}]
negatives: {count: 100, text_features: $work/data/text.npy}
scoring: {batch_size: 64}
EOF

"$ADANEG" serve --db "$work/db.sqlite" --port 0 > "$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q "listening on" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -ao 'listening on http://[^ ]*' "$work/serve.log" | head -n 1 | sed 's/listening on //')
[ -n "$url" ] || { echo "the coordinator did not start: $(tail -n 3 "$work/serve.log")" >&2; exit 1; }
"$ADANEG" submit --coordinator "$url" "$work/job.yaml" >/dev/null
sha=$(curl -sf "$url/v1/plans/1" | python3 -c "import json,sys; p=json.load(sys.stdin); print(p['artefacts'][p['textFeatures']]['sha256'])")

now() { date +%s.%N; }
curl_mbps=() worker_mbps=() ratios=()
for run in $(seq "$RUNS"); do
  sync
  t0=$(now); curl -sf -o "$work/curl.bin" "$url/v1/artefacts/$sha"; t1=$(now)
  cmp -s "$work/curl.bin" "$work/data/text.npy" || { echo "curl copy differs" >&2; exit 1; }
  rm -f "$work/curl.bin"
  curl_mbps+=("$(echo "$bytes / 1000000 / ($t1 - $t0)" | bc -l)")
  # A worker that sees none of the coordinator's files (its own mount namespace, an empty tmpfs
  # over the data folder) and has an empty cache.
  rm -rf "$work/cache"
  unshare --map-root-user --mount sh -c 'mount -t tmpfs bench-empty "$1" && shift && exec "$@"' isolate "$work/data" \
    "$ADANEG" worker --coordinator "$url" --artefact-cache "$work/cache" --id bench --threads 1 > "$work/worker.log" 2>&1 &
  wpid=$!
  pids+=($wpid)
  for _ in $(seq 600); do grep -q "fetched the coordinator's copy" "$work/worker.log" 2>/dev/null && break; sleep 0.1; done
  kill "$wpid" 2>/dev/null || true
  wait "$wpid" 2>/dev/null || true
  cmp -s "$work/cache/sha256/$sha" "$work/data/text.npy" || { echo "the worker's copy differs" >&2; exit 1; }
  line=$(grep -ao "fetched the coordinator's copy, [0-9.]* MB in [0-9.]* s" "$work/worker.log" | head -n 1)
  [ -n "$line" ] || { echo "the worker did not fetch: $(tail -n 5 "$work/worker.log")" >&2; exit 1; }
  seconds=$(echo "$line" | sed 's/.* MB in \([0-9.]*\) s/\1/')
  worker_mbps+=("$(echo "$bytes / 1000000 / $seconds" | bc -l)")
  ratios+=("$(echo "100 * ${worker_mbps[-1]} / ${curl_mbps[-1]}" | bc -l)")
  printf 'run %d: curl %7.1f MB/s   worker fetch %7.1f MB/s   %5.1f%%\n' "$run" "${curl_mbps[-1]}" "${worker_mbps[-1]}" "${ratios[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf 'median of %d runs, %d MB: coordinator to curl %.1f MB/s (target >= 200), to a worker %.1f MB/s; worker/curl per run %.0f%%\n' \
  "$RUNS" "$((bytes / 1000000))" "$(median "${curl_mbps[@]}")" "$(median "${worker_mbps[@]}")" "$(median "${ratios[@]}")"
