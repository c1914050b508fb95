#!/usr/bin/env python3
"""Kafka → Bronze streaming benchmark (run by `benches/bench.sh stream`, only when the
medallion binary has a `stream` command; that command is being built on the kafka branch,
so this script is a hook: its assumptions are marked ASSUMES and must be checked then).

Phase 1, throughput: produce N ~1 KB JSON messages to topic bench.events, then start
`medallion stream` and time until Bronze holds all N rows (rows/s, MB/s, CPU, peak RSS).
Phase 2, latency: with the stream running, produce M more messages at a steady rate and
report percentiles of Bronze `_ingest_time` − the message's `produced_at`.
"""
import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite import BENCHES, Monitor  # noqa: E402

TOPIC = "bench.events"
PAD = "x" * 900


def produce(p, start, n, rate=None):
    t0 = time.time()
    for i in range(start, start + n):
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
        p.produce(TOPIC, key=str(i), value=json.dumps({"event_id": i, "produced_at": now, "kind": "bench", "payload": PAD}))
        if i % 10000 == 0:
            p.poll(0)
        if rate:
            ahead = (i - start + 1) / rate - (time.time() - t0)
            if ahead > 0:
                time.sleep(ahead)
    p.flush(60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medallion-bin", required=True)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--latency-messages", type=int, default=20_000)
    ap.add_argument("--rate", type=int, default=5_000, help="messages/s in the latency phase")
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    shutil.rmtree(os.path.join(BENCHES, "data", "lake-stream"), ignore_errors=True)
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    admin.delete_topics([TOPIC])
    time.sleep(1)
    for f in admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)]).values():
        f.result()
    p = Producer({"bootstrap.servers": a.bootstrap, "linger.ms": 5, "enable.idempotence": True})
    produce(p, 0, a.messages)
    base = [a.medallion_bin, "--environments", os.path.join(BENCHES, "environments.yaml")]

    def count():
        r = subprocess.run(base + ["sql", "SELECT count(*) AS n FROM bronze.events", "--env", "bench_stream", "--format", "json"],
                           cwd=BENCHES, capture_output=True, text=True)
        return json.loads(r.stdout)[0]["n"] if r.returncode == 0 and r.stdout.strip() else 0

    # ASSUMES: `medallion stream <job> --env <env>` runs until SIGINT/SIGTERM and commits
    # Bronze periodically (files roll by size and time, DESIGN.md).
    t0 = time.time()
    proc = subprocess.Popen(base + ["stream", os.path.join(BENCHES, "cases", "stream", "events.yaml"), "--env", "bench_stream"], cwd=BENCHES)
    mon = Monitor(proc.pid)
    try:
        while (n := count()) < a.messages:
            if time.time() - t0 > a.timeout or proc.poll() is not None:
                raise SystemExit(f"stream bench: only {n}/{a.messages} rows reached Bronze")
            time.sleep(0.5)
        drain = time.time() - t0
        produce(p, a.messages, a.latency_messages, rate=a.rate)
        while count() < a.messages + a.latency_messages:
            if time.time() - t0 > a.timeout:
                raise SystemExit("stream bench: latency phase timed out")
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        mon.stop()
    q = (f"SELECT approx_percentile_cont(d, 0.5) AS p50, approx_percentile_cont(d, 0.95) AS p95, "
         f"approx_percentile_cont(d, 0.99) AS p99, max(d) AS max FROM (SELECT "
         f"(CAST(_ingest_time AS BIGINT) - CAST(produced_at AS BIGINT)) / 1000.0 AS d FROM silver_or_bronze "
         f"WHERE event_id >= {a.messages})")
    # Bronze keeps produced_at as text: parse it to microseconds, the unit of _ingest_time.
    q = q.replace("silver_or_bronze", "bronze.events")
    r = subprocess.run(base + ["sql", q.replace("CAST(produced_at AS BIGINT)", "CAST(to_timestamp_micros(produced_at) AS BIGINT)"),
                               "--env", "bench_stream", "--format", "json"], cwd=BENCHES, capture_output=True, text=True)
    lat = json.loads(r.stdout)[0] if r.returncode == 0 and r.stdout.strip() else {"error": r.stderr[-500:]}
    res = {
        "messages": a.messages,
        "drain_s": drain,
        "rows_per_s": a.messages / drain,
        "mb_per_s": a.messages * 1024 / drain / 1e6,
        "cpu_s": mon.samples[-1][1] if mon.samples else None,
        "peak_rss_bytes": mon.peak_rss(),
        "latency_ms": lat,
        "latency_rate_msgs_per_s": a.rate,
    }
    os.makedirs(os.path.join(BENCHES, "results"), exist_ok=True)
    with open(os.path.join(BENCHES, "results", "latest-stream.json"), "w") as f:
        json.dump(res, f, indent=2)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
