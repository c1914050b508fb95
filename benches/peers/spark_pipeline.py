#!/usr/bin/env python3
"""The benchmark pipeline in PySpark (what AWS Glue runs), local[2].

Input: NDJSON through spark.read.json, CSV through spark.read.csv with header=true, both with
the declared schema."""
import os

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from common import DEDUPE_KEYS, GOLD, LATEST_BY, Stages, args, files, gold_sql

a = args()
st = Stages()
out = a.out
spark = (
    SparkSession.builder.master(f"local[{a.threads}]")
    .appName("medallion-bench")
    .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "2g"))
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .config("spark.sql.session.timeZone", "UTC")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")

# Declared schemas, as production jobs do (inference would read the input twice).
SCHEMAS = {
    "orders": "o_orderkey BIGINT, o_custkey BIGINT, o_orderstatus STRING, o_totalprice DOUBLE, "
    "o_orderdate DATE, o_orderpriority STRING, o_clerk STRING, o_shippriority INT, o_comment STRING",
    "lineitem": "l_orderkey BIGINT, l_partkey BIGINT, l_suppkey BIGINT, l_linenumber INT, "
    "l_quantity DOUBLE, l_extendedprice DOUBLE, l_discount DOUBLE, l_tax DOUBLE, "
    "l_returnflag STRING, l_linestatus STRING, l_shipdate DATE, l_commitdate DATE, "
    "l_receiptdate DATE, l_shipinstruct STRING, l_shipmode STRING, l_comment STRING, l_updated_at TIMESTAMP",
}

# ---- Bronze: raw records + ingest metadata ----
st.start("bronze")
for t in ("orders", "lineitem"):
    reader = spark.read.schema(SCHEMAS[t])
    (
        (reader.option("header", True).csv(files(a, t)) if a.format == "csv" else reader.json(files(a, t)))
        .withColumn("_ingest_time", F.current_timestamp())
        .withColumn("_source_file", F.input_file_name())
        .withColumn("_source_line", F.monotonically_increasing_id())
        .withColumn("_run_id", F.lit(a.run_id))
        .write.mode("overwrite").parquet(f"{out}/bronze/{t}")
    )

# ---- Silver ----
st.start("silver")
meta = ["_ingest_time", "_source_file", "_source_line", "_run_id"]
spark.read.parquet(f"{out}/bronze/orders").drop(*meta).write.mode("overwrite").parquet(f"{out}/silver/orders")
checked = spark.read.parquet(f"{out}/bronze/lineitem").withColumn(
    "_rule",
    F.when(F.col("l_quantity") <= 0, "quantity_positive")
    .when(~F.col("l_discount").between(0, 0.1), "discount_in_range")
    .when(F.col("l_shipdate").isNull(), "shipdate_present")
    .when(~F.col("l_returnflag").isin("A", "N", "R"), "returnflag_known"),
)
checked.where(F.col("_rule").isin("quantity_positive", "discount_in_range", "returnflag_known")).write.mode(
    "overwrite"
).parquet(f"{out}/silver/lineitem_quarantine")
latest = Window.partitionBy(*DEDUPE_KEYS).orderBy(
    F.col(LATEST_BY).desc(), F.col("_ingest_time").desc(), F.col("_source_file").desc(), F.col("_source_line").desc()
)
orders = spark.read.parquet(f"{out}/silver/orders").select("o_orderkey", "o_orderdate", "o_orderpriority")
(
    checked.where(F.col("_rule").isNull())
    .withColumn("_rn", F.row_number().over(latest))
    .where("_rn = 1")
    .join(orders, F.col("l_orderkey") == F.col("o_orderkey"))
    .drop("_rn", "_rule", "o_orderkey", *meta)
    .write.mode("overwrite").parquet(f"{out}/silver/lineitem")
)

# ---- Gold ----
st.start("gold")
spark.read.parquet(f"{out}/silver/lineitem").createOrReplaceTempView("silver_lineitem")
for g in GOLD:
    spark.sql(gold_sql(g)).write.mode("overwrite").parquet(f"{out}/gold/{g}")
st.emit()
spark.stop()
