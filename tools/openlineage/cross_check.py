#!/usr/bin/env python3
"""Compare the engine's column lineage with sql_lineage.py's, column by column.

  cross_check.py --extracted examples.lineage.json --lineage <lake>/_medallion/lineage \\
      --aliases-from examples.json [--alias [TABLE:]ALIAS=CATALOG_TABLE ...] \\
      [--explained explained.json] [--kinds direct,indirect] [--top-level-fields]

(a) --extracted: sql_lineage.py's output, {table: {column: {"direct": [...], "indirect": [...]}}},
    inputs written "table.column". A table that is a relation alias of the SQL (the Silver SQL's
    `input`) is renamed by --alias ALIAS=CATALOG_TABLE (for every table) or
    --alias TABLE:ALIAS=CATALOG_TABLE (in TABLE's SQL only), or by the "aliases" of each entry of
    extract_sql.py's examples.json (--aliases-from).
(b) --lineage: the engine's OpenLineage NDJSON files or folders. For each output dataset, the
    columnLineage facet of its latest event (by eventTime) is used. Datasets (outputs and each
    inputField's namespace/name) are named by the catalog name in their `symlinks` facet (found on
    any event's inputs or outputs; with --catalog-namespace, only identifiers of that namespace).
    An inputField is DIRECT if one of its transformations is DIRECT or it has none, INDIRECT if one
    is INDIRECT; the facet's dataset-level `dataset` entries are INDIRECT inputs of every column.

For each table of (a) (or --tables), and each column of either side, the sets of input
"table.column" are compared for each kind in --kinds (default: direct only, since openlineage-sql
reports no indirect lineage). Every difference is printed as a row of a table; a difference is
explained when --explained (a JSON list of {"table", "column", "reason"} with optional "kind";
column "*" = every column of the table) has an entry for it.

Exit status: 0 no unexplained difference, 1 some, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import UsageError, event_files, read_events  # noqa: E402

KINDS = ("direct", "indirect")


# --- (a) the extractor's side --------------------------------------------------------------------

def parse_alias(text: str) -> tuple[str | None, str, str]:
    """'[TABLE:]ALIAS=CATALOG' -> (TABLE or None, ALIAS, CATALOG)."""
    left, eq, target = text.partition("=")
    if not eq or not left or not target:
        raise UsageError(f"--alias {text!r}: expected [TABLE:]ALIAS=CATALOG_TABLE")
    scope, colon, alias = left.rpartition(":")
    return (scope if colon else None), alias, target


def load_extracted(path: str, aliases: list[tuple[str | None, str, str]]) -> dict[str, dict[str, dict[str, set[str]]]]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected sql_lineage.py's output, a JSON object")
    out: dict[str, dict[str, dict[str, set[str]]]] = {}
    for table, columns in data.items():
        mapping = {a: t for scope, a, t in aliases if scope is None}
        mapping.update({a: t for scope, a, t in aliases if scope == table})
        out[table] = {}
        for col, kinds in (columns or {}).items():
            out[table][col] = {}
            for kind in KINDS:
                refs = set()
                for ref in kinds.get(kind, []):
                    src_table, _, src_col = ref.rpartition(".")
                    refs.add(f"{mapping.get(src_table, src_table)}.{src_col}")
                out[table][col][kind] = refs
    return out


def aliases_from(path: str) -> list[tuple[str | None, str, str]]:
    items = _load_json(path)
    if not isinstance(items, list):
        raise UsageError(f"{path}: expected extract_sql.py's output, a JSON list")
    return [(i["name"], a, t) for i in items if isinstance(i, dict) for a, t in (i.get("aliases") or {}).items()]


# --- (b) the engine's side -----------------------------------------------------------------------

def _time(event: dict) -> datetime:
    try:
        t = datetime.fromisoformat(str(event.get("eventTime", "")).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _catalog_name(ds: dict, catalog_ns: str | None) -> str | None:
    sym = (ds.get("facets") or {}).get("symlinks") or {}
    idents = [i for i in sym.get("identifiers") or [] if isinstance(i, dict)]
    if catalog_ns:
        idents = [i for i in idents if i.get("namespace") == catalog_ns]
    else:
        idents = sorted(idents, key=lambda i: (not str(i.get("namespace", "")).startswith("medallion://"), str(i.get("type", "")).upper() != "TABLE"))
    return idents[0].get("name") if idents else None


@dataclass
class EngineLineage:
    tables: dict[str, dict[str, dict[str, set[str]]]]
    unmapped: set[str]  # datasets without a catalog name, written namespace:name


def load_engine(paths: list[str], catalog_ns: str | None) -> EngineLineage:
    events: list[tuple[datetime, int, dict]] = []
    order = 0
    for f in event_files(paths):
        for _, event, err in read_events(f):
            if err is None and isinstance(event, dict):
                events.append((_time(event), order, event))
                order += 1
    if not events:
        raise UsageError("no event found in --lineage " + " ".join(paths))
    names: dict[tuple[str, str], str] = {}
    latest: dict[tuple[str, str], tuple[datetime, int, dict]] = {}
    for t, o, event in events:
        for side in ("inputs", "outputs"):
            for ds in event.get(side) or []:
                if not isinstance(ds, dict):
                    continue
                key = (ds.get("namespace"), ds.get("name"))
                cat = _catalog_name(ds, catalog_ns)
                if cat:
                    names[key] = cat
                cl = (ds.get("facets") or {}).get("columnLineage")
                if side == "outputs" and isinstance(cl, dict):
                    if key not in latest or (t, o) >= latest[key][:2]:
                        latest[key] = (t, o, cl)
    unmapped: set[str] = set()

    def name_of(ns: Any, name: Any) -> str:
        if (ns, name) in names:
            return names[(ns, name)]
        unmapped.add(f"{ns}:{name}")
        return f"{ns}:{name}"

    tables: dict[str, dict[str, dict[str, set[str]]]] = {}
    for key, (_, _, cl) in latest.items():
        table = name_of(*key)
        dataset_level = {f"{name_of(i.get('namespace'), i.get('name'))}.{i.get('field')}" for i in cl.get("dataset") or [] if isinstance(i, dict)}
        cols: dict[str, dict[str, set[str]]] = {}
        for col, spec in (cl.get("fields") or {}).items():
            direct, indirect = set(), set(dataset_level)
            for i in (spec or {}).get("inputFields") or []:
                if not isinstance(i, dict):
                    continue
                ref = f"{name_of(i.get('namespace'), i.get('name'))}.{i.get('field')}"
                types = {str(t.get("type", "")).upper() for t in i.get("transformations") or [] if isinstance(t, dict)}
                if not types or "DIRECT" in types:
                    direct.add(ref)
                if "INDIRECT" in types:
                    indirect.add(ref)
            cols[col] = {"direct": direct, "indirect": indirect}
        tables[table] = cols
    return EngineLineage(tables, unmapped)


# --- comparing -----------------------------------------------------------------------------------

@dataclass
class Row:
    table: str
    column: str
    kind: str
    extractor_only: list[str]
    engine_only: list[str]
    note: str = ""
    reason: str | None = None


def compare(extracted, engine: EngineLineage, kinds: list[str], tables: list[str] | None, top: bool) -> tuple[list[Row], int]:
    rows: list[Row] = []
    compared = 0
    engine_tables = engine.tables
    for table in tables or sorted(extracted):
        ext_cols = extracted.get(table)
        eng_cols = engine_tables.get(table)
        if ext_cols is None:
            rows.append(Row(table, "*", "*", [], [], "not in the extractor's output"))
            continue
        if eng_cols is None:
            rows.append(Row(table, "*", "*", [], [], "no columnLineage for this table in the engine's events"))
            continue
        for col in sorted(set(ext_cols) | set(eng_cols)):
            compared += 1
            note = "absent in engine" if col not in eng_cols else "absent in extractor" if col not in ext_cols else ""
            for kind in kinds:
                a = ext_cols.get(col, {}).get(kind, set())
                b = eng_cols.get(col, {}).get(kind, set())
                if top:
                    a, b = _cut(a), _cut(b)
                if a != b:
                    rows.append(Row(table, col, kind, sorted(a - b), sorted(b - a), note))
    return rows, compared


def _cut(refs: set[str]) -> set[str]:
    """For --top-level-fields: catalog tables are <layer>.<table>, so keep
    <layer>.<table>.<top-level column> (silver.x.reading.temperature_c -> silver.x.reading)."""
    out = set()
    for r in refs:
        parts = r.split(".")
        out.add(".".join(parts[:3]) if len(parts) > 3 else r)
    return out


def load_explained(path: str | None) -> list[dict]:
    if not path:
        return []
    items = _load_json(path)
    if not isinstance(items, list) or not all(isinstance(i, dict) and {"table", "column", "reason"} <= set(i) for i in items):
        raise UsageError(f"{path}: expected a JSON list of {{table, column, reason}} (kind optional)")
    return items


def explain(rows: list[Row], explained: list[dict]) -> list[dict]:
    used = [False] * len(explained)
    for row in rows:
        for n, e in enumerate(explained):
            if e["table"] == row.table and e["column"] in ("*", row.column) and e.get("kind", row.kind) in (row.kind, "*"):
                row.reason = e["reason"]
                used[n] = True
                break
    return [e for e, u in zip(explained, used) if not u]


def render(rows: list[Row]) -> str:
    head = ("TABLE", "COLUMN", "KIND", "ONLY IN EXTRACTOR", "ONLY IN ENGINE", "EXPLAINED")
    body = [
        (
            r.table,
            r.column + (f" ({r.note})" if r.note else ""),
            r.kind,
            ", ".join(r.extractor_only) or "-",
            ", ".join(r.engine_only) or "-",
            r.reason or "NO",
        )
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head) - 1)]
    lines = []
    for cells in [head] + body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1])
    return "\n".join(line.rstrip() for line in lines)


def _load_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extracted", required=True, help="sql_lineage.py's output")
    ap.add_argument("--lineage", required=True, nargs="+", help="the engine's lineage NDJSON files or folders")
    ap.add_argument("--alias", action="append", default=[], metavar="[TABLE:]ALIAS=CATALOG_TABLE", help="e.g. input=bronze.orders or silver.orders:input=bronze.orders; repeatable")
    ap.add_argument("--aliases-from", metavar="EXAMPLES_JSON", help="take the aliases of each entry of extract_sql.py's output")
    ap.add_argument("--explained", metavar="FILE", help="JSON list of {table, column, reason[, kind]}; column '*' = all")
    ap.add_argument("--kinds", default="direct", help="direct, indirect or direct,indirect (default: direct)")
    ap.add_argument("--tables", help="comma-separated catalog tables to compare (default: every table of --extracted)")
    ap.add_argument("--catalog-namespace", help="use only symlinks identifiers of this namespace, e.g. medallion://dev")
    ap.add_argument("--top-level-fields", action="store_true", help="compare struct fields by their top-level column (t.reading.temperature_c as t.reading)")
    args = ap.parse_args(argv)
    try:
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
        if not kinds or set(kinds) - set(KINDS):
            raise UsageError(f"--kinds {args.kinds!r}: use direct, indirect or direct,indirect")
        aliases = [parse_alias(a) for a in args.alias]
        if args.aliases_from:
            aliases = aliases_from(args.aliases_from) + aliases  # command-line ones win
        extracted = load_extracted(args.extracted, aliases)
        engine = load_engine(args.lineage, args.catalog_namespace)
        explained = load_explained(args.explained)
        tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
    except UsageError as exc:
        print(f"cross_check.py: {exc}", file=sys.stderr)
        return 2
    rows, compared = compare(extracted, engine, kinds, tables, args.top_level_fields)
    compared_tables = set(tables or extracted)
    unused = [e for e in explain(rows, explained) if e["table"] in compared_tables]
    if rows:
        print(render(rows))
    unexplained = sum(1 for r in rows if r.reason is None)
    print(f"{compared} columns compared ({', '.join(kinds)}), {len(rows)} differences, {len(rows) - unexplained} explained, {unexplained} unexplained")
    for u in sorted(engine.unmapped):
        print(f"cross_check.py: warning: dataset {u} has no symlinks catalog name", file=sys.stderr)
    for e in unused:
        print(f"cross_check.py: warning: explanation not used (stale?): {json.dumps(e)}", file=sys.stderr)
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
