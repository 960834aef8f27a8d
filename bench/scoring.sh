#!/usr/bin/env bash
# Scoring-engine benchmark at ImageNet shape (C=1000, M=10000, D=512, B=256, L=10):
# ms per batch of `adaneg score-features` (Swift, OpenBLAS) against the numpy reference
# transcription (tools/reference) on the same synthetic features, same machine, same run.
#
#   bash bench/scoring.sh            # N = 2,560 and 10,240
#   NUMPY_SAMPLE_BATCHES=2 bash bench/scoring.sh
#
# Needs: the Swift toolchain, python3 (a venv with numpy + scikit-learn is created in .venv-ref).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-$(mktemp -d)}
NUMPY_SAMPLE_BATCHES=${NUMPY_SAMPLE_BATCHES:-3}

SCRATCH=${SCRATCH:-.build}
swift build -c release --scratch-path "$SCRATCH" --product adaneg >/dev/null
BIN=$ROOT/$SCRATCH/release/adaneg
if [ ! -x .venv-ref/bin/python ]; then
  python3 -m venv .venv-ref
  .venv-ref/bin/pip install -q -r tools/reference/requirements.txt
fi
PY=$ROOT/.venv-ref/bin/python

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), OpenBLAS threads: ${OPENBLAS_NUM_THREADS:-default}"
printf '| N | proxy | adaneg ms/batch | adaneg µs/sample | adaneg peak RSS MB | numpy ms/batch | numpy batches timed | speed-up |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for N in 2560 10240; do
  DIR=$WORK/n$N
  "$BIN" synthesize --out "$DIR" --classes 1000 --negatives 10000 --dim 512 \
    --id-samples $((N / 2)) --ood-samples $((N / 2)) --kind uncovered --seed 1 >/dev/null
  for PROXY in task sample; do
    /usr/bin/time -f '%M' -o "$WORK/rss" "$BIN" score-features --image-features "$DIR/image.npy" \
      --text-features "$DIR/text.npy" --num-id 1000 --out "$WORK/scores.csv" --proxy $PROXY --timing \
      2>"$WORK/timing" >/dev/null
    SWIFT_MS=$(sed -n 's/.* \([0-9.]*\) ms\/batch.*/\1/p' "$WORK/timing")
    SWIFT_US=$(sed -n 's/.* \([0-9.]*\) µs\/sample.*/\1/p' "$WORK/timing")
    RSS_MB=$(( $(tail -1 "$WORK/rss") / 1024 ))
    if [ $PROXY = sample ]; then BATCHES=$NUMPY_SAMPLE_BATCHES; else BATCHES=$((N / 256)); fi
    NP_JSON=$("$PY" bench/numpy_reference_timing.py "$DIR" --num-id 1000 --proxy $PROXY --batches $BATCHES)
    NP_MS=$(echo "$NP_JSON" | "$PY" -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["ms_per_batch"])')
    RATIO=$("$PY" -c "print('%.1f×' % ($NP_MS / $SWIFT_MS))")
    printf '| %d | %s | %.1f | %.1f | %d | %s | %d | %s |\n' $N $PROXY "$SWIFT_MS" "$SWIFT_US" $RSS_MB "$NP_MS" $BATCHES "$RATIO"
  done
done
