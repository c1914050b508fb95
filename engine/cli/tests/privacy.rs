//! GDPR erasure and access through the binary (`medallion erase`, `medallion subject export`),
//! on the shop example in dev. What erasure leaves is checked independently of its code: every
//! Parquet file and Delta log entry on storage is read (DataFusion, plain text) and searched
//! for the key; Gold equals a run over the same sources without the person's rows.

use std::path::Path;

mod common;
use common::{aws, medallion_with_fault as medallion, project};

const KEY: &str = "C002";

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = medallion(dir, None, args);
    assert_eq!(code, Some(0), "medallion {args:?}\n{out}\n{err}");
    out
}

fn refused(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = medallion(dir, None, args);
    assert_eq!(
        code,
        Some(1),
        "medallion {args:?} must be refused\n{out}\n{err}"
    );
    err
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every file of the lake's tables (data files of any version, Delta logs, checkpoints)
/// whose content holds `needle`: Parquet read with DataFusion and printed, JSON as text.
async fn holding(lake: &Path, needle: &str) -> Vec<String> {
    let mut all = Vec::new();
    for db in ["bronze", "silver", "gold", "_medallion/gold_state"] {
        if lake.join(db).is_dir() {
            files(&lake.join(db), &mut all);
        }
    }
    let ctx = datafusion::prelude::SessionContext::new();
    let mut found = Vec::new();
    for f in all {
        let name = f.display().to_string();
        let text = if name.ends_with(".parquet") {
            let batches = ctx
                .read_parquet(&name, Default::default())
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string()
        } else {
            String::from_utf8_lossy(&std::fs::read(&f).unwrap()).to_string()
        };
        if text.contains(needle) {
            found.push(name);
        }
    }
    found
}

fn sql(dir: &Path, query: &str) -> String {
    ok(dir, &["sql", query, "--env", "dev", "--format", "csv"])
}

/// The example's sources without the lines of customer `key`, plus one orders file that
/// holds only that customer's order (all of whose rows an erasure removes).
fn sources(dir: &Path, without: Option<&str>) {
    let only = concat!(
        r#"{"order_id":"O3001","customer_id":"C002","amount":12.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-04T08:00:00Z","updated_at":"2026-11-04T08:00:00Z","items":[]}"#,
        "\n"
    );
    std::fs::write(
        dir.join("testdata/shop/orders/orders-2026-11-04.ndjson"),
        only,
    )
    .unwrap();
    // A Gold table grouped by customer: its kept partial aggregates hold the key.
    let spec = dir.join("jobs/shop/orders.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let per_customer = "gold:\n  - table: gold.orders_per_customer\n    sql: SELECT customer_id, count(*) AS orders, sum(amount) AS spent FROM silver.orders GROUP BY customer_id\n";
    std::fs::write(&spec, text.replacen("gold:\n", per_customer, 1)).unwrap();
    let Some(key) = without else { return };
    let mut all = Vec::new();
    files(&dir.join("testdata/shop"), &mut all);
    for f in all {
        let text = std::fs::read_to_string(&f).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| !l.contains(key))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&f, kept).unwrap();
    }
}

#[tokio::test]
async fn an_erased_customer_is_in_no_file_of_any_version_and_gold_is_recomputed() {
    let p = project();
    let d = p.path();
    sources(d, None);
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let lake = d.join("lake/dev");
    let held = holding(&lake, KEY).await;
    assert!(
        held.iter()
            .any(|f| f.contains("_medallion/gold_state/gold.orders_per_customer/")),
        "the example holds {KEY}, in the kept partials too: {held:?}"
    );
    let before = sql(
        d,
        "SELECT count(*) AS n FROM silver.orders WHERE customer_id = 'C002'",
    );
    assert!(before.contains("\n3"), "{before}");

    the_export_has_the_persons_rows(d).await;
    a_dry_run_changes_nothing(d, &lake, &before).await;
    the_erasure_leaves_the_key_in_no_file(d, &lake).await;
    gold_equals_a_run_without_the_person(d).await;
    the_receipt_is_in_the_trail_without_the_key(d, &lake).await;
    a_second_erasure_and_runs_go_on(d, &lake).await;
    re_sent_rows_stay_out_of_silver(d, &lake).await;
}

