#!/usr/bin/env python3
"""Column lineage of SQL statements, by openlineage-sql: an extractor independent of the engine.

Input (a file, or stdin when none or `-`): a JSON list of
  {"name": "<output table>", "sql": "<SQL>", "dialect": "generic"|"postgres"|...}
(other keys are ignored, e.g. those extract_sql.py adds).

Output (stdout, or -o FILE): JSON
  {name: {output_column: {"direct": ["table.column", ...], "indirect": [...]}}}
with sorted lists. openlineage-sql's Python API reports, per output column (its `descendant`), the
list of input columns the expression reads (its `lineage`, each with its table as `origin`); it has
no DIRECT/INDIRECT distinction and reports nothing for columns read only by WHERE, JOIN ... ON,
GROUP BY, ORDER BY or window clauses. So every reported input goes to "direct" and "indirect" is
always empty: see README.md, "What openlineage-sql gets wrong here". An input column whose table
openlineage-sql could not name is written "?.column". An output column with no input column at all
(e.g. COUNT(*)) is absent.

Exit status: 0; 1 if some SQL could not be parsed (its name maps to {} and the error goes to
stderr); 2 on usage errors (bad input, unknown dialect).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

try:
    import openlineage_sql
except ImportError as exc:  # pragma: no cover
    sys.exit(f"sql_lineage.py: {exc}; install with: pip install -r tools/openlineage/requirements.txt")

# The dialect names openlineage-sql 1.54.0 knows; any other name silently falls back to its generic
# dialect, so it is refused here instead.
DIALECTS = {
    "ansi", "bigquery", "databricks", "generic", "hive", "mssql", "mysql", "postgres",
    "postgresql", "redshift", "snowflake", "sqlite", "sqlserver",
}


class UsageError(Exception):
    pass


def load_input(source: str | None) -> list[dict]:
    text = sys.stdin.read() if source in (None, "-") else Path(source).read_text()
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"input is not JSON: {exc}") from exc
    if not isinstance(items, list):
        raise UsageError("input must be a JSON list of {name, sql, dialect}")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("sql"), str):
            raise UsageError(f"entry {i}: needs string fields name and sql")
        dialect = item.get("dialect", "generic")
        if dialect not in DIALECTS:
            raise UsageError(f"entry {i} ({item['name']}): unknown dialect {dialect!r}; one of {sorted(DIALECTS)}")
    return items


def column_lineage(sql: str, dialect: str) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """({output column: {"direct": [...], "indirect": []}}, [parse errors])."""
    meta = openlineage_sql.parse([sql], dialect=dialect)
    errors = [e.message for e in meta.errors]
    columns: dict[str, set[str]] = {}
    for cl in meta.column_lineage:
        sources = columns.setdefault(cl.descendant.name, set())
        for col in cl.lineage:
            table = col.origin.qualified_name if col.origin is not None else "?"
            sources.add(f"{table}.{col.name}")
    return {c: {"direct": sorted(s), "indirect": []} for c, s in sorted(columns.items())}, errors


def extract(items: list[dict]) -> tuple[dict, list[str]]:
    result: dict[str, dict] = {}
    problems: list[str] = []
    for item in items:
        name = item["name"]
        lineage, errors = column_lineage(item["sql"], item.get("dialect", "generic"))
        for e in errors:
            problems.append(f"{name}: openlineage-sql could not parse: {e}")
        if errors:
            lineage = {}
        if name in result:
            problems.append(f"{name}: appears more than once in the input; the last one is kept")
        result[name] = lineage
    return result, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Column lineage of SQL statements by openlineage-sql.")
    ap.add_argument("input", nargs="?", help="JSON list of {name, sql, dialect}; stdin if absent or -")
    ap.add_argument("-o", "--output", help="write the JSON here instead of stdout")
    args = ap.parse_args(argv)
    try:
        items = load_input(args.input)
    except (UsageError, OSError) as exc:
        print(f"sql_lineage.py: {exc}", file=sys.stderr)
        return 2
    result, problems = extract(items)
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    for p in problems:
        print(f"sql_lineage.py: {p}", file=sys.stderr)
    return 1 if any("could not parse" in p for p in problems) else 0


if __name__ == "__main__":
    sys.exit(main())
