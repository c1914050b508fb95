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
    assert_eq!(r["format_version"], 1);
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