async fn the_export_has_the_persons_rows(d: &Path) {
    // The export (Art. 15) has the person's rows, per table.
    let out = d.join("export");
    ok(
        d,
        &[
            "subject",
            "export",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            KEY,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let orders: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("silver.orders.json")).unwrap())
            .unwrap();
    assert_eq!(orders.len(), 3);
    assert!(orders.iter().all(|o| o["customer_id"] == KEY));
    let customers: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("silver.customers.json")).unwrap())
            .unwrap();
    assert_eq!(customers.len(), 1);
    let name = customers[0]["name"].as_str().unwrap();
    assert!(
        name.starts_with("***") && name.ends_with("pper"),
        "masked in Silver: {name}"
    );
}

async fn a_dry_run_changes_nothing(d: &Path, lake: &Path, before: &str) {
    // A dry run says what would go and changes nothing.
    let dry = ok(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            KEY,
            "--dry-run",
            "--format",
            "json",
        ],
    );
    let dry: serde_json::Value = serde_json::from_str(&dry).unwrap();
    assert_eq!(dry["dry_run"], true);
    let silver_orders = dry["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "silver.orders")
        .unwrap();
    assert_eq!(silver_orders["rows_removed"], 3);
    assert!(silver_orders["versions"].as_array().unwrap().is_empty());
    assert_eq!(
        sql(
            d,
            "SELECT count(*) AS n FROM silver.orders WHERE customer_id = 'C002'"
        ),
        before
    );
    assert!(readable(&lake.join("silver/orders"), 0));
}

/// Bronze files the erasure wrote are written as Bronze writes them: statistics of the
/// metadata columns only (the other rows' raw values stay out of the Delta log).
fn bronze_rewrites_keep_no_data_statistics(lake: &Path) {
    let log = lake.join("bronze/orders/_delta_log");
    let mut commits: Vec<_> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    commits.sort();
    let last = std::fs::read_to_string(commits.last().unwrap()).unwrap();
    let mut adds = 0;
    for line in last.lines() {
        let action: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(stats) = action["add"]["stats"].as_str() {
            let stats: serde_json::Value = serde_json::from_str(stats).unwrap();
            let cols: Vec<&String> = stats["maxValues"].as_object().unwrap().keys().collect();
            assert!(cols.iter().all(|c| c.starts_with('_')), "{cols:?}");
            assert!(stats["maxValues"]["_ingest_time"].is_string(), "{stats}");
            adds += 1;
        }
    }
    assert!(adds > 0, "the erasure's Bronze commit adds files: {last}");
}

async fn the_erasure_leaves_the_key_in_no_file(d: &Path, lake: &Path) {
    let receipt = ok(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            KEY,
            "--reason",
            "ticket 42",
            "--format",
            "json",
        ],
    );
    let receipt: serde_json::Value = serde_json::from_str(&receipt).unwrap();
    assert_eq!(
        receipt["rows_removed"].as_u64().unwrap() > 0,
        true,
        "{receipt}"
    );
    bronze_rewrites_keep_no_data_statistics(lake);
    let refreshed = receipt["gold_refreshed"].as_array().unwrap();
    assert!(
        refreshed.iter().any(|g| g == "gold.revenue_by_country"),
        "{receipt}"
    );

    // No file of any version on storage holds the key, read independently.
    assert_eq!(holding(&lake, KEY).await, Vec::<String>::new());
    let verify = ok(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            KEY,
            "--verify",
        ],
    );
    assert!(
        verify.contains("the key occurs in none of them"),
        "{verify}"
    );
    the_key_in_kept_partials_fails_the_verification(d, lake).await;
    // Time travel to the version before the erasure fails: its log entry or files are gone.
    assert!(!readable(&lake.join("silver/orders"), 0));
    assert!(!readable(&lake.join("bronze/orders"), 0));
}

