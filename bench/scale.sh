#!/usr/bin/env bash
# Scale simulation (issue 7): 64 simulated workers (no-op embedder, the real HTTP protocol of
# `adaneg worker`: lease, plan, bank pull, a bank push+pull per batch, heartbeats, completion)
# against one coordinator for a 1,000,000-sample features job (4 tasks: an ID set of 200,000
# shared by four OOD sets of 50,000; units of 8 × 256; sync after every batch; D = 512, 16
# bank entries pushed per batch). Sources/AdaNegBench/Scale.swift.
#
# Reports lease / bank-sync / heartbeat / completion latency percentiles (client side, round
# trip), throughput, the coordinator's CPU (getrusage of its process; the clients run in a
# child process) and peak RSS, and the database's size per sample after a WAL checkpoint; then
# checks one result per sample and PRAGMA integrity_check (scripts/common/dbcheck.py).
#
#   bash bench/scale.sh [AdaNegBench scale options: --samples N --workers N --dim D --entries K
#                        --batch-ms MS --unit-batches N --lease S]
#
# Release build (a first one takes 10+ minutes): SCRATCH=.build-release by default;
# BENCH=/path/to/AdaNegBench skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build-release}
if [ -z "${BENCH:-}" ]; then
  swift build -c release --scratch-path "$SCRATCH" --product AdaNegBench >/dev/null
  BENCH="$SCRATCH/release/AdaNegBench"
fi
OUT=$(mktemp -d /tmp/adaneg-scale.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
DB="$OUT/scale.sqlite"
"$BENCH" scale --samples 1000000 --workers 64 --dim 512 --entries 16 "$@" --db "$DB" | tee "$OUT/scale.log"
python3 - "$DB" <<'EOF'
import os, sqlite3, sys
db = sys.argv[1]
before = sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s))
con = sqlite3.connect(db)
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
samples = con.execute("SELECT sum(sample_count) FROM tasks").fetchone()[0]
page = con.execute("PRAGMA page_size").fetchone()[0]
pages = con.execute("PRAGMA page_count").fetchone()[0]
free = con.execute("PRAGMA freelist_count").fetchone()[0]
con.close()
size = os.path.getsize(db)
print(f"database: {size / 1e6:.1f} MB after checkpoint ({before / 1e6:.1f} MB with the WAL before), "
      f"{size / samples:.1f} bytes per sample ({(pages - free) * page / samples:.1f} in used pages) for {samples} samples")
counts = {t: con2.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for con2 in [sqlite3.connect(db)]
          for t in ("samples", "results", "units", "bank_entries")}
print("rows: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
EOF
python3 scripts/common/dbcheck.py check --db "$DB" --job scale | python3 -c "import json,sys; d=json.load(sys.stdin); print('check: lost %d, duplicates %d, integrity %s, problems %s' % (d['lost'], d['duplicates'], d['integrity_check'], d['problems'] or 'none'))"
