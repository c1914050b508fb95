//! Retention through the binary (`medallion maintain`), with the clock moved forward
//! (`MEDALLION_MAINTAIN_NOW`, a debug-build hook): a dry run changes nothing and says what
//! would go; Bronze files Silver has not processed are never removed (refused and said); a
//! real run removes whole Bronze and quarantine files and Silver rows past retention, VACUUM
//! deletes the files from storage, the audit trail verifies, and the next pipeline run neither
//! re-reads Bronze nor keeps Gold rows of deleted Silver rows.

use std::path::Path;

mod common;
use common::{edit, project};

/// The first look: one month and a little after the example orders were last updated, so
/// exactly 3 Silver orders (last updated before 2026-11-01T18:00) are older than 30 days, whatever
/// day the test runs on (Bronze and the quarantine go by ingest time, which is later still).
const SOON: &str = "2026-12-01T18:00:00Z";

/// "Two months later": relative to the real clock, since Bronze files are dated by when this
/// test ingested them.
fn later() -> String {
    (chrono::Utc::now() + chrono::Duration::days(62)).to_rfc3339()
}

fn medallion(
    dir: &Path,
    now: Option<&str>,
    fault: Option<&str>,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_medallion"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("MEDALLION_FAULT")
        .env_remove("MEDALLION_MAINTAIN_NOW");
    if let Some(n) = now {
        cmd.env("MEDALLION_MAINTAIN_NOW", n);
    }
    if let Some(f) = fault {
        cmd.env("MEDALLION_FAULT", f);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn ok(dir: &Path, now: Option<&str>, args: &[&str]) -> String {
    let (code, out, err) = medallion(dir, now, None, args);
    assert_eq!(code, Some(0), "medallion {args:?}\n{out}\n{err}");
    out
}

/// Each table's log entries and data files on storage.
fn storage(dir: &Path) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for db in ["bronze", "silver", "gold"] {
        let Ok(tables) = std::fs::read_dir(dir.join("lake/dev").join(db)) else {
            continue;
        };
        for t in tables {
            let t = t.unwrap().path();
            let count = |d: &Path, ext: &str| {
                std::fs::read_dir(d).map_or(0, |r| {
                    r.filter(|e| e.as_ref().unwrap().path().to_string_lossy().ends_with(ext))
                        .count()
                })
            };
            out.push((
                t.display().to_string(),
                count(&t.join("_delta_log"), ".json"),
                count(&t, ".parquet"),
            ));
        }
    }
    out.sort();
    out
}

fn report(out: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(out).unwrap()
}

fn table<'a>(r: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    r.iter()
        .find(|t| t["table"] == name)
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
}

fn count(dir: &Path, sql: &str) -> String {
    ok(dir, None, &["sql", sql, "--env", "dev", "--format", "csv"])
        .lines()
        .nth(1)
        .unwrap_or("")
        .to_string()
}

#[test]
fn retention_removes_what_is_past_it_and_nothing_a_reader_still_needs() {
    let dir = project();
    let d = dir.path();
    edit(
        d,
        "environments.yaml",
        "    retention_days: 30\n",
        "    retention_days: 30\n    retention: { layers: { quarantine: 7 }, vacuum_hours: 0 }\n",
    );
    edit(d, "jobs/shop/orders.yaml", "  dedupe: { keys: [order_id], latest_by: updated_at }\n", "  dedupe: { keys: [order_id], latest_by: updated_at }\n  retention: { column: updated_at }\n");
    edit(d, "jobs/shop/customers.yaml", "  dedupe: { keys: [customer_id], latest_by: updated_at }\n", "  dedupe: { keys: [customer_id], latest_by: updated_at }\n  retention: { column: updated_at, days: 4000 }\n");
    ok(d, None, &["run", "jobs/shop", "--env", "dev"]);

    nothing_ingested_today_is_past_retention(d);
    a_dry_run_says_what_would_go_and_changes_nothing(d);
    files_silver_has_not_processed_are_kept(d);
    everything_past_retention_goes_files_included(d);
    the_next_run_reads_nothing_again(d);
}

/// A month after the example orders: nothing ingested today is past retention, and 3 Silver
/// orders (dated by `updated_at`) are older than 30 days.
fn nothing_ingested_today_is_past_retention(d: &Path) {
    let r = report(&ok(
        d,
        Some(SOON),
        &["maintain", "--env", "dev", "--dry-run", "--format", "json"],
    ));
    for t in r
        .iter()
        .filter(|t| t["layer"] == "bronze" || t["layer"] == "quarantine")
    {
        assert!(t["rows_deleted"] == 0 && t["files_removed"] == 0, "{t}");
    }
    assert_eq!(table(&r, "silver.orders")["rows_deleted"], 3);
}

