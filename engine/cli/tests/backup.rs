//! Backup and recovery through the binary (docs/backup.md): a lost lake comes back from its
//! backup identical (Gold, catalog, audit trail, source ledger); backups are incremental; a
//! damaged backup or a restore cut short is never a silently older table; `table restore`
//! rolls a bad run back without losing what came since; and on S3 + Glue (moto) the disaster
//! recovery drill: back up to another bucket under another key, lose the bucket and the Glue
//! databases, restore.

use std::path::{Path, PathBuf};

mod common;
use common::{medallion_with_fault, project};

/// The words of a command line without quoting (`w("backup --env dev")`).
fn w(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn ok(d: &Path, args: &[&str]) -> String {
    let (code, out, err) = medallion_with_fault(d, None, args);
    assert_eq!(code, Some(0), "medallion {args:?}\n{out}\n{err}");
    out
}

fn fails(d: &Path, args: &[&str]) -> (i32, String) {
    let (code, out, err) = medallion_with_fault(d, None, args);
    let code = code.expect("not killed");
    assert_ne!(code, 0, "medallion {args:?} succeeded\n{out}");
    (code, err)
}

fn csv(d: &Path, sql: &str) -> String {
    ok(d, &["sql", sql, "--env", "dev", "--format", "csv"])
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The whole of Gold and Silver's row counts, to compare a lake with its restored self.
fn state(d: &Path) -> String {
    [
        "SELECT * FROM gold.daily_revenue ORDER BY 1, 2",
        "SELECT * FROM gold.revenue_by_country ORDER BY 1",
        "SELECT count(*) FROM silver.orders",
        "SELECT count(*) FROM silver.customers",
        "SELECT count(*) FROM bronze.orders",
        "SELECT count(*) FROM silver.orders_quarantine",
    ]
    .iter()
    .map(|q| csv(d, q))
    .collect()
}

/// The catalog's tables without their timestamps (a restore registers them anew).
fn catalog(d: &Path) -> Vec<serde_json::Value> {
    let mut doc = json(&ok(d, &w("catalog export --env dev")));
    let tables = doc["tables"].as_array_mut().unwrap();
    for t in tables.iter_mut() {
        let o = t.as_object_mut().unwrap();
        o.remove("created_at");
        o.remove("updated_at");
    }
    tables.clone()
}

fn files_under(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Three new orders (one for customer C002, one of 75.00) in a new landing file.
fn more_orders(d: &Path) {
    std::fs::write(
        d.join("testdata/shop/orders/orders-2026-11-03.ndjson"),
        concat!(
            r#"{"order_id":"O7001","customer_id":"C002","amount":12.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-03T08:00:00Z","updated_at":"2026-11-03T08:00:00Z","items":[]}"#,
            "\n",
            r#"{"order_id":"O7002","customer_id":"C001","amount":3.50,"currency":"EUR","status":"placed","ordered_at":"2026-11-03T09:00:00Z","updated_at":"2026-11-03T09:00:00Z","items":[]}"#,
            "\n",
            r#"{"order_id":"O7003","customer_id":"C001","amount":75.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-03T10:00:00Z","updated_at":"2026-11-03T10:00:00Z","items":[]}"#,
            "\n",
        ),
    )
    .unwrap();
}

#[test]
fn a_lost_lake_comes_back_from_its_backup() {
    let dir = project();
    let d = dir.path();
    ok(d, &w("run jobs/shop --env dev"));
    let first = json(&ok(
        d,
        &w("backup --env dev --to backups/dev --format json"),
    ));
    assert!(first["copied_files"].as_u64().unwrap() > 20, "{first}");

    // Nothing changed but the audit trail: no table file is copied again.
    let lake_files = files_under(&d.join("backups/dev/data"));
    let again = json(&ok(
        d,
        &w("backup --env dev --to backups/dev --format json"),
    ));
    assert_eq!(files_under(&d.join("backups/dev/data")), lake_files);
    assert!(again["copied_files"].as_u64().unwrap() <= 2, "{again}");

    // New orders: only the new files are copied.
    more_orders(d);
    ok(d, &w("run jobs/shop --env dev"));
    let third = json(&ok(
        d,
        &w("backup --env dev --to backups/dev --format json"),
    ));
    let new_files = files_under(&d.join("backups/dev/data")).len() - lake_files.len();
    assert!(new_files > 0, "{third}");
    assert!(third["copied_files"].as_u64().unwrap() < first["copied_files"].as_u64().unwrap());
    let before = (state(d), catalog(d));

    std::fs::rename(d.join("lake/dev"), d.join("lost")).unwrap();
    // A query before the restore starts a new audit trail: the restore refuses to mix them.
    let (code, _, _) = medallion_with_fault(d, None, &["sql", "SELECT 1", "--env", "dev"]);
    assert_eq!(code, Some(0));
    let (code, err) = fails(d, &w("restore --env dev --from backups/dev"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("a new trail was started after the loss"),
        "{err}"
    );
    std::fs::remove_dir_all(d.join("lake/dev")).unwrap();
    let out = ok(d, &w("restore --env dev --from backups/dev"));
    assert!(out.contains("restored 8 table(s)"), "{out}");
    assert_eq!((state(d), catalog(d)), before, "the restored lake differs");
    let verify = ok(d, &w("audit verify --env dev"));
    assert!(verify.contains("intact"), "{verify}");
    let trail = json(&ok(d, &w("audit --env dev --format json")));
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "backup_taken").count(),
        2,
        "the trail as of the third backup"
    );
    assert!(actions.contains(&"backup_restored"), "{actions:?}");

    // The source ledger came back too: the next run ingests nothing again.
    ok(d, &w("run jobs/shop --env dev"));
    assert_eq!(state(d), before.0);
}

#[test]
fn a_damaged_backup_or_a_cut_short_restore_is_never_a_silently_older_table() {
    let dir = project();
    let d = dir.path();
    ok(d, &w("run jobs/shop --env dev"));
    more_orders(d);
    ok(d, &w("run jobs/shop --env dev"));
    let orders = csv(d, "SELECT count(*) FROM silver.orders");
    // A backup killed before its manifest does not count: the restore takes the one before.
    ok(d, &w("backup --env dev --to bk"));
    let (code, _, _) = medallion_with_fault(
        d,
        Some("backup_before_manifest"),
        &w("backup --env dev --to bk"),
    );
    assert_eq!(code, None, "not killed at the fault point");
    assert_eq!(files_under(&d.join("bk/manifests")).len(), 1);

    // Outside every lake, and only into its own environment.
    let (_, err) = fails(d, &w("backup --env dev --to lake/dev/backup"));
    assert!(
        err.contains("overlaps the lake of environment `dev`"),
        "{err}"
    );
    let (_, err) = fails(d, &w("restore --env staging --from bk"));
    assert!(err.contains("is of environment `dev`"), "{err}");

    let before = state(d);
    std::fs::rename(d.join("lake/dev"), d.join("lost")).unwrap();
    a_damaged_restore_is_refused_and_finished_once_repaired(d, &before);
    a_cut_short_restore_is_finished_by_the_same_restore(d, &orders);
    a_table_created_during_a_cut_short_restore_is_not_overwritten(d, &orders);
}

/// The backed-up data file of `table` the manifest names first.
fn backed_up_file(d: &Path, table: &str) -> PathBuf {
    let manifest = files_under(&d.join("bk/manifests")).pop().unwrap();
    let m = json(&std::fs::read_to_string(manifest).unwrap());
    let t = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .unwrap();
    d.join("bk").join(t["files"][0]["key"].as_str().unwrap())
}

/// One flipped byte in a backed-up data file: refused, naming it; tables restored before it
/// stay, and the same restore finishes the job once the file is repaired.
fn a_damaged_restore_is_refused_and_finished_once_repaired(d: &Path, before: &str) {
    let victim = backed_up_file(d, "silver.orders");
    let good = std::fs::read(&victim).unwrap();
    let mut bad = good.clone();
    bad[100] ^= 1;
    std::fs::write(&victim, &bad).unwrap();
    let (code, err) = fails(d, &w("restore --env dev --from bk"));
    assert_eq!(code, 1, "{err}");
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains("the backup is damaged") && err.contains(name),
        "{err}"
    );
    std::fs::write(&victim, &good).unwrap();
    ok(d, &w("restore --env dev --from bk"));
    assert_eq!(state(d), before);
}

/// Killed after the newest log entry: the table does not read as its older self; the same
/// restore finishes it.
fn a_cut_short_restore_is_finished_by_the_same_restore(d: &Path, orders: &str) {
    std::fs::remove_dir_all(d.join("lake/dev/silver/orders")).unwrap();
    let args = w("restore --env dev --from bk --tables silver.orders");
    let (code, _, _) = medallion_with_fault(d, Some("restore_in_log"), &args);
    assert_eq!(code, None, "not killed at the fault point");
    let count = [
        "sql",
        "SELECT count(*) FROM silver.orders",
        "--env",
        "dev",
        "--format",
        "csv",
    ];
    let (code, out, _) = medallion_with_fault(d, None, &count);
    assert_ne!(
        code,
        Some(0),
        "a cut-short restore reads as an older table: {out}"
    );
    ok(d, &args);
    assert_eq!(csv(d, "SELECT count(*) FROM silver.orders"), orders);
}

/// While a restore cut short has not finished, nothing writes to the environment (a run would
/// create the table again from what the sources still hold); the same restore finishes it.
fn a_table_created_during_a_cut_short_restore_is_not_overwritten(d: &Path, orders: &str) {
    std::fs::remove_dir_all(d.join("lake/dev/silver/orders")).unwrap();
    let args = w("restore --env dev --from bk --tables silver.orders");
    let (code, _, _) = medallion_with_fault(d, Some("restore_before_log"), &args);
    assert_eq!(code, None, "not killed at the fault point");
    for cmd in [
        "run jobs/shop --env dev",
        "maintain --env dev",
        "backup --env dev --to bk",
    ] {
        let (code, err) = fails(d, &w(cmd));
        assert_eq!(code, 2, "{cmd}: {err}");
        assert!(err.contains("began and has not finished"), "{cmd}: {err}");
    }
    ok(d, &args);
    assert_eq!(csv(d, "SELECT count(*) FROM silver.orders"), orders);
    assert!(ok(d, &w("audit verify --env dev")).contains("intact"));
}

/// The usual repair: roll Silver back to before the new orders, change the spec (here: a new
/// quarantine rule), run. Rows the new rule rejects are quarantined even though an earlier
/// run already wrote Silver rejects for those Bronze rows: nothing falls between the two.
fn a_rule_added_after_a_rollback_quarantines_what_it_rejects(d: &Path) {
    ok(d, &w("table restore silver.orders --version 2 --env dev"));
    common::edit(
        d,
        "jobs/shop/orders.yaml",
        "  rules:\n",
        "  rules:\n    - { name: amount_below_50, check: \"amount < 50\", on_fail: quarantine }\n",
    );
    ok(d, &w("run jobs/shop --env dev"));
    let new = "SELECT order_id FROM silver.orders WHERE order_id LIKE 'O700%' ORDER BY 1";
    assert_eq!(csv(d, new), "order_id\nO7001\nO7002\n");
    let q = "SELECT _rule FROM silver.orders_quarantine WHERE _record LIKE '%O7003%'";
    assert_eq!(
        csv(d, q),
        "_rule\namount_below_50\n",
        "O7003 is in neither table"
    );
}

#[test]
fn a_bad_run_is_rolled_back_and_nothing_is_lost() {
    let dir = project();
    let d = dir.path();
    ok(d, &w("run jobs/shop --env dev"));
    let v0 = state(d);
    more_orders(d);
    ok(d, &w("run jobs/shop --env dev"));
    let v1 = csv(d, "SELECT count(*) FROM silver.orders");
    assert_ne!(v0, state(d));

    let dry = ok(
        d,
        &w("table restore silver.orders --version 0 --env dev --dry-run"),
    );
    assert!(
        dry.contains("would roll back silver.orders from version 1 to version 0"),
        "{dry}"
    );
    let out = ok(
        d,
        &w("table restore silver.orders --version 0 --env dev --format json"),
    );
    let r = json(&out);
    assert_eq!(
        (r["to_version"].as_i64(), r["version"].as_i64()),
        (Some(0), Some(2)),
        "{r}"
    );
    assert_eq!(r["bookmark"][0], "bronze.orders", "{r}");
    assert!(
        r["bookmark"][2].as_i64() < r["bookmark"][1].as_i64(),
        "the bookmark moved back: {r}"
    );
    assert_ne!(
        csv(d, "SELECT count(*) FROM silver.orders"),
        v1,
        "rolled back"
    );
    // The next run processes again what Bronze got since: nothing lost, nothing twice.
    let quarantine = csv(d, "SELECT count(*) FROM silver.orders_quarantine");
    ok(d, &w("run jobs/shop --env dev"));
    assert_eq!(csv(d, "SELECT count(*) FROM silver.orders"), v1);
    assert_eq!(
        csv(d, "SELECT count(*) FROM silver.orders_quarantine"),
        quarantine
    );
    let verify = ok(d, &w("audit verify --env dev"));
    assert!(verify.contains("intact"), "{verify}");
    a_rule_added_after_a_rollback_quarantines_what_it_rejects(d);

    let (code, err) = fails(d, &w("table restore bronze.orders --version 0 --env dev"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Bronze or quarantine table"), "{err}");
    let (_, err) = fails(d, &w("table restore silver.orders --version 9 --env dev"));
    assert!(err.contains("give an older version"), "{err}");

    // After an erasure, no version from before it comes back.
    ok(
        d,
        &w("erase --env dev --subject customer --key C002 --reason test"),
    );
    let (code, err) = fails(d, &w("table restore silver.orders --version 3 --env dev"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("deleted rows")
            || err.contains("no longer holds version")
            || err.contains("an erasure ran"),
        "{err}"
    );
    let (_, err) = fails(
        d,
        &w("table restore gold.daily_revenue --version 0 --env dev"),
    );
    assert!(err.contains("an erasure ran"), "{err}");
}

/// `medallion ARGS` against the S3 server, which must succeed.
fn aws_ok(p: &Path, args: &[&str]) -> String {
    let (code, out, err) = common::aws::medallion(p, args);
    assert_eq!(code, 0, "medallion {args:?}\n{out}\n{err}");
    out
}

/// prod's Gold tables, Bronze orders and catalog (without timestamps).
fn prod_state(p: &Path) -> (String, serde_json::Value) {
    let sql = |q: &str| aws_ok(p, &["sql", "--env", "prod", "--format", "csv", q]);
    let data = [
        "SELECT * FROM gold.daily_revenue ORDER BY day",
        "SELECT * FROM gold.revenue_by_country ORDER BY country",
        "SELECT * FROM gold.hourly_device_stats ORDER BY device_id, hour",
        "SELECT count(*) FROM bronze.orders",
    ]
    .map(sql)
    .concat();
    let mut doc = json(&aws_ok(p, &w("catalog export --env prod")));
    for t in doc["tables"].as_array_mut().unwrap() {
        let o = t.as_object_mut().unwrap();
        o.remove("created_at");
        o.remove("updated_at");
    }
    (data, doc["tables"].clone())
}

/// The disaster: the lake's bucket and its Glue databases are gone; the platform recreates
/// an empty bucket.
async fn lose_the_lake(bucket: &str, prefix: &str) {
    use common::aws::{create_bucket, delete_bucket, glue, list_keys};
    delete_bucket(bucket).await;
    let glue = glue().await;
    for db in ["bronze", "silver", "gold"] {
        let name = format!("{prefix}{db}");
        glue.delete_database().name(name).send().await.unwrap();
    }
    create_bucket(bucket).await;
    assert!(list_keys(bucket, "").await.is_empty(), "the lake is gone");
}

/// The disaster-recovery drill on S3 + KMS + Glue (moto): back the example lake up to another
/// bucket under another key, lose the lake's bucket and its Glue databases, restore; Gold, the
/// Glue tables and the audit trail are what they were. Prints the measured recovery time.
#[tokio::test]
async fn disaster_recovery_on_s3_and_glue() {
    use common::aws::{create_bucket, create_key, encryption, glue, list_keys, setup};
    let (dir, bucket, _key, prefix) = setup().await;
    let p = dir.path();
    aws_ok(p, &w("run jobs/ --env prod"));
    let before = prod_state(p);
    assert!(before.1.as_array().unwrap().len() >= 12, "{}", before.1);

    let backups = format!("{bucket}-dr");
    create_bucket(&backups).await;
    let backup_key = create_key().await;
    let to = format!("s3://{backups}/prod");
    let (code, _, err) = common::aws::medallion(p, &["backup", "--env", "prod", "--to", &to]);
    assert!(
        code != 0 && err.contains("--kms-key"),
        "a KMS lake is backed up under a key: {err}"
    );
    aws_ok(
        p,
        &[
            "backup",
            "--env",
            "prod",
            "--to",
            &to,
            "--kms-key",
            &backup_key,
        ],
    );
    let held = list_keys(&backups, "prod/data/").await;
    let data = held
        .iter()
        .find(|k| k.ends_with(".parquet"))
        .expect("a backed-up data file");
    let (sse, key) = encryption(&backups, data).await;
    assert_eq!(sse.as_deref(), Some("aws:kms"));
    assert!(
        key.unwrap_or_default().contains(&backup_key),
        "under the backup's own key"
    );

    lose_the_lake(&bucket, &prefix).await;
    let started = std::time::Instant::now();
    let out = aws_ok(p, &["restore", "--env", "prod", "--from", &to]);
    let rto = started.elapsed().as_secs_f64();
    eprintln!(
        "disaster recovery of the example lake (S3 + Glue, moto): restored in {rto:.1} s\n{out}"
    );
    assert_eq!(prod_state(p), before, "the restored lake differs");
    assert!(aws_ok(p, &w("audit verify --env prod")).contains("intact"));
    let gold = glue()
        .await
        .get_tables()
        .database_name(format!("{prefix}gold"))
        .send()
        .await;
    assert_eq!(
        gold.unwrap().table_list().len(),
        4,
        "Glue has the Gold tables again"
    );
    // Nothing is ingested twice after the recovery.
    aws_ok(p, &w("run jobs/ --env prod"));
    assert_eq!(prod_state(p), before);
}

#[test]
fn a_backup_older_than_an_erasure_is_not_restored_silently() {
    let dir = project();
    let d = dir.path();
    ok(d, &w("run jobs/shop --env dev"));
    ok(d, &w("backup --env dev --to bk"));
    ok(
        d,
        &[
            "erase",
            "--env",
            "dev",
            "--subject",
            "customer",
            "--key",
            "C002",
            "--reason",
            "ticket 7",
        ],
    );
    let after = csv(d, "SELECT count(*) FROM silver.orders");
    std::fs::remove_dir_all(d.join("lake/dev/silver/orders")).unwrap();
    let args = [
        "restore",
        "--env",
        "dev",
        "--from",
        "bk",
        "--tables",
        "silver.orders",
    ];
    let (code, err) = fails(d, &args);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("taken before 1 erasure(s)") && err.contains("ticket 7"),
        "{err}"
    );
    assert!(
        !d.join("lake/dev/silver/orders").exists(),
        "refused before anything was copied"
    );

    let (code, _, err) = medallion_with_fault(d, None, &[&args[..], &["--allow-erased"]].concat());
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("erase `\"customer\"` again now")
            || err.contains("erase `customer` again now"),
        "{err}"
    );
    assert_ne!(
        csv(d, "SELECT count(*) FROM silver.orders"),
        after,
        "the person's rows are back"
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
            "C002",
            "--reason",
            "ticket 7, after the restore",
        ],
    );
    assert_eq!(csv(d, "SELECT count(*) FROM silver.orders"), after);
}

#[test]
fn an_older_version_comes_back_when_a_backup_holds_its_files() {
    let dir = project();
    let d = dir.path();
    ok(d, &w("run jobs/shop --env dev"));
    let v0 = csv(d, "SELECT count(*) FROM silver.orders");
    ok(d, &w("backup --env dev --to bk"));
    more_orders(d);
    ok(d, &w("run jobs/shop --env dev"));
    let b2 = json(&ok(d, &w("backup --env dev --to bk --format json")));
    let v1 = csv(d, "SELECT count(*) FROM silver.orders");
    std::fs::remove_dir_all(d.join("lake/dev/silver/orders")).unwrap();

    let (_, err) = fails(d, &w("restore --env dev --from bk --to-version 0"));
    assert!(err.contains("a version of one table"), "{err}");
    let args = "restore --env dev --from bk --tables silver.orders --to-version 0 --format json";
    let out = json(&ok(d, &w(args)));
    assert_eq!(
        out["tables"][0]["version"], 1,
        "restored as backed up: {out}"
    );
    assert_eq!(
        out["rolled_back"]["to_version"], 0,
        "then rolled back: {out}"
    );
    assert_eq!(csv(d, "SELECT count(*) FROM silver.orders"), v0);
    assert!(ok(d, &w("audit verify --env dev")).contains("intact"));
    // The table goes on from there: its bookmark moved back with it, so the next run
    // processes again what Bronze got since.
    ok(d, &w("run jobs/shop --env dev"));
    assert_eq!(csv(d, "SELECT count(*) FROM silver.orders"), v1);

    // The table is created anew (its version numbers start again) and backed up: the
    // earlier backup still holds its own log, not the new table's.
    std::fs::remove_dir_all(d.join("lake/dev/silver/orders")).unwrap();
    ok(d, &w("run jobs/shop --env dev"));
    ok(d, &w("backup --env dev --to bk"));
    std::fs::remove_dir_all(d.join("lake/dev/silver/orders")).unwrap();
    let id = b2["backup"].as_str().unwrap();
    ok(
        d,
        &[
            "restore",
            "--env",
            "dev",
            "--from",
            "bk",
            "--tables",
            "silver.orders",
            "--backup",
            id,
        ],
    );
    assert_eq!(csv(d, "SELECT count(*) FROM silver.orders"), v1);
}

#[test]
fn a_lake_restored_on_another_machine_is_registered_where_it_now_lives() {
    let (a, b) = (project(), project());
    let bk = a.path().join("bk");
    let bk = bk.to_str().unwrap();
    ok(a.path(), &w("run jobs/shop --env dev"));
    ok(a.path(), &w(&format!("backup --env dev --to {bk}")));
    // One location, one environment.
    let (_, err) = fails(a.path(), &w(&format!("backup --env staging --to {bk}")));
    assert!(
        err.contains("holds backups of environment `dev`") || err.contains("staging"),
        "{err}"
    );
    // A partial backup afterwards is not what a plain restore takes.
    ok(
        a.path(),
        &w(&format!(
            "backup --env dev --to {bk} --tables bronze.orders"
        )),
    );

    let out = ok(b.path(), &w(&format!("restore --env dev --from {bk}")));
    assert!(out.contains("restored 8 table(s)"), "{out}");
    assert_eq!(state(b.path()), state(a.path()));
    let lake = b.path().join("lake/dev").canonicalize().unwrap();
    for t in catalog(b.path()) {
        let location = t["location"].as_str().unwrap();
        assert!(
            location.starts_with(lake.to_str().unwrap()),
            "{location} is not under {lake:?}"
        );
    }
}

#[test]
fn a_restore_that_writes_nothing_explains_nothing_away() {
    let dir = project();
    let d = dir.path();
    ok(d, &w("run jobs/shop --env dev"));
    ok(d, &w("backup --env dev --to bk"));
    more_orders(d);
    ok(d, &w("run jobs/shop --env dev"));
    // Someone removes the newest commit of Bronze: the trail says so.
    let log = d.join("lake/dev/bronze/orders/_delta_log/00000000000000000001.json");
    std::fs::remove_file(log).unwrap();
    let (code, out, err) = medallion_with_fault(d, None, &w("audit verify --env dev"));
    assert!(
        code == Some(1) && (out + &err).contains("no such commit"),
        "{code:?}"
    );
    // The lake holds Bronze exactly as backed up: the restore leaves it, and the records of
    // the removed commit stay errors.
    let out = ok(
        d,
        &w("restore --env dev --from bk --tables bronze.orders --format json"),
    );
    let r = json(&out);
    assert_eq!(r["already_complete"][0], "bronze.orders", "{r}");
    assert_eq!(r["tables"].as_array().unwrap().len(), 0, "{r}");
    let (code, out, err) = medallion_with_fault(d, None, &w("audit verify --env dev"));
    assert!(
        code == Some(1) && (out + &err).contains("no such commit"),
        "{code:?}"
    );
}

#[test]
fn gold_follows_a_silver_restored_from_a_backup() {
    let dir = project();
    let d = dir.path();
    ok(d, &w("run jobs/shop --env dev"));
    ok(d, &w("backup --env dev --to bk"));
    more_orders(d);
    ok(d, &w("run jobs/shop --env dev"));
    // Bronze gets one more order; Silver does not (the run dies after the Bronze commit).
    std::fs::write(
        d.join("testdata/shop/orders/orders-2026-11-06.ndjson"),
        r#"{"order_id":"O8001","customer_id":"C001","amount":1000.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-06T08:00:00Z","updated_at":"2026-11-06T08:00:00Z","items":[]}"#,
    )
    .unwrap();
    let (code, _, _) = medallion_with_fault(
        d,
        Some("after_bronze_commit"),
        &w("run jobs/shop --env dev"),
    );
    assert_eq!(code, None, "not killed at the fault point");
    // Silver is lost and comes back at the backup's version: the next run processes Bronze
    // again from there and commits Silver versions whose numbers Gold has seen before.
    std::fs::remove_dir_all(d.join("lake/dev/silver/orders")).unwrap();
    ok(d, &w("restore --env dev --from bk --tables silver.orders"));
    ok(d, &w("run jobs/shop --env dev"));
    let day = "SELECT revenue FROM gold.daily_revenue WHERE day = DATE '2026-11-06'";
    assert_eq!(
        csv(d, day),
        "revenue\n1000.00\n",
        "Gold did not follow Silver"
    );
}

#[test]
fn backups_never_hide_what_they_lack() {
    let dir = project();
    let d = dir.path();
    ok(d, &w("run jobs/shop --env dev"));
    let (_, err) = fails(d, &w("backup --env dev --to bk --kms-key alias/x"));
    assert!(err.contains("applies to s3:// locations"), "{err}");
    let first = json(&ok(d, &w("backup --env dev --to bk --format json")));
    // An object of the backup expires (a lifecycle rule): the next backup copies it again...
    let gone = files_under(&d.join("bk/data")).pop().unwrap();
    std::fs::remove_file(&gone).unwrap();
    ok(d, &w("backup --env dev --to bk"));
    assert!(
        gone.exists(),
        "the next backup did not copy the expired object again"
    );
    // ...but the first backup lacks it: refused before anything is written.
    std::fs::remove_file(&gone).unwrap();
    std::fs::rename(d.join("lake/dev"), d.join("lost")).unwrap();
    let id = first["backup"].as_str().unwrap();
    let (code, err) = fails(
        d,
        &["restore", "--env", "dev", "--from", "bk", "--backup", id],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is incomplete"), "{err}");
    assert!(!d.join("lake/dev").exists(), "nothing was written");
    std::fs::rename(d.join("lost"), d.join("lake/dev")).unwrap();
    // A table the catalog knows but the lake lost: no backup that would not hold it.
    std::fs::remove_dir_all(d.join("lake/dev/silver/orders")).unwrap();
    let (code, err) = fails(d, &w("backup --env dev --to bk"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("silver.orders but the lake has no such table"),
        "{err}"
    );
}
