"""Shared bits of the peer pipelines: arguments, stage clock, rule names, Gold SQL."""
import argparse
import json
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
QUERIES = os.path.join(HERE, "..", "queries")
GOLD = ["q1_pricing_summary", "daily_revenue"]

# Rules, in the order medallion checks them (benches/jobs/tpch/lineitem.yaml). A row is
# tagged with the first rule it fails; a null value passes every rule but not_null.
# on_fail: quarantine → written to the quarantine output; drop → discarded.
RULES = [
    ("quantity_positive", "quarantine"),
    ("discount_in_range", "quarantine"),
    ("shipdate_present", "drop"),
    ("returnflag_known", "quarantine"),
]
DEDUPE_KEYS = ["l_orderkey", "l_linenumber"]


def gold_sql(name: str) -> str:
    with open(os.path.join(QUERIES, f"{name}.sql")) as f:
        return "\n".join(l for l in f.read().splitlines() if not l.startswith("--"))


def args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True, help="folder holding lineitem/*.ndjson and orders/*.ndjson")
    ap.add_argument("--out", required=True, help="output folder (bronze/, silver/, gold/)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    for d in ("bronze", "silver", "gold"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    a.run_id = str(uuid.uuid4())
    return a


class Stages:
    """Wall-clock stage boundaries (epoch seconds), printed as JSON for the harness."""

    def __init__(self):
        self.stages = {}
        self.counts = {}
        self._cur = None

    def start(self, name):
        now = time.time()
        if self._cur:
            self.stages[self._cur][1] = now
        self.stages[name] = [now, None]
        self._cur = name

    def end(self):
        if self._cur:
            self.stages[self._cur][1] = time.time()
            self._cur = None

    def emit(self):
        self.end()
        print("STAGES " + json.dumps({"stages": self.stages, "counts": self.counts}))
        sys.stdout.flush()
