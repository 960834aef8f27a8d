#!/usr/bin/env bash
# Issue 26 target (c): distributed scoring against the sequential run of the same stream
# (`report --compare-sequential`), real scoring through `adaneg`, whatever the timing.
#
# One synthetic job (C = 1000, M = 10,000, D = 512; three OOD sets of 2,000 with an ID set of
# 20,000: three tasks of 22,000 samples; batch 128, units of 2 batches, task proxy, sync after
# every batch), scored in these runs, each on a fresh database:
#
#   run-4         adaneg run --workers 4
#   run-16        adaneg run --workers 16
#   slow-16       adaneg serve + 16 adaneg worker, half of them slowed (each batch followed by a
#                 sleep of SLOW_MS, default 150 ms: about 3x a batch's scoring time here)
#   loaded-16     adaneg run --workers 16 while LOAD busy loops (default 4) compete for the 2 cores
#
# For each: per OOD set ΔAUROC and ΔFPR95 (distributed − sequential, points), wall seconds, and the
# load average before and after. Target: |ΔAUROC| ≤ 0.2 pt and |ΔFPR95| ≤ 1 pt in every run.
#
#   bash bench/staleness.sh [run-4 run-16 slow-16 loaded-16]
#
# ADANEG=/path/to/adaneg (default: the release build in /work/rel, else .build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
ADANEG=${ADANEG:-$( [ -x /work/rel/release/adaneg ] && echo /work/rel/release/adaneg || echo .build/release/adaneg )}
SLOW_MS=${SLOW_MS:-150}
LOAD=${LOAD:-4}
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(run-4 run-16 slow-16 loaded-16)
OUT=$(mktemp -d /tmp/adaneg-staleness.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT
"$ADANEG" synthesize --layout job --out "$OUT/data" --classes 1000 --negatives 10000 --dim 512 \
  --id-samples 20000 --ood-samples 2000 --seed 0 >/dev/null
cat >"$OUT/job.yaml" <<EOF
name: staleness
id: {features: data/id.npy, labels: data/id-labels.npy}
ood:
  - {name: covered, group: far, features: data/ood-covered.npy}
  - {name: uncovered, group: far, features: data/ood-uncovered.npy}
  - {name: near-id, group: near, features: data/ood-near-id.npy}
negatives: {count: 10000, text_features: data/text.npy}
scoring: {batch_size: 128, proxy: task}
unit_batches: 2
sync_every: 1
seed: 0
EOF

deltas() {
  "$ADANEG" report --db "$1" staleness --compare-sequential --format json | python3 -c '
import json, sys
def find(x):
    if isinstance(x, dict):
        if isinstance(x.get("sets"), list) and x["sets"] and "delta" in x["sets"][0]:
            return x
        for v in x.values():
            r = find(v)
            if r: return r
    if isinstance(x, list):
        for v in x:
            r = find(v)
            if r: return r
c = find(json.load(sys.stdin))
print(" ".join("%s:dAUROC=%+.3f,dFPR95=%+.2f" % (s["name"], 100 * s["delta"]["auroc"], 100 * s["delta"]["fpr95"]) for s in c["sets"] if s.get("delta")))
worst_a = max(abs(100 * s["delta"]["auroc"]) for s in c["sets"] if s.get("delta"))
worst_f = max(abs(100 * s["delta"]["fpr95"]) for s in c["sets"] if s.get("delta"))
print("max |dAUROC| %.3f pt, max |dFPR95| %.2f pt: %s" % (worst_a, worst_f, "ok" if worst_a <= 0.2 and worst_f <= 1 else "OVER"))'
}

for run in "${RUNS[@]}"; do
  db="$OUT/$run.sqlite"
  before=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(date +%s.%N)
  case $run in
    run-4) (cd "$OUT" && "$ADANEG" run job.yaml --workers 4 --db "$db" >"$OUT/$run.log" 2>&1) ;;
    run-16) (cd "$OUT" && "$ADANEG" run job.yaml --workers 16 --db "$db" >"$OUT/$run.log" 2>&1) ;;
    loaded-16)
      burners=()
      for _ in $(seq 1 "$LOAD"); do (while :; do :; done) & burners+=($!); done
      (cd "$OUT" && "$ADANEG" run job.yaml --workers 16 --db "$db" >"$OUT/$run.log" 2>&1) || true
      kill "${burners[@]}" 2>/dev/null || true ;;
    slow-16)
      port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      "$ADANEG" serve --db "$db" --port "$port" >"$OUT/$run.serve.log" 2>&1 &
      serve=$!
      for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null && break; sleep 0.1; done
      (cd "$OUT" && "$ADANEG" submit --coordinator "http://127.0.0.1:$port" job.yaml >/dev/null)
      workers=()
      for i in $(seq 1 16); do
        extra=()
        [ $((i % 2)) = 0 ] && extra=(--simulate-batch-ms "$SLOW_MS")
        "$ADANEG" worker --coordinator "http://127.0.0.1:$port" --id "w$i" --threads 1 "${extra[@]}" >"$OUT/$run.w$i.log" 2>&1 &
        workers+=($!)
      done
      wait "${workers[@]}" || true
      kill "$serve" 2>/dev/null || true
      wait "$serve" 2>/dev/null || true ;;
    *) echo "unknown run $run" >&2; exit 2 ;;
  esac
  t1=$(date +%s.%N)
  after=$(cut -d' ' -f1-3 /proc/loadavg)
  printf '%s: %.1f s wall, load %s -> %s\n  %s\n' "$run" "$(echo "$t1 - $t0" | bc)" "$before" "$after" "$(deltas "$db" | tr '\n' ' ')"
done
