#!/usr/bin/env python3
"""End-to-end benchmark: the same Bronze → Silver → Gold pipeline in medallion and its peers,
on the same TPC-H data, measured in the same run. Results agree or nothing is printed.

    suite.py --sf 0.1 [--engines medallion,duckdb,polars,spark] [--formats ndjson,csv] [--medallion-bin PATH]

Each input format is a separate round: every engine reads the same records as NDJSON, then as
CSV. Agreement, per format: every engine's Gold tables, Silver row counts and quarantine counts
per rule are equal; every engine's Silver rows over the re-sent keys have the counts and sums
gen_data.py expects (the newer version of a corrected line, the original of a stale replay);
and the first engine gives the same answers from every format.

Per engine and stage: wall, CPU (user+sys of the whole process tree, sampled from /proc
every 50 ms and by wait4), peak RSS of the process tree (sum over its processes; each
process's VmHWM) and rows/s
(input rows / wall), per format. Writes benches/results/<stamp>-sf<SF>.json and
latest-sf<SF>.json (one section per format under "formats").
Exit status: 0 ok, 1 results disagree, 2 an engine failed.
"""
import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time

import psutil

BENCHES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(BENCHES, "peers")
GOLD = {  # table → key columns (rows are compared after sorting by them)
    "q1_pricing_summary": ["l_returnflag", "l_linestatus"],
    "daily_revenue": ["day"],
}
STAGES = ["bronze", "silver", "gold"]
REL_TOL = 1e-6
# Input formats: medallion's job folder (jobs/<jobs>/{orders,lineitem}.yaml) and the lines per
# file that are not records.
FORMATS = {
    "ndjson": {"jobs": "tpch", "header_lines": 0},
    "csv": {"jobs": "tpch_csv", "header_lines": 1},
}
INPUT = os.path.join(BENCHES, "data", "input")  # → data/sf<SF>: what medallion's specs and the peers read


# ---------------------------------------------------------------- measurement
class Monitor:
    """Samples the process tree of `pid`: cumulative CPU (per pid, last value kept after the
    process ends) and total RSS."""

    def __init__(self, pid, interval=0.05):
        self.pid, self.interval = pid, interval
        self.samples = []  # (t, cpu_s, rss_bytes)
        self.last_cpu = {}
        self.hwm_peak = 0  # the largest sum of VmHWM over the processes alive in one sample
        self.procs = {}
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _tree(self):
        try:
            root = self.procs.get(self.pid) or psutil.Process(self.pid)
            self.procs[self.pid] = root
            kids = root.children(recursive=True)
        except psutil.Error:
            return []
        out = [root]
        for k in kids:  # keep Process objects so cpu_times stays cheap
            out.append(self.procs.setdefault(k.pid, k))
        return out

    def _run(self):
        while not self._stop.is_set():
            rss = hwm_sum = 0
            for p in self._tree():
                try:
                    with p.oneshot():
                        c = p.cpu_times()
                        m = p.memory_info()
                except psutil.Error:
                    continue
                self.last_cpu[p.pid] = c.user + c.system + c.children_user + c.children_system
                rss += m.rss
                hwm_sum += vm_hwm(p.pid) or 0
            self.samples.append((time.time(), sum(self.last_cpu.values()), rss))
            self.hwm_peak = max(self.hwm_peak, hwm_sum)
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self.t.join()

    def cpu_at(self, t):
        prev = (self.samples[0][0], 0.0) if self.samples else (t, 0.0)
        for ts, cpu, _ in self.samples:
            if ts >= t:
                # linear interpolation between samples
                if ts == prev[0]:
                    return cpu
                return prev[1] + (cpu - prev[1]) * (t - prev[0]) / (ts - prev[0])
            prev = (ts, cpu)
        return prev[1]

    def peak_hwm(self):
        """The largest sum, over the processes alive in one sample, of their own high-water
        marks (VmHWM, since their exec): for one process its peak up to its last sample (a
        peak in its last 50 ms is missed), for a tree an upper bound of its peak."""
        return self.hwm_peak

    def peak_rss(self, t0=None, t1=None):
        vals = [r for ts, _, r in self.samples if (t0 is None or ts >= t0 - self.interval) and (t1 is None or ts <= t1 + self.interval)]
        return max(vals) if vals else 0


