//! `medallion quality report` on the example project: per-pipeline and per-rule numbers from
//! the audit trail, schema rejections, freshness against the spec's `freshness`, the three
//! formats, and the report's own audit record.

use std::path::Path;

mod common;
use common::{edit, medallion_with_fault, project};

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = medallion_with_fault(dir, None, args);
    assert_eq!(code, Some(0), "medallion {args:?}\n{out}\n{err}");
    out
}

#[test]
fn the_report_counts_what_the_runs_recorded() {
    let dir = project();
    let d = dir.path();
    edit(
        d,
        "jobs/shop/orders.yaml",
        "pipeline: orders\n",
        "pipeline: orders\nfreshness: { expect_every: 24h }\n",
    );
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let r: serde_json::Value = serde_json::from_str(&ok(
        d,
        &[
            "quality", "report", "--env", "dev", "--since", "1d", "--top", "2", "--format", "json",
        ],
    ))
    .unwrap();
    assert_eq!(r["format_version"], 2);
    let orders = r["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pipeline"] == "orders")
        .unwrap();
    let t = &orders["totals"];
    // 14 rows reached Bronze and 2 were unparseable; 2 refused by typing, 1 by each of two
    // quarantine rules; the second run found no new file.
    assert_eq!(
        (t["runs"].as_u64(), t["input_rows"].as_u64()),
        (Some(2), Some(16)),
        "{t}"
    );
    assert_eq!(t["quarantined"], 6);
    assert_eq!(t["schema_rejected"], 4, "bronze:parse 2 + silver:schema 2");
    assert_eq!(t["dropped"], 1);
    assert_eq!(orders["rules"].as_array().unwrap().len(), 2, "--top 2");
    assert_eq!(orders["quarantine_reasons"][0]["rows"], 2);
    assert_eq!(orders["runs"][0]["rules"]["some_orders"]["checked"], 1);
    let fresh = |table: &str| {
        r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["table"] == table)
            .unwrap()
            .clone()
    };
    assert_eq!(fresh("silver.orders")["status"], "fresh");
    assert_eq!(fresh("silver.orders")["expect_every"], "24h");
    assert_eq!(fresh("silver.customers")["status"], "no_expectation");

    markdown_html_and_the_audit_record(d);
}

fn markdown_html_and_the_audit_record(d: &Path) {
    let md = ok(d, &["quality", "report", "--env", "dev"]);
    assert!(
        md.contains("## orders") && md.contains("| silver:schema | 2 |"),
        "{md}"
    );
    let html = ok(
        d,
        &["quality", "report", "--env", "dev", "--format", "html"],
    );
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<h2>orders</h2>"));
    let trail = ok(d, &["audit", "--env", "dev", "--format", "json"]);
    assert!(trail.contains("\"quality_reported\""));
    ok(d, &["audit", "verify", "--env", "dev"]);
}

#[test]
fn since_is_parsed_like_the_audit_commands() {
    let dir = project();
    let (code, _, err) = medallion_with_fault(
        dir.path(),
        None,
        &["quality", "report", "--env", "dev", "--since", "yesterday"],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is not a time"), "{err}");
}

#[test]
fn a_bad_freshness_names_file_and_field() {
    let dir = project();
    let d = dir.path();
    edit(
        d,
        "jobs/shop/orders.yaml",
        "pipeline: orders\n",
        "pipeline: orders\nfreshness: { expect_every: daily }\n",
    );
    let (code, _, err) = medallion_with_fault(d, None, &["validate", "jobs/shop"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("orders.yaml") && err.contains("freshness.expect_every"),
        "{err}"
    );
}

/// Copies of the example orders files under new names: `n` more runs' worth of input.
fn more_orders(d: &Path, tag: &str, copies: usize) {
    let dir = d.join("testdata/shop/orders");
    let originals: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| !p.to_string_lossy().contains("-copy-"))
        .collect();
    for i in 0..copies {
        for f in &originals {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let (stem, ext) = name.rsplit_once('.').unwrap();
            std::fs::copy(f, dir.join(format!("{stem}-copy-{tag}{i}.{ext}"))).unwrap();
        }
    }
}

/// Three runs reading one copy of the orders each, then one reading three: the fourth run's
/// input is 3x the mean of the three before it, a `row_count` anomaly; the steady runs are not.
#[test]
fn a_run_far_above_its_history_is_an_anomaly() {
    let dir = project();
    let d = dir.path();
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    for tag in ["a", "b"] {
        more_orders(d, tag, 1);
        ok(d, &["run", "jobs/shop", "--env", "dev"]);
    }
    more_orders(d, "c", 3);
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let r: serde_json::Value = serde_json::from_str(&ok(
        d,
        &["quality", "report", "--env", "dev", "--format", "json"],
    ))
    .unwrap();
    let orders = r["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pipeline"] == "orders")
        .unwrap();
    let anomalies = orders["anomalies"].as_array().unwrap();
    assert_eq!(anomalies.len(), 1, "{anomalies:#?}");
    assert_eq!(anomalies[0]["kind"], "row_count");
    assert_eq!(anomalies[0]["value"], 48.0);
    assert_eq!(anomalies[0]["baseline"], 16.0);
    assert_eq!(orders["runs"][3]["run_id"], anomalies[0]["run_id"]);
    let md = ok(d, &["quality", "report", "--env", "dev"]);
    assert!(md.contains("**anomaly** (row_count"), "{md}");
}

fn orders_of(r: &serde_json::Value) -> serde_json::Value {
    r["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pipeline"] == "orders")
        .unwrap()
        .clone()
}

