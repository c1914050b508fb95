"""Self-test of validate.py: a hand-written valid run passes, and each kind of fault is caught.

Run: python3 -m pytest tools/openlineage
The schema tests need the spec folder (validate.find_spec_dir); without it they are skipped with
the reason, and only the profile tests run.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import validate  # noqa: E402

PRODUCER = "https://example.invalid/medallion/0.1.0"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
FACETS = "https://openlineage.io/spec/facets"
LAKE = "/work/main/lake/dev"
RUN_ID = "0190a3c2-5d1e-7b3a-9f00-1234567890ab"


def facet(url: str, **fields):
    return {"_producer": PRODUCER, "_schemaURL": url, **fields}


def table(layer: str, name: str, columns: list[tuple[str, str]], **facets):
    return {
        "namespace": "file",
        "name": f"{LAKE}/{layer}/{name}",
        "facets": {
            "symlinks": facet(
                f"{FACETS}/1-0-1/SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet",
                identifiers=[{"namespace": "medallion://dev", "name": f"{layer}.{name}", "type": "TABLE"}],
            ),
            "schema": facet(
                f"{FACETS}/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                fields=[{"name": c, "type": t} for c, t in columns],
            ),
            **facets,
        },
    }


def field_from(col: str, ttype: str = "DIRECT", subtype: str = "IDENTITY", **extra):
    return {
        "namespace": "file",
        "name": f"{LAKE}/bronze/orders",
        "field": col,
        "transformations": [{"type": ttype, "subtype": subtype, **extra}],
    }


def run_events():
    """START and COMPLETE of the Silver stage of the orders pipeline, as the engine should emit."""
    bronze = table("bronze", "orders", [("order_id", "STRING"), ("amount", "DECIMAL(12,2)"), ("items", "LIST")])
    bronze["inputFacets"] = {
        "dataQualityMetrics": facet(
            f"{FACETS}/1-0-3/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet",
            rowCount=4,
            columnMetrics={"amount": {"nullCount": 0, "min": 0.0, "max": 120.5}},
        )
    }
    silver = table(
        "silver",
        "orders",
        [("order_id", "STRING"), ("amount", "DECIMAL(12,2)"), ("line_count", "INT")],
        columnLineage=facet(
            f"{FACETS}/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
            fields={
                "order_id": {"inputFields": [field_from("order_id")]},
                "amount": {"inputFields": [field_from("amount")]},
                "line_count": {
                    "inputFields": [field_from("items", subtype="TRANSFORMATION", description="cardinality(items)", masking=False)]
                },
            },
            dataset=[field_from("amount", "INDIRECT", "FILTER", description="rule amount_non_negative")],
        ),
    )
    silver["outputFacets"] = {
        "outputStatistics": facet(
            f"{FACETS}/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
            rowCount=3,
            size=2048,
        )
    }
    base = {
        "producer": PRODUCER,
        "schemaURL": f"{CORE}#/$defs/RunEvent",
        "run": {
            "runId": RUN_ID,
            "facets": {
                "processing_engine": facet(
                    f"{FACETS}/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
                    version="0.1.0",
                    name="medallion",
                ),
                "parent": facet(
                    f"{FACETS}/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
                    run={"runId": "0190a3c2-5d1e-7b3a-9f00-000000000001"},
                    job={"namespace": "medallion://dev", "name": "orders"},
                ),
            },
        },
        "job": {
            "namespace": "medallion://dev",
            "name": "orders.silver",
            "facets": {
                "jobType": facet(
                    f"{FACETS}/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
                    processingType="BATCH",
                    integration="MEDALLION",
                    jobType="TASK",
                ),
                "sql": facet(
                    f"{FACETS}/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
                    query="SELECT order_id, amount, cardinality(items) AS line_count FROM input",
                    dialect="datafusion",
                ),
            },
        },
        "inputs": [bronze],
    }
    start = {**copy.deepcopy(base), "eventType": "START", "eventTime": "2026-11-02T10:00:00.000Z"}
    complete = {
        **copy.deepcopy(base),
        "eventType": "COMPLETE",
        "eventTime": "2026-11-02T10:00:03.250+01:00",
        "outputs": [silver],
    }
    return start, complete


def col_lineage(event):
    return event["outputs"][0]["facets"]["columnLineage"]


def broken(mutate):
    _, complete = run_events()
    mutate(complete)
    return complete


# Each invalid event: (name, mutation, a fragment that the reported path must contain, its source)
INVALID = [
    ("missing eventTime", lambda e: e.pop("eventTime"), "$", "spec"),
    ("wrong eventType", lambda e: e.update(eventType="DONE"), "$.eventType", "spec"),
    ("eventTime not RFC 3339", lambda e: e.update(eventTime="2026-11-02 10:00"), "$.eventTime", "spec"),
    ("runId not a UUID", lambda e: e["run"].update(runId="run-42"), "$.run.runId", "spec"),
    ("facet without _producer", lambda e: e["job"]["facets"]["sql"].pop("_producer"), "$.job.facets.sql", "spec"),
    (
        "bad columnLineage transformation type",
        lambda e: col_lineage(e)["fields"]["amount"]["inputFields"][0]["transformations"][0].update(type="COPY"),
        ".columnLineage.fields.amount.inputFields[0].transformations[0].type",
        "profile",
    ),
    (
        "columnLineage transformation without type",
        lambda e: col_lineage(e)["fields"]["amount"]["inputFields"][0]["transformations"][0].pop("type"),
        "$.outputs[0].facets.columnLineage.fields.amount.inputFields[0].transformations[0]",
        "facet ColumnLineageDatasetFacet.json",
    ),
    (
        "columnLineage inputField without field",
        lambda e: col_lineage(e)["fields"]["order_id"]["inputFields"][0].pop("field"),
        "$.outputs[0].facets.columnLineage.fields.order_id.inputFields[0]",
        "facet ColumnLineageDatasetFacet.json",
    ),
    (
        "schema facet field without name",
        lambda e: e["outputs"][0]["facets"]["schema"]["fields"][0].pop("name"),
        "$.outputs[0].facets.schema.fields[0]",
        "facet SchemaDatasetFacet.json",
    ),
    (
        "symlinks identifier without type",
        lambda e: e["outputs"][0]["facets"]["symlinks"]["identifiers"][0].pop("type"),
        "$.outputs[0].facets.symlinks.identifiers[0]",
        "facet SymlinksDatasetFacet.json",
    ),
    (
        "jobType without integration",
        lambda e: e["job"]["facets"]["jobType"].pop("integration"),
        "$.job.facets.jobType",
        "facet JobTypeJobFacet.json",
    ),
    (
        "dataQualityMetrics without columnMetrics",
        lambda e: e["inputs"][0]["inputFacets"]["dataQualityMetrics"].pop("columnMetrics"),
        "$.inputs[0].inputFacets.dataQualityMetrics",
        "facet DataQualityMetricsInputDatasetFacet.json",
    ),
    (
        "lineage from a dataset that is not an input",
        lambda e: col_lineage(e)["fields"]["amount"]["inputFields"][0].update(name=f"{LAKE}/bronze/other"),
        ".columnLineage.fields.amount.inputFields[0]",
        "profile",
    ),
    ("file dataset named by a relative path", lambda e: e["inputs"][0].update(name="lake/dev/bronze/orders"), "$.inputs[0].name", "profile"),
]


def spec_or_skip():
    """The spec, or a skip; OPENLINEAGE_REQUIRE_SPEC=1 (for CI) makes its absence a failure."""
    try:
        return validate.load_spec(validate.find_spec_dir(None))
    except validate.UsageError as exc:
        if os.environ.get("OPENLINEAGE_REQUIRE_SPEC") == "1":
            pytest.fail(f"OpenLineage schemas not available: {exc}")
        pytest.skip(f"OpenLineage schemas not available: {exc}")


@pytest.fixture(scope="module")
def validator():
    return validate.Validator(spec_or_skip())


def test_valid_run_passes(validator):
    for event in run_events():
        result = validator.validate(event)
        assert result.problems == [], [p.render() for p in result.problems]
        assert result.warnings == []


@pytest.mark.parametrize("name,mutate,path,source", INVALID, ids=[i[0] for i in INVALID])
def test_invalid_event_is_caught(validator, name, mutate, path, source):
    problems = validator.validate(broken(mutate)).problems
    assert problems, f"{name}: not caught"
    assert any(path in p.path and p.source == source for p in problems), [p.render() for p in problems]


def test_unknown_facet_is_a_warning_or_strict_error(validator):
    event = broken(lambda e: e["run"]["facets"].update(custom=facet("https://example.invalid/Custom.json#/$defs/Custom", x=1)))
    assert validator.validate(event).problems == []
    assert any("custom" in w for w in validator.validate(event).warnings)
    strict = validate.Validator(validator.spec, strict=True)
    assert strict.validate(event).problems


def test_profile_without_schemas():
    # The profile checks need no schema files, so they run even where the spec folder is absent.
    event = broken(lambda e: col_lineage(e)["dataset"][0]["transformations"][0].update(type="DIRECT", subtype="IDENTITY"))
    assert any(p.path.endswith(".dataset[0].transformations[0].type") for p in validate.profile_problems(event))
    assert validate.profile_problems(run_events()[1]) == []


def write_ndjson(path: Path, events) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    return path


def test_cli(tmp_path, capsys, validator):
    good = tmp_path / "lineage"
    good.mkdir()
    write_ndjson(good / "2026-11-02.ndjson", run_events())
    assert validate.main([str(good)]) == 0
    assert capsys.readouterr().out.strip().endswith("2 events, 0 invalid")

    bad = write_ndjson(tmp_path / "bad.ndjson", [run_events()[0], "", broken(lambda e: e.update(eventType="DONE")), "{not json"])
    assert validate.main([str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "3 events, 2 invalid"
    assert out[0].startswith(f"{bad}:3: $.eventType: ") and "[spec]" in out[0]
    assert out[1].startswith(f"{bad}:4: $: not JSON")

    empty = tmp_path / "empty"
    empty.mkdir()
    assert validate.main([str(empty)]) == 1
    assert capsys.readouterr().out.strip() == "0 events, 0 invalid"

    assert validate.main([str(tmp_path / "missing")]) == 2
    with pytest.raises(SystemExit) as exc:
        validate.main([])
    assert exc.value.code == 2


def test_spec_files_are_the_recorded_ones(tmp_path):
    spec_or_skip()
    spec_dir = validate.find_spec_dir(None)
    copy_dir = tmp_path / "spec"
    (copy_dir / "facets").mkdir(parents=True)
    for rel in validate.expected_hashes():
        (copy_dir / rel).write_bytes((spec_dir / rel).read_bytes())
    validate.load_spec(copy_dir)
    core = copy_dir / "OpenLineage.json"
    core.write_text(core.read_text().replace('"START"', '"BEGIN"'))
    with pytest.raises(validate.UsageError, match="sha256"):
        validate.load_spec(copy_dir)

