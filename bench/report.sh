#!/usr/bin/env bash
# `adaneg report` on a job with 300,000 stored results (target: ≤ 3 s; HTML ≤ 2 MB).
# Synthetic features (C = 100, M = 1,000, D = 64): 75,000 ID samples and three OOD sets of
# 25,000, so three tasks of 100,000 samples each, run once through `adaneg run`, then each
# output format timed. Release build (10+ minutes the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build-release}
WORK=${WORK:-/tmp/adaneg-report-bench}
swift build -c release --scratch-path "$SCRATCH" --product adaneg >/dev/null
ADANEG="$SCRATCH/release/adaneg"
mkdir -p "$WORK"
if [ ! -f "$WORK/run.sqlite" ]; then
  "$ADANEG" synthesize --out "$WORK" --layout job --classes 100 --negatives 1000 --dim 64 \
    --id-samples 75000 --ood-samples 25000 --seed 1 >/dev/null
  cp "$(dirname "$0")/report-job.yaml" "$WORK/job.yaml"
  "$ADANEG" run "$WORK/job.yaml" --workers 2 --db "$WORK/run.sqlite" >/dev/null 2>&1
fi
echo "| format | seconds | output bytes |"
echo "|---|---|---|"
for format in table json csv md html; do
  start=$(date +%s%N)
  "$ADANEG" report --db "$WORK/run.sqlite" report-bench --format "$format" --out "$WORK/report.$format" >/dev/null
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf '| %s | %d.%03d | %s |\n' "$format" $((ms / 1000)) $((ms % 1000)) "$(stat -c %s "$WORK/report.$format")"
done
start=$(date +%s%N)
"$ADANEG" report --db "$WORK/run.sqlite" report-bench --format html --compare-sequential --out "$WORK/report-compare.html" >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf '| html --compare-sequential | %d.%03d | %s |\n' $((ms / 1000)) $((ms % 1000)) "$(stat -c %s "$WORK/report-compare.html")"
