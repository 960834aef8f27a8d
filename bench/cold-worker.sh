#!/usr/bin/env bash
# Cold start of a worker that has only the binary and the coordinator's URL: an ImageNet-shaped
# features job (C = 1000 ID classes, M = 10,000 negatives, D = 512: 22.5 MB of label text
# features, the artefact such a job ships), one small unit of 64 samples, and a worker in its own
# mount namespace (an empty tmpfs over the data folder) with an empty artefact cache. Its time
# from start to exit (nothing left to do), less the fetch its log reports, bounds what being cold
# costs beyond the download: start-up, the plan, loading and verifying the artefact, scoring the
# unit and completing it. Target (issue 14): the worker starts scoring within download + 5 s.
# Each run submits a job of its own with the same features, so each worker finds work.
# With MODEL=<folder> (a CLIP checkpoint in the Hugging Face layout on the coordinator's machine,
# e.g. bench/clip/make_model.py's ViT-B/16), each run also scores an image job of 8 images served
# over HTTP: the worker fetches the model's files from the coordinator, converts the weights
# into an empty cache (ADANEG_CACHE_DIR) and embeds; the figure beyond the fetch then covers the
# model's load and 8 images' embedding too.
#   RUNS=5 bash bench/cold-worker.sh                                # debug binary from `swift build`
#   ADANEG=/work/rel/release/adaneg bash bench/cold-worker.sh      # a release binary
#   MODEL=/tmp/adaneg-clip-bench/model ADANEG=... bash bench/cold-worker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ADANEG=${ADANEG:-.build/debug/adaneg}
RUNS=${RUNS:-5}
[ -x "$ADANEG" ] || swift build --product adaneg >/dev/null 2>&1

