#!/usr/bin/env bash
# Cold start of a worker that has only the binary and the coordinator's URL: an ImageNet-shaped
# features job (C = 1000 ID classes, M = 10,000 negatives, D = 512: 22.5 MB of label text
# features, the artefact such a job ships), one small unit of 64 samples, and a worker in its own
# mount namespace (an empty tmpfs over the data folder) with an empty artefact cache. Its time
# from start to exit (nothing left to do), less the fetch its log reports, bounds what being cold
# costs beyond the download: start-up, the plan, loading and verifying the artefact, scoring the
# unit and completing it. Target (issue 14): the worker starts scoring within download + 5 s.
# Each run submits a job of its own with the same features, so each worker finds work.
#   RUNS=5 bash bench/cold-worker.sh                                # debug binary from `swift build`
#   ADANEG=/work/rel/release/adaneg bash bench/cold-worker.sh      # a release binary
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
