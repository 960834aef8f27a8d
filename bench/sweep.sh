#!/usr/bin/env bash
# adaneg sweep at ImageNet shape (C=1000, M=10000, D=512; 5 tasks of 60,000 samples: a 50,000-sample
# ID set against five 10,000-sample OOD sets), against its two peers on the same grid, same machine:
#   - `adaneg rescore` run once per point (timed on RESCORE_POINTS points of each proxy, scaled to the grid);
#   - the numpy reference scorer (tools/reference), timed on NUMPY_BATCHES batches per proxy and
#     scaled to the grid's batches (a full pass of the sample proxy takes minutes per batch group).
# The grid: memleng 5,10,20 × gap 0.3,0.5 × proxy task,sample × lambda 0.1,0.5,1,2 = 48 points.
#
#   bash bench/sweep.sh                  # ROUNDS=3 by default; prints the load before/after each round
#   ADANEG=.build/debug/adaneg ROUNDS=1 bash bench/sweep.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-$(mktemp -d)}
ROUNDS=${ROUNDS:-3}
RESCORE_POINTS=${RESCORE_POINTS:-1}
NUMPY_BATCHES=${NUMPY_BATCHES:-3}
if [ -z "${ADANEG:-}" ]; then
  swift build -c release --scratch-path "${SCRATCH:-/work/rel}" --product adaneg >/dev/null
  ADANEG=${SCRATCH:-/work/rel}/release/adaneg
fi
GRID=(--set memleng=5,10,20 --set gap=0.3,0.5 --set proxy=task,sample --set lambda=0.1,0.5,1,2)
cd "$WORK"
if [ ! -f bench.sqlite ]; then
  "$ADANEG" synthesize --layout job --out data --classes 1000 --negatives 10000 --dim 512 \
    --id-samples 50000 --ood-samples 10000 --seed 3 >/dev/null
  cp data/ood-covered.npy data/ood-covered2.npy
  cp data/ood-uncovered.npy data/ood-uncovered2.npy
  cat > job.yaml <<'EOF'
name: imagenet-shaped
id: {features: data/id.npy, labels: data/id-labels.npy, num_classes: 1000}
ood:
  - {name: covered, features: data/ood-covered.npy}
  - {name: uncovered, features: data/ood-uncovered.npy}
  - {name: near-id, features: data/ood-near-id.npy}
  - {name: covered2, features: data/ood-covered2.npy}
  - {name: uncovered2, features: data/ood-uncovered2.npy}
negatives: {count: 10000, text_features: data/text.npy}
unit_batches: 16
EOF
  "$ADANEG" run job.yaml --db bench.sqlite >/dev/null 2>&1
fi
now() { date +%s.%N; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for round in $(seq "$ROUNDS"); do
  cp bench.sqlite round.sqlite
  rm -f round.sqlite-wal round.sqlite-shm
  before=$(cut -d' ' -f1-3 /proc/loadavg); t0=$(now)
  "$ADANEG" sweep --db round.sqlite imagenet-shaped "${GRID[@]}" --format json --out sweep.json 2>/dev/null
  t1=$(now); after=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "round $round sweep: 48 points in $(echo "$t1 - $t0" | bc) s (load before $before, after $after)"
  # rescore once per point: one task-proxy and one sample-proxy point (L = 10, g = 0.5, λ = 0.5),
  # each RESCORE_POINTS times; the grid's 48 points are half of each kind.
  for proxy in task sample; do
    before=$(cut -d' ' -f1-3 /proc/loadavg); t0=$(now)
    for k in $(seq "$RESCORE_POINTS"); do
      "$ADANEG" rescore --db round.sqlite imagenet-shaped --name "r$round-$proxy-$k" --memleng 10 --gap 0.5 --proxy $proxy --lambda 0.5 >/dev/null 2>&1
    done
    t1=$(now); after=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "round $round rescore ($proxy): $RESCORE_POINTS point(s) in $(echo "$t1 - $t0" | bc) s (load before $before, after $after)"
  done
done
# The numpy reference on one stream of the same shape, per batch of 256, both proxies.
# PYTHON: an interpreter with the reference's numpy (tools/reference/requirements.txt); by default
# a .venv-ref made here.
if [ -z "${PYTHON:-}" ]; then
  if [ ! -x "$ROOT/.venv-ref/bin/python" ]; then
    python3 -m venv "$ROOT/.venv-ref"
    "$ROOT/.venv-ref/bin/pip" install -q -r "$ROOT/tools/reference/requirements.txt"
  fi
  PYTHON=$ROOT/.venv-ref/bin/python
fi
"$ADANEG" synthesize --out stream --classes 1000 --negatives 10000 --dim 512 --id-samples 1280 --ood-samples 1280 --seed 4 >/dev/null
for proxy in task sample; do
  before=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "numpy $proxy: $("$PYTHON" "$ROOT/bench/numpy_reference_timing.py" stream --num-id 1000 --proxy $proxy --batches "$NUMPY_BATCHES") (load before $before, after $(cut -d' ' -f1-3 /proc/loadavg))"
done
