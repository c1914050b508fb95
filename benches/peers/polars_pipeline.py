#!/usr/bin/env python3
"""The benchmark pipeline in Polars: lazy frames, streaming sinks to Parquet at every stage.

Input: NDJSON through scan_ndjson (dates and timestamps stay strings, parsed in Silver), CSV
through scan_csv(try_parse_dates=True) (header; dates and timestamps typed when read)."""
import datetime as dt

import polars as pl

from common import DEDUPE_KEYS, GOLD, LATEST_BY, Stages, args, files

a = args()
st = Stages()
out = a.out
now = dt.datetime.now(dt.timezone.utc)

# ---- Bronze: raw records + ingest metadata ----
st.start("bronze")
for t in ("orders", "lineitem"):
    if a.format == "csv":
        raw = pl.scan_csv(files(a, t), try_parse_dates=True, include_file_paths="_source_file")
    else:
        raw = pl.scan_ndjson(files(a, t), include_file_paths="_source_file")
    (
        raw.with_row_index("_source_line", offset=1)
        .with_columns(
            pl.lit(now).alias("_ingest_time"),
            pl.lit(a.run_id).alias("_run_id"),
        )
        .sink_parquet(f"{out}/bronze/{t}.parquet")
    )

# ---- Silver ----
st.start("silver")
meta = ["_ingest_time", "_source_file", "_source_line", "_run_id"]
date_cols = ["l_shipdate", "l_commitdate", "l_receiptdate"]
if a.format == "csv":  # typed by scan_csv
    order_types, line_types = [], []
else:  # JSON has no date type: ISO strings
    order_types = [pl.col("o_orderdate").str.to_date()]
    line_types = [pl.col(c).str.to_date() for c in date_cols] + [pl.col(LATEST_BY).str.to_datetime(time_zone="UTC")]
orders = pl.scan_parquet(f"{out}/bronze/orders.parquet").drop(meta).with_columns(order_types)
orders.sink_parquet(f"{out}/silver/orders.parquet")

checked = (
    pl.scan_parquet(f"{out}/bronze/lineitem.parquet")
    .with_columns(line_types)
    .with_columns(
        pl.when(pl.col("l_quantity") <= 0).then(pl.lit("quantity_positive"))
        .when(~pl.col("l_discount").is_between(0, 0.1)).then(pl.lit("discount_in_range"))
        .when(pl.col("l_shipdate").is_null()).then(pl.lit("shipdate_present"))
        .when(~pl.col("l_returnflag").is_in(["A", "N", "R"])).then(pl.lit("returnflag_known"))
        .alias("_rule")
    )
)
checked.filter(
    pl.col("_rule").is_in(["quantity_positive", "discount_in_range", "returnflag_known"])
).sink_parquet(f"{out}/silver/lineitem_quarantine.parquet")
(
    checked.filter(pl.col("_rule").is_null())
    .drop("_rule")
    # The largest l_updated_at wins; the stable sort leaves ties in Bronze (arrival) order, so
    # among equal versions the last one received wins.
    .sort(LATEST_BY, maintain_order=True)
    .unique(subset=DEDUPE_KEYS, keep="last")
    .join(
        pl.scan_parquet(f"{out}/silver/orders.parquet").select("o_orderkey", "o_orderdate", "o_orderpriority"),
        left_on="l_orderkey",
        right_on="o_orderkey",
    )
    .drop(meta)
    .sink_parquet(f"{out}/silver/lineitem.parquet")
)

# ---- Gold ----
st.start("gold")
li = pl.scan_parquet(f"{out}/silver/lineitem.parquet")
disc_price = pl.col("l_extendedprice") * (1 - pl.col("l_discount"))
q1 = (
    li.filter(pl.col("l_shipdate") <= dt.date(1998, 9, 2))
    .group_by("l_returnflag", "l_linestatus")
    .agg(
        pl.col("l_quantity").sum().alias("sum_qty"),
        pl.col("l_extendedprice").sum().alias("sum_base_price"),
        disc_price.sum().alias("sum_disc_price"),
        (disc_price * (1 + pl.col("l_tax"))).sum().alias("sum_charge"),
        pl.col("l_quantity").mean().alias("avg_qty"),
        pl.col("l_extendedprice").mean().alias("avg_price"),
        pl.col("l_discount").mean().alias("avg_disc"),
        pl.len().alias("count_order"),
    )
)
daily = li.group_by(pl.col("o_orderdate").alias("day")).agg(
    disc_price.sum().alias("revenue"), pl.len().alias("lines")
)
for name, lf in zip(GOLD, (q1, daily)):
    lf.sink_parquet(f"{out}/gold/{name}.parquet")
st.emit()