def vm_hwm(pid):
    """VmHWM of /proc/<pid>/status in bytes (None if gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_measured(cmd, env=None, cwd=None, log=None):
    """Runs cmd; returns (stdout, wall, cpu, peak_rss, monitor, start_epoch)."""
    start = time.time()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log or subprocess.PIPE, env=env, cwd=cwd, text=True)
    mon = Monitor(p.pid)
    out_chunks, err_chunks = [], []
    # Both pipes are drained while the process runs: a process that logs more than a pipe
    # holds (64 KiB) would otherwise block on its next write and never finish.
    readers = [threading.Thread(target=lambda: out_chunks.append(p.stdout.read()), daemon=True)]
    if not log:
        readers.append(threading.Thread(target=lambda: err_chunks.append(p.stderr.read()), daemon=True))
    for r in readers:
        r.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    for r in readers:
        r.join()
    mon.stop()
    p.returncode = os.waitstatus_to_exitcode(status)
    cpu = max(ru.ru_utime + ru.ru_stime, mon.samples[-1][1] if mon.samples else 0.0)
    err = "".join(err_chunks)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {p.returncode}\n{err[-4000:]}\n{''.join(out_chunks)[-2000:]}")
    # Not wait4's ru_maxrss: Linux counts in it the forked child's copy of this (large)
    # Python process before the exec, so it reported the harness's size, not the engine's.
    peak = max(mon.peak_rss(), mon.peak_hwm())
    return "".join(out_chunks), wall, cpu, peak, mon, start


def stage_metrics(mon, bounds):
    """{stage: {wall, cpu, rss}} from epoch [t0, t1] stage boundaries."""
    out = {}
    for s, (t0, t1) in bounds.items():
        out[s] = {
            "wall_s": t1 - t0,
            "cpu_s": max(0.0, mon.cpu_at(t1) - mon.cpu_at(t0)),
            "peak_rss_bytes": mon.peak_rss(t0, t1),
        }
    return out


def add_stages(acc, more):
    for s, m in more.items():
        a = acc.setdefault(s, {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_bytes": 0})
        a["wall_s"] += m["wall_s"]
        a["cpu_s"] += m["cpu_s"]
        a["peak_rss_bytes"] = max(a["peak_rss_bytes"], m["peak_rss_bytes"])


def warm(paths):
    """Reads the inputs once so that every engine starts with them in the page cache."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


# ---------------------------------------------------------------- engines
# Of the Silver lineitem rows over a re-sent set's keys (gen_data.py's expected.json): the row
# count, the sums the winning versions give, and how many carry the re-sent version's comment.
RESENT_SQL = """SELECT count(*) AS "rows", sum(l_quantity) AS sum_quantity,
       sum(l_extendedprice) AS sum_extendedprice,
       sum(CASE WHEN l_comment LIKE '{prefix}%' THEN 1 ELSE 0 END) AS rows_with_prefix
FROM {table} WHERE {where}"""


def resent_queries(expected):
    return {name: (RESENT_SQL, s["where"], s["expected"]["comment_prefix"]) for name, s in expected["resent"].items()}


def medallion_base(a):
    return [a.medallion_bin, "--environments", os.path.join(BENCHES, "environments.yaml")]