/// Partials holding the key put back (an overlapping run publishing a pre-erasure state):
/// `--verify` names the file and fails.
async fn the_key_in_kept_partials_fails_the_verification(d: &Path, lake: &Path) {
    let state = lake.join("_medallion/gold_state/gold.orders_per_customer");
    let kept = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .expect("the refresh after the erasure kept new partials");
    let planted = state.join("planted.parquet");
    let batch = arrow::record_batch::RecordBatch::try_from_iter(vec![(
        "k0",
        std::sync::Arc::new(arrow::array::StringArray::from(vec![KEY])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    datafusion::prelude::SessionContext::new()
        .read_batch(batch)
        .unwrap()
        .write_parquet(
            planted.to_str().unwrap(),
            datafusion::dataframe::DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await
        .unwrap();
    let verify = [
        "erase",
        "--env",
        "dev",
        "--subject",
        "customer",
        "--key",
        KEY,
    ];
    let (code, out, err) = medallion(d, None, &[&verify[..], &["--verify"]].concat());
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains("gold_state") && out.contains("planted.parquet"),
        "{out}"
    );
    assert!(
        !out.contains(kept.file_name().unwrap().to_str().unwrap()),
        "{out}"
    );
    std::fs::remove_file(planted).unwrap();
}

async fn gold_equals_a_run_without_the_person(d: &Path) {
    // Gold equals a run over the same sources without the person's rows.
    let q = project();
    sources(q.path(), Some(KEY));
    ok(q.path(), &["run", "jobs/shop", "--env", "dev"]);
    for g in [
        "gold.revenue_by_country",
        "gold.daily_revenue",
        "gold.orders_per_customer",
    ] {
        let query = format!("SELECT * FROM {g} ORDER BY 1");
        assert_eq!(sql(d, &query), sql(q.path(), &query), "{g}");
    }
}

async fn the_receipt_is_in_the_trail_without_the_key(d: &Path, lake: &Path) {
    // The receipt is in the audit trail, the key nowhere in it (a salted hash only), the
    // trail verifies, and the next run does not ingest the erased rows again.
    let trail = ok(d, &["audit", "--env", "dev", "--format", "json"]);
    let records: Vec<serde_json::Value> = serde_json::from_str(&trail).unwrap();
    let r = records
        .iter()
        .find(|r| r["action"] == "erasure")
        .expect("an erasure receipt");
    let salt = r["detail"]["key_salt"].as_str().unwrap();
    let expect = sha256_hex(format!("{salt}:{KEY}").as_bytes());
    assert_eq!(r["detail"]["key_hash_kind"], "salted-sha256");
    assert_eq!(r["detail"]["key_hash"], expect.as_str());
    assert_eq!(r["detail"]["reason"], "ticket 42");
    let mut audit_files = Vec::new();
    files(&lake.join("_medallion"), &mut audit_files);
    for f in audit_files
        .iter()
        .filter(|f| f.to_string_lossy().contains("audit"))
    {
        // (`medallion sql` records its query text as typed: this test's queries name the key.)
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).to_string();
        if !text.contains("\"sql_query\"") {
            assert!(
                !text.contains(KEY),
                "{} holds the key:\n{text}",
                f.display()
            );
        }
    }
    let verified = ok(d, &["audit", "verify", "--env", "dev"]);
    assert!(verified.contains("intact"), "{verified}");
}

async fn a_second_erasure_and_runs_go_on(d: &Path, lake: &Path) {
    // A second erasure right after the first (no run between: Silver's bookmark of Bronze
    // is behind the first erasure's commit), then runs go on.
    ok(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            "C004",
        ],
    );
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    assert!(holding(&lake, "C004").await.is_empty());
    assert_eq!(
        holding(&lake, KEY).await,
        Vec::<String>::new(),
        "the next run brought the person back"
    );
}

async fn re_sent_rows_stay_out_of_silver(d: &Path, lake: &Path) {
    // A source re-sends the person's order: it lands in Bronze (raw) but is kept out of
    // Silver for `privacy.suppress_days`, counted as dropped by `erased_subject`.
    std::fs::write(
        d.join("testdata/shop/orders/orders-2026-11-06.ndjson"),
        concat!(
            r#"{"order_id":"O6001","customer_id":"C002","amount":9.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-06T08:00:00Z","updated_at":"2026-11-06T08:00:00Z","items":[]}"#,
            "\n",
            r#"{"order_id":"O6002","customer_id":"C001","amount":8.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-06T08:00:00Z","updated_at":"2026-11-06T08:00:00Z","items":[]}"#,
            "\n",
            // Does not fit the schema: it must not reach Silver's quarantine either.
            r#"{"order_id":"O6003","customer_id":"C002","amount":"lots","currency":"EUR","status":"placed","ordered_at":"2026-11-06T08:00:00Z","updated_at":"2026-11-06T08:00:00Z","items":[]}"#,
            "\n"
        ),
    )
    .unwrap();
    let report = ok(
        d,
        &[
            "run",
            "jobs/shop/orders.yaml",
            "--env",
            "dev",
            "--report",
            "json",
        ],
    );
    assert!(report.contains("erased_subject"), "{report}");
    assert_eq!(
        sql(
            d,
            "SELECT count(*) AS n FROM silver.orders WHERE order_id = 'O6001'"
        ),
        "n\n0\n"
    );
    assert_eq!(
        sql(
            d,
            "SELECT count(*) AS n FROM silver.orders WHERE order_id = 'O6002'"
        ),
        "n\n1\n"
    );
    let held = holding(&lake, KEY).await;
    assert!(
        !held.is_empty() && held.iter().all(|f| f.contains("/bronze/orders/")),
        "{held:?}"
    );
    ok(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            KEY,
        ],
    );
    assert_eq!(holding(&lake, KEY).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_key_matches_hashed_columns_and_bad_requests_are_refused() {
    let p = project();
    let d = p.path();
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    a_hashed_column_is_matched_and_a_staged_file_kept(d);
    a_key_of_nobody_and_bad_requests_are_refused(d);
    bronze_rows_silver_has_not_read_stop_an_erasure(d);
}

fn a_hashed_column_is_matched_and_a_staged_file_kept(d: &Path) {
    // A file no commit references, just written (as a running writer's staged file is): it
    // holds the key but is not deleted (its writer would lose the rest of its commit); the
    // receipt says so and --verify fails until it is gone.
    let bronze = d.join("lake/dev/bronze/customers");
    let data = std::fs::read_dir(&bronze)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .unwrap();
    let staged = bronze.join("part-staged-by-a-running-writer.parquet");
    std::fs::copy(&data, &staged).unwrap();
    // Silver holds e-mails hashed: the key is matched by its hash.
    let out = ok(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            "alan@example.com",
            "--format",
            "json",
        ],
    );
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(staged.exists());
    assert!(
        out.contains("part-staged-by-a-running-writer.parquet holds the key but is not committed"),
        "{out}"
    );
    let (code, out, _) = medallion(
        d,
        None,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            "alan@example.com",
            "--verify",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FOUND in bronze.customers data: part-staged-by-a-running-writer.parquet"),
        "{out}"
    );
    std::fs::remove_file(&staged).unwrap();
    let silver = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "silver.customers")
        .unwrap();
    assert_eq!(silver["rows_removed"], 1, "{r}");
    assert_eq!(
        sql(
            d,
            "SELECT count(*) AS n FROM silver.customers WHERE customer_id = 'C003'"
        ),
        "n\n0\n"
    );
    let masked = silver["unmatched"].as_array().unwrap();
    assert!(
        masked
            .iter()
            .any(|u| u.as_str().unwrap().starts_with("phone")
                || u.as_str().unwrap().starts_with("name"))
            || masked.is_empty(),
        "{r}"
    );
}

fn a_key_of_nobody_and_bad_requests_are_refused(d: &Path) {
    // A key that is no customer's (here a currency) erases nothing, says so, exit 1: no
    // other person's record and no log entry goes because it mentions the value.
    let count = |d: &Path| {
        let mut f = Vec::new();
        for db in ["bronze", "silver", "gold"] {
            files(&d.join("lake/dev").join(db), &mut f);
        }
        f.sort();
        f
    };
    let before = count(d);
    let err = refused(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            "EUR",
        ],
    );
    assert!(err.contains("no row of this `customer` was found"), "{err}");
    assert_eq!(count(d), before, "no table file was added or deleted");
    let err = refused(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "patient",
            "--key",
            "P1",
        ],
    );
    assert!(
        err.contains("no schema declares the data subject `patient`; declared: customer"),
        "{err}"
    );
    let err = refused(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            " ",
        ],
    );
    assert!(err.contains("--key") && err.contains("empty"), "{err}");
    let err = refused(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            "C001",
            "--jobs",
            "jobs/iot",
        ],
    );
    assert!(
        err.contains("no schema of these pipelines declares a data subject"),
        "{err}"
    );
    let err = refused(d, &["erase", "--env", "dev", "--subject", "customer"]);
    assert!(err.contains("--key"), "{err}");
}

