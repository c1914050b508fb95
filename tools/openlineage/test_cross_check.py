"""Tests of extract_sql.py, sql_lineage.py and cross_check.py (python3 -m pytest tools/openlineage)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import cross_check  # noqa: E402
import extract_sql  # noqa: E402
import sql_lineage  # noqa: E402

LAKE = "/work/main/lake/dev"
PRODUCER = "https://example.invalid/medallion/0.1.0"
CL_URL = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
SYM_URL = "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet"


def test_examples_json_is_in_sync_with_jobs():
    assert extract_sql.main(["--check", str(HERE / "examples.json")]) == 0


def test_examples_lineage_is_what_openlineage_sql_gives():
    items = sql_lineage.load_input(str(HERE / "examples.json"))
    result, problems = sql_lineage.extract(items)
    assert problems == []
    assert result == json.loads((HERE / "examples.lineage.json").read_text())


def test_sql_lineage_reports_parse_errors_and_refuses_unknown_dialects(tmp_path, capsys):
    src = tmp_path / "in.json"
    src.write_text(json.dumps([{"name": "t", "sql": "SELEC a FROM", "dialect": "generic"}]))
    assert sql_lineage.main([str(src)]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"t": {}} and "could not parse" in captured.err
    src.write_text(json.dumps([{"name": "t", "sql": "SELECT a FROM b", "dialect": "datafusion"}]))
    assert sql_lineage.main([str(src)]) == 2


# --- cross_check on events written as the engine should write them -------------------------------

def ds(layer: str, table: str, **facets):
    return {
        "namespace": "file",
        "name": f"{LAKE}/{layer}/{table}",
        "facets": {
            "symlinks": {
                "_producer": PRODUCER,
                "_schemaURL": SYM_URL,
                "identifiers": [{"namespace": "medallion://dev", "name": f"{layer}.{table}", "type": "TABLE"}],
            },
            **facets,
        },
    }


def inp(layer, table, field, ttype="DIRECT", subtype="IDENTITY"):
    return {"namespace": "file", "name": f"{LAKE}/{layer}/{table}", "field": field, "transformations": [{"type": ttype, "subtype": subtype}]}


def event(time, inputs, output, fields, dataset=()):
    cl = {"_producer": PRODUCER, "_schemaURL": CL_URL, "fields": {c: {"inputFields": f} for c, f in fields.items()}, "dataset": list(dataset)}
    return {
        "eventType": "COMPLETE",
        "eventTime": time,
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0190a3c2-5d1e-7b3a-9f00-1234567890ab"},
        "job": {"namespace": "medallion://dev", "name": "orders"},
        "inputs": inputs,
        "outputs": [{**output, "facets": {**output["facets"], "columnLineage": cl}}],
    }


def engine_events(revenue_extra=()):
    silver_cols = ["order_id", "customer_id", "amount", "currency", "status", "ordered_at", "updated_at"]
    silver = event(
        "2026-11-02T10:00:03Z",
        [ds("bronze", "orders")],
        ds("silver", "orders"),
        {**{c: [inp("bronze", "orders", c)] for c in silver_cols}, "line_count": [inp("bronze", "orders", "items", subtype="TRANSFORMATION")]},
        [inp("bronze", "orders", "order_id", "INDIRECT", "WINDOW"), inp("bronze", "orders", "amount", "INDIRECT", "FILTER")],
    )
    gold = event(
        "2026-11-02T10:00:05Z",
        [ds("silver", "orders"), ds("silver", "customers")],
        ds("gold", "revenue_by_country"),
        {
            "country": [inp("silver", "customers", "country")],
            "orders": [],
            "revenue": [inp("silver", "orders", "amount", subtype="AGGREGATION"), *revenue_extra],
        },
        [inp("silver", "orders", "status", "INDIRECT", "FILTER"), inp("silver", "customers", "customer_id", "INDIRECT", "JOIN")],
    )
    return [silver, gold]


def run(tmp_path, capsys, events, *extra):
    lineage = tmp_path / "lineage"
    lineage.mkdir(exist_ok=True)
    (lineage / "2026-11-02.ndjson").write_text("".join(json.dumps(e) + "\n" for e in events))
    code = cross_check.main(
        [
            "--extracted", str(HERE / "examples.lineage.json"),
            "--lineage", str(lineage),
            "--tables", "silver.orders,gold.revenue_by_country",
            *extra,
        ]
    )
    return code, capsys.readouterr().out


def test_agreeing_lineage(tmp_path, capsys):
    code, out = run(tmp_path, capsys, engine_events(), "--alias", "silver.orders:input=bronze.orders")
    assert code == 0, out
    assert out.strip().endswith("11 columns compared (direct), 0 differences, 0 explained, 0 unexplained")


def test_aliases_from_examples(tmp_path, capsys):
    code, out = run(tmp_path, capsys, engine_events(), "--aliases-from", str(HERE / "examples.json"))
    assert code == 0, out


def test_without_alias_input_differs(tmp_path, capsys):
    code, out = run(tmp_path, capsys, engine_events())
    assert code == 1
    assert "input.order_id" in out and "bronze.orders.order_id" in out


def test_difference_and_explanation(tmp_path, capsys):
    events = engine_events(revenue_extra=[inp("silver", "orders", "currency", subtype="TRANSFORMATION")])
    code, out = run(tmp_path, capsys, events, "--alias", "input=bronze.orders")
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("gold.revenue_by_country"))
    assert "revenue" in row and "silver.orders.currency" in row and row.rstrip().endswith("NO")
    explained = tmp_path / "explained.json"
    explained.write_text(json.dumps([{"table": "gold.revenue_by_country", "column": "revenue", "reason": "currency conversion"}]))
    code, out = run(tmp_path, capsys, events, "--alias", "input=bronze.orders", "--explained", str(explained))
    assert code == 0, out
    assert "1 differences, 1 explained, 0 unexplained" in out


def test_indirect_needs_wildcard_explanations(tmp_path, capsys):
    code, out = run(tmp_path, capsys, engine_events(), "--alias", "input=bronze.orders", "--kinds", "direct,indirect")
    assert code == 1 and "0 differences" not in out
    explained = tmp_path / "explained.json"
    explained.write_text(
        json.dumps(
            [
                {"table": t, "column": "*", "kind": "indirect", "reason": "openlineage-sql reports no INDIRECT lineage"}
                for t in ("silver.orders", "gold.revenue_by_country")
            ]
        )
    )
    code, out = run(tmp_path, capsys, engine_events(), "--alias", "input=bronze.orders", "--kinds", "direct,indirect", "--explained", str(explained))
    assert code == 0, out


def test_latest_event_wins_and_usage_errors(tmp_path, capsys):
    older = engine_events(revenue_extra=[inp("silver", "orders", "currency")])
    for e in older:
        e["eventTime"] = "2026-11-01T10:00:00Z"
    code, out = run(tmp_path, capsys, older + engine_events(), "--alias", "input=bronze.orders")
    assert code == 0, out
    with pytest.raises(SystemExit):
        cross_check.main(["--extracted", "x.json"])
    assert cross_check.main(["--extracted", str(HERE / "examples.lineage.json"), "--lineage", str(tmp_path), "--alias", "nonsense"]) == 2
