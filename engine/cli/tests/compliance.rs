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
    edit(
        d,
        "environments.yaml",
        "    lake: ./lake/dev\n",
        "    lake: ./lake/dev\n    backup: { every: 24h }\n",
    );
    ok(d, &["run", "jobs", "--env", "dev"]);
    ok(d, &["maintain", "--env", "dev"]);
    // A recovery point objective and no backup yet: that control fails, naming why.
    let (code, r) = report(d);
    assert_eq!(with_status(&r, "FAIL"), set(&["backups"]), "{r:#}");
    assert_eq!(code, 1);
    assert!(
        control(&r, "backups").1.contains("no backup is recorded"),
        "{r:#}"
    );
    ok(d, &["backup", "--env", "dev", "--to", "bk"]);
    let (code, r) = report(d);
    assert_eq!(with_status(&r, "FAIL"), set(&[]), "{r:#}");
    assert_eq!(code, 0);
    // A local lake, no promote_from, no erasure: honestly not applicable, each saying why.
    assert_eq!(
        with_status(&r, "NOT-APPLICABLE"),
        set(&[
            "encryption-at-rest",
            "encryption-in-transit",
            "promotion-gates",
            "erasure-sla"
        ])
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

/// A new KMS key on the local server.
async fn kms_key() -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/", common::aws::endpoint()))
        .header("X-Amz-Target", "TrentService.CreateKey")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0")
        .body("{}")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    v["KeyMetadata"]["KeyId"].as_str().unwrap().to_string()
}

/// Writes `key`'s object again with `headers` (another key, or no SSE-KMS).
async fn put_again(bucket: &str, key: &str, headers: &[(&str, &str)]) {
    let bytes = common::aws::get_object(bucket, key).await;
    let mut req = reqwest::Client::new()
        .put(format!("{}/{bucket}/{key}", common::aws::endpoint()))
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.body(bytes).send().await.unwrap();
    assert!(r.status().is_success(), "PUT {key}: {}", r.status());
}

fn encryption_control(p: &Path) -> serde_json::Value {
    encryption_controls(p).0
}