fn bronze_rows_silver_has_not_read_stop_an_erasure(d: &Path) {
    // Bronze rows Silver has not processed yet: refused, nothing changed.
    std::fs::write(
        d.join("testdata/shop/orders/orders-2026-11-05.ndjson"),
        concat!(r#"{"order_id":"O5001","customer_id":"C001","amount":1.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-05T08:00:00Z","updated_at":"2026-11-05T08:00:00Z","items":[]}"#, "\n"),
    )
    .unwrap();
    let (code, _, _) = medallion(
        d,
        Some("after_bronze_commit"),
        &["run", "jobs/shop/orders.yaml", "--env", "dev"],
    );
    assert_ne!(code, Some(0));
    let err = refused(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            "C001",
        ],
    );
    assert!(
        err.contains("Silver has not processed versions")
            && err.contains("bronze.orders")
            && err.contains("nothing was erased"),
        "{err}"
    );
    assert!(sql(
        d,
        "SELECT count(*) AS n FROM silver.customers WHERE customer_id = 'C001'"
    )
    .contains("\n1"));
}

/// Whether version `v` of the table can still be read: its log entry is there and every
/// file it added is on storage.
fn readable(table: &Path, v: u32) -> bool {
    let Ok(text) = std::fs::read_to_string(table.join(format!("_delta_log/{v:020}.json"))) else {
        return false;
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|a| a["add"]["path"].as_str().map(str::to_string))
        .all(|path| table.join(path).exists())
}

