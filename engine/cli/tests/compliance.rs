//! `medallion compliance report` on the example project: a good environment passes (or is
//! NOT-APPLICABLE where a control cannot apply to a local dev lake), and a deliberately bad
//! one fails exactly the controls it breaks.

use std::collections::BTreeSet;
use std::path::Path;

mod common;
use common::{edit, medallion_with_fault, project};

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = medallion_with_fault(dir, None, args);
    assert_eq!(code, Some(0), "medallion {args:?}\n{out}\n{err}");
    out
}

/// The example project with a column that dates each Silver table's rows (the examples'
/// Silver SQL keeps no `_ingest_time`, so without it retention cannot be enforced there).
fn dated_project() -> tempfile::TempDir {
    let dir = project();
    let d = dir.path();
    for (file, dedupe, column) in [
        (
            "jobs/shop/orders.yaml",
            "[order_id], latest_by: updated_at }",
            "updated_at",
        ),
        (
            "jobs/shop/customers.yaml",
            "[customer_id], latest_by: updated_at }",
            "updated_at",
        ),
        (
            "jobs/iot/sensor_readings.yaml",
            "[device_id, reading_ts], latest_by: received_at }",
            "received_at",
        ),
        (
            "jobs/streaming/clickstream.yaml",
            "[event_id] }",
            "viewed_at",
        ),
    ] {
        let line = format!("  dedupe: {{ keys: {dedupe}\n");
        edit(
            d,
            file,
            &line,
            &format!("{line}  retention: {{ column: {column} }}\n"),
        );
    }
    dir
}

/// The report as JSON, and its exit code.
fn report(d: &Path) -> (i32, serde_json::Value) {
    let (code, out, err) = medallion_with_fault(
        d,
        None,
        &["compliance", "report", "--env", "dev", "--format", "json"],
    );
    let r = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"));
    (code.expect("exited"), r)
}

fn with_status(r: &serde_json::Value, status: &str) -> BTreeSet<String> {
    r["controls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_maintained_environment_passes() {
    let dir = dated_project();
    let d = dir.path();
    ok(d, &["run", "jobs", "--env", "dev"]);
    ok(d, &["maintain", "--env", "dev"]);
    let (code, r) = report(d);
    assert_eq!(with_status(&r, "FAIL"), set(&[]), "{r:#}");
    assert_eq!(code, 0);
    // A local lake, no promote_from, no erasure: honestly not applicable, each saying why.
    assert_eq!(
        with_status(&r, "NOT-APPLICABLE"),
        set(&["encryption-at-rest", "promotion-gates", "erasure-sla"])
    );
    for c in r["controls"].as_array().unwrap() {
        assert!(!c["evidence"].as_array().unwrap().is_empty(), "{c}");
        assert!(!c["frameworks"].as_array().unwrap().is_empty(), "{c}");
    }
    let md = ok(d, &["compliance", "report", "--env", "dev"]);
    assert!(md.contains("| retention | PASS |"), "{md}");
    let trail = ok(d, &["audit", "--env", "dev", "--format", "json"]);
    assert!(
        trail.contains("\"compliance_reported\""),
        "the report's generation is recorded"
    );
    ok(d, &["audit", "verify", "--env", "dev"]);
}

/// Data past retention (maintain never run), a raw PII column in Gold, one audit record
/// tampered with: exactly retention, pii-protected, audit-chain fail, plus
/// classification-coverage, which the raw Gold column also breaks (Gold columns carry no
/// classification, and its sampled values are phone numbers).
#[test]
fn a_neglected_environment_fails_exactly_what_it_breaks() {
    let dir = dated_project();
    let d = dir.path();
    edit(
        d,
        "jobs/shop/customers.yaml",
        "    phone: mask\n",
        "  pii_allow: { phone: \"support calls back\" }\n",
    );
    let spec = d.join("jobs/shop/customers.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("{text}gold:\n  - table: gold.customer_phones\n    sql: SELECT customer_id, phone FROM silver.customers\n")).unwrap();
    ok(d, &["run", "jobs", "--env", "dev"]);
    let record = d.join("lake/dev/_medallion/audit/00000000000000000003.json");
    let text = std::fs::read_to_string(&record).unwrap();
    let tampered = text.replacen("\"host\":\"", "\"host\":\"elsewhere-", 1);
    assert_ne!(text, tampered);
    std::fs::write(&record, tampered).unwrap();

    let (code, r) = report(d);
    assert_eq!(
        with_status(&r, "FAIL"),
        set(&[
            "retention",
            "pii-protected",
            "classification-coverage",
            "audit-chain"
        ]),
        "{r:#}"
    );
    assert_eq!(code, 1);
    let evidence = |id: &str| -> String {
        let c = r["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        c["evidence"].to_string()
    };
    assert!(
        evidence("retention").contains("silver.orders (silver): 30 days (environment): holds"),
        "{}",
        evidence("retention")
    );
    assert!(evidence("pii-protected").contains("gold.customer_phones.phone"));
    assert!(evidence("audit-chain").contains("record 4 does not follow the record before it"));
    let html = medallion_with_fault(
        d,
        None,
        &["compliance", "report", "--env", "dev", "--format", "html"],
    )
    .1;
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<span class=\"FAIL\">FAIL</span>")
    );
}
