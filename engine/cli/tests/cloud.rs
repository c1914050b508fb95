//! The same example specs against an S3 lake (SSE-KMS) and the Glue Data Catalog, on a real
//! S3/KMS/Glue API server on loopback (moto, started by deploy/local/services/moto.sh), driven
//! through the `medallion` binary as a user would.

use std::path::Path;
use std::process::Command;

mod common;
use common::aws::{encryption, glue, list_keys, medallion, setup};
use common::{project, root};

/// (name, Hive type) of a Glue table's columns.
fn columns(t: &aws_sdk_glue::types::Table) -> Vec<(String, String)> {
    t.storage_descriptor()
        .map(|sd| {
            sd.columns()
                .iter()
                .map(|c| {
                    (
                        c.name().to_string(),
                        c.r#type().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(root().join("testdata/golden").join(name)).unwrap()
}

#[tokio::test]
async fn example_pipelines_on_s3_and_glue() {
    let (dir, bucket, _key, prefix) = setup().await;
    let p = dir.path();
    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!p.join("lake").exists(), "nothing was written locally");

    a_run_with_nothing_new_commits_nothing(p);

    // Same Gold results as on the embedded default.
    for (sql, file) in [
        (
            "SELECT * FROM gold.daily_revenue ORDER BY day",
            "shop/daily_revenue.csv",
        ),
        (
            "SELECT * FROM gold.revenue_by_country ORDER BY country",
            "shop/revenue_by_country.csv",
        ),
        (
            "SELECT * FROM gold.hourly_device_stats ORDER BY device_id, hour",
            "iot/hourly_device_stats.csv",
        ),
    ] {
        let (code, out, err) = medallion(p, &["sql", "--env", "prod", "--format", "csv", sql]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, golden(file), "{sql}");
    }

    every_table_is_in_glue_as_athena_reads_it(&bucket, &prefix).await;
    schema_evolution_updates_the_glue_table(p, &prefix).await;
    a_deleted_glue_database_is_rebuilt_from_the_lake(p, &prefix).await;
    let records = audit_trail_is_intact_with_the_sts_caller(p);
    concurrent_writers_keep_one_chain(p, records);
}

/// Every table is in Glue, in the form Athena reads natively for Delta Lake.
async fn every_table_is_in_glue_as_athena_reads_it(bucket: &str, prefix: &str) {
    let glue = glue().await;
    let t = glue
        .get_table()
        .database_name(format!("{prefix}silver"))
        .name("sensor_readings")
        .send()
        .await
        .unwrap();
    let t = t.table().unwrap();
    let sd = t.storage_descriptor().unwrap();
    assert_eq!(
        sd.location(),
        Some(format!("s3://{bucket}/lake/silver/sensor_readings").as_str())
    );
    let params = t.parameters().unwrap();
    assert_eq!(params.get("table_type").map(String::as_str), Some("DELTA"));
    let cols = columns(t);
    assert!(
        cols.contains(&("tags".into(), "array<string>".into())),
        "{cols:?}"
    );
    assert!(
        cols.contains(&("reading_ts".into(), "timestamp".into())),
        "{cols:?}"
    );
    let bronze = glue
        .get_table()
        .database_name(format!("{prefix}bronze"))
        .name("orders")
        .send()
        .await
        .unwrap();
    let bronze_cols = columns(bronze.table().unwrap());
    assert!(
        bronze_cols.contains(&(
            "items".into(),
            "array<struct<sku:string,qty:string>>".into()
        )),
        "{bronze_cols:?}"
    );
    let tables = glue
        .get_tables()
        .database_name(format!("{prefix}gold"))
        .send()
        .await
        .unwrap();
    let mut gold: Vec<&str> = tables.table_list().iter().map(|t| t.name()).collect();
    gold.sort();
    assert_eq!(
        gold,
        vec![
            "daily_revenue",
            "hourly_device_stats",
            "page_views_per_minute",
            "revenue_by_country"
        ]
    );
}

/// A schema-evolving run (new nullable column) updates the Glue table and its version.
async fn schema_evolution_updates_the_glue_table(p: &Path, prefix: &str) {
    let glue = glue().await;
    let before = glue
        .get_table()
        .database_name(format!("{prefix}silver"))
        .name("orders")
        .send()
        .await
        .unwrap();
    let before_version = before.table().unwrap().version_id().map(str::to_string);
    std::fs::write(
        p.join("schemas/orders/v3.yaml"),
        std::fs::read_to_string(p.join("schemas/orders/v2.yaml"))
            .unwrap()
            .replace("version: 2", "version: 3")
            .replace("  - name: items\n", "  - { name: channel, type: string, description: Sales channel }\n  - name: items\n"),
    )
    .unwrap();
    let spec = std::fs::read_to_string(p.join("jobs/shop/orders.yaml"))
        .unwrap()
        .replace("schema: orders@2", "schema: orders@3")
        .replace(
            "SELECT order_id, customer_id,",
            "SELECT order_id, customer_id, channel,",
        );
    std::fs::write(p.join("jobs/shop/orders.yaml"), spec).unwrap();
    std::fs::write(
        p.join("testdata/shop/orders/orders-2026-11-03.ndjson"),
        concat!(r#"{"order_id":"O4001","customer_id":"C001","amount":5.00,"currency":"EUR","status":"placed","channel":"app","ordered_at":"2026-11-03T08:00:00Z","updated_at":"2026-11-03T08:00:00Z","items":[]}"#, "\n"),
    )
    .unwrap();
    let (code, out, err) = medallion(p, &["run", "jobs/shop/orders.yaml", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let after = glue
        .get_table()
        .database_name(format!("{prefix}silver"))
        .name("orders")
        .send()
        .await
        .unwrap();
    let after = after.table().unwrap();
    let names: Vec<&str> = after
        .storage_descriptor()
        .unwrap()
        .columns()
        .iter()
        .map(|c| c.name())
        .collect();
    assert!(names.contains(&"channel"), "{names:?}");
    assert_ne!(
        after.version_id().map(str::to_string),
        before_version,
        "the Glue table version moved"
    );
    assert_eq!(
        after
            .parameters()
            .unwrap()
            .get("medallion.delta_version")
            .map(String::as_str),
        // v1: the table properties recording the new pinned schema (orders@3), then v2: the
        // merge (a merge commits no metadata of its own).
        Some("2")
    );
    let (_, out, _) = medallion(p, &["sql", "--env", "prod", "--format", "csv", "SELECT order_id, channel FROM silver.orders WHERE order_id IN ('O1001', 'O4001') ORDER BY order_id"]);
    assert_eq!(out, "order_id,channel\nO1001,\nO4001,app\n");
}

/// A deleted Glue database is rebuilt from the lake.
async fn a_deleted_glue_database_is_rebuilt_from_the_lake(p: &Path, prefix: &str) {
    let glue = glue().await;
    for t in glue
        .get_tables()
        .database_name(format!("{prefix}silver"))
        .send()
        .await
        .unwrap()
        .table_list()
    {
        glue.delete_table()
            .database_name(format!("{prefix}silver"))
            .name(t.name())
            .send()
            .await
            .unwrap();
    }
    glue.delete_database()
        .name(format!("{prefix}silver"))
        .send()
        .await
        .unwrap();
    let (_, out, _) = medallion(p, &["tables", "--env", "prod"]);
    assert!(
        out.contains("silver.orders") && out.contains("not in catalog"),
        "{out}"
    );
    let (code, out, err) = medallion(p, &["catalog", "sync", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let got = glue
        .get_tables()
        .database_name(format!("{prefix}silver"))
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = got.table_list().iter().map(|t| t.name()).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "clickstream",
            "clickstream_quarantine",
            "customers",
            "customers_quarantine",
            "orders",
            "orders_quarantine",
            "sensor_readings",
            "sensor_readings_quarantine"
        ]
    );
    let (_, out, _) = medallion(p, &["tables", "--env", "prod"]);
    assert!(
        !out.contains("not in catalog") && !out.contains("differ"),
        "{out}"
    );
}

/// A second run with nothing new commits nothing, on S3 too: every table keeps its version.
fn a_run_with_nothing_new_commits_nothing(p: &Path) {
    let versions = |p: &Path| {
        let (code, out, err) = medallion(p, &["tables", "--env", "prod", "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["database"].to_string() + "." + t["name"].as_str().unwrap(),
                    t["delta_version"].clone(),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let before = versions(p);
    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        versions(p),
        before,
        "a run with no new input committed something"
    );
}

/// The audit trail on S3: every commit recorded, by the caller STS names, chain intact.
/// Returns how many records it holds.
fn audit_trail_is_intact_with_the_sts_caller(p: &Path) -> usize {
    let (code, out, err) = medallion(p, &["audit", "verify", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("intact") && !out.contains(" 0 commits checked"),
        "{out}"
    );
    let (code, out, err) = medallion(p, &["audit", "--env", "prod", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let records: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let commit = records
        .iter()
        .find(|r| r["action"] == "table_committed")
        .expect("a commit record");
    assert!(
        commit["who"]["aws_arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:")),
        "{commit}"
    );
    assert!(records.iter().any(|r| r["action"] == "catalog_synced"));
    records.len()
}

/// Concurrent writers on S3 (create-only puts): no record overwritten, one chain.
fn concurrent_writers_keep_one_chain(p: &Path, records: usize) {
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let p = p.to_path_buf();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    let (code, _, err) = medallion(&p, &["sql", "--env", "prod", "SELECT 1"]);
                    assert_eq!(code, 0, "{err}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let (_, out, _) = medallion(p, &["audit", "--env", "prod", "--format", "json"]);
    let after: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(after.len(), records + 9);
    let (code, out, err) = medallion(p, &["audit", "verify", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn an_unreachable_cloud_is_one_clear_error() {
    let dir = project();
    let out = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["tables", "--env", "staging"])
        .current_dir(dir.path())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("staging") && err.contains("127.0.0.1:9"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// `promote data` from a local environment to an S3 one writes every object of the new
/// version with the target's KMS key (HEAD says so), registers it in the target's Glue
/// catalog, and `copy` brings it back down with personal data hashed.
#[tokio::test(flavor = "multi_thread")]
async fn data_promoted_to_s3_is_encrypted_with_the_target_key() {
    let (dir, bucket, key, prefix) = setup().await;
    let p = dir.path();
    let envs = std::fs::read_to_string(p.join("environments.yaml"))
        .unwrap()
        .replace(
            "    retention_days: 2555\n",
            "    retention_days: 2555\n    promote_from: dev\n",
        );
    std::fs::write(p.join("environments.yaml"), envs).unwrap();
    let (code, out, err) = medallion(p, &["run", "jobs/shop", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = medallion(
        p,
        &[
            "promote",
            "data",
            "silver.customers",
            "--from",
            "dev",
            "--to",
            "prod",
            "--as",
            "reference.customers",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("at s3://{bucket}/lake/reference/customers")),
        "{out}"
    );

    let keys = list_keys(&bucket, "lake/reference/customers/").await;
    assert!(keys.iter().any(|k| k.ends_with(".parquet")), "{keys:?}");
    assert!(keys.iter().any(|k| k.contains("_delta_log/")), "{keys:?}");
    for k in keys {
        let (sse, kms) = encryption(&bucket, &k).await;
        assert_eq!(sse.as_deref(), Some("aws:kms"), "{k}");
        let kms = kms.unwrap_or_default();
        assert!(
            kms.contains(&key),
            "{k} is encrypted with {kms}, not the target's key {key}"
        );
    }
    let glue = glue().await;
    let t = glue
        .get_table()
        .database_name(format!("{prefix}reference"))
        .name("customers")
        .send()
        .await
        .unwrap();
    assert!(t
        .table()
        .unwrap()
        .storage_descriptor()
        .unwrap()
        .location()
        .unwrap()
        .starts_with(&format!("s3://{bucket}/lake/reference/customers")));
    let (code, out, err) = medallion(p, &["audit", "verify", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");

    // Up the order only; and back down, a table the catalog classifies `pii` needs --mask,
    // which needs dev's key (dev has none).
    let (code, out, err) = medallion(
        p,
        &[
            "copy",
            "bronze.customers",
            "--from",
            "dev",
            "--to",
            "prod",
            "--as",
            "x.y",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("`copy` brings test data back down"), "{err}");
    let (code, out, err) = medallion(
        p,
        &[
            "copy",
            "reference.customers",
            "--from",
            "prod",
            "--to",
            "dev",
            "--as",
            "testdata.customers",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("it holds personal data in clear (name, phone)"),
        "{err}"
    );
    let (code, out, err) = medallion(
        p,
        &[
            "copy",
            "reference.customers",
            "--from",
            "prod",
            "--to",
            "dev",
            "--as",
            "testdata.customers",
            "--mask",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("`dev` has no PII key"), "{err}");
}