fn sha256_hex(bytes: &[u8]) -> String {
    medallion_core::schema::sha256_hex(bytes)
}

/// The lake on S3 (moto): the same erasure, checked on a copy of every object downloaded
/// from the bucket; the rewritten files are encrypted with the environment's key.
#[tokio::test]
async fn an_erased_customer_is_gone_from_an_s3_lake() {
    let (dir, bucket, key, _prefix) = aws::setup().await;
    let d = dir.path();
    let run = |args: &[&str]| {
        let (code, out, err) = aws::medallion(d, args);
        assert_eq!(code, 0, "medallion {args:?}\n{out}\n{err}");
        out
    };
    run(&["run", "jobs/shop", "--env", "prod"]);
    let mirror = d.join("mirror");
    download(&bucket, &mirror).await;
    assert!(
        !holding(&mirror, KEY).await.is_empty(),
        "the example holds {KEY}"
    );
    let (dead, live) = leftovers(&bucket, &mirror).await;
    let before: std::collections::HashSet<String> =
        aws::list_keys(&bucket, "lake/").await.into_iter().collect();

    let out = run(&[
        "erase",
        "--env",
        "prod",
        "--subject",
        "customer",
        "--key",
        KEY,
        "--format",
        "json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(r["rows_removed"].as_u64().unwrap() >= 7, "{r}");
    the_leftover_of_a_live_run_is_named_and_kept(&bucket, &r, &dead, &live).await;
    // The next command that runs recovers the dead run (its leftover deleted with it), or
    // the erasure deletes it; the key is then in no table (exit 1: nothing found).
    let (code, out, err) = aws::medallion(
        d,
        &[
            "erase",
            "--env",
            "prod",
            "--subject",
            "customer",
            "--key",
            KEY,
        ],
    );
    assert!(
        code == 0 || err.contains("no row of this `customer` was found"),
        "{out}\n{err}"
    );
    let left = aws::list_keys(&bucket, "lake/_medallion/tmp/").await;
    assert_eq!(
        left,
        Vec::<String>::new(),
        "the run has ended: its leftover goes too"
    );
    let verify = run(&[
        "erase",
        "--env",
        "prod",
        "--subject",
        "customer",
        "--key",
        KEY,
        "--verify",
    ]);
    assert!(
        verify.contains("the key occurs in none of them"),
        "{verify}"
    );

    std::fs::remove_dir_all(&mirror).unwrap();
    download(&bucket, &mirror).await;
    assert_eq!(holding(&mirror, KEY).await, Vec::<String>::new());
    let new: Vec<String> = aws::list_keys(&bucket, "lake/")
        .await
        .into_iter()
        .filter(|k| !before.contains(k) && k.ends_with(".parquet"))
        .collect();
    assert!(!new.is_empty());
    for k in new {
        let (sse, kms) = aws::encryption(&bucket, &k).await;
        assert_eq!(sse.as_deref(), Some("aws:kms"), "{k}");
        assert!(
            kms.unwrap_or_default().contains(&key),
            "{k} is not under the environment's key"
        );
    }
    let (code, out, err) = aws::medallion(
        d,
        &[
            "sql",
            "--env",
            "prod",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM silver.orders WHERE customer_id = 'C002'",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "n\n0\n"), "{err}");
}

/// Rows of a killed cluster run left below `_medallion/tmp/` (a Silver file holding the key):
/// one of a dead run (its open-run marker not refreshed for an hour) and one of a run still
/// alive (its marker just refreshed, on another host). Returns their keys.
async fn leftovers(bucket: &str, mirror: &Path) -> (String, String) {
    let file = holding(mirror, KEY)
        .await
        .into_iter()
        .find(|f| f.contains("/silver/") && f.ends_with(".parquet"))
        .expect("a Silver file holds the key");
    let body = std::fs::read(&file).unwrap();
    let dead = "lake/_medallion/tmp/run-killed/deduped/part-0.parquet".to_string();
    let live = "lake/_medallion/tmp/run-alive/deduped/part-0.parquet".to_string();
    aws::put_object(bucket, &dead, body.clone()).await;
    aws::put_object(bucket, &live, body).await;
    marker(bucket, "run-killed", 60).await;
    marker(bucket, "run-alive", 0).await;
    (dead, live)
}

/// The erasure deleted the dead run's leftover, kept the live run's unread and said so; then
/// the live run's marker goes stale (the run died) for the next erasure.
async fn the_leftover_of_a_live_run_is_named_and_kept(
    bucket: &str,
    receipt: &serde_json::Value,
    dead: &str,
    live: &str,
) {
    let left = aws::list_keys(bucket, "lake/_medallion/tmp/").await;
    assert_eq!(left, vec![live.to_string()], "{receipt}");
    let scratch = receipt["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["layer"] == "scratch")
        .unwrap();
    // Deleted by the erasure, or before it by the recovery of the dead run (the audit
    // trail's run_interrupted) that the erasure's Gold refresh started with.
    assert!(!left.contains(&dead.to_string()), "{scratch}");
    assert!(
        scratch["notes"][0]
            .as_str()
            .unwrap()
            .contains("run-alive, still running"),
        "{scratch}"
    );
    marker(bucket, "run-alive", 60).await; // it stopped refreshing its marker: dead
}

/// The open-run marker of `run`, refreshed `minutes_ago` on another host (a marker not
/// refreshed for 10 minutes is a dead run's).
async fn marker(bucket: &str, run: &str, minutes_ago: i64) {
    let at = (chrono::Utc::now() - chrono::TimeDelta::minutes(minutes_ago)).to_rfc3339();
    let marker = serde_json::json!({
        "run_id": run, "pipeline": "shop", "host": "another-host", "pid": 1,
        "started_at": at, "alive_at": at, "seq": 0, "tables": []
    });
    aws::put_object(
        bucket,
        &format!("lake/_medallion/audit/open/{run}.json"),
        marker.to_string().into_bytes(),
    )
    .await;
}

/// Every object of the bucket's lake, downloaded to `to` under the same layout.
async fn download(bucket: &str, to: &Path) {
    let keys = aws::list_keys(bucket, "lake/").await;
    for k in keys.iter().filter(|k| !k.starts_with("lake/_medallion/")) {
        let rel = k.trim_start_matches("lake/");
        let path = to.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, aws::get_object(bucket, &k).await).unwrap();
    }
}
