//! The `medallion` binary as a user runs it, in a copy of the example project.

use std::path::Path;
use std::process::Command;

mod common;
use common::project;

fn medallion(dir: &Path, args: &[&str]) -> (i32, String, String) {
    // The default log format and filter (some tests read the logs).
    let out = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(args)
        .current_dir(dir)
        .env_remove("MEDALLION_LOG_FORMAT")
        .env_remove("MEDALLION_LOG")
        .env_remove("RUST_LOG")
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

/// Sets `memory_limit_mib` of the dev environment.
fn limit_dev_memory(dir: &Path, mib: u32) {
    let envs = dir.join("environments.yaml");
    let text = std::fs::read_to_string(&envs).unwrap();
    let dev = "    lake: ./lake/dev\n";
    assert!(text.contains(dev), "{text}");
    let limited = text.replacen(dev, &format!("{dev}    memory_limit_mib: {mib}\n"), 1);
    std::fs::write(&envs, limited).unwrap();
}

#[test]
fn a_dedupe_over_its_memory_share_spills_and_keeps_the_same_winners() {
    let p = project();
    // 64 MiB: the dedupe's share is 32 MiB; its table passes that at ~430,000 keys (when
    // its arena doubles), before the newer and stale versions come.
    limit_dev_memory(p.path(), 64);
    std::fs::create_dir_all(p.path().join("schemas/versions")).unwrap();
    std::fs::write(
        p.path().join("schemas/versions/v1.yaml"),
        "dataset: versions\nversion: 1\nfields:\n  - { name: k, type: long, nullable: false }\n  - { name: v, type: long }\n",
    )
    .unwrap();
    std::fs::write(
        p.path().join("jobs/versions.yaml"),
        "pipeline: versions\nbronze:\n  table: bronze.versions\n  schema: versions@1\n  source:\n    files: { path: testdata/versions/*.csv, format: csv }\nsilver:\n  table: silver.versions\n  dedupe: { keys: [k], latest_by: v }\n",
    )
    .unwrap();
    // Every key at v = 1; then, after the spill, newer versions (v = 2) of every 8th key and
    // stale ones (v = 0) of others, which must lose.
    const KEYS: u64 = 700_000;
    let mut csv = String::from("k,v\n");
    for k in 0..KEYS {
        csv.push_str(&format!("{k},1\n"));
    }
    for k in (0..KEYS).step_by(8) {
        csv.push_str(&format!("{k},2\n{},0\n", k + 3));
    }
    std::fs::create_dir_all(p.path().join("testdata/versions")).unwrap();
    std::fs::write(p.path().join("testdata/versions/part-1.csv"), csv).unwrap();

    let (code, out, err) = medallion(p.path(), &["run", "jobs/versions.yaml", "--env", "dev"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("Dedupe table over its memory budget: spilling to disk"),
        "the run must spill, else this test proves nothing: {err}"
    );
    // Rows came after the spill too (the newer and stale versions), and were chosen from it.
    let spilled_keys = logged(&err, "spilling to disk", "keys");
    let bucket_rows = logged(&err, "choosing the winners", "rows");
    assert!(spilled_keys < KEYS && bucket_rows > spilled_keys, "{err}");
    assert!(err.contains("winners of the spilled rows chosen"), "{err}");
    let q = "SELECT count(*) AS n, count(DISTINCT k) AS d, sum(v) AS s, min(v) AS lo FROM silver.versions";
    let (code, out, err) = medallion(p.path(), &["sql", "--env", "dev", "--format", "csv", q]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("n,d,s,lo\n{KEYS},{KEYS},{},1\n", KEYS + KEYS / 8)
    );
}

/// The number after `name=` in the log line of `text` that says `message`.
fn logged(text: &str, message: &str, name: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.contains(message))
        .unwrap_or_else(|| panic!("no log line says {message:?}: {text}"));
    let at = line
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("{name}= in {line}"));
    let digits: String = line[at + name.len() + 2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
fn a_query_over_the_memory_budget_fails_and_says_how_to_raise_it() {
    let p = project();
    // A 64 MiB budget for dev: DataFusion's pool gets three quarters (48 MiB). A hash join's
    // build side does not spill: 4 M keys and their hash table do not fit.
    limit_dev_memory(p.path(), 64);
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