work=$(mktemp -d "${TMPDIR:-/tmp}/adaneg-cold-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$ADANEG" synthesize --layout job --out "$work/data" --classes 1000 --negatives 10000 --dim 512 \
  --id-samples 32 --ood-samples 32 --seed 0 >/dev/null
job() {
  printf '%s\n' "name: cold-$1" \
    "id: {features: $work/data/id.npy, labels: $work/data/id-labels.npy}" \
    "ood: [{name: covered, features: $work/data/ood-covered.npy}]" \
    "negatives: {count: 10000, text_features: $work/data/text.npy}" \
    "scoring: {batch_size: 64}" >"$work/job-$1.yaml"
}

"$ADANEG" serve --db "$work/db.sqlite" --port 0 > "$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q "listening on" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -ao 'listening on http://[^ ]*' "$work/serve.log" | head -n 1 | sed 's/listening on //')
[ -n "$url" ] || { echo "the coordinator did not start: $(tail -n 3 "$work/serve.log")" >&2; exit 1; }

now() { date +%s.%N; }
totals=() fetches=() beyond=()
for run in $(seq "$RUNS"); do
  job "$run"
  "$ADANEG" submit --coordinator "$url" "$work/job-$run.yaml" >/dev/null
  rm -rf "$work/cache"
  t0=$(now)
  unshare --map-root-user --mount sh -c 'mount -t tmpfs bench-empty "$1" && shift && exec "$@"' isolate "$work/data" \
    "$ADANEG" worker --coordinator "$url" --artefact-cache "$work/cache" --id "cold-$run" > "$work/worker.log" 2>&1 \
    || { echo "the worker failed: $(tail -n 5 "$work/worker.log")" >&2; exit 1; }
  t1=$(now)
  grep -q "1 units, 64 samples" "$work/worker.log" || { echo "the worker did not score the unit: $(tail -n 3 "$work/worker.log")" >&2; exit 1; }
  line=$(grep -ao "fetched the coordinator's copy, [0-9.]* MB in [0-9.]* s" "$work/worker.log" | head -n 1)
  [ -n "$line" ] || { echo "the worker did not fetch: $(tail -n 5 "$work/worker.log")" >&2; exit 1; }
  fetch=$(echo "$line" | sed 's/.* MB in \([0-9.]*\) s/\1/')
  totals+=("$(echo "$t1 - $t0" | bc -l)")
  fetches+=("$fetch")
  beyond+=("$(echo "$t1 - $t0 - $fetch" | bc -l)")
  printf 'run %d: start to exit %.2f s, fetch %.2f s (%s), beyond the fetch %.2f s\n' \
    "$run" "${totals[-1]}" "$fetch" "$(echo "$line" | sed 's/.*copy, //')" "${beyond[-1]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf 'median of %d runs: cold worker start to exit %.2f s, of which fetch %.2f s; beyond the fetch %.2f s (target < 5)\n' \
  "$RUNS" "$(median "${totals[@]}")" "$(median "${fetches[@]}")" "$(median "${beyond[@]}")"
[ -n "${MODEL:-}" ] || exit 0

# The image job: 8 fixture photos and drawings over HTTP from loopback, 512-wide text features,
# the model in the data folder (hidden from the worker like the rest of it).
mkdir -p "$work/images" "$work/data/model"
for f in "$MODEL"/*; do ln "$f" "$work/data/model/" 2>/dev/null || cp "$f" "$work/data/model/"; done
for f in photo.jpg photo_444.jpg photo_progressive.jpg wide.jpg drawing.png drawing_rgba.png tall.png wide.png; do
  cp "Tests/CLIPTests/Fixtures/images/$f" "$work/images/"
done
port=$((20000 + RANDOM % 20000))
python3 -m http.server --bind 127.0.0.1 --directory "$work/images" "$port" >"$work/http.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
# Image lists of run $1: the query makes each run's references new to the coordinator, whose
# store would otherwise hand the previous run's features to the worker instead of a model to load.
image_lists() {
  : >"$work/data/img-id-$1.txt"
  : >"$work/data/img-ood-$1.txt"
  local i=0 f
  for f in $(cd "$work/images" && ls | sort); do
    if [ $i -lt 4 ]; then echo "http://127.0.0.1:$port/$f?run=$1 $((i % 2))" >>"$work/data/img-id-$1.txt"
    else echo "http://127.0.0.1:$port/$f?run=$1" >>"$work/data/img-ood-$1.txt"; fi
    i=$((i + 1))
  done
}
"$ADANEG" synthesize --layout job --out "$work/data/img-text" --classes 2 --negatives 100 --dim 512 \
  --id-samples 4 --ood-samples 4 --seed 0 >/dev/null
totals=() fetches=() beyond=()
for run in $(seq "$RUNS"); do
  image_lists "$run"
  printf '%s\n' "name: cold-images-$run" "model: $work/data/model" \
    "id: {num_classes: 2, images: {list: $work/data/img-id-$run.txt}}" \
    "ood: [{name: http, images: {list: $work/data/img-ood-$run.txt}}]" \
    "negatives: {count: 100, text_features: $work/data/img-text/text.npy}" \
    "scoring: {batch_size: 8}" >"$work/img-$run.yaml"
  "$ADANEG" submit --coordinator "$url" "$work/img-$run.yaml" >/dev/null
  rm -rf "$work/cache" "$work/weights"
  t0=$(now)
  ADANEG_CACHE_DIR="$work/weights" unshare --map-root-user --mount \
    sh -c 'mount -t tmpfs bench-empty "$1" && shift && exec "$@"' isolate "$work/data" \
    "$ADANEG" worker --coordinator "$url" --artefact-cache "$work/cache" --id "cold-img-$run" > "$work/worker.log" 2>&1 \
    || { echo "the worker failed: $(tail -n 5 "$work/worker.log")" >&2; exit 1; }
  t1=$(now)
  grep -q "8 images embedded, 0 sample errors" "$work/worker.log" || { echo "the worker did not embed the 8 images: $(tail -n 3 "$work/worker.log")" >&2; exit 1; }
  fetch=$(grep -ao "fetched the coordinator's copy, [0-9.]* MB in [0-9.]* s" "$work/worker.log" | sed 's/.* MB in \([0-9.]*\) s/\1/' | paste -sd+ | bc -l)
  [ -n "$fetch" ] || { echo "the worker fetched no model file: $(tail -n 5 "$work/worker.log")" >&2; exit 1; }
  totals+=("$(echo "$t1 - $t0" | bc -l)")
  fetches+=("$fetch")
  beyond+=("$(echo "$t1 - $t0 - $fetch" | bc -l)")
  printf 'image run %d: start to exit %.2f s, model fetch %.2f s, beyond the fetch %.2f s\n' "$run" "${totals[-1]}" "$fetch" "${beyond[-1]}"
done
printf 'image job, median of %d runs: cold worker start to exit %.2f s, of which the model fetch %.2f s; beyond the fetch %.2f s (load, conversion, 8 images)\n' \
  "$RUNS" "$(median "${totals[@]}")" "$(median "${fetches[@]}")" "$(median "${beyond[@]}")"