/// Two months later, dry run: what would go, and nothing changes.
fn a_dry_run_says_what_would_go_and_changes_nothing(d: &Path) {
    // Two months later, dry run: what would go, and nothing changes.
    let before = storage(d);
    let r = report(&ok(
        d,
        Some(&later()),
        &["maintain", "--env", "dev", "--dry-run", "--format", "json"],
    ));
    assert_eq!(storage(d), before, "a dry run changed the lake");
    let bronze = table(&r, "bronze.orders");
    assert_eq!(
        (
            bronze["rows_deleted"].as_u64(),
            bronze["files_removed"].as_u64()
        ),
        (Some(14), Some(1))
    );
    assert_eq!(bronze["retention_from"], "environment");
    let q = table(&r, "silver.orders_quarantine");
    assert_eq!(
        (q["retention_days"].as_u64(), q["retention_from"].as_str()),
        (Some(7), Some("layer quarantine"))
    );
    assert_eq!(q["rows_deleted"], 6);
    let silver = table(&r, "silver.orders");
    assert_eq!(
        (silver["column"].as_str(), silver["rows_deleted"].as_u64()),
        (Some("updated_at"), Some(6))
    );
    let customers = table(&r, "silver.customers");
    assert_eq!(
        (
            customers["retention_days"].as_u64(),
            customers["retention_from"].as_str()
        ),
        (Some(4000), Some("spec"))
    );
    assert_eq!(customers["rows_deleted"], 0);
    assert!(table(&r, "gold.daily_revenue")["notes"][0]
        .as_str()
        .unwrap()
        .contains("recomputed from Silver"));
}

