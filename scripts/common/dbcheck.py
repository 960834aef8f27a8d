#!/usr/bin/env python3
"""Checks on an adaneg coordinator database, for the hardening scripts (stdlib only).

  dbcheck.py check --db F --job NAME [--json OUT]    one result per sample, all units done, integrity
  dbcheck.py progress --db F --job NAME              "done total leased pending failed" (read-only)
  dbcheck.py leased-by --db F --worker W             unit ids the worker holds (read-only)
  dbcheck.py unit --db F --unit U                    "state owner" of a unit (read-only)
  dbcheck.py compare --baseline A.json --run B.json [--auroc 0.2] [--fpr95 1.0]
                                                     metrics of two `adaneg report --format json`
  dbcheck.py same-scores --db A --other B --job NAME [--exact]
                                                     per-sample MCM and NegLabel equal (--exact:
                                                     AdaNeg's score and the prediction as well)
  dbcheck.py dump --db F                             row count and SHA-256 of every stored table
  dbcheck.py only-unit --db F --job NAME --unit U --worker W
                                                     of the job, only unit U is done (by W), and it
                                                     holds pred 0 and scores 0.5 (hostile.py --leased)

Exit status 0 when the check holds, 1 when it does not, 2 on usage errors.
"""
import argparse
import hashlib
import json
import math
import sqlite3
import sys


def connect(path, readonly=False):
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    else:
        con = sqlite3.connect(path, timeout=10)
    con.execute("PRAGMA busy_timeout = 10000")
    return con


def job_id(con, name):
    row = con.execute("SELECT id FROM jobs WHERE name = ?", (name,)).fetchone()
    if row is None:
        print(f"no job named {name!r}", file=sys.stderr)
        sys.exit(1)
    return row[0]


def unit_counts(con, job):
    counts = {"done": 0, "leased": 0, "pending": 0, "failed": 0}
    for state, n in con.execute(
        "SELECT u.state, count(*) FROM units u JOIN tasks t ON t.id = u.task_id WHERE t.job_id = ? GROUP BY u.state",
        (job,),
    ):
        counts[state] = n
    return counts


