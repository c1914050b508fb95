"""Other tools read medallion's Delta tables: Polars (through the deltalake Python package)
and DuckDB (reading the active Parquet files that the Delta log lists, with its own Parquet
reader). Each Gold table must equal the golden output the engine's own tests use.

Usage: python check.py <lake root> <golden dir>
Prints `readers: N passed, M failed` and exits non-zero on any failure.
"""
import csv
import io
import json
import os
import sys
from decimal import Decimal

import duckdb
import polars as pl

lake, golden = sys.argv[1], sys.argv[2]
cases = [
    ("gold/daily_revenue", "shop/daily_revenue.csv", ["day"]),
    ("gold/revenue_by_country", "shop/revenue_by_country.csv", ["country"]),
    ("gold/hourly_device_stats", "iot/hourly_device_stats.csv", ["device_id", "hour"]),
]


def norm(v):
    """One text form per value, whatever the reader's types."""
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        s = v.isoformat()
        return s.replace("+00:00", "Z") if "T" in s else s
    if isinstance(v, (float, Decimal)):
        return format(Decimal(str(v)).normalize(), "f")
    return str(v)


def expected_rows(name):
    with open(os.path.join(golden, name)) as f:
        rows = list(csv.reader(f))
    return [tuple(norm_text(x) for x in r) for r in rows[1:]]


def norm_text(x):
    try:
        return format(Decimal(x).normalize(), "f")
    except Exception:
        return x.replace("+00:00", "Z")


def active_files(table):
    files = set()
    log = os.path.join(table, "_delta_log")
    for name in sorted(n for n in os.listdir(log) if n.endswith(".json")):
        with open(os.path.join(log, name)) as f:
            for line in f:
                action = json.loads(line)
                if "add" in action:
                    files.add(action["add"]["path"])
                if "remove" in action:
                    files.discard(action["remove"]["path"])
    return [os.path.join(table, p) for p in sorted(files)]


passed = failed = 0
for table, golden_name, keys in cases:
    path = os.path.join(lake, table)
    want = expected_rows(golden_name)
    readers = {
        "polars.read_delta": lambda: pl.read_delta(path).sort(keys).rows(),
        "duckdb(parquet per Delta log)": lambda: duckdb.sql(
            f"SELECT * FROM read_parquet({active_files(path)!r}) ORDER BY {', '.join(keys)}"
        ).fetchall(),
    }
    for reader, read in readers.items():
        try:
            got = [tuple(norm(v) for v in r) for r in read()]
            if got == want:
                passed += 1
                print(f"ok    {reader:32} {table} ({len(got)} rows)")
            else:
                failed += 1
                print(f"FAIL  {reader:32} {table}: got {got}, want {want}")
        except Exception as e:  # a reader that cannot open the table is a failure
            failed += 1
            print(f"FAIL  {reader:32} {table}: {e}")
print(f"readers: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
