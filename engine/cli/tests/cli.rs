//! The `medallion` binary as a user runs it, in a copy of the example project.

use std::path::Path;
use std::process::Command;

mod common;
use common::project;

fn medallion(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn validate_run_tables_sql() {
    let p = project();
    let (code, out, err) = medallion(p.path(), &["validate", "jobs/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4 spec(s) valid"), "{out}");

    let (code, out, err) = medallion(
        p.path(),
        &["run", "jobs/", "--env", "dev", "--report", "json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reports = reports.as_array().unwrap();
    // The streaming example (jobs/streaming) runs too: no Kafka read, Silver/Gold catch up.
    assert_eq!(reports.len(), 4);
    assert!(reports.iter().all(|r| r["status"] == "succeeded"));
    let orders = reports.iter().find(|r| r["pipeline"] == "orders").unwrap();
    assert_eq!(orders["silver"]["rows_written"], 6);
    assert_eq!(orders["bronze"]["rows_quarantined"], 2);

    let (code, out, _) = medallion(p.path(), &["run", "jobs/shop/orders.yaml"]);
    assert_eq!(code, 0);
    assert!(out.contains("files 0 new / 2 already ingested"), "{out}");
    assert!(out.contains("up to date"), "{out}");

    let (code, out, _) = medallion(p.path(), &["tables", "--env", "dev"]);
    assert_eq!(code, 0);
    for t in [
        "bronze.orders",
        "silver.customers",
        "gold.daily_revenue",
        "gold.hourly_device_stats",
        "silver.orders_quarantine",
    ] {
        assert!(out.contains(t), "{t} missing from:\n{out}");
    }

    let (code, out, err) = medallion(
        p.path(),
        &[
            "sql",
            "--env",
            "dev",
            "--format",
            "csv",
            "SELECT day, revenue FROM gold.daily_revenue ORDER BY day",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "day,revenue\n2026-11-01,295.75\n2026-11-02,59.99\n");
}

#[test]
fn exit_codes_and_messages() {
    let p = project();
    let (code, _, err) = medallion(
        p.path(),
        &[
            "validate",
            "testdata/specs/invalid/01_misspelled_on_fail.yaml",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("testdata/specs/invalid/01_misspelled_on_fail.yaml: silver.rules[1].on_fail: unknown variant `qurantine`"), "{err}");

    let (code, _, err) = medallion(
        p.path(),
        &["run", "jobs/iot/sensor_readings.yaml", "--env", "qa"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("no environment `qa`; defined: dev, prod, staging"),
        "{err}"
    );

    // The user's query names a table that does not exist: their input (exit 1).
    let (code, _, err) = medallion(p.path(), &["sql", "SELECT * FROM gold.nope"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("gold.nope"), "{err}");
}

#[test]
fn a_query_over_the_memory_budget_fails_and_says_how_to_raise_it() {
    let p = project();
    // A 64 MiB budget for dev: DataFusion's pool gets three quarters (48 MiB). A hash join's
    // build side does not spill: 4 M keys and their hash table do not fit.
    let envs = p.path().join("environments.yaml");
    let text = std::fs::read_to_string(&envs).unwrap();
    let dev = "    lake: ./lake/dev\n";
    assert!(text.contains(dev), "{text}");
    std::fs::write(
        &envs,
        text.replacen(dev, &format!("{dev}    memory_limit_mib: 64\n"), 1),
    )
    .unwrap();
    let join =
        "SELECT count(*) AS n FROM range(4000000) a JOIN range(4000000) b ON a.value = b.value";
    let (code, out, err) = medallion(p.path(), &["sql", "--env", "dev", join]);
    assert_eq!(
        code, 2,
        "an environment's limit, not the user's query: exit 2\n{out}\n{err}"
    );
    assert!(err.contains("Resources exhausted"), "{err}");
    assert!(
        err.contains("pool_size: 48.0 MB"),
        "three quarters of 64 MiB: {err}"
    );
    assert!(
        err.contains("`medallion run --memory-limit MIB`, or the environment's `memory_limit_mib`"),
        "{err}"
    );
    // Within the budget the same kind of query runs.
    let small = "SELECT count(*) AS n FROM range(1000) a JOIN range(1000) b ON a.value = b.value";
    let (code, out, err) = medallion(p.path(), &["sql", "--env", "dev", "--format", "csv", small]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "n\n1000\n");
}
