//! The audit trail, end to end through the binary: a run's records, `audit verify` on an
//! intact trail, each way of tampering with it caught (a byte edited, a record deleted, two
//! swapped, the end truncated, a record forged with a correct hash), a run killed between a
//! commit and its record recovered by the next run, and concurrent writers.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::{copy_dir, project};

fn medallion(dir: &Path, fault: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
    common::medallion_with_fault(dir, fault, args)
}

fn run_shop(dir: &Path) {
    for job in ["jobs/shop/customers.yaml", "jobs/shop/orders.yaml"] {
        let (code, out, err) = medallion(dir, None, &["run", job, "--env", "dev"]);
        assert_eq!(code, Some(0), "{job}: {out}{err}");
    }
}

fn trail(dir: &Path) -> PathBuf {
    dir.join("lake/dev/_medallion/audit")
}

fn record_path(dir: &Path, seq: u64) -> PathBuf {
    trail(dir).join(format!("{seq:020}.json"))
}

fn records(dir: &Path) -> Vec<Value> {
    let (code, out, err) = medallion(dir, None, &["audit", "--env", "dev", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    serde_json::from_str::<Vec<Value>>(&out).unwrap()
}

fn verify(dir: &Path) -> (Option<i32>, String) {
    let (code, out, err) = medallion(dir, None, &["audit", "verify", "--env", "dev"]);
    (code, format!("{out}{err}"))
}

fn count(dir: &Path) -> u64 {
    std::fs::read_dir(trail(dir))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().len() == 25)
        .count() as u64
}

/// A project after the shop's two pipelines ran once, copied for each tampering.
fn shop_after_one_run() -> tempfile::TempDir {
    let dir = project();
    run_shop(dir.path());
    dir
}

fn copy_of(dir: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    copy_dir(dir, to.path());
    to
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    // The binary computes it; here the same with the standard tool (sha256sum).
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut s = String::new();
    write!(
        s,
        "{}",
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    )
    .unwrap();
    s
}

#[test]
fn a_run_is_recorded_with_who_what_and_when_and_verifies() {
    let dir = shop_after_one_run();
    let dir = dir.path();
    let recs = records(dir);
    let actions: Vec<&str> = recs.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions.first(), Some(&"run_started"), "{actions:?}");
    assert_eq!(actions.last(), Some(&"run_finished"), "{actions:?}");
    let committed: Vec<String> = recs
        .iter()
        .filter(|r| r["action"] == "table_committed")
        .map(|r| format!("{} v{}", r["table"].as_str().unwrap(), r["version"]))
        .collect();
    for t in [
        "bronze.orders v0",
        "silver.orders v0",
        "silver.orders_quarantine v0",
        "gold.daily_revenue v0",
        "bronze.customers v0",
    ] {
        assert!(
            committed.contains(&t.to_string()),
            "{t} not in {committed:?}"
        );
    }
    let spec = std::fs::read(dir.join("jobs/shop/orders.yaml")).unwrap();
    let orders = recs
        .iter()
        .find(|r| r["table"] == "bronze.orders" && r["action"] == "table_committed")
        .unwrap();
    assert_eq!(orders["what"]["spec_sha256"], sha256_hex(&spec));
    assert_eq!(orders["what"]["pipeline"], "orders");
    assert!(orders["what"]["command"]
        .as_str()
        .unwrap()
        .contains("run jobs/shop/orders.yaml"));
    assert!(!orders["who"]["user"].as_str().unwrap().is_empty());
    assert!(orders["detail"]["rows"].as_u64().unwrap() > 0, "{orders}");
    // Quarantines per rule are in the run's end record.
    let end = recs
        .iter()
        .rfind(|r| r["action"] == "run_finished")
        .unwrap();
    assert!(
        end["detail"]["quarantined_by_rule"]
            .as_object()
            .is_some_and(|m| !m.is_empty()),
        "{end}"
    );
    // So are the outcomes of every rule: rows checked and failing, with the rule's on_fail
    // (the examples' currency_eur quarantines one order, and a warn rule is counted too).
    let rules = &end["detail"]["rules"];
    assert_eq!(rules["currency_eur"]["on_fail"], "quarantine", "{end}");
    assert_eq!(rules["currency_eur"]["failed"], 1, "{end}");
    assert!(
        rules["currency_eur"]["checked"].as_u64().unwrap() > 1,
        "{end}"
    );
    assert_eq!(rules["known_status"]["on_fail"], "warn", "{end}");
    // The process's peak memory, for the promotion's performance gate.
    assert!(
        end["detail"]["peak_rss_bytes"].as_u64().unwrap() > 1 << 20,
        "{end}"
    );
    // Times never go backwards, positions have no holes, each record chains to the one before.
    for (i, w) in recs.windows(2).enumerate() {
        assert!(w[0]["at"].as_str() <= w[1]["at"].as_str());
        assert_eq!(w[1]["seq"], i as u64 + 1);
        let prev = std::fs::read(record_path(dir, i as u64)).unwrap();
        assert_eq!(w[1]["prev"], sha256_hex(&prev));
    }
    let (code, out) = verify(dir);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact"), "{out}");

    // A query through `medallion sql` is a data access: recorded with what it read.
    let (code, _, err) = medallion(
        dir,
        None,
        &["sql", "--env", "dev", "SELECT count(*) FROM silver.orders"],
    );
    assert_eq!(code, Some(0), "{err}");
    let last = records(dir).pop().unwrap();
    assert_eq!(last["action"], "sql_query", "{last}");
    assert_eq!(
        last["detail"]["tables"],
        serde_json::json!(["silver.orders"])
    );
    assert_eq!(last["detail"]["rows"], 1);

    // A run with nothing new commits nothing, so it records only its start and end.
    let before = count(dir);
    run_shop(dir);
    let new: Vec<String> = records(dir)[before as usize..]
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        new,
        ["run_started", "run_finished", "run_started", "run_finished"]
    );
    assert_eq!(verify(dir).0, Some(0));
}

