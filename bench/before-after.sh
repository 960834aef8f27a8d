#!/usr/bin/env bash
# The same scoring and report work timed with two adaneg binaries in one run, alternating which
# goes first in each round, so that outside load falls on both alike: the check that a
# refactoring (issue 12's) left these paths within noise. Also checks that both binaries give
# the same scores and the same metrics.
#
#   bash bench/before-after.sh OLD_ADANEG NEW_ADANEG [ROUNDS]      (default 3 rounds)
#
# Scoring: `score-features --timing --proxy task` at ImageNet shape (C = 1,000, M = 10,000,
# D = 512, B = 256), 2,560 samples, ms per batch as the command reports it. Report: a job of
# 300,000 results (bench/report.sh's), run once through each binary's own `adaneg run`; both
# binaries' `report --format json` and `--format html` are then timed by wall clock on the same
# database (NEW_ADANEG's run), since two databases written by two runs differ in page layout and
# that alone moved the HTML time by 15%. Each binary's report of its own run gives the metrics
# compared at the end. Both data sets are written by NEW_ADANEG's `synthesize`.
set -euo pipefail
OLD=${1:?usage: before-after.sh OLD_ADANEG NEW_ADANEG [ROUNDS]}
NEW=${2:?usage: before-after.sh OLD_ADANEG NEW_ADANEG [ROUNDS]}
ROUNDS=${3:-3}
WORK=${WORK:-/tmp/adaneg-before-after}
mkdir -p "$WORK"
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

"$NEW" synthesize --out "$WORK/score" --classes 1000 --negatives 10000 --dim 512 \
  --id-samples 1280 --ood-samples 1280 --kind uncovered --seed 1 >/dev/null
[ -f "$WORK/report/id.npy" ] || "$NEW" synthesize --out "$WORK/report" --layout job --classes 100 --negatives 1000 --dim 64 \
  --id-samples 75000 --ood-samples 25000 --seed 1 >/dev/null
cp "$(dirname "$0")/report-job.yaml" "$WORK/report/job.yaml"
for side in old new; do
  bin=$OLD; [ $side = new ] && bin=$NEW
  rm -f "$WORK/$side.sqlite" "$WORK/$side.sqlite-wal" "$WORK/$side.sqlite-shm"
  "$bin" run "$WORK/report/job.yaml" --workers 2 --db "$WORK/$side.sqlite" >/dev/null 2>&1 || { echo "run with $bin failed" >&2; exit 1; }
done

printf 'round\tside\tscore_ms_per_batch\treport_json_ms\treport_html_ms\n' >"$WORK/times.tsv"
for round in $(seq 1 "$ROUNDS"); do
  order="old new"; [ $((round % 2)) = 0 ] && order="new old"
  for side in $order; do
    bin=$OLD; [ $side = new ] && bin=$NEW
    "$bin" score-features --image-features "$WORK/score/image.npy" --text-features "$WORK/score/text.npy" --num-id 1000 \
      --out "$WORK/scores-$side.csv" --proxy task --timing 2>"$WORK/timing" >/dev/null
    score=$(sed -n 's/.* \([0-9.]*\) ms\/batch.*/\1/p' "$WORK/timing")
    t=$(ms_now); "$bin" report --db "$WORK/new.sqlite" report-bench --format json --out "$WORK/timed-$side.json" >/dev/null; json=$(( $(ms_now) - t ))
    t=$(ms_now); "$bin" report --db "$WORK/new.sqlite" report-bench --format html --out "$WORK/timed-$side.html" >/dev/null; html=$(( $(ms_now) - t ))
    printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$side" "$score" "$json" "$html" >>"$WORK/times.tsv"
  done
done

"$OLD" report --db "$WORK/old.sqlite" report-bench --format json --out "$WORK/report-old.json" >/dev/null
"$NEW" report --db "$WORK/new.sqlite" report-bench --format json --out "$WORK/report-new.json" >/dev/null

python3 - "$WORK" <<'PY'
import csv, json, statistics, sys
work = sys.argv[1]
rows = list(csv.DictReader(open(f"{work}/times.tsv"), delimiter="\t"))
def med(side, key):
    return statistics.median(float(r[key]) for r in rows if r["side"] == side)
def ratio_per_round(key):
    rounds = sorted({r["round"] for r in rows})
    per = [float(next(r[key] for r in rows if r["round"] == k and r["side"] == "old")) /
           float(next(r[key] for r in rows if r["round"] == k and r["side"] == "new")) for k in rounds]
    return statistics.median(per), min(per), max(per)
print(f"{len({r['round'] for r in rows})} alternating rounds")
print("| measurement | before (median) | after (median) | before/after, median of rounds (min–max) |")
print("|---|---|---|---|")
for key, label, unit in [("score_ms_per_batch", "score-features, task proxy, ms/batch", "ms"),
                         ("report_json_ms", "report --format json, 300,000 results", "ms"),
                         ("report_html_ms", "report --format html, 300,000 results", "ms")]:
    m, lo, hi = ratio_per_round(key)
    print(f"| {label} | {med('old', key):.1f} {unit} | {med('new', key):.1f} {unit} | {m:.2f}x ({lo:.2f}–{hi:.2f}) |")
# Same results: identical score files, identical metrics.
a, b = open(f"{work}/scores-old.csv").read(), open(f"{work}/scores-new.csv").read()
print("scores identical:", a == b)
def metrics(path):
    r = json.load(open(path))
    return {s["name"]: s.get("metrics") for s in r["sets"] + [r["average"]]}
ma, mb = metrics(f"{work}/report-old.json"), metrics(f"{work}/report-new.json")
worst = 0.0
for name in ma:
    for method in ("mcm", "neglabel", "adaneg"):
        for k in ("auroc", "fpr95"):
            worst = max(worst, abs(ma[name][method][k] - mb[name][method][k]))
print(f"largest metric difference between the two runs (AUROC/FPR95 of every set and method, fraction): {worst:.3g}")
ta, tb = metrics(f"{work}/timed-old.json"), metrics(f"{work}/timed-new.json")
print("same database, same metrics from both binaries:", ta == tb)
PY
