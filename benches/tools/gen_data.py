#!/usr/bin/env python3
"""Generate TPC-H lineitem and orders at a scale factor, with deterministic defects, as NDJSON
and/or CSV.

    gen_data.py --sf 0.1 --out benches/data [--formats ndjson,csv]

writes <out>/sf<SF>/{orders,lineitem}/<table>.{ndjson,csv} (a format already present from
this generator version is skipped) and <out>/sf<SF>/expected.json (below).

tpchgen-cli writes Parquet; DuckDB adds the defects once (to a Parquet file, in a fixed row
order) and writes that same relation in every format, so NDJSON and CSV hold the same records
in the same order. (tpchgen-cli can write CSV itself, `tpchgen-cli csv`, but without the
defects.) NDJSON: prices are JSON numbers (DOUBLE), dates ISO strings, a missing value `null`.
CSV: `COPY ... (FORMAT csv, HEADER)`: a header line, `,`-separated, RFC 4180 quoting, a
missing value an empty field.

Every lineitem row has `l_updated_at`, an ISO 8601 UTC timestamp (`1996-03-05T01:02:03Z`):
when the source last changed the line. Defects (identical in every run, format and engine):

* about 0.1% of orders (l_orderkey % 1009 = 5) have each line broken in one way, by line
  number: % 4 = 1 quantity 0, = 2 discount 0.25, = 3 null ship date, = 0 return flag 'X';
* exact re-sends: about 0.1% of orders (l_orderkey % 997 = 3) have every line re-sent, an
  exact copy (same l_updated_at) appended at the end of the file;
* corrections: about 0.1% of orders (CORRECTED below) have every line re-sent later, appended
  at the end of the file, with l_quantity + 1, l_extendedprice scaled to it,
  l_comment 'corrected: ...' and l_updated_at 30 days NEWER: the correction must win;
* stale replays: about 0.1% of orders (STALE below) have every line re-sent later, appended
  after the corrections, with l_quantity + 2, l_extendedprice scaled to it,
  l_comment 'replayed: ...' and l_updated_at 30 days OLDER: the original must win.

So "keep the first received" loses the corrections and "keep the last received" keeps the
stale replays: only "keep the largest l_updated_at" gives the expected Silver rows.
expected.json holds, for both sets, the row count and the sums of l_quantity and
l_extendedprice that Silver lineitem must have over the set's keys (computed here from the
clean tpchgen rows, not by deduplicating the dirty file), and what "the older row wins" would
give instead; tools/suite.py checks every engine against it.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import duckdb

# Bump when the generated data changes: data of another version is generated again.
VERSION = 2
FORMATS = {"ndjson": "(FORMAT json)", "csv": "(FORMAT csv, HEADER)"}

BAD = "l_orderkey % 1009 = 5"
DUP = "l_orderkey % 997 = 3"
# The re-sent-with-changes sets never overlap each other nor the broken orders (so every
# winning row passes the rules); they do overlap the exact re-sends.
CORRECTED = "l_orderkey % 1013 = 7 AND l_orderkey % 1009 <> 5"
STALE = "l_orderkey % 1019 = 11 AND l_orderkey % 1013 <> 7 AND l_orderkey % 1009 <> 5"

LINEITEM_COLUMNS = (
    "l_orderkey, l_partkey, l_suppkey, l_linenumber, l_quantity, l_extendedprice, l_discount, "
    "l_tax, l_returnflag, l_linestatus, l_shipdate, l_commitdate, l_receiptdate, l_shipinstruct, "
    "l_shipmode, l_comment, l_updated_at"
)

# The clean rows, typed for the output: DOUBLE prices, the original version's timestamp.
CLEAN = """
SELECT l_orderkey, l_partkey, l_suppkey, l_linenumber,
       CAST(l_quantity AS DOUBLE) AS q, CAST(l_extendedprice AS DOUBLE) AS p,
       CAST(l_discount AS DOUBLE) AS l_discount, CAST(l_tax AS DOUBLE) AS l_tax,
       l_returnflag, l_linestatus, l_shipdate, l_commitdate, l_receiptdate, l_shipinstruct,
       l_shipmode, l_comment,
       CAST(l_commitdate AS TIMESTAMP) + to_seconds(CAST((l_orderkey * 7 + l_linenumber * 3601) % 86400 AS BIGINT)) AS ts,
       {bad} AS bad, file_row_number AS pos
FROM read_parquet('{src}', file_row_number = true)
"""


def version_row(part: int, qty: str, price: str, comment: str, ts: str, where: str) -> str:
    return f"""
SELECT {part} AS part, pos, l_orderkey, l_partkey, l_suppkey, l_linenumber,
       {qty} AS l_quantity, {price} AS l_extendedprice,
       CASE WHEN bad AND l_linenumber % 4 = 2 THEN 0.25 ELSE l_discount END AS l_discount,
       l_tax,
       CASE WHEN bad AND l_linenumber % 4 = 0 THEN 'X' ELSE l_returnflag END AS l_returnflag,
       l_linestatus,
       CASE WHEN bad AND l_linenumber % 4 = 3 THEN NULL ELSE l_shipdate END AS l_shipdate,
       l_commitdate, l_receiptdate, l_shipinstruct, l_shipmode, {comment} AS l_comment,
       strftime({ts}, '%Y-%m-%dT%H:%M:%SZ') AS l_updated_at
