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
# Version column of a lineitem line: of a key's rows, the largest l_updated_at wins (ties: the
# last received). Re-sent lines may arrive later with an older value (stale replays).
LATEST_BY = "l_updated_at"
FORMATS = ("ndjson", "csv")


def gold_sql(name: str) -> str:
    with open(os.path.join(QUERIES, f"{name}.sql")) as f:
        return "\n".join(l for l in f.read().splitlines() if not l.startswith("--"))


def args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True, help="folder holding lineitem/*.<format> and orders/*.<format>")
    ap.add_argument("--format", choices=FORMATS, default="ndjson", help="input files: ndjson or csv (with a header line)")
    ap.add_argument("--out", required=True, help="output folder (bronze/, silver/, gold/)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    for d in ("bronze", "silver", "gold"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    a.run_id = str(uuid.uuid4())
    return a


def files(a, table: str) -> str:
    """The glob of a table's input files."""
    return f"{a.input}/{table}/*.{a.format}"


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
