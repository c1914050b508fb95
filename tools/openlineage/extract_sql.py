#!/usr/bin/env python3
"""Build examples.json (sql_lineage.py's input) from the job specs: the source of truth is jobs/.

For every jobs/**/*.yaml: one entry for the Silver `sql:` (its relation `input` is the pipeline's
Bronze table) and one per Gold table's `sql:`. Each entry is
  {"name": <output table>, "sql": <SQL>, "dialect": <dialect>,
   "pipeline": <pipeline>, "layer": "silver"|"gold", "aliases": {"input": <bronze table>}}
sql_lineage.py reads name/sql/dialect; cross_check.py --aliases-from reads aliases.

  extract_sql.py                   print to stdout
  extract_sql.py -o examples.json  write the file
  extract_sql.py --check examples.json   exit 1 if the file is not what jobs/ gives
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_JOBS = HERE.parent.parent / "jobs"


def entries(jobs_dir: Path, dialect: str) -> list[dict]:
    out: list[dict] = []
    files = sorted(p for p in jobs_dir.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files:
        spec = yaml.safe_load(path.read_text())
        if not isinstance(spec, dict):
            continue
        pipeline = spec.get("pipeline", path.stem)
        bronze = (spec.get("bronze") or {}).get("table")
        silver = spec.get("silver") or {}
        if silver.get("sql"):
            out.append(
                {
                    "name": silver["table"],
                    "sql": silver["sql"].rstrip(),
                    "dialect": dialect,
                    "pipeline": pipeline,
                    "layer": "silver",
                    "aliases": {"input": bronze} if bronze else {},
                }
            )
        for gold in spec.get("gold") or []:
            if gold.get("sql"):
                out.append(
                    {
                        "name": gold["table"],
                        "sql": gold["sql"].rstrip(),
                        "dialect": dialect,
                        "pipeline": pipeline,
                        "layer": "gold",
                        "aliases": {},
                    }
                )
    return out


def render(items: list[dict]) -> str:
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build sql_lineage.py's input from the job specs.")
    ap.add_argument("--jobs", default=str(DEFAULT_JOBS), help="folder of job specs (default: the repository's jobs/)")
    ap.add_argument("--dialect", default="generic", help="openlineage-sql dialect for every entry (default: generic)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("-o", "--output", help="write here instead of stdout")
    group.add_argument("--check", metavar="FILE", help="exit 1 if FILE differs from what the job specs give")
    args = ap.parse_args(argv)
    jobs = Path(args.jobs)
    if not jobs.is_dir():
        print(f"extract_sql.py: {jobs}: not a folder", file=sys.stderr)
        return 2
    text = render(entries(jobs, args.dialect))
    if args.check:
        current = Path(args.check).read_text() if Path(args.check).is_file() else ""
        if current != text:
            print(f"extract_sql.py: {args.check} is out of date; run: {Path(__file__).name} -o {args.check}", file=sys.stderr)
            return 1
        return 0
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