FROM clean WHERE {where}"""


def scaled(k: int) -> str:
    """l_extendedprice of a version with quantity q + k (same unit price, cents)."""
    return f"round(p / q * (q + {k}), 2)"


ORIGINAL_QTY = "CASE WHEN bad AND l_linenumber % 4 = 1 THEN 0.0 ELSE q END"
DIRTY = " UNION ALL ".join(
    [
        version_row(0, ORIGINAL_QTY, "p", "l_comment", "ts", "true"),
        version_row(1, ORIGINAL_QTY, "p", "l_comment", "ts", DUP),
        version_row(2, "q + 1", scaled(1), "'corrected: ' || l_comment", "ts + INTERVAL 30 DAY", CORRECTED),
        version_row(3, "q + 2", scaled(2), "'replayed: ' || l_comment", "ts - INTERVAL 30 DAY", STALE),
    ]
)


def expected(con) -> dict:
    """Silver lineitem over each re-sent set's keys, from the clean rows."""

    def sums(where, qty, price):
        n, sq, sp = con.execute(f"SELECT count(*), sum({qty}), sum({price}) FROM clean WHERE {where}").fetchone()
        return {"rows": n, "sum_quantity": sq, "sum_extendedprice": sp}

    out = {}
    for name, where, win, lose, prefix, marked in (
        ("corrected", CORRECTED, ("q + 1", scaled(1)), ("q", "p"), "corrected: ", True),
        ("stale_replay", STALE, ("q", "p"), ("q + 2", scaled(2)), "replayed: ", False),
    ):
        e = sums(where, *win)
        if e["rows"] == 0:
            sys.exit(f"gen_data: no {name} rows at this scale factor; the check would prove nothing")
        e["comment_prefix"] = prefix
        e["rows_with_prefix"] = e["rows"] if marked else 0
        older = sums(where, *lose)
        older["rows_with_prefix"] = e["rows"] - e["rows_with_prefix"]
        assert older["sum_quantity"] != e["sum_quantity"], name
        out[name] = {"where": where, "expected": e, "if_the_other_version_won": older}
    return out


def tpchgen(sf: float, out: str) -> None:
    exe = shutil.which("tpchgen-cli") or os.path.join(os.path.dirname(sys.executable), "tpchgen-cli")
    subprocess.run(
        [exe, "parquet", "-s", str(sf), "-T", "lineitem,orders", "--output-dir", out, "--overwrite"],
        check=True,
    )


def data_path(root: str, table: str, fmt: str) -> str:
    return os.path.join(root, table, f"{table}.{fmt}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--formats", default="ndjson,csv", help="comma-separated: ndjson, csv")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        sys.exit(f"gen_data: unknown format(s) {unknown}; expected {sorted(FORMATS)}")
    root = os.path.join(a.out, f"sf{a.sf}")
    exp_path = os.path.join(root, "expected.json")
    current = False
    if os.path.exists(exp_path):
        with open(exp_path) as f:
            current = json.load(f).get("generator_version") == VERSION
    if not current:  # data of an earlier generator: regenerate every format
        for t in ("orders", "lineitem"):
            shutil.rmtree(os.path.join(root, t), ignore_errors=True)
        if os.path.exists(exp_path):
            os.remove(exp_path)
    todo = [f for f in formats if not all(os.path.exists(data_path(root, t, f)) for t in ("orders", "lineitem"))]
    if not todo:
        print(f"data for SF {a.sf} ({', '.join(formats)}) already in {root}")
        return
    t0 = time.time()
    pq = os.path.join(root, "parquet")
    os.makedirs(pq, exist_ok=True)
    tpchgen(float(a.sf), pq)
    for t in ("orders", "lineitem"):
        os.makedirs(os.path.join(root, t), exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    con.execute("SET preserve_insertion_order = true")
    src_li = os.path.join(pq, "lineitem.parquet")
    src_o = os.path.join(pq, "orders.parquet")
    con.execute(f"CREATE VIEW clean AS {CLEAN.format(src=src_li, bad=BAD)}")
    dirty = os.path.join(pq, "lineitem_dirty.parquet")
    con.execute(f"COPY (SELECT {LINEITEM_COLUMNS} FROM ({DIRTY}) ORDER BY part, pos) TO '{dirty}' (FORMAT parquet)")
    exp = {"generator_version": VERSION, "sf": a.sf, "resent": expected(con)}
    orders_sel = f"""SELECT o_orderkey, o_custkey, o_orderstatus, CAST(o_totalprice AS DOUBLE) AS o_totalprice,
                            o_orderdate, o_orderpriority, o_clerk, o_shippriority, o_comment
                     FROM read_parquet('{src_o}')"""
    for fmt in todo:
        for t, sel in (("lineitem", f"SELECT * FROM read_parquet('{dirty}')"), ("orders", orders_sel)):
            dst = data_path(root, t, fmt)
            con.execute(f"COPY ({sel}) TO '{dst}.tmp' {FORMATS[fmt]}")
            os.replace(dst + ".tmp", dst)
    with open(exp_path + ".tmp", "w") as f:
        json.dump(exp, f, indent=2)
    os.replace(exp_path + ".tmp", exp_path)
    shutil.rmtree(pq)
    sizes = ", ".join(
        f"{fmt}: {sum(os.path.getsize(data_path(root, t, fmt)) for t in ('orders', 'lineitem')) >> 20} MiB" for fmt in todo
    )
    print(f"SF {a.sf}: {root} ({sizes}) in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
