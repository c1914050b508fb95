//! What a crash between the run's commits leaves, and that the next run repairs it: the
//! binary is killed (SIGABRT, like kill -9: no cleanup, no destructors) right after each
//! commit point through the debug-build hook `MEDALLION_FAULT=<point>`; a run without the
//! fault then ends with exactly the tables of a run that was never interrupted — no row
//! lost, none twice, none quarantined twice.

use std::path::Path;

mod common;
use common::project;

fn medallion(dir: &Path, fault: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
    common::medallion_with_fault(dir, fault, args)
}

const QUERIES: &[&str] = &[
    "SELECT count(*) AS n, count(DISTINCT _source_file || ':' || CAST(_source_line AS VARCHAR)) AS d FROM bronze.orders",
    "SELECT _stage, _rule, _source_file, _source_line FROM silver.orders_quarantine ORDER BY 1, 2, 3, 4",
    "SELECT _stage, _rule, _source_file, _source_line FROM silver.customers_quarantine ORDER BY 1, 2, 3, 4",
    "SELECT * FROM silver.orders ORDER BY order_id",
    "SELECT * FROM silver.customers ORDER BY customer_id",
    "SELECT * FROM gold.daily_revenue ORDER BY day",
    "SELECT * FROM gold.revenue_by_country ORDER BY country",
];

/// The example shop's tables as CSV, without run-specific columns.
fn snapshot(dir: &Path) -> String {
    let mut out = String::new();
    for q in QUERIES {
        let (code, csv, err) = medallion(dir, None, &["sql", "--env", "dev", "--format", "csv", q]);
        assert_eq!(code, Some(0), "{q}: {err}");
        out.push_str(&format!("-- {q}\n{}", strip_volatile(&csv)));
    }
    out
}

/// Drops columns whose values differ between runs (times, run ids).
fn strip_volatile(csv: &str) -> String {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return String::new();
    };
    let names: Vec<&str> = header.split(',').collect();
    let keep: Vec<usize> = (0..names.len())
        .filter(|&i| !matches!(names[i], "_ingest_time" | "_run_id" | "_quarantined_at"))
        .collect();
    let pick = |l: &str| {
        let cells: Vec<&str> = l.split(',').collect();
        keep.iter()
            .map(|&i| cells.get(i).copied().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(",")
            + "\n"
    };
    std::iter::once(header).chain(lines).map(pick).collect()
}

const JOBS: [&str; 2] = ["jobs/shop/customers.yaml", "jobs/shop/orders.yaml"];

fn run_shop(dir: &Path, fault: Option<&str>) -> (Option<i32>, String) {
    let mut result = (Some(0), String::new());
    for job in JOBS {
        let (code, out, err) = medallion(dir, fault, &["run", job, "--env", "dev"]);
        if code != Some(0) {
            return (code, format!("{out}{err}"));
        }
        result.1.push_str(&out);
    }
    result
}