#[test]
fn every_way_of_tampering_is_caught() {
    let base = shop_after_one_run();
    let n = count(base.path());
    assert!(n > 10, "{n} records");
    let cases: Vec<(&str, Box<dyn Fn(&Path)>, &str)> = vec![
        (
            "a byte edited",
            Box::new(|d: &Path| {
                let p = record_path(d, 3);
                let text = std::fs::read_to_string(&p).unwrap();
                let edited = text.replacen("\"rows\":", "\"rows\":1", 1);
                assert_ne!(text, edited, "record 3 has rows: {text}");
                std::fs::write(&p, edited).unwrap();
            }),
            "record 4 does not follow the record before it",
        ),
        (
            "a record deleted",
            Box::new(|d: &Path| std::fs::remove_file(record_path(d, 5)).unwrap()),
            "record 5 is missing",
        ),
        (
            "two records swapped",
            Box::new(|d: &Path| {
                let (a, b) = (record_path(d, 6), record_path(d, 7));
                let (ta, tb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
                std::fs::write(&a, tb).unwrap();
                std::fs::write(&b, ta).unwrap();
            }),
            "the object at position 6 holds record 7",
        ),
        (
            "the end truncated",
            Box::new(move |d: &Path| {
                for s in n - 6..n {
                    std::fs::remove_file(record_path(d, s)).unwrap();
                }
            }),
            "records were removed from its end",
        ),
        (
            "the end truncated and HEAD rewritten to match",
            Box::new(move |d: &Path| {
                for s in n - 6..n {
                    std::fs::remove_file(record_path(d, s)).unwrap();
                }
                let last = std::fs::read(record_path(d, n - 7)).unwrap();
                let head = serde_json::json!({"seq": n - 7, "digest": sha256_hex(&last)});
                std::fs::write(trail(d).join("HEAD.json"), head.to_string()).unwrap();
            }),
            "has no audit record",
        ),
        (
            "a record forged with a correct hash",
            Box::new(move |d: &Path| {
                let last = std::fs::read(record_path(d, n - 1)).unwrap();
                let mut forged: Value = serde_json::from_slice(&last).unwrap();
                forged["seq"] = (n).into();
                forged["prev"] = sha256_hex(&last).into();
                forged["action"] = "table_committed".into();
                forged["table"] = "silver.orders".into();
                forged["version"] = 7.into();
                let mut bytes = serde_json::to_vec(&forged).unwrap();
                bytes.push(b'\n');
                std::fs::write(record_path(d, n), &bytes).unwrap();
                let head = serde_json::json!({"seq": n, "digest": sha256_hex(&bytes)});
                std::fs::write(trail(d).join("HEAD.json"), head.to_string()).unwrap();
            }),
            "silver.orders v7 was committed by run",
        ),
    ];
    for (what, tamper, expected) in cases {
        let copy = copy_of(base.path());
        assert_eq!(verify(copy.path()).0, Some(0), "{what}: intact before");
        tamper(copy.path());
        let (code, out) = verify(copy.path());
        assert_eq!(code, Some(1), "{what}: {out}");
        assert!(
            out.contains(expected),
            "{what}: expected {expected:?} in\n{out}"
        );
        assert!(out.contains("BROKEN"), "{what}: {out}");
    }
}

#[test]
fn a_run_killed_between_a_commit_and_its_record_is_recovered_by_the_next_run() {
    let dir = project();
    let dir = dir.path();
    let (code, _, err) = medallion(
        dir,
        Some("before_commit_record"),
        &["run", "jobs/shop/customers.yaml", "--env", "dev"],
    );
    assert_ne!(code, Some(0), "the fault hook aborts: {err}");
    // The commit happened, its record did not: verify says so.
    let (code, out) = verify(dir);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("bronze.customers v0") && out.contains("has no audit record"),
        "{out}"
    );
    // The next run finds the dead run's marker and records the commit from the Delta log.
    let (code, out, err) = medallion(
        dir,
        None,
        &["run", "jobs/shop/customers.yaml", "--env", "dev"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let recs = records(dir);
    let gap: Vec<&Value> = recs
        .iter()
        .filter(|r| r["action"] == "commit_unrecorded")
        .collect();
    assert_eq!(gap.len(), 1, "{recs:#?}");
    assert_eq!(gap[0]["table"], "bronze.customers");
    assert_eq!(gap[0]["version"], 0);
    assert!(recs
        .iter()
        .any(|r| r["action"] == "run_interrupted" && r["detail"]["unrecorded_commits"] == 1));
    let (code, out) = verify(dir);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !trail(dir).join("open").read_dir().unwrap().any(|_| true),
        "no marker left"
    );
}

#[test]
fn concurrent_writers_keep_one_unbroken_chain() {
    let dir = project();
    let dir = dir.path().to_path_buf();
    run_shop(&dir);
    let before = count(&dir);
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let (code, _, err) =
                        medallion(&dir, None, &["sql", "--env", "dev", "SELECT 1"]);
                    assert_eq!(code, Some(0), "{err}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(count(&dir), before + 15);
    let (code, out) = verify(&dir);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_run_that_fails_right_after_a_commit_records_the_commit_itself() {
    let dir = project();
    let dir = dir.path();
    let (code, _, _) = medallion(
        dir,
        Some("error:before_commit_record"),
        &["run", "jobs/shop/customers.yaml", "--env", "dev"],
    );
    assert_eq!(code, Some(2), "an internal error");
    let recs = records(dir);
    let gap: Vec<&Value> = recs
        .iter()
        .filter(|r| r["action"] == "commit_unrecorded")
        .collect();
    assert_eq!(gap.len(), 1, "{recs:#?}");
    assert_eq!(gap[0]["table"], "bronze.customers");
    assert!(recs.iter().any(|r| r["action"] == "run_failed"));
    assert!(!recs.iter().any(|r| r["action"] == "run_interrupted"));
    let (code, out) = verify(dir);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn two_runs_finding_the_same_dead_run_record_it_once() {
    let dir = project();
    let dir = dir.path().to_path_buf();
    let (code, _, _) = medallion(
        &dir,
        Some("before_commit_record"),
        &["run", "jobs/shop/customers.yaml", "--env", "dev"],
    );
    assert_ne!(code, Some(0));
    let runs: Vec<_> = ["jobs/shop/customers.yaml", "jobs/iot/sensor_readings.yaml"]
        .into_iter()
        .map(|job| {
            let dir = dir.clone();
            std::thread::spawn(move || medallion(&dir, None, &["run", job, "--env", "dev"]))
        })
        .collect();
    for r in runs {
        let (code, out, err) = r.join().unwrap();
        assert_eq!(code, Some(0), "{out}{err}");
    }
    let recs = records(&dir);
    let interrupted = recs
        .iter()
        .filter(|r| r["action"] == "run_interrupted")
        .count();
    assert_eq!(interrupted, 1, "{recs:#?}");
    let (code, out) = verify(&dir);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_table_deleted_and_created_again_keeps_the_trail_intact() {
    let dir = shop_after_one_run();
    let dir = dir.path();
    std::fs::remove_dir_all(dir.join("lake/dev/gold/daily_revenue")).unwrap();
    run_shop(dir);
    let (code, out) = verify(dir);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("earlier table"), "{out}");
}

#[test]
fn medallion_sql_cannot_write_and_a_trail_missing_its_end_refuses_appends() {
    let dir = shop_after_one_run();
    let dir = dir.path();
    for q in [
        "INSERT INTO silver.orders SELECT * FROM silver.orders",
        "CREATE TABLE x AS SELECT 1",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let (code, _, err) = medallion(dir, None, &["sql", "--env", "dev", q]);
        assert_eq!(code, Some(1), "{q}: {err}");
    }
    let (code, out, err) = medallion(dir, None, &["sql", "--env", "dev", "SHOW TABLES"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("orders"), "{out}");
    // The last records removed (HEAD still names them): nothing more is appended.
    let n = count(dir);
    for s in n - 2..n {
        std::fs::remove_file(record_path(dir, s)).unwrap();
    }
    let (code, _, err) = medallion(dir, None, &["sql", "--env", "dev", "SELECT 1"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("records were removed"), "{err}");
    assert_eq!(count(dir), n - 2);
}
