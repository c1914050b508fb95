#!/usr/bin/env python3
"""The Prometheus metrics `medallion stream` emits, read from its source
(engine/kafka/src/metrics.rs), by name and type; or from a running stream's /metrics.

Usage: engine_metrics.py [REPO]              prints `<type> <name>` per metric of the source
       engine_metrics.py --compare URL [REPO] exit 1 unless the live exposition at URL declares
                                             exactly the source's metrics and types

MED-013 (plan_policies.py) uses `emitted()` to check that every alarm on an engine metric names
one the engine really emits (and of a type the CloudWatch agent keeps: not a histogram); the
proof compares the parse with the exposition of the real binary.
"""
import os
import re
import sys

SOURCE = os.path.join("engine", "kafka", "src", "metrics.rs")


def emitted(repo):
    """{name: type} of the metrics metrics.rs renders."""
    text = open(os.path.join(repo, SOURCE)).read()
    body = text[text.index("fn render("):]
    out = {}
    # the counters array: ("medallion_stream_…_total", "help", &self.field)
    counters = body[body.index("let counters"):body.index("for (name, help, v) in counters")]
    for name in re.findall(r'"(medallion_[a-z0-9_]+)"', counters):
        out[name] = "counter"
    # `let name = "…";` followed by its `# TYPE {name} <type>` line
    for m in re.finditer(r'let name = "(medallion_[a-z0-9_]+)";(.{0,400}?)# TYPE \{name\} ([a-z]+)', body, re.S):
        out[m.group(1)] = m.group(3)
    # inline `# TYPE medallion_… <type>`
    for name, typ in re.findall(r"# TYPE (medallion_[a-z0-9_]+) ([a-z]+)", body):
        out[name] = typ
    return out


def live(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return {n: t for n, t in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)}


def main(argv):
    if argv and argv[0] == "--compare":
        url = argv[1]
        repo = argv[2] if len(argv) > 2 else os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
        src, got = emitted(repo), live(url)
        if src != got:
            print(f"source {sorted(src.items())}\nlive   {sorted(got.items())}")
            return 1
        print(f"the running stream declares the {len(got)} metrics read from {SOURCE}, same types")
        return 0
    repo = argv[0] if argv else os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
    for n, t in sorted(emitted(repo).items()):
        print(t, n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