/// New orders reach Bronze but the run dies before Silver: those files are not removed.
fn files_silver_has_not_processed_are_kept(d: &Path) {
    // New orders reach Bronze but the run dies before Silver: those files are not removed.
    std::fs::copy(
        d.join("testdata/shop/orders/orders-2026-11-02.ndjson"),
        d.join("testdata/shop/orders/orders-2026-11-03.ndjson"),
    )
    .unwrap();
    let (code, _, _) = medallion(
        d,
        None,
        Some("after_bronze_commit"),
        &["run", "jobs/shop/orders.yaml", "--env", "dev"],
    );
    assert_eq!(code, None, "the run was not killed at the fault point");
    let (code, out, err) = medallion(
        d,
        Some(&later()),
        None,
        &[
            "maintain",
            "--env",
            "dev",
            "--table",
            "bronze.orders",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(1), "a refusal is the user's to act on: {err}");
    let r = report(&out);
    let bronze = table(&r, "bronze.orders");
    assert!(
        bronze["refused"]
            .as_str()
            .unwrap()
            .contains("hold rows Silver has not processed yet"),
        "{bronze}"
    );
    assert!(
        bronze["notes"]
            .to_string()
            .contains("Silver has not processed them"),
        "{bronze}"
    );
}

/// After the repair run: everything past retention goes, files included.
fn everything_past_retention_goes_files_included(d: &Path) {
    // After the repair run: everything past retention goes, files included.
    ok(d, None, &["run", "jobs/shop", "--env", "dev"]);
    let orders_before = count(d, "SELECT count(*) FROM silver.orders");
    assert_ne!(orders_before, "0");
    let r = report(&ok(
        d,
        Some(&later()),
        &["maintain", "--env", "dev", "--format", "json"],
    ));
    let bronze = table(&r, "bronze.orders");
    assert_eq!(bronze["refused"], serde_json::Value::Null, "{bronze}");
    assert_eq!(bronze["files_removed"], 2, "{bronze}");
    assert!(bronze["files_vacuumed"].as_u64().unwrap() >= 2, "{bronze}");
    let files = storage(d);
    let parquet = |t: &str| files.iter().find(|(p, _, _)| p.ends_with(t)).unwrap().2;
    assert_eq!(
        parquet("bronze/orders"),
        0,
        "the expired Bronze files are still on storage: {files:?}"
    );
    assert_eq!(parquet("silver/orders_quarantine"), 0, "{files:?}");
    assert_eq!(count(d, "SELECT count(*) FROM silver.orders"), "0");
    assert_ne!(
        count(d, "SELECT count(*) FROM silver.customers"),
        "0",
        "customers keep 4000 days"
    );
    let out = ok(d, None, &["audit", "verify", "--env", "dev"]);
    assert!(out.contains("intact"), "{out}");
    let trail: Vec<serde_json::Value> =
        serde_json::from_str(&ok(d, None, &["audit", "--env", "dev", "--format", "json"])).unwrap();
    assert!(trail
        .iter()
        .any(|t| t["action"] == "retention_applied" && t["table"] == "bronze.orders"));
}

/// The next run reads nothing again, and Gold follows Silver.
fn the_next_run_reads_nothing_again(d: &Path) {
    // The next run reads nothing again, and Gold follows Silver.
    let out = ok(d, None, &["run", "jobs/shop", "--env", "dev"]);
    for t in ["bronze.orders", "bronze.customers"] {
        let line = out
            .lines()
            .find(|l| l.contains(t) && l.contains("files"))
            .unwrap();
        assert!(
            line.contains("files 0 new /"),
            "{t} ingested its sources again: {line}"
        );
    }
    assert_eq!(count(d, "SELECT count(*) FROM silver.orders"), "0");
    assert_eq!(count(d, "SELECT count(*) FROM gold.daily_revenue"), "0");
}

/// What `maintain` refuses rather than guesses: tables of pipelines whose spec is not given,
/// a vacuum window longer than the tables keep the record of removed files; the quarantine
/// (raw records) keeps personal data no longer than the classification says; Gold rows are
/// never deleted (Gold is recomputed from Silver).
#[test]
fn retention_refuses_what_it_cannot_know() {
    let dir = project();
    let d = dir.path();
    edit(
        d,
        "environments.yaml",
        "    retention_days: 30\n",
        "    retention_days: 30\n    retention: { classifications: { pii: 7 } }\n",
    );
    edit(d, "jobs/shop/orders.yaml", "    sql: |\n      SELECT CAST(ordered_at AS DATE) AS day,", "    retention: { column: day, days: 1 }\n    sql: |\n      SELECT CAST(ordered_at AS DATE) AS day,");
    ok(d, None, &["run", "jobs/shop", "--env", "dev"]);
    let gold_before = count(d, "SELECT count(*) FROM gold.daily_revenue");

    // Only jobs/iot given: the shop tables are refused (exit 1), the others maintained.
    let (code, out, err) = medallion(
        d,
        Some(&later()),
        None,
        &[
            "maintain", "--env", "dev", "--jobs", "jobs/iot", "--format", "json",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    let r = report(&out);
    let bronze = table(&r, "bronze.orders");
    assert!(
        bronze["refused"]
            .as_str()
            .unwrap()
            .contains("the spec of its pipeline `orders` is not among the specs given"),
        "{bronze}"
    );
    assert_eq!(bronze["files_removed"], 0);

    // The customers quarantine holds raw name, email, phone (pii): 7 days, not 30.
    let (_, out, _) = medallion(
        d,
        Some(&later()),
        None,
        &["maintain", "--env", "dev", "--dry-run", "--format", "json"],
    );
    let r = report(&out);
    let q = table(&r, "silver.customers_quarantine");
    assert_eq!(q["retention_days"], 7, "{q}");
    assert!(
        q["retention_from"]
            .as_str()
            .unwrap()
            .starts_with("classification pii (_record"),
        "{q}"
    );
    assert_eq!(table(&r, "silver.orders_quarantine")["retention_days"], 30);

    // Gold with a retention column: never deleted (vacuumed only).
    ok(
        d,
        Some(&later()),
        &["maintain", "--env", "dev", "--table", "gold.daily_revenue"],
    );
    assert_eq!(
        count(d, "SELECT count(*) FROM gold.daily_revenue"),
        gold_before
    );

    // A vacuum window longer than a checkpoint keeps the record of removed files.
    edit(
        d,
        "environments.yaml",
        "retention: { classifications: { pii: 7 } }",
        "retention: { classifications: { pii: 7 }, vacuum_hours: 240 }",
    );
    let (code, _, err) = medallion(
        d,
        Some(&later()),
        None,
        &["maintain", "--env", "dev", "--table", "silver.orders"],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("retention.vacuum_hours (240) is longer than silver.orders's delta.deletedFileRetentionDuration (168 h)"), "{err}");
    // A layer that does not exist is refused when the file is read.
    edit(
        d,
        "environments.yaml",
        "vacuum_hours: 240 }",
        "vacuum_hours: 24, layers: { quarentine: 3 } }",
    );
    let (code, _, err) = medallion(d, None, None, &["maintain", "--env", "dev"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("retention.layers.quarentine: not a layer"),
        "{err}"
    );
}
