#!/usr/bin/env python3
"""Incremental cost: a full medallion run at SF, then 1% new input files, then a second run on
the same lake. Prints what each run cost (wall, CPU, peak RSS), the second run's share of the
first's CPU (target: <= 3%), and what the second run read and wrote (its run reports).

    incremental.py --sf 1 --medallion-bin PATH [--formats ndjson,csv] [--percent 1]

The new files hold the first PERCENT% of the orders and lineitem records of the SF data with
every order key moved past the data's largest (+ 1,000,000,000): new orders and their lines,
in the data's own format, next to the originals (`incr-<percent>pct.<fmt>`; removed at the end).
Checked, independently of the engine's own report: the second run reads only the new files;
Silver gains exactly the copied lines whose copied order exists and whose original is in Silver,
each new row is such a line, the first run's rows are unchanged (count and sums), and Gold
daily_revenue matches its recomputation from Silver.
"""
import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

SHIFT = 1_000_000_000
KEY = {"orders": "o_orderkey", "lineitem": "l_orderkey"}


def write_new_records(sf_dir, table, fmt, percent):
    """Writes the first percent% of `table`'s records with shifted keys; returns (path, n,
    (key, line number) of the last record copied, unshifted)."""
    src = os.path.join(sf_dir, table, f"{table}.{fmt}")
    dst = os.path.join(sf_dir, table, f"incr-{percent}pct.{fmt}")
    with open(src, "rb") as f:
        lines = sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 24), b""))
    header = 1 if fmt == "csv" else 0
    n = (lines - header) * percent // 100
    with open(src) as f, open(dst + ".tmp", "w") as out:
        if header:
            out.write(f.readline())
        last = None
        for _ in range(n):
            line = f.readline()
            if fmt == "ndjson":
                rec = json.loads(line)
                last = (rec[KEY[table]], rec.get("l_linenumber"))
                rec[KEY[table]] += SHIFT
                out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            else:  # the key is the first field, an unquoted integer; l_linenumber the fourth
                key, rest = line.split(",", 1)
                fields = line.split(",")
                last = (int(key), int(fields[3]) if table == "lineitem" else None)
                out.write(f"{int(key) + SHIFT},{rest}")
    os.replace(dst + ".tmp", dst)
    return dst, n, last


def gold_matches_silver(a):
    """Both Gold tables recomputed from Silver equal the tables (after the second run, which
    refreshes them from their kept partials)."""
    daily = """SELECT count(*) AS n FROM gold.daily_revenue g FULL OUTER JOIN (
             SELECT o_orderdate AS day, sum(l_extendedprice * (1 - l_discount)) AS revenue, count(*) AS lines
             FROM silver.lineitem GROUP BY o_orderdate) s ON g.day = s.day
           WHERE g.day IS NULL OR s.day IS NULL
              OR abs(g.revenue - s.revenue) > 1e-6 * abs(s.revenue) OR g.lines <> s.lines"""
    close = " OR ".join(f"abs(g.{c} - s.{c}) > 1e-6 * abs(s.{c})" for c in (
        "sum_qty", "sum_base_price", "sum_disc_price", "sum_charge", "avg_qty", "avg_price", "avg_disc"))
    q1 = f"""SELECT count(*) AS n FROM gold.q1_pricing_summary g FULL OUTER JOIN (
             SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
                    sum(l_extendedprice) AS sum_base_price,
                    sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
                    sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
                    avg(l_quantity) AS avg_qty, avg(l_extendedprice) AS avg_price,
                    avg(l_discount) AS avg_disc, count(*) AS count_order
             FROM silver.lineitem WHERE l_shipdate <= DATE '1998-09-02'
             GROUP BY l_returnflag, l_linestatus) s
             ON g.l_returnflag = s.l_returnflag AND g.l_linestatus = s.l_linestatus
           WHERE g.l_returnflag IS NULL OR s.l_returnflag IS NULL OR g.count_order <> s.count_order OR {close}"""
    return all(suite.medallion_sql(a, q)[0]["n"] == 0 for q in (daily, q1))


def old_rows_digest(a):
    """Count and sums of the Silver lineitem rows of the first run's keys."""
    return suite.medallion_sql(a, f"""SELECT count(*) AS n, sum(l_quantity) AS q,
        sum(l_extendedprice) AS p, sum(l_orderkey * 7 + l_linenumber) AS k
        FROM silver.lineitem WHERE l_orderkey < {SHIFT}""")[0]