/// The `encryption-at-rest` and `encryption-in-transit` controls of prod.
fn encryption_controls(p: &Path) -> (serde_json::Value, serde_json::Value) {
    let (_, out, err) = common::aws::medallion(
        p,
        &[
            "compliance",
            "report",
            "--env",
            "prod",
            "--format",
            "json",
            "--jobs",
            "jobs/shop/customers.yaml",
        ],
    );
    let r: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"));
    let control = |id: &str| {
        r["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    (
        control("encryption-at-rest"),
        control("encryption-in-transit"),
    )
}

/// On an S3 lake every sampled object is SSE-KMS with the environment's key; an object
/// rewritten with another environment's key, or without SSE-KMS, fails the control by name.
#[tokio::test]
async fn encryption_at_rest_is_checked_object_by_object_on_s3() {
    let (dir, bucket, _key, prefix) = common::aws::setup().await;
    let p = dir.path();
    let other = kms_key().await;
    let envs = std::fs::read_to_string(p.join("environments.yaml")).unwrap();
    std::fs::write(
        p.join("environments.yaml"),
        format!("{envs}  staging:\n    lake: s3://{bucket}/staging-lake\n    catalog: {{ glue: {{ database_prefix: {prefix}stg_ }} }}\n    kms_key: {other}\n    retention_days: 90\n"),
    )
    .unwrap();
    let (code, out, err) =
        common::aws::medallion(p, &["run", "jobs/shop/customers.yaml", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (c, transit) = encryption_controls(p);
    assert_eq!(c["status"], "PASS", "{c:#}");
    // The local S3 server speaks plain HTTP (AWS_ALLOW_HTTP=true): in transit, that FAILs.
    assert_eq!(transit["status"], "FAIL", "{transit:#}");
    assert!(
        transit["evidence"].to_string().contains("not HTTPS"),
        "{transit:#}"
    );
    assert!(
        c["evidence"]
            .to_string()
            .contains("silver.customers: 2 object(s) sampled, SSE-KMS"),
        "{c:#}"
    );
    a_foreign_key_and_no_key_fail(p, &bucket, &other).await;
}

/// One data file rewritten with `other`'s key (staging's), one without SSE-KMS.
async fn a_foreign_key_and_no_key_fail(p: &Path, bucket: &str, other: &str) {
    let keys = common::aws::list_keys(bucket, "lake/").await;
    let file = |table: &str| {
        keys.iter()
            .find(|k| k.starts_with(&format!("lake/{table}/")) && k.ends_with(".parquet"))
            .unwrap()
            .clone()
    };
    put_again(
        bucket,
        &file("silver/customers"),
        &[
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-aws-kms-key-id", other),
        ],
    )
    .await;
    put_again(bucket, &file("bronze/customers"), &[]).await;
    let c = encryption_control(p);
    assert_eq!(c["status"], "FAIL", "{c:#}");
    let evidence: Vec<String> = c["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    let line = |t: &str| {
        evidence
            .iter()
            .find(|e| e.starts_with(&format!("{t}: ")))
            .unwrap()
            .clone()
    };
    assert!(
        line("silver.customers").contains("the key of environment `staging`"),
        "{evidence:#?}"
    );
    assert!(
        !line("bronze.customers").contains("SSE-KMS with"),
        "{evidence:#?}"
    );
    assert!(
        line("bronze.customers").contains("not SSE-KMS")
            || line("bronze.customers").contains("no server-side encryption"),
        "{evidence:#?}"
    );
    assert!(
        line("silver.customers_quarantine").contains("SSE-KMS with"),
        "the others still pass: {evidence:#?}"
    );
}

fn control(r: &serde_json::Value, id: &str) -> (String, String) {
    let c = r["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap();
    (
        c["status"].as_str().unwrap().to_string(),
        c["evidence"].to_string(),
    )
}

fn report_of(d: &Path, env: &str) -> serde_json::Value {
    let (_, out, err) = medallion_with_fault(
        d,
        None,
        &[
            "compliance",
            "report",
            "--env",
            env,
            "--format",
            "json",
            "--jobs",
            "jobs/shop",
        ],
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"))
}

/// dev with a stricter quality limit than the examples meet, and staging gated by dev.
fn gated_project() -> tempfile::TempDir {
    let dir = project();
    std::fs::write(
        dir.path().join("environments.yaml"),
        "environments:\n  dev:\n    lake: ./lake/dev\n    retention_days: 30\n    gates: { max_quarantine_ratio: 0.3 }\n  staging:\n    lake: ./lake/staging\n    retention_days: 90\n    promote_from: dev\n    gates: { max_quarantine_ratio: 0.5 }\n",
    )
    .unwrap();
    dir
}

/// A gated environment passes `promotion-gates` while it runs what was promoted, and fails it
/// after a break-glass run of an edited spec (the record and the run are named).
#[test]
fn promotion_gates_pass_until_a_break_glass_run() {
    let dir = gated_project();
    let d = dir.path();
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    ok(
        d,
        &[
            "promote",
            "--from",
            "dev",
            "--to",
            "staging",
            "jobs/shop",
            "--apply",
        ],
    );
    ok(d, &["run", "jobs/shop", "--env", "staging"]);
    let r = report_of(d, "staging");
    assert_eq!(control(&r, "promotion-gates").0, "PASS", "{r:#}");
    assert_eq!(
        control(&r, "quarantine-rate").0,
        "PASS",
        "37.5% and 40% are within 50%"
    );

    edit(d, "jobs/shop/orders.yaml", "on_fail: warn", "on_fail: drop");
    ok(
        d,
        &[
            "run",
            "jobs/shop",
            "--env",
            "staging",
            "--break-glass",
            "hotfix ticket 7 <!-- x",
        ],
    );
    // The reason is the trail's text: in Markdown it stays text (no comment swallowing the rest).
    let (_, md, _) = medallion_with_fault(
        d,
        None,
        &[
            "compliance",
            "report",
            "--env",
            "staging",
            "--jobs",
            "jobs/shop",
        ],
    );
    assert!(
        md.contains("hotfix ticket 7 \\<\\!-- x") && !md.contains("<!--"),
        "{md}"
    );
    let (status, evidence) = control(&report_of(d, "staging"), "promotion-gates");
    assert_eq!(status, "FAIL");
    assert!(
        evidence.contains("a break-glass run by") && evidence.contains("hotfix ticket 7"),
        "{evidence}"
    );
    assert!(
        evidence.contains("orders: 1 of 2 run(s) ran a spec or schema no earlier promotion holds"),
        "{evidence}"
    );
    assert!(
        evidence.contains("customers: 2 run(s), each of a promoted release"),
        "{evidence}"
    );
}

/// A stricter quality limit fails `quarantine-rate`; a completed erasure passes `erasure-sla`.
#[test]
fn quarantine_limit_and_erasure_deadline() {
    let dir = gated_project();
    let d = dir.path();
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let r = report_of(d, "dev");
    let (status, evidence) = control(&r, "quarantine-rate");
    assert_eq!(status, "FAIL");
    assert!(
        evidence.contains(
            "orders: 6 of 16 input rows quarantined (37.5%) in the last 30 days, limit 30.0%"
        ),
        "{evidence}"
    );
    assert_eq!(control(&r, "erasure-sla").0, "NOT-APPLICABLE");
    ok(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            "C001",
            "--reason",
            "ticket 1",
        ],
    );
    let (status, evidence) = control(&report_of(d, "dev"), "erasure-sla");
    assert_eq!(status, "PASS");
    assert!(
        evidence.contains("erasure of a `customer`") && evidence.contains("completed"),
        "{evidence}"
    );
}

/// `backups` end to end: a recent complete backup passes, the same backup older than a tiny
/// `backup.every` fails; a gated environment declaring no `backup.every` fails, naming it.
#[test]
fn backups_are_judged_against_the_recovery_point_objective() {
    let dir = gated_project();
    let d = dir.path();
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (status, evidence) = control(&report_of(d, "dev"), "backups");
    assert_eq!(status, "NOT-APPLICABLE", "local and ungated: {evidence}");
    let (status, evidence) = control(&report_of(d, "staging"), "backups");
    assert_eq!(status, "FAIL", "{evidence}");
    assert!(
        evidence.contains("no recovery point objective is declared")
            && evidence.contains("gated (promote_from: dev)"),
        "{evidence}"
    );
    edit(
        d,
        "environments.yaml",
        "    lake: ./lake/dev\n",
        "    lake: ./lake/dev\n    backup: { every: 1h }\n",
    );
    ok(d, &["backup", "--env", "dev", "--to", "bk"]);
    let (status, evidence) = control(&report_of(d, "dev"), "backups");
    assert_eq!(status, "PASS", "{evidence}");
    edit(d, "environments.yaml", "every: 1h", "every: 1s");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (status, evidence) = control(&report_of(d, "dev"), "backups");
    assert_eq!(status, "FAIL", "{evidence}");
    assert!(
        evidence.contains("older than backup.every (1s)"),
        "{evidence}"
    );
}

/// A Gold table with no rows cannot be sampled: both sampling controls list it as not
/// evaluated; the counts name only the columns that had values.
#[test]
fn a_table_without_values_is_not_evaluated() {
    let dir = project();
    let d = dir.path();
    let spec = d.join("jobs/shop/customers.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("{text}gold:\n  - table: gold.nobody\n    sql: SELECT customer_id, country FROM silver.customers WHERE 1 = 0\n")).unwrap();
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let r = report_of(d, "dev");
    for id in ["pii-protected", "classification-coverage"] {
        let (_, evidence) = control(&r, id);
        assert!(
            evidence.contains("gold.nobody (gold): not evaluated, it has no values to sample"),
            "{id}: {evidence}"
        );
        assert!(
            evidence.contains("column(s) had no values"),
            "{id}: {evidence}"
        );
    }
}

/// A Gold table with its own retention column whose rows are past the cutoff: maintain never
/// expires Gold, so the control fails on the table's oldest row, not on what maintain removes.
#[test]
fn gold_rows_past_their_own_retention_fail() {
    let dir = project();
    let d = dir.path();
    let spec = d.join("jobs/shop/customers.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("{text}gold:\n  - table: gold.customer_days\n    retention: {{ days: 1, column: updated_at }}\n    sql: SELECT customer_id, updated_at FROM silver.customers\n")).unwrap();
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (status, evidence) = control(&report_of(d, "dev"), "retention");
    assert_eq!(status, "FAIL", "{evidence}");
    assert!(
        evidence.contains("gold.customer_days (gold): 1 days")
            && evidence.contains("older than the cutoff")
            && evidence.contains("never expires Gold"),
        "{evidence}"
    );
}

/// A Gold table missing from the catalog is still sampled for personal data in clear (its
/// layer comes from the spec that writes it), besides failing classification coverage.
#[test]
fn a_table_missing_from_the_catalog_is_still_judged_for_pii() {
    let dir = project();
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
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let file = d.join("lake/dev/_catalog/catalog.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let tables = doc["tables"].as_object_mut().unwrap();
    let key = tables
        .keys()
        .find(|k| k.contains("customer_phones"))
        .cloned()
        .unwrap_or_else(|| panic!("{tables:?}"));
    tables.remove(&key);
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let r = report_of(d, "dev");
    let (status, evidence) = control(&r, "pii-protected");
    assert_eq!(status, "FAIL", "{evidence}");
    assert!(
        evidence.contains("gold.customer_phones.phone (gold)"),
        "{evidence}"
    );
    assert_eq!(control(&r, "classification-coverage").0, "FAIL");
}