def medallion_jobs(a, fmt):
    """Runs the orders then the lineitem job on the existing lake; (total, stages, reports)."""
    env = dict(os.environ)
    base = medallion_base(a)
    total = {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_bytes": 0}
    stages = {}
    reports = []
    # orders first: lineitem's Silver SQL joins silver.orders (two processes, as the numbers in
    # README.md were measured).
    for job in ("orders", "lineitem"):
        spec = os.path.join(BENCHES, "jobs", FORMATS[fmt]["jobs"], f"{job}.yaml")
        cmd = base + ["run", spec, "--env", "bench", "--report", "json"]
        if a.memory_limit:
            cmd += ["--memory-limit", str(a.memory_limit)]
        out, wall, cpu, rss, mon, _ = run_measured(cmd, env=env, cwd=BENCHES)
        rep = json.loads(out)[0]
        if rep["status"] != "succeeded":
            raise RuntimeError(f"medallion {spec}: {rep.get('error')}")
        reports.append(rep)
        s = dt.datetime.fromisoformat(rep["started_at"].replace("Z", "+00:00")).timestamp()
        b = rep["bronze"]["duration_ms"] / 1e3
        g = sum(x["duration_ms"] for x in rep["gold"]) / 1e3
        d = rep["duration_ms"] / 1e3
        bounds = {"bronze": (s, s + b), "silver": (s + b, s + d - g), "gold": (s + d - g, s + d)}
        add_stages(stages, stage_metrics(mon, bounds))
        total["wall_s"] += wall
        total["cpu_s"] += cpu
        total["peak_rss_bytes"] = max(total["peak_rss_bytes"], rss)
    return total, stages, reports


def medallion_sql(a, q):
    p = subprocess.run(medallion_base(a) + ["sql", q, "--env", "bench", "--format", "json"], cwd=BENCHES, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"medallion sql {q!r} exited with {p.returncode}\n{p.stderr[-2000:]}")
    return json.loads(p.stdout) if p.stdout.strip() else []


def run_medallion(a, fmt, expected):
    shutil.rmtree(os.path.join(BENCHES, "data", "lake"), ignore_errors=True)
    total, stages, reports = medallion_jobs(a, fmt)

    def sql(q):
        return medallion_sql(a, q)

    results = {g: sql(f"SELECT * FROM gold.{g}") for g in GOLD}
    counts = {
        "silver_lineitem": sql("SELECT count(*) AS n FROM silver.lineitem")[0]["n"],
        "silver_orders": sql("SELECT count(*) AS n FROM silver.orders")[0]["n"],
        "quarantine": {r["_rule"]: r["n"] for r in sql("SELECT _rule, count(*) AS n FROM silver.lineitem_quarantine GROUP BY _rule")},
    }
    resent = {
        name: sql(q.format(table="silver.lineitem", where=where, prefix=prefix))[0]
        for name, (q, where, prefix) in resent_queries(expected).items()
    }
    return total, stages, results, counts, resent, {"reports": reports}


def run_peer(a, name, fmt, expected):
    out_dir = os.path.join(BENCHES, "data", "out", name)
    shutil.rmtree(out_dir, ignore_errors=True)
    env = dict(os.environ)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYTHONPATH"] = PEERS
    cmd = [sys.executable, os.path.join(PEERS, f"{name}_pipeline.py"), "--input", INPUT, "--format", fmt, "--out", out_dir, "--threads", str(a.threads)]
    out, wall, cpu, rss, mon, _ = run_measured(cmd, env=env, cwd=BENCHES)
    line = [l for l in out.splitlines() if l.startswith("STAGES ")][-1]
    info = json.loads(line[len("STAGES "):])
    stages = stage_metrics(mon, {s: tuple(v) for s, v in info["stages"].items()})
    import duckdb
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    def path(rel):  # a Parquet file, or a folder of them (Spark)
        p = os.path.join(out_dir, rel)
        return p if os.path.isdir(p) else p + ".parquet"

    def read(rel):
        p = path(rel)
        return ds.dataset(p, format="parquet", exclude_invalid_files=os.path.isdir(p)).to_table()

    results = {g: read(f"gold/{g}").to_pylist() for g in GOLD}
    q = read("silver/lineitem_quarantine")
    vc = pc.value_counts(q.column("_rule")).to_pylist()
    counts = {
        "silver_lineitem": read("silver/lineitem").num_rows,
        "silver_orders": read("silver/orders").num_rows,
        "quarantine": {d["values"]: d["counts"] for d in vc},
    }
    # The peer's Silver Parquet, read by DuckDB (only as a reader: the same query for every peer).
    li = path("silver/lineitem")
    table = f"read_parquet('{li}/*.parquet')" if os.path.isdir(li) else f"read_parquet('{li}')"
    con = duckdb.connect()
    resent = {}
    for rs, (sql, where, prefix) in resent_queries(expected).items():
        cur = con.execute(sql.format(table=table, where=where, prefix=prefix))
        resent[rs] = dict(zip([c[0] for c in cur.description], cur.fetchone()))
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": rss}, stages, results, counts, resent, {}


# ---------------------------------------------------------------- agreement
def norm_value(v):
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()[:10]
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return float(v)
    return v


def normalize(rows, keys):
    rows = [{k.lower(): norm_value(v) for k, v in r.items()} for r in rows]
    return sorted(rows, key=lambda r: tuple("" if r.get(k) is None else str(r.get(k)) for k in keys))


def close(x, y):
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=1e-9)
    return x == y