def cmd_check(args):
    con = connect(args.db)
    job = job_id(con, args.job)
    q = lambda sql, *p: con.execute(sql, p).fetchone()[0]
    samples_planned = q("SELECT coalesce(sum(sample_count), 0) FROM tasks WHERE job_id = ?", job)
    sample_rows = q("SELECT count(*) FROM samples s JOIN tasks t ON t.id = s.task_id WHERE t.job_id = ?", job)
    results = q("SELECT count(*) FROM results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ?", job)
    distinct = q(
        "SELECT count(*) FROM (SELECT DISTINCT r.task_id, r.position FROM results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ?)",
        job,
    )
    lost = q(
        """SELECT count(*) FROM samples s JOIN tasks t ON t.id = s.task_id
           LEFT JOIN results r ON r.task_id = s.task_id AND r.position = s.position
           WHERE t.job_id = ? AND r.position IS NULL""",
        job,
    )
    orphans = q(
        """SELECT count(*) FROM results r JOIN tasks t ON t.id = r.task_id
           LEFT JOIN samples s ON s.task_id = r.task_id AND s.position = r.position
           WHERE t.job_id = ? AND s.position IS NULL""",
        job,
    )
    errored = q(
        "SELECT count(*) FROM results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ? AND (r.error IS NOT NULL OR r.pred IS NULL)",
        job,
    )
    # Every unit's results cover exactly its own slice of the stream.
    bad_units = q(
        """SELECT count(*) FROM units u JOIN tasks t ON t.id = u.task_id
           WHERE t.job_id = ? AND u.sample_count != (SELECT count(*) FROM results r
                 WHERE r.task_id = u.task_id AND r.position >= u.first_sample AND r.position < u.first_sample + u.sample_count)""",
        job,
    )
    counts = unit_counts(con, job)
    total_units = sum(counts.values())
    # Accepted completions: each one adds 1 to its worker's units_done. More than one per unit
    # would be a double-counted (duplicate) completion.
    accepted = q("SELECT coalesce(sum(units_done), 0) FROM workers")
    all_units = q("SELECT count(*) FROM units WHERE state = 'done'")
    integrity = con.execute("PRAGMA integrity_check").fetchall()
    integrity = "ok" if integrity == [("ok",)] else "; ".join(r[0] for r in integrity[:5])
    out = {
        "job": args.job,
        "samples": samples_planned,
        "sample_rows": sample_rows,
        "results": results,
        "lost": lost,
        "duplicates": (results - distinct) + max(0, accepted - all_units),
        "duplicate_results": results - distinct,
        "accepted_completions": accepted,
        "done_units_all_jobs": all_units,
        "orphan_results": orphans,
        "errored": errored,
        "units": counts,
        "units_total": total_units,
        "units_with_wrong_result_count": bad_units,
        "integrity_check": integrity,
    }
    problems = []
    if sample_rows != samples_planned:
        problems.append(f"{sample_rows} sample rows for {samples_planned} planned samples")
    if lost:
        problems.append(f"{lost} samples have no result")
    if out["duplicates"]:
        problems.append(f"{out['duplicates']} duplicates ({results - distinct} results, {accepted - all_units} completions)")
    if orphans:
        problems.append(f"{orphans} results belong to no sample")
    if errored and not args.allow_errors:
        problems.append(f"{errored} results are errors")
    if counts["done"] != total_units:
        problems.append(f"units not all done: {counts}")
    if bad_units:
        problems.append(f"{bad_units} units whose result count differs from their size")
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    out["problems"] = problems
    text = json.dumps(out, indent=2, sort_keys=True)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text)
    return 1 if problems else 0


def cmd_progress(args):
    con = connect(args.db, readonly=True)
    row = con.execute("SELECT id FROM jobs WHERE name = ?", (args.job,)).fetchone()
    if row is None:
        print("0 0 0 0 0")
        return 0
    c = unit_counts(con, row[0])
    print(c["done"], sum(c.values()), c["leased"], c["pending"], c["failed"])
    return 0


def cmd_leased_by(args):
    con = connect(args.db, readonly=True)
    for (unit,) in con.execute("SELECT id FROM units WHERE state = 'leased' AND lease_owner = ? ORDER BY id", (args.worker,)):
        print(unit)
    return 0


def cmd_unit(args):
    con = connect(args.db, readonly=True)
    row = con.execute("SELECT state, coalesce(lease_owner, '-') FROM units WHERE id = ?", (args.unit,)).fetchone()
    print(*(row or ("missing", "-")))
    return 0


def metric_table(report):
    table = {}
    for s in report["sets"] + [report["average"]]:
        table[s["name"]] = s.get("metrics") or {}
    return table


