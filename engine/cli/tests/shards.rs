//! `medallion run --shard i/n`: n processes ingest one landing folder into one Bronze table at
//! once, each file in exactly one shard; a run without a shard then finishes the pipeline.

mod common;

use std::path::Path;
use std::process::Command;

use common::aws::medallion;
use common::{project, root};

fn sql(p: &Path, query: &str) -> String {
    let (code, out, err) = medallion(p, &["sql", "--env", "dev", "--format", "json", query]);
    assert_eq!(code, 0, "{query}: {err}");
    out
}

/// Splits every orders file into one file per line (16 files), and adds one unparseable
/// line to the first of them.
fn one_file_per_line(p: &Path) {
    let dir = p.join("testdata/shop/orders");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        for (i, line) in text.lines().enumerate() {
            let bad = if i == 0 && stem.ends_with("11-01") {
                "{not json\n"
            } else {
                ""
            };
            std::fs::write(
                dir.join(format!("{stem}-{i:02}.ndjson")),
                format!("{line}\n{bad}"),
            )
            .unwrap();
        }
        std::fs::remove_file(&path).unwrap();
    }
}

const BRONZE: &str = "SELECT * EXCLUDE (_ingest_time, _run_id) FROM bronze.orders ORDER BY _source_file, _source_line";