def compare(ref_name, ref, other_name, other):
    problems = []
    for g, keys in GOLD.items():
        a, b = normalize(ref["results"][g], keys), normalize(other["results"][g], keys)
        if len(a) != len(b):
            problems.append(f"gold.{g}: {ref_name} has {len(a)} rows, {other_name} {len(b)}")
            continue
        if a and set(a[0]) != set(b[0]):
            problems.append(f"gold.{g}: columns differ: {sorted(a[0])} vs {sorted(b[0])}")
            continue
        bad = [(i, c, ra[c], rb[c]) for i, (ra, rb) in enumerate(zip(a, b)) for c in ra if not close(ra[c], rb[c])]
        for i, c, x, y in bad[:5]:
            problems.append(f"gold.{g} row {i} ({', '.join(str(a[i][k]) for k in keys)}) column {c}: {ref_name}={x!r} {other_name}={y!r}")
        if len(bad) > 5:
            problems.append(f"gold.{g}: ... {len(bad) - 5} more differences")
    if ref["counts"] != other["counts"]:
        problems.append(f"row counts: {ref_name}={ref['counts']} {other_name}={other['counts']}")
    return problems


def check_resent(engine, got, expected):
    """Problems with an engine's Silver rows over the re-sent keys: each set's count, sums and
    re-sent comments must be those of the version that should win (gen_data.py)."""
    problems = []
    for name, s in expected["resent"].items():
        want, other, have = s["expected"], s["if_the_other_version_won"], got[name]
        for k in ("rows", "sum_quantity", "sum_extendedprice", "rows_with_prefix"):
            # Counts and sums of whole quantities are exact in any order; prices are rounded.
            same = close if k == "sum_extendedprice" else (lambda x, y: x == y)
            if have.get(k) is None or not same(float(have[k]), float(want[k])):
                hint = " (the value it would have if the other version had won)" if have.get(k) is not None and same(float(have[k]), float(other[k])) else ""
                problems.append(f"{engine}: re-sent set {name} ({s['where']}): Silver lineitem {k} = {have.get(k)!r}{hint}, expected {want[k]!r}")
    return problems


def resent_line(expected):
    parts = []
    for name, s in expected["resent"].items():
        e, o = s["expected"], s["if_the_other_version_won"]
        what = "the newer re-sent version" if name == "corrected" else "the original over the older re-sent version"
        parts.append(f"{name}: {e['rows']} keys, {what} kept (sum l_quantity {e['sum_quantity']:g}; the other version would give {o['sum_quantity']:g})")
    return "; ".join(parts)


# ---------------------------------------------------------------- report
def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name"):
                model = l.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model,
        "nproc": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_end": os.getloadavg(),
    }


