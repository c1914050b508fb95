//! Silver and Gold on a real local Ballista cluster (scheduler + 2 executors, started by
//! deploy/local/services/ballista.sh): the same jobs give the same tables as the in-process
//! run, the executors did the work, and a cluster that cannot be reached commits nothing.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use common::aws::{list_keys, medallion, setup};
use common::project;

fn scheduler() -> String {
    std::env::var("MEDALLION_BALLISTA_SCHEDULER").unwrap_or_else(|_| "df://127.0.0.1:50050".into())
}

fn work() -> PathBuf {
    std::env::var("MEDALLION_BALLISTA_WORK")
        .unwrap_or_else(|_| "/tmp/medallion-ballista".into())
        .into()
}

/// One test at a time on the cluster: each can then tell the executors' job folders its runs
/// created from those of the others.
static CLUSTER: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    CLUSTER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds environment `name` (a local lake) whose SQL runs on `scheduler` (or in process),
/// with `extra` lines.
fn add_env(p: &Path, name: &str, scheduler: Option<&str>, extra: &str) {
    let path = p.join("environments.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    // A lake path with a space, a non-ASCII letter and `%`: files are found where they are.
    text.push_str(&format!(
        "  {name}:\n    lake: \"./lake/{name} é x%\"\n    retention_days: 30\n{extra}"
    ));
    if let Some(s) = scheduler {
        text.push_str(&format!(
            "    engine: {{ ballista: {{ scheduler: \"{s}\" }} }}\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// The job folders Ballista's executors hold (one per job they ran a task of).
fn executor_jobs() -> HashSet<String> {
    (1..=2)
        .flat_map(|i| {
            std::fs::read_dir(work().join(format!("executor-{i}")))
                .into_iter()
                .flatten()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        })
        .collect()
}

fn assert_executors_ran_jobs_since(before: &HashSet<String>) {
    let new: Vec<_> = executor_jobs().difference(before).cloned().collect();
    assert!(
        !new.is_empty(),
        "Ballista's executors ran no job of this test (work folders under {})",
        work().display()
    );
}

fn run(p: &Path, env: &str) {
    for jobs in ["jobs/shop/", "jobs/iot/"] {
        let (code, out, err) = medallion(p, &["run", jobs, "--env", env]);
        assert_eq!(code, 0, "run {jobs} --env {env}: {out}\n{err}");
    }
}

/// The table's rows as sorted JSON lines.
fn rows(p: &Path, env: &str, table: &str) -> Vec<String> {
    let q = format!("SELECT * FROM {table}");
    let (code, out, err) = medallion(p, &["sql", "--env", env, "--format", "json", &q]);
    assert_eq!(code, 0, "{q} --env {env}: {err}");
    let v: Vec<serde_json::Value> = serde_json::from_str(out.trim()).unwrap_or_default();
    let mut lines: Vec<String> = v.iter().map(|r| r.to_string()).collect();
    lines.sort();
    lines
}

const TABLES: [&str; 6] = [
    "silver.orders",
    "silver.customers",
    "silver.sensor_readings",
    "gold.daily_revenue",
    "gold.revenue_by_country",
    "gold.hourly_device_stats",
];

fn describe(p: &Path, env: &str, table: &str) -> String {
    let q = format!("DESCRIBE {table}");
    let (code, out, err) = medallion(p, &["sql", "--env", env, "--format", "csv", &q]);
    assert_eq!(code, 0, "{q} --env {env}: {err}");
    out
}

fn assert_same_tables(p: &Path, a: &str, b: &str) {
    for t in TABLES {
        assert_eq!(describe(p, a, t), describe(p, b, t), "{t}: columns differ");
        let (x, y) = (rows(p, a, t), rows(p, b, t));
        assert!(!x.is_empty(), "{t} has rows");
        assert_eq!(x, y, "{t}: --env {a} and --env {b} differ");
    }
}

#[test]
fn silver_and_gold_on_the_cluster_equal_the_in_process_run() {
    let dir = project();
    let p = dir.path();
    add_env(p, "cluster", Some(&scheduler()), "");
    let _one = serial();
    let before = executor_jobs();
    run(p, "dev");
    run(p, "cluster");
    assert_executors_ran_jobs_since(&before);
    assert_same_tables(p, "dev", "cluster");

    // A newer version of an order and a re-sent sensor reading: merged by key on both.
    let orders = p.join("testdata/shop/orders");
    let first = std::fs::read_dir(&orders)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let line = std::fs::read_to_string(&first).unwrap();
    let line = line.lines().next().unwrap().to_string();
    let mut v: serde_json::Value = serde_json::from_str(&line).unwrap();
    v["status"] = "shipped".into();
    v["updated_at"] = "2030-01-01T00:00:00Z".into();
    std::fs::write(orders.join("zz-update.ndjson"), format!("{v}\n")).unwrap();
    run(p, "dev");
    run(p, "cluster");
    assert_same_tables(p, "dev", "cluster");
    let shipped = rows(p, "cluster", "silver.orders")
        .into_iter()
        .filter(|r| r.contains("2030-01-01"))
        .count();
    assert_eq!(shipped, 1, "the newer version replaced the stored one");
}

#[test]
fn a_keyed_pii_hash_stays_in_the_run_and_equals_the_in_process_hash() {
    let _one = serial();
    let dir = project();
    let p = dir.path();
    let key = "    pii: { hash_key_env: MEDALLION_TEST_PII_KEY }\n";
    add_env(p, "cluster", Some(&scheduler()), key);
    // The same key, in process.
    add_env(p, "local", None, key);
    for env in ["local", "cluster"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_medallion"))
            .args(["run", "jobs/shop/customers.yaml", "--env", env])
            .current_dir(p)
            .env("MEDALLION_TEST_PII_KEY", "a-secret-key-of-the-test")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (a, b) = (
        rows(p, "local", "silver.customers"),
        rows(p, "cluster", "silver.customers"),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn an_unreachable_cluster_fails_the_run_and_commits_nothing() {
    let dir = project();
    let p = dir.path();
    add_env(p, "cluster", Some("df://127.0.0.1:9"), "");
    let (code, out, err) = medallion(p, &["run", "jobs/iot/", "--env", "cluster"]);
    assert_eq!(code, 2, "a service of the environment failed: {out}");
    assert!(err.contains("127.0.0.1:9"), "names the scheduler: {err}");
    assert!(
        err.contains("silver.dedupe on the cluster") && !err.contains("bug"),
        "says where, not that it is a bug: {err}"
    );
    let (code, out, err) = medallion(p, &["tables", "--env", "cluster", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("sensor_readings"), "nothing committed: {out}");
}

#[test]
fn a_malformed_scheduler_address_is_refused_naming_the_field() {
    let dir = project();
    let p = dir.path();
    add_env(p, "cluster", Some("localhost:50050"), "");
    let (code, _, err) = medallion(p, &["run", "jobs/iot/", "--env", "cluster"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("environments.cluster.engine.ballista.scheduler")
            && err.contains("df://host:port"),
        "{err}"
    );
}

/// On an S3 lake (the local S3 API): the cluster reads the tables' files and the run's shared
/// rows from S3 with its own credentials; the result equals the in-process run on another
/// lake of the same bucket, and the run's uploaded rows are gone afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn on_an_s3_lake_the_cluster_reads_s3_and_leaves_no_shared_files() {
    let (dir, bucket, key, prefix) = setup().await;
    let p = dir.path();
    let path = p.join("environments.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "  prodc:\n    lake: s3://{bucket}/lakec\n    catalog: {{ glue: {{ database_prefix: c{prefix} }} }}\n    kms_key: {key}\n    retention_days: 2555\n    engine: {{ ballista: {{ scheduler: \"{}\" }} }}\n",
        scheduler()
    ));
    std::fs::write(&path, text).unwrap();
    let _one = serial();
    // The run's rows are uploaded for the cluster (seen while the run waits after sharing)...
    let flag = p.join("shared.flag");
    let waiting = p.join("shared.flag.waiting");
    let mut child = common::aws::command(p, &["run", "jobs/iot/", "--env", "prodc"])
        .env(
            "MEDALLION_FAULT",
            format!("wait:after_share:{}", flag.display()),
        )
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !waiting.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        waiting.exists(),
        "the run never shared rows with the cluster"
    );
    let shared = list_keys(&bucket, "lakec/_medallion/tmp/").await;
    assert!(!shared.is_empty(), "nothing uploaded for the cluster");
    std::fs::write(&flag, "").unwrap();
    assert!(child.wait().unwrap().success());
    // ...and deleted at the end of the run.
    let left = list_keys(&bucket, "lakec/_medallion/tmp/").await;
    assert!(left.is_empty(), "shared temporary files left: {left:?}");
    let before = executor_jobs();
    run(p, "prod");
    run(p, "prodc");
    assert_executors_ran_jobs_since(&before);
    assert_same_tables(p, "prod", "prodc");
    let left = list_keys(&bucket, "lakec/_medallion/tmp/").await;
    assert!(left.is_empty(), "shared temporary files left: {left:?}");

    // A run whose cluster cannot be reached leaves no shared files either.
    let envs = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, envs.replace(&scheduler(), "df://127.0.0.1:9")).unwrap();
    // New readings, so that the run has rows to share before it reaches the cluster.
    let readings = p.join("testdata/iot/readings");
    std::fs::copy(
        readings.join("readings-2026-11-01T10.ndjson"),
        readings.join("readings-2026-11-02T10.ndjson"),
    )
    .unwrap();
    let (code, out, err) = medallion(p, &["run", "jobs/iot/", "--env", "prodc"]);
    assert_eq!(code, 2, "the cluster is unreachable: {out}\n{err}");
    let left = list_keys(&bucket, "lakec/_medallion/tmp/").await;
    assert!(
        left.is_empty(),
        "shared temporary files left after a failed run: {left:?}"
    );
}