/// A run that failed before committing (its `on_fail: fail` rule stopped it) and the same
/// input run again: the quarantine holds one run's rows, and so do the report, the compliance
/// `quarantine-rate` control and the promotion gate; the aborted run is shown apart.
#[test]
fn a_run_that_failed_before_committing_is_not_counted() {
    let dir = project();
    let d = dir.path();
    let loose = "row_count: { min: 0, max: 1000000 }";
    edit(
        d,
        "jobs/shop/orders.yaml",
        loose,
        "row_count: { min: 1000 }",
    );
    let (code, out, err) = medallion_with_fault(d, None, &["run", "jobs/shop", "--env", "dev"]);
    assert_ne!(code, Some(0), "{out}\n{err}");
    edit(
        d,
        "jobs/shop/orders.yaml",
        "row_count: { min: 1000 }",
        loose,
    );
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let r: serde_json::Value = serde_json::from_str(&ok(
        d,
        &["quality", "report", "--env", "dev", "--format", "json"],
    ))
    .unwrap();
    let orders = orders_of(&r);
    let t = &orders["totals"];
    assert_eq!(
        (t["quarantined"].as_u64(), t["input_rows"].as_u64()),
        (Some(6), Some(16)),
        "{t}"
    );
    assert_eq!(
        (t["aborted"].as_u64(), t["aborted_quarantined"].as_u64()),
        (Some(1), Some(6)),
        "{t}"
    );
    assert_eq!(orders["quarantine_reasons"][0]["rows"], 2);
    let failed = &orders["runs"][0];
    assert_eq!(failed["aborted"], true, "{failed}");
    assert_eq!(
        failed["quarantine_rate"],
        serde_json::Value::Null,
        "n/a: no input committed"
    );
    let md = ok(d, &["quality", "report", "--env", "dev"]);
    assert!(md.contains("aborted: would have quarantined 6"), "{md}");
    // The compliance report's exit code judges its controls; its evidence is what matters here.
    let (_, c, _) = medallion_with_fault(d, None, &["compliance", "report", "--env", "dev"]);
    assert!(c.contains("orders: 6 of 16 input rows quarantined"), "{c}");
}

/// Gold recomputed by an erasure is recorded as a run whose parent is the erasure: it is
/// listed as a recompute, not counted as a run of the pipeline.
#[test]
fn a_gold_recompute_by_an_erasure_is_not_a_run() {
    let dir = project();
    let d = dir.path();
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let erase = [
        "erase",
        "--env",
        "dev",
        "--subject",
        "customer",
        "--key",
        "C002",
        "--reason",
        "t",
    ];
    ok(d, &erase);
    let r: serde_json::Value = serde_json::from_str(&ok(
        d,
        &["quality", "report", "--env", "dev", "--format", "json"],
    ))
    .unwrap();
    let orders = orders_of(&r);
    let t = &orders["totals"];
    assert_eq!(
        (t["runs"].as_u64(), t["recomputes"].as_u64()),
        (Some(1), Some(1)),
        "{t}"
    );
    let runs = orders["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(runs[1]["kind"], "recompute", "{runs:#?}");
    let md = ok(d, &["quality", "report", "--env", "dev"]);
    assert!(md.contains("1 recompute(s) by other operations"), "{md}");
}

fn freshness_of(r: &serde_json::Value, table: &str) -> serde_json::Value {
    r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["table"] == table)
        .unwrap_or_else(|| panic!("{table} not listed: {r}"))
        .clone()
}

/// An erasure rewrites Silver and recomputes Gold after the pipeline's last run: that is not
/// fresh data, the tables go stale on the run's clock.
#[test]
fn an_erasure_does_not_make_a_table_fresh() {
    let dir = project();
    let d = dir.path();
    edit(
        d,
        "jobs/shop/orders.yaml",
        "pipeline: orders\n",
        "pipeline: orders\nfreshness: { expect_every: 3s }\n",
    );
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    std::thread::sleep(std::time::Duration::from_secs(4));
    let erase = [
        "erase",
        "--env",
        "dev",
        "--subject",
        "customer",
        "--key",
        "C002",
        "--reason",
        "t",
    ];
    ok(d, &erase);
    let r: serde_json::Value = serde_json::from_str(&ok(
        d,
        &["quality", "report", "--env", "dev", "--format", "json"],
    ))
    .unwrap();
    for t in ["silver.orders", "gold.daily_revenue"] {
        assert_eq!(freshness_of(&r, t)["status"], "stale", "{t}: {r:#}");
    }
}

/// A pipeline that declares freshness and never ran: its tables are listed as missing.
#[test]
fn a_declared_table_not_in_the_lake_is_missing() {
    let dir = project();
    let d = dir.path();
    edit(
        d,
        "jobs/shop/orders.yaml",
        "pipeline: orders\n",
        "pipeline: orders\nfreshness: { expect_every: 24h }\n",
    );
    ok(d, &["run", "jobs/shop/customers.yaml", "--env", "dev"]);
    let r: serde_json::Value = serde_json::from_str(&ok(
        d,
        &["quality", "report", "--env", "dev", "--format", "json"],
    ))
    .unwrap();
    let orders = freshness_of(&r, "silver.orders");
    assert_eq!(orders["status"], "missing", "{orders}");
    assert_eq!(orders["last_commit"], serde_json::Value::Null);
    assert_eq!(freshness_of(&r, "gold.daily_revenue")["status"], "missing");
    let md = ok(d, &["quality", "report", "--env", "dev"]);
    assert!(
        md.contains("| silver.orders | orders | - (v-) | - | 24h | **MISSING** |"),
        "{md}"
    );
}