def cmd_compare(args):
    with open(args.baseline) as f:
        base = json.load(f)
    with open(args.run) as f:
        run = json.load(f)
    a, b = metric_table(base), metric_table(run)
    problems, rows = [], []
    worst_auroc = worst_fpr = 0.0
    for name in a:
        if name not in b:
            problems.append(f"set {name} missing from the run")
            continue
        for method in ("mcm", "neglabel", "adaneg"):
            ma, mb = a[name].get(method), b[name].get(method)
            if not ma or not mb:
                problems.append(f"{name}/{method}: no metrics")
                continue
            d_auroc = 100 * abs(ma["auroc"] - mb["auroc"])
            d_fpr = 100 * abs(ma["fpr95"] - mb["fpr95"])
            rows.append({"set": name, "method": method, "d_auroc": d_auroc, "d_fpr95": d_fpr,
                         "auroc": 100 * mb["auroc"], "fpr95": 100 * mb["fpr95"]})
            if method == "adaneg":
                worst_auroc, worst_fpr = max(worst_auroc, d_auroc), max(worst_fpr, d_fpr)
                if d_auroc > args.auroc or d_fpr > args.fpr95:
                    problems.append(f"{name}/adaneg: |dAUROC| {d_auroc:.3f} pt, |dFPR95| {d_fpr:.3f} pt "
                                    f"(tolerance {args.auroc} / {args.fpr95})")
            elif d_auroc > 1e-6 or d_fpr > 1e-6:
                # MCM and NegLabel do not depend on the memory bank: they must not move at all.
                problems.append(f"{name}/{method} changed: |dAUROC| {d_auroc:.6f} pt, |dFPR95| {d_fpr:.6f} pt")
    out = {"worst_adaneg_d_auroc": worst_auroc, "worst_adaneg_d_fpr95": worst_fpr, "rows": rows, "problems": problems}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    for r in rows:
        if r["method"] == "adaneg":
            print(f"  {r['set']:<10} AdaNeg AUROC {r['auroc']:.2f} (|d| {r['d_auroc']:.3f} pt)  "
                  f"FPR95 {r['fpr95']:.2f} (|d| {r['d_fpr95']:.3f} pt)")
    for p in problems:
        print("  PROBLEM: " + p)
    return 1 if problems else 0


def cmd_same_scores(args):
    """Per-sample outputs that do not depend on the memory bank (MCM and NegLabel) must be
    identical between two runs of the same job: a corrupted or misplaced result shows here.
    (The prediction and AdaNeg's score use the bank, which differs with the interleaving.)"""
    def load(path):
        con = connect(path)
        job = job_id(con, args.job)
        return {
            (o, p): (mcm, vanilla, conf, pred)
            for o, p, mcm, vanilla, conf, pred in con.execute(
                """SELECT t.ood_index, r.position, r.mcm, r.conf_vanilla, r.conf, r.pred
                   FROM results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ?""",
                (job,),
            )
        }
    a, b = load(args.db), load(args.other)
    if a.keys() != b.keys():
        print(f"different samples: {len(a)} vs {len(b)}")
        return 1
    bad = 0
    width = 4 if args.exact else 2
    for k, row in a.items():
        for x, y in zip(row[:width], b[k][:width]):
            if x is None or y is None or isinstance(x, int):
                same = x == y
            else:
                same = math.isclose(x, y, rel_tol=0, abs_tol=1e-6)
            if not same:
                bad += 1
                break
    what = "MCM, NegLabel, AdaNeg or the prediction" if args.exact else "MCM or NegLabel"
    print(f"{len(a)} samples compared, {bad} differ in {what}")
    return 1 if bad else 0


# Every table but `workers` (last-seen times change on any request) and `schema_version`.
DUMP_TABLES = {
    "jobs": "SELECT id, name, spec_yaml, plan_json, created_at FROM jobs ORDER BY id",
    "tasks": "SELECT * FROM tasks ORDER BY id",
    "samples": "SELECT * FROM samples ORDER BY task_id, position",
    "items": "SELECT * FROM items ORDER BY job_id, set_index, item_index",
    "features": "SELECT model, ref, hex(vector), error FROM features ORDER BY model, ref",
    "units": "SELECT * FROM units ORDER BY id",
    "results": "SELECT * FROM results ORDER BY task_id, position",
    "bank_entries": "SELECT * FROM bank_entries ORDER BY task_id, position",
    # Sweeps (schema 5-7): a refused sweep request stores nothing.
    "sweeps": "SELECT * FROM sweeps ORDER BY id",
    "sweep_units": "SELECT * FROM sweep_units ORDER BY id",
    "sweep_sets": "SELECT * FROM sweep_sets ORDER BY job_id, point, task_id",
    "sweep_points": "SELECT * FROM sweep_points ORDER BY job_id, point",
}


