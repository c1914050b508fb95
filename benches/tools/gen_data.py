#!/usr/bin/env python3
"""Generate TPC-H lineitem and orders at a scale factor and convert them to NDJSON.

    gen_data.py --sf 0.1 --out benches/data

writes <out>/sf<SF>/{orders,lineitem}/<table>.ndjson (skipped when present).

tpchgen-cli writes Parquet; DuckDB converts it to NDJSON. Prices become JSON numbers
(DOUBLE), dates ISO strings. So that quality rules and dedupe have work to do, lineitem gets
deterministic defects (identical in every run and for every engine):

* about 0.1% of orders (l_orderkey % 1009 = 5) have each line broken in one way, by line
  number: % 4 = 1 quantity 0, = 2 discount 0.25, = 3 null ship date, = 0 return flag 'X';
* about 0.1% of orders (l_orderkey % 997 = 3) have every line re-sent: an exact copy of the
  line is appended at the end of the file (so "keep the latest" and "keep any" agree).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import duckdb

LINEITEM_SELECT = """
SELECT l_orderkey, l_partkey, l_suppkey, l_linenumber,
       CASE WHEN bad AND l_linenumber % 4 = 1 THEN 0.0 ELSE CAST(l_quantity AS DOUBLE) END AS l_quantity,
       CAST(l_extendedprice AS DOUBLE) AS l_extendedprice,
       CASE WHEN bad AND l_linenumber % 4 = 2 THEN 0.25 ELSE CAST(l_discount AS DOUBLE) END AS l_discount,
       CAST(l_tax AS DOUBLE) AS l_tax,
       CASE WHEN bad AND l_linenumber % 4 = 0 THEN 'X' ELSE l_returnflag END AS l_returnflag,
       l_linestatus,
       CASE WHEN bad AND l_linenumber % 4 = 3 THEN NULL ELSE l_shipdate END AS l_shipdate,
       l_commitdate, l_receiptdate, l_shipinstruct, l_shipmode, l_comment
FROM (SELECT *, l_orderkey % 1009 = 5 AS bad FROM read_parquet('{src}'))
"""


def tpchgen(sf: float, out: str) -> None:
    exe = shutil.which("tpchgen-cli") or os.path.join(os.path.dirname(sys.executable), "tpchgen-cli")
    subprocess.run(
        [exe, "parquet", "-s", str(sf), "-T", "lineitem,orders", "--output-dir", out, "--overwrite"],
        check=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    root = os.path.join(a.out, f"sf{a.sf}")
    li = os.path.join(root, "lineitem", "lineitem.ndjson")
    od = os.path.join(root, "orders", "orders.ndjson")
    if os.path.exists(li) and os.path.exists(od):
        print(f"data for SF {a.sf} already in {root}")
        return
    t = time.time()
    pq = os.path.join(root, "parquet")
    os.makedirs(pq, exist_ok=True)
    tpchgen(float(a.sf), pq)
    os.makedirs(os.path.dirname(li), exist_ok=True)
    os.makedirs(os.path.dirname(od), exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    con.execute("SET preserve_insertion_order = true")
    src_li = os.path.join(pq, "lineitem.parquet")
    src_o = os.path.join(pq, "orders.parquet")
    sel = LINEITEM_SELECT.format(src=src_li)
    con.execute(
        f"COPY (SELECT * FROM ({sel}) UNION ALL SELECT * FROM ({sel}) WHERE l_orderkey % 997 = 3) "
        f"TO '{li}.tmp' (FORMAT json)"
    )
    con.execute(
        f"""COPY (SELECT o_orderkey, o_custkey, o_orderstatus, CAST(o_totalprice AS DOUBLE) AS o_totalprice,
                   o_orderdate, o_orderpriority, o_clerk, o_shippriority, o_comment
             FROM read_parquet('{src_o}')) TO '{od}.tmp' (FORMAT json)"""
    )
    os.replace(li + ".tmp", li)
    os.replace(od + ".tmp", od)
    shutil.rmtree(pq)
    print(f"SF {a.sf}: {li} ({os.path.getsize(li) >> 20} MiB), {od} ({os.path.getsize(od) >> 20} MiB) in {time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