def fmt_table(res, engines, rows_in):
    lines = []
    ref = "medallion" if "medallion" in engines else None
    peers = [e for e in engines if e != ref]
    hdr = f"{'stage':<7} {'engine':<10} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13} {'rows/s':>12}"
    lines.append(hdr)
    for stage in STAGES + ["total"]:
        for e in engines:
            m = res[e]["total"] if stage == "total" else res[e]["stages"].get(stage)
            if not m:
                continue
            rps = rows_in / m["wall_s"] if m["wall_s"] > 0 else float("inf")
            lines.append(f"{stage:<7} {e:<10} {m['wall_s']:>8.2f} {m['cpu_s']:>8.2f} {m['peak_rss_bytes'] / 2**20:>13.0f} {rps:>12,.0f}")
        if ref:
            for p in peers:
                mr = res[ref]["total"] if stage == "total" else res[ref]["stages"].get(stage)
                mp = res[p]["total"] if stage == "total" else res[p]["stages"].get(stage)
                r = lambda k: (mr[k] / mp[k]) if mp[k] else float("nan")
                lines.append(f"{stage:<7} {'÷ ' + p:<10} {r('wall_s'):>8.2f} {r('cpu_s'):>8.2f} {r('peak_rss_bytes'):>13.2f}   (medallion / {p})")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sf", default="0.1")
    ap.add_argument("--engines", default="medallion,duckdb,polars,spark")
    ap.add_argument("--formats", default="ndjson,csv", help="input formats, comma-separated: ndjson, csv")
    ap.add_argument("--medallion-bin", default=os.environ.get("MEDALLION_BIN"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument(
        "--memory-limit",
        type=int,
        default=int(os.environ["BENCH_MEMORY_LIMIT_MIB"]) if os.environ.get("BENCH_MEMORY_LIMIT_MIB") else None,
        metavar="MIB",
        help="medallion's --memory-limit for every run (default: the engine's own, half the machine)",
    )
    ap.add_argument("--results", default=os.path.join(BENCHES, "results"))
    ap.add_argument("--check-only", action="store_true", help="check agreement; print no timings")
    ap.add_argument("--show", metavar="FILE", help="print the tables of a results file and exit")
    a = ap.parse_args()
    if a.show:
        with open(a.show) as f:
            doc = json.load(f)
        show(doc)
        return
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    if not formats or any(f not in FORMATS for f in formats):
        sys.exit(f"--formats: expected a comma-separated list of {', '.join(FORMATS)}, got {a.formats!r}")
    if "medallion" in engines and not a.medallion_bin:
        sys.exit("set MEDALLION_BIN or --medallion-bin")

    data_root = os.path.join(BENCHES, "data")
    subprocess.run(
        [sys.executable, os.path.join(BENCHES, "tools", "gen_data.py"), "--sf", a.sf, "--out", data_root, "--formats", ",".join(formats)],
        check=True,
    )
    sf_dir = os.path.join(data_root, f"sf{a.sf}")
    with open(os.path.join(sf_dir, "expected.json")) as f:
        expected = json.load(f)
    # medallion's specs read data/input/{orders,lineitem}/*.<format>
    if os.path.islink(INPUT) or os.path.exists(INPUT):
        os.remove(INPUT)
    os.symlink(f"sf{a.sf}", INPUT)

    per_format = {}
    problems = []
    for fmt in formats:
        inputs = [os.path.join(sf_dir, t, f"{t}.{fmt}") for t in ("orders", "lineitem")]
        rows_in = 0
        for p in inputs:
            with open(p, "rb") as f:
                rows_in += sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 24), b""))
            rows_in -= FORMATS[fmt]["header_lines"]
        res = {}
        for e in engines:
            warm(inputs)
            print(f"running {e} ({fmt}, SF {a.sf}) ...", file=sys.stderr, flush=True)
            try:
                if e == "medallion":
                    total, stages, results, counts, resent, extra = run_medallion(a, fmt, expected)
                else:
                    total, stages, results, counts, resent, extra = run_peer(a, e, fmt, expected)
            except Exception as ex:  # noqa: BLE001
                print(f"ENGINE FAILED: {e} ({fmt}): {ex}", file=sys.stderr)
                sys.exit(2)
            res[e] = {"total": total, "stages": stages, "results": results, "counts": counts, "resent": resent, **extra}
            problems += [f"[{fmt}] {p}" for p in check_resent(e, resent, expected)]
        ref = engines[0]
        for e in engines[1:]:
            problems += [f"[{fmt}: {ref} vs {e}] {p}" for p in compare(ref, res[ref], e, res[e])]
        input_doc = {"rows": rows_in, "bytes": sum(os.path.getsize(p) for p in inputs), "files": inputs}
        per_format[fmt] = {"input": input_doc, "res": res}
    # The formats hold the same records: the first engine's answers must not depend on the format.
    ref = engines[0]
    for fmt in formats[1:]:
        problems += [
            f"[{ref}: {formats[0]} vs {fmt}] {p}"
            for p in compare(formats[0], per_format[formats[0]]["res"][ref], fmt, per_format[fmt]["res"][ref])
        ]
    if problems:
        print("RESULTS DISAGREE — no timings printed:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        sys.exit(1)
    for fmt in formats:
        counts = per_format[fmt]["res"][ref]["counts"]
        print(f"agreement ({fmt}): OK — gold tables {', '.join(GOLD)} and row counts {counts} are equal across {', '.join(engines)} (rel tol {REL_TOL})")
        print(f"re-sent rows ({fmt}): OK in every engine — {resent_line(expected)}")
    if len(formats) > 1:
        print(f"formats: OK — {ref} gives the same gold tables and row counts from {' and '.join(formats)}")
    if a.check_only:
        return

    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    doc = {
        "sf": a.sf,
        "stamp": stamp,
        "machine": machine(),
        "command": " ".join(sys.argv),
        "medallion_memory_limit_mib": a.memory_limit,
        "formats": {},
    }
    for fmt, pf in per_format.items():
        res = pf["res"]
        section = {
            "input": pf["input"],
            "engines": {e: {k: v for k, v in r.items() if k != "results"} for e, r in res.items()},
        }
        if "medallion" in res:
            def metric(e, s):
                return res[e]["total"] if s == "total" else res[e]["stages"][s]

            section["ratios_medallion_over_peer"] = {
                p: {
                    s: {k: metric("medallion", s)[k] / (metric(p, s)[k] or float("nan")) for k in ("wall_s", "cpu_s", "peak_rss_bytes")}
                    for s in STAGES + ["total"]
                }
                for p in engines if p != "medallion"
            }
        doc["formats"][fmt] = section
    os.makedirs(a.results, exist_ok=True)
    for name in (f"{stamp}-sf{a.sf}.json", f"latest-sf{a.sf}.json"):
        with open(os.path.join(a.results, name), "w") as f:
            json.dump(doc, f, indent=2, default=str)
    show(doc)
    print(f"results: {os.path.join(a.results, f'latest-sf{a.sf}.json')}")


def show(doc):
    m = doc["machine"]
    # Results files written before CSV input was added hold one (NDJSON) section at the top level.
    sections = doc.get("formats") or {"ndjson": {"input": doc["input"], "engines": doc["engines"]}}
    print(f"\nSF {doc['sf']}: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB")
    print("rows/s = input rows / wall; CPU = user+sys of the process tree; RSS = peak sum over the tree")
    if doc.get("medallion_memory_limit_mib"):
        print(f"medallion ran with --memory-limit {doc['medallion_memory_limit_mib']}")
    for fmt, sec in sections.items():
        rows_in, bytes_in = sec["input"]["rows"], sec["input"]["bytes"]
        print(f"\n{fmt.upper()} input: {rows_in:,} rows, {bytes_in / 2**20:.0f} MiB\n")
        print(fmt_table(sec["engines"], list(sec["engines"]), rows_in))


if __name__ == "__main__":
    main()