def cmd_dump(args):
    con = connect(args.db, readonly=args.readonly)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    out = {}
    for table, sql in DUMP_TABLES.items():
        if table not in names:
            continue
        h = hashlib.sha256()
        n = 0
        for row in con.execute(sql):
            h.update(repr(row).encode())
            n += 1
        out[table] = {"rows": n, "sha256": h.hexdigest()}
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def cmd_only_unit(args):
    """After hostile.py --leased: what reached the store is its one valid completion, nothing
    of the out-of-range ones before it."""
    con = connect(args.db, readonly=True)
    job = job_id(con, args.job)
    row = con.execute("SELECT u.task_id, u.first_sample, u.sample_count, u.state, u.completed_by FROM units u "
                      "JOIN tasks t ON t.id = u.task_id WHERE u.id = ? AND t.job_id = ?", (args.unit, job)).fetchone()
    if row is None:
        print(f"unit {args.unit} is not a unit of {args.job}")
        return 1
    task, first, count, state, by = row
    if (state, by) != ("done", args.worker):
        print(f"unit {args.unit} is {state} by {by}, expected done by {args.worker}")
        return 1
    stored = con.execute("SELECT pred, pred_static, conf, conf_vanilla, mcm, adaptive, error FROM results "
                         "WHERE task_id = ? AND position >= ? AND position < ?", (task, first, first + count)).fetchall()
    if len(stored) != count or any(r != (0, 0, 0.5, 0.5, 0.5, 0.5, None) for r in stored):
        print(f"unit {args.unit}: {len(stored)} stored rows of {count}, not all the valid completion's values: {stored[:2]}")
        return 1
    total = con.execute("SELECT count(*) FROM results r JOIN tasks t ON t.id = r.task_id WHERE t.job_id = ?", (job,)).fetchone()[0]
    c = unit_counts(con, job)
    if total != count or c["done"] != 1 or c["failed"]:
        print(f"{args.job} has {total - count} result rows outside unit {args.unit}, {c['done']} done and {c['failed']} failed units")
        return 1
    print(f"ok: unit {args.unit} holds exactly the valid completion ({count} rows); nothing else of {args.job} is stored")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--db", required=True)
    c.add_argument("--job", required=True)
    c.add_argument("--json")
    c.add_argument("--allow-errors", action="store_true")
    c = sub.add_parser("progress")
    c.add_argument("--db", required=True)
    c.add_argument("--job", required=True)
    c = sub.add_parser("leased-by")
    c.add_argument("--db", required=True)
    c.add_argument("--worker", required=True)
    c = sub.add_parser("unit")
    c.add_argument("--db", required=True)
    c.add_argument("--unit", required=True, type=int)
    c = sub.add_parser("compare")
    c.add_argument("--baseline", required=True)
    c.add_argument("--run", required=True)
    c.add_argument("--auroc", type=float, default=0.2, help="tolerance in AUROC points")
    c.add_argument("--fpr95", type=float, default=1.0, help="tolerance in FPR95 points")
    c.add_argument("--json")
    c = sub.add_parser("same-scores")
    c.add_argument("--db", required=True)
    c.add_argument("--other", required=True)
    c.add_argument("--job", required=True)
    c.add_argument("--exact", action="store_true")
    c = sub.add_parser("dump")
    c.add_argument("--db", required=True)
    c.add_argument("--readonly", action="store_true")
    c = sub.add_parser("only-unit")
    c.add_argument("--db", required=True)
    c.add_argument("--job", required=True)
    c.add_argument("--unit", required=True, type=int)
    c.add_argument("--worker", required=True)
    args = p.parse_args()
    handler = {"only-unit": cmd_only_unit, "check": cmd_check, "progress": cmd_progress, "leased-by": cmd_leased_by, "unit": cmd_unit,
               "compare": cmd_compare, "same-scores": cmd_same_scores, "dump": cmd_dump}[args.cmd]
    try:
        sys.exit(handler(args))
    except sqlite3.Error as e:
        print(f"sqlite: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