def summary(rep):
    b, s = rep["bronze"], rep.get("silver") or {}
    return {
        "pipeline": rep["pipeline"],
        "bronze_files_matched": b["files_matched"],
        "bronze_files_skipped": b["files_skipped"],
        "bronze_files_read": len(b["files_ingested"]),
        "bronze_bytes_read": b["bytes_read"],
        "bronze_rows_written": b["rows_written"],
        "silver_rows_read": s.get("rows_read"),
        "silver_rows_written": s.get("rows_written"),
        "gold_refreshed": [g["table"] for g in rep["gold"] if g["refreshed"]],
        "gold_modes": {g["table"]: f"{g.get('mode')}: {g.get('reason')}" for g in rep["gold"] if g["refreshed"]},
        "duration_ms": rep["duration_ms"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", required=True)
    ap.add_argument("--medallion-bin", required=True)
    ap.add_argument("--formats", default="ndjson")
    ap.add_argument("--percent", type=int, default=1)
    ap.add_argument(
        "--memory-limit",
        type=int,
        default=int(os.environ["BENCH_MEMORY_LIMIT_MIB"]) if os.environ.get("BENCH_MEMORY_LIMIT_MIB") else None,
        help="medallion's --memory-limit for both runs (default: the engine's own)",
    )
    a = ap.parse_args()
    sf_dir = os.path.join(suite.BENCHES, "data", f"sf{a.sf}")
    if not os.path.exists(os.path.join(sf_dir, "expected.json")):
        sys.exit(f"incremental: no data in {sf_dir}; run benches/bench.sh data {a.sf} first")
    if os.path.islink(suite.INPUT) or os.path.exists(suite.INPUT):
        os.remove(suite.INPUT)
    os.symlink(f"sf{a.sf}", suite.INPUT)
    results = {}
    for fmt in [f for f in a.formats.split(",") if f]:
        added = []
        try:
            shutil.rmtree(os.path.join(suite.BENCHES, "data", "lake"), ignore_errors=True)
            suite.warm([os.path.join(sf_dir, t, f"{t}.{fmt}") for t in ("orders", "lineitem")])
            print(f"full run ({fmt}, SF {a.sf}) ...", file=sys.stderr, flush=True)
            full, _, _ = suite.medallion_jobs(a, fmt)
            before = suite.medallion_sql(a, "SELECT count(*) AS n FROM silver.lineitem")[0]["n"]
            old_sums = old_rows_digest(a)
            new, last = {}, {}
            for t in ("orders", "lineitem"):
                path, n, last[t] = write_new_records(sf_dir, t, fmt, a.percent)
                added.append(path)
                new[t] = n
            suite.warm(added)
            print(f"second run (+{a.percent}%: {new}) ...", file=sys.stderr, flush=True)
            second, stages, reports = suite.medallion_jobs(a, fmt)
            after = suite.medallion_sql(a, "SELECT count(*) AS n FROM silver.lineitem")[0]["n"]
            gained = after - before
            # Independent of the engine's report: the copied lines (the file is in key order)
            # whose copied order exists, and that are in Silver after the first run (a line
            # passes the rules in the copy iff it did in the original; re-sent versions are
            # at the end of the file, not copied, and keep their key in Silver).
            (kmax, lmax), (omax, _) = last["lineitem"], last["orders"]
            expected_new = suite.medallion_sql(a, f"""SELECT count(*) AS n FROM silver.lineitem
                WHERE l_orderkey < {SHIFT} AND l_orderkey <= {omax}
                  AND (l_orderkey < {kmax} OR (l_orderkey = {kmax} AND l_linenumber <= {lmax}))""")[0]["n"]
            unmatched = suite.medallion_sql(a, f"""SELECT count(*) AS n FROM silver.lineitem n
                LEFT JOIN silver.lineitem o
                  ON o.l_orderkey = n.l_orderkey - {SHIFT} AND o.l_linenumber = n.l_linenumber
                WHERE n.l_orderkey >= {SHIFT} AND o.l_orderkey IS NULL""")[0]["n"]
            incr = [f"incr-{a.percent}pct.{fmt}"]
            checks = {
                "first_run_rows_untouched": old_rows_digest(a) == old_sums,
                "silver_gained_exactly_the_new_lines": gained == expected_new and gained > 0,
                "every_new_row_is_a_copied_line": unmatched == 0,
                "read_only_the_new_files": all(
                    [os.path.basename(f) for f in r["bronze"]["files_ingested"]] == incr for r in reports),
                "gold_matches_silver": gold_matches_silver(a),
            }
            results[fmt] = {
                "new_records": new,
                "full": full,
                "second": second,
                "second_stages": stages,
                "cpu_share": second["cpu_s"] / full["cpu_s"],
                "wall_share": second["wall_s"] / full["wall_s"],
                "silver_rows": {"before": before, "after": after},
                "second_run_reports": [summary(r) for r in reports],
                "checks": checks,
            }
        finally:
            for p in added:
                os.remove(p)
    print(json.dumps(results, indent=2))
    os.makedirs(os.path.join(suite.BENCHES, "results"), exist_ok=True)
    out = os.path.join(suite.BENCHES, "results", f"incremental-sf{a.sf}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    for fmt, r in results.items():
        ok = all(r["checks"].values())
        target = "met" if r["cpu_share"] <= 0.03 else "NOT met"
        print(f"{fmt}: second run (+{a.percent}% input) {r['second']['cpu_s']:.2f} CPU-s = "
              f"{100 * r['cpu_share']:.1f}% of the full run's {r['full']['cpu_s']:.2f} (target <= 3%: {target}); wall "
              f"{r['second']['wall_s']:.2f} s ({100 * r['wall_share']:.1f}%); checks {'OK' if ok else r['checks']}",
              file=sys.stderr)
        if not ok:
            sys.exit(1)
    print(f"incremental: results in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