/// Rows the last finished run of `pipeline` reported as quarantined (its audit end record).
fn repair_quarantined(dir: &Path, pipeline: &str) -> u64 {
    let (code, out, err) = medallion(
        dir,
        None,
        &[
            "audit",
            "--env",
            "dev",
            "--pipeline",
            pipeline,
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let records: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let end = records
        .iter()
        .rfind(|r| r["action"] == "run_finished")
        .expect("no finished run");
    end["detail"]["quarantined_by_rule"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

#[test]
fn a_crash_after_any_commit_is_repaired_by_the_next_run() {
    let clean = project();
    let (code, out) = run_shop(clean.path(), None);
    assert_eq!(code, Some(0), "{out}");
    let expected = snapshot(clean.path());
    for point in [
        "after_bronze_commit",
        "after_quarantine_commit",
        "after_silver_commit",
    ] {
        let p = project();
        let (code, out) = run_shop(p.path(), Some(point));
        assert_eq!(
            code, None,
            "{point}: the run was not killed at the fault point: {out}"
        );
        let (code, out) = run_shop(p.path(), None);
        assert_eq!(
            code,
            Some(0),
            "{point}: the run after the crash failed: {out}"
        );
        assert_eq!(
            snapshot(p.path()),
            expected,
            "{point}: tables differ from an uninterrupted run"
        );
        if point == "after_quarantine_commit" {
            // The crash hit customers (the first job); its repair run re-derives the rejects
            // the crashed run committed: they are not
            // written again, nor reported as quarantined by it.
            assert_eq!(repair_quarantined(p.path(), "customers"), 0, "{point}");
        }
        // And one more run changes nothing.
        let (code, out) = run_shop(p.path(), None);
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(
            snapshot(p.path()),
            expected,
            "{point}: a third run changed the tables"
        );
    }
}

#[test]
fn a_run_with_nothing_new_commits_nothing() {
    let p = project();
    let (code, out, err) = medallion(p.path(), None, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let before = versions(p.path());
    let (code, out, err) = medallion(p.path(), None, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        versions(p.path()),
        before,
        "a second run without new input committed:\n{out}"
    );
}

/// Every table folder of the dev lake with its newest Delta log version.
fn versions(dir: &Path) -> Vec<(String, usize)> {
    let lake = dir.join("lake/dev");
    let mut out = Vec::new();
    for db in std::fs::read_dir(&lake).unwrap().flatten() {
        for t in std::fs::read_dir(db.path()).into_iter().flatten().flatten() {
            let log = t.path().join("_delta_log");
            if !log.is_dir() {
                continue;
            }
            let n = std::fs::read_dir(&log)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count();
            out.push((
                format!(
                    "{}/{}",
                    db.file_name().to_string_lossy(),
                    t.file_name().to_string_lossy()
                ),
                n,
            ));
        }
    }
    out.sort();
    out
}

const LATE_FILE: &str = "testdata/shop/orders/orders-2026-11-03.ndjson";
const LATE_ROWS: &str = concat!(
    "{\"order_id\":\"O2001\",\"customer_id\":\"C003\",\"amount\":10.5,\"currency\":\"EUR\",\"status\":\"placed\",\"ordered_at\":\"2026-11-03T09:00:00Z\",\"updated_at\":\"2026-11-03T09:00:00Z\",\"items\":[]}\n",
    "{\"order_id\":\"O2002\", this line is not JSON\n",
    "{\"order_id\":\"O2003\",\"customer_id\":\"C004\",\"amount\":7.0,\"currency\":\"EUR\",\"status\":\"placed\",\"ordered_at\":\"2026-11-03T10:00:00Z\",\"updated_at\":\"2026-11-03T10:00:00Z\",\"items\":[]}\n",
);

/// Adds a `unique … on_fail: quarantine` rule to the orders job (customers with several
/// orders: every such order is quarantined).
fn with_unique_rule(dir: &Path) {
    let path = dir.join("jobs/shop/orders.yaml");
    let spec = std::fs::read_to_string(&path).unwrap().replace(
        "  rules:\n",
        "  rules:\n    - { name: one_order_per_customer, check: { unique: [customer_id] }, on_fail: quarantine }\n",
    );
    std::fs::write(path, spec).unwrap();
}

/// A later run (tables exist, with bookmarks) crashes after each commit point; two more runs
/// without the fault end with the tables of an uninterrupted history — also when a `unique`
/// rule quarantines rows that the repeated Silver work sees again.
#[test]
fn a_crash_in_a_later_run_is_repaired_once() {
    for unique in [false, true] {
        let clean = project();
        if unique {
            with_unique_rule(clean.path());
        }
        assert_eq!(run_shop(clean.path(), None).0, Some(0));
        std::fs::write(clean.path().join(LATE_FILE), LATE_ROWS).unwrap();
        assert_eq!(run_shop(clean.path(), None).0, Some(0));
        let expected = snapshot(clean.path());
        for point in [
            "after_bronze_commit",
            "after_quarantine_commit",
            "after_silver_commit",
        ] {
            let p = project();
            if unique {
                with_unique_rule(p.path());
            }
            assert_eq!(run_shop(p.path(), None).0, Some(0));
            std::fs::write(p.path().join(LATE_FILE), LATE_ROWS).unwrap();
            let (code, out) = run_shop(p.path(), Some(point));
            assert_eq!(code, None, "{point}: not killed: {out}");
            for _ in 0..2 {
                let (code, out) = run_shop(p.path(), None);
                assert_eq!(code, Some(0), "{point}: {out}");
            }
            assert_eq!(
                snapshot(p.path()),
                expected,
                "{point} (unique rule: {unique}): tables differ from an uninterrupted history"
            );
        }
    }
}

/// A Bronze file Silver has not read yet that storage no longer has (deleted by hand): the
/// next run stops with an I/O error naming it, instead of reading it as no rows and moving on.
#[test]
fn a_missing_bronze_file_silver_has_not_read_stops_the_run() {
    let p = project();
    let d = p.path();
    let (code, _) = run_shop(d, Some("after_bronze_commit"));
    assert_eq!(code, None, "the run was not killed at the fault point");
    let bronze = d.join("lake/dev/bronze/customers");
    let files: Vec<_> = std::fs::read_dir(&bronze)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    assert!(!files.is_empty());
    for f in &files {
        std::fs::remove_file(f).unwrap();
    }
    let (code, out) = run_shop(d, None);
    assert_eq!(code, Some(2), "{out}");
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(out.contains(&name) && out.contains("not found"), "{out}");
}