#[test]
fn four_shards_at_once_ingest_every_file_once() {
    let (sharded, single) = (project(), project());
    one_file_per_line(sharded.path());
    one_file_per_line(single.path());
    let p = sharded.path();

    let children: Vec<_> = (0..4)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_medallion"))
                .args([
                    "run",
                    "jobs/shop/",
                    "--env",
                    "dev",
                    "--shard",
                    &format!("{i}/4"),
                ])
                .current_dir(p)
                .output_async()
        })
        .collect();
    for (i, out) in children.into_iter().enumerate() {
        let out = out.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "shard {i}/4: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Bronze and its unparseable records only: no Silver yet.
    let (code, _, err) = medallion(
        p,
        &["sql", "--env", "dev", "SELECT count(*) FROM silver.orders"],
    );
    assert_ne!(code, 0, "silver.orders was written by a shard");
    assert!(err.contains("silver.orders"), "{err}");
    // The same Bronze rows as one process, each file in one commit.
    let (code, out, err) = medallion(
        single.path(),
        &["run", "jobs/shop/", "--env", "dev", "--shard", "0/1"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(sql(p, BRONZE), sql(single.path(), BRONZE));
    let commits = std::fs::read_dir(p.join("lake/dev/bronze/orders/_delta_log"))
        .unwrap()
        .count();
    assert!(commits >= 2, "the shards committed separately: {commits}");

    // Runs without a shard: the unparseable lines quarantined once, Silver and Gold as one
    // process gets them.
    for dir in [p, single.path()] {
        let (code, out, err) = medallion(dir, &["run", "jobs/", "--env", "dev"]);
        assert_eq!(code, 0, "{out}\n{err}");
    }
    for query in [
        QUARANTINE,
        SILVER,
        "SELECT * FROM gold.daily_revenue ORDER BY day",
        BRONZE,
    ] {
        assert_eq!(sql(p, query), sql(single.path(), query), "{query}");
    }
    let held = sql(p, "SELECT count(*) AS n FROM silver.orders_quarantine WHERE _source_file LIKE '%11-01-00.ndjson'");
    assert!(held.contains("\"n\":1"), "the added bad line, once: {held}");
    let golden =
        std::fs::read_to_string(root().join("testdata/golden/shop/daily_revenue.csv")).unwrap();
    let (code, gold, err) = medallion(
        p,
        &[
            "sql",
            "--env",
            "dev",
            "--format",
            "csv",
            "SELECT * FROM gold.daily_revenue ORDER BY day",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(gold, golden);
    let (code, out, err) = medallion(p, &["audit", "verify", "--env", "dev"]);
    assert_eq!(
        code, 0,
        "the four shards' commits are one intact trail: {out}\n{err}"
    );
}

const QUARANTINE: &str = "SELECT _stage, _rule, _reason, _source_file, _source_line FROM silver.orders_quarantine ORDER BY 4, 5, 2";
const SILVER: &str = "SELECT * FROM silver.orders ORDER BY order_id";

/// A shard run and a run without a shard that overlap: the one that commits second finds
/// the files ingested meanwhile and commits nothing; every file is in Bronze once.
#[test]
fn an_overlapping_run_never_ingests_a_file_twice() {
    let dir = project();
    let p = dir.path();
    let flag = p.join("go");
    let shard = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["run", "jobs/shop/", "--env", "dev", "--shard", "0/1"])
        .env(
            "MEDALLION_FAULT",
            format!("wait:before_bronze_commit:{}", flag.display()),
        )
        .current_dir(p)
        .output_async();
    let waiting = p.join("go.waiting");
    let started = std::time::Instant::now();
    while !waiting.exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the shard run never reached its Bronze commit"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, out, err) = medallion(p, &["run", "jobs/shop/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    std::fs::write(&flag, "").unwrap();
    let out = shard.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("another run ingested this file into bronze."),
        "{err}"
    );
    let dups = sql(
        p,
        "SELECT count(*) AS n FROM (SELECT _source_file, _source_line FROM bronze.customers \
         GROUP BY 1, 2 HAVING count(*) > 1)",
    );
    assert!(dups.contains("\"n\":0"), "{dups}");
}

/// The unparseable records of a shard's files are in the quarantine when the shard is done,
/// so a landing folder cleaned before the next run loses nothing.
#[test]
fn a_shards_unparseable_records_survive_the_files_moving_away() {
    let dir = project();
    let p = dir.path();
    let (code, out, err) = medallion(p, &["run", "jobs/shop/", "--env", "dev", "--shard", "0/1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let held = sql(p, QUARANTINE);
    assert!(held.contains("\"_stage\":\"bronze\""), "{held}");
    std::fs::rename(p.join("testdata/shop/orders"), p.join("archived")).unwrap();
    std::fs::create_dir(p.join("testdata/shop/orders")).unwrap();
    let (code, out, err) = medallion(p, &["run", "jobs/shop/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let single = project();
    let (code, out, err) = medallion(single.path(), &["run", "jobs/shop/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(sql(p, QUARANTINE), sql(single.path(), QUARANTINE));
}

/// A shard crashes between its Bronze and quarantine commits after another shard created the
/// quarantine: the next run without a shard still quarantines the crashed shard's rejects.
#[test]
fn a_crashed_shards_rejects_are_repaired_after_another_shard_made_the_quarantine() {
    let dir = project();
    let p = dir.path();
    // The orders job alone (its Gold join of silver.customers cut off).
    let spec = std::fs::read_to_string(p.join("jobs/shop/orders.yaml")).unwrap();
    let cut = spec.find("  - table: gold.revenue_by_country").unwrap();
    std::fs::write(p.join("jobs/shop/orders.yaml"), &spec[..cut]).unwrap();
    // One unparseable line in a file of each shard.
    for i in 0..2u32 {
        let shard: medallion_core::pipeline::Shard = format!("{i}/2").parse().unwrap();
        let file = (0..)
            .map(|n| format!("testdata/shop/orders/bad-{i}-{n}.ndjson"))
            .find(|f| shard.owns(f))
            .unwrap();
        std::fs::write(p.join(&file), "{\"order_id\": \"B1\"}\n{broken\n").unwrap();
    }
    let job = "jobs/shop/orders.yaml";
    let (code, out, err) = medallion(p, &["run", job, "--env", "dev", "--shard", "0/2"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let crashed = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(["run", job, "--env", "dev", "--shard", "1/2"])
        .env("MEDALLION_FAULT", "after_bronze_commit")
        .current_dir(p)
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "the fault hook aborts");
    let (code, out, err) = medallion(p, &["run", job, "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let held = sql(
        p,
        "SELECT _source_file FROM silver.orders_quarantine \
         WHERE _stage = 'bronze' AND _source_file LIKE '%bad-%' ORDER BY 1",
    );
    assert_eq!(
        held.matches("bad-").count(),
        2,
        "both shards' unparseable lines: {held}"
    );
}

#[test]
fn a_kafka_job_is_refused_in_a_shard() {
    let dir = project();
    let (code, out, err) = medallion(
        dir.path(),
        &[
            "run",
            "jobs/streaming/clickstream.yaml",
            "--env",
            "dev",
            "--shard",
            "1/2",
        ],
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("--shard 1/2 ingests files, but this job's source is Kafka"),
        "{err}"
    );
    let (code, _, err) = medallion(
        dir.path(),
        &["run", "jobs/", "--env", "dev", "--shard", "2/2"],
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("--shard `2/2`"), "{err}");
}

/// `Command::output` in the background.
trait OutputAsync {
    fn output_async(&mut self) -> std::process::Child;
}

impl OutputAsync for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}
