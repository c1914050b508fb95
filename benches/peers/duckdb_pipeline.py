#!/usr/bin/env python3
"""The benchmark pipeline in DuckDB: SQL over files, COPY ... TO Parquet at every stage.

Input: NDJSON through read_json_auto, CSV through read_csv (header and types auto-detected,
as users call them)."""
import os

import duckdb

from common import DEDUPE_KEYS, GOLD, LATEST_BY, Stages, args, files, gold_sql

a = args()
st = Stages()
con = duckdb.connect()
con.execute(f"SET threads = {a.threads}")
out = a.out

READ = {"ndjson": "read_json_auto", "csv": "read_csv"}[a.format]

# ---- Bronze: raw records + ingest metadata ----
st.start("bronze")
for t in ("orders", "lineitem"):
    con.execute(f"""
        COPY (
            SELECT * EXCLUDE (filename),
                   current_timestamp AS _ingest_time,
                   filename AS _source_file,
                   row_number() OVER () AS _source_line,
                   '{a.run_id}' AS _run_id
            FROM {READ}('{files(a, t)}', filename = true)
        ) TO '{out}/bronze/{t}.parquet' (FORMAT parquet)""")

# ---- Silver ----
st.start("silver")
con.execute(f"""
    COPY (SELECT * EXCLUDE (_ingest_time, _source_file, _source_line, _run_id)
          FROM read_parquet('{out}/bronze/orders.parquet'))
    TO '{out}/silver/orders.parquet' (FORMAT parquet)""")
con.execute(f"""
    CREATE VIEW checked AS
    SELECT *,
           CASE WHEN l_quantity <= 0 THEN 'quantity_positive'
                WHEN NOT (l_discount BETWEEN 0 AND 0.1) THEN 'discount_in_range'
                WHEN l_shipdate IS NULL THEN 'shipdate_present'
                WHEN l_returnflag NOT IN ('A', 'N', 'R') THEN 'returnflag_known'
           END AS _rule
    FROM read_parquet('{out}/bronze/lineitem.parquet')""")
con.execute(f"""
    COPY (SELECT * FROM checked WHERE _rule IN ('quantity_positive', 'discount_in_range', 'returnflag_known'))
    TO '{out}/silver/lineitem_quarantine.parquet' (FORMAT parquet)""")
keys = ", ".join(DEDUPE_KEYS)
con.execute(f"""
    COPY (
        WITH clean AS (
            SELECT * EXCLUDE (_rule) FROM checked WHERE _rule IS NULL
            QUALIFY row_number() OVER (PARTITION BY {keys}
                                       ORDER BY {LATEST_BY} DESC, _ingest_time DESC, _source_file DESC,
                                                _source_line DESC) = 1
        )
        SELECT l_orderkey, l_partkey, l_suppkey, l_linenumber, l_quantity, l_extendedprice,
               l_discount, l_tax, l_returnflag, l_linestatus, l_shipdate, l_commitdate,
               l_receiptdate, l_shipinstruct, l_shipmode, l_comment, l_updated_at, o.o_orderdate,
               o.o_orderpriority
        FROM clean i JOIN read_parquet('{out}/silver/orders.parquet') o ON i.l_orderkey = o.o_orderkey
    ) TO '{out}/silver/lineitem.parquet' (FORMAT parquet)""")

# ---- Gold ----
st.start("gold")
con.execute(f"CREATE VIEW silver_lineitem AS SELECT * FROM read_parquet('{out}/silver/lineitem.parquet')")
for g in GOLD:
    con.execute(f"COPY ({gold_sql(g)}) TO '{out}/gold/{g}.parquet' (FORMAT parquet)")
st.emit()
