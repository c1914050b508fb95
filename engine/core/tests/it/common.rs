//! Test harness: a copy of the repository's example project in a temporary folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use medallion_core::catalog::EmbeddedCatalog;
use medallion_core::env;
use medallion_core::pipeline::{Engine, RunOutcome};
use medallion_core::plan::{self, JobPlan};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let target = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// A project folder with the example jobs, schemas, test data and environments.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = repo_root();
        for d in ["jobs", "schemas", "testdata"] {
            copy_dir(&root.join(d), &dir.path().join(d));
        }
        std::fs::copy(
            root.join("environments.yaml"),
            dir.path().join("environments.yaml"),
        )
        .unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn engine(&self, env_name: &str) -> Engine {
        let environment =
            env::load_environment(&self.path().join("environments.yaml"), env_name).unwrap();
        let catalog = Arc::new(EmbeddedCatalog::for_location(
            environment.lake_location().unwrap(),
        ));
        Engine::new(environment, catalog)
    }

    pub async fn plans(&self, engine: &Engine, jobs: &[&str]) -> Vec<JobPlan> {
        let files: Vec<PathBuf> = jobs.iter().map(|j| self.path().join(j)).collect();
        let known = engine.known_schemas().await.unwrap();
        plan::plan_all(&files, &self.path().join("schemas"), known)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// Plans and runs jobs in the `dev` environment, panicking on failure.
    pub async fn run(&self, jobs: &[&str]) -> Vec<RunOutcome> {
        self.run_in("dev", jobs).await
    }

    /// Plans and runs jobs in an environment, panicking on failure.
    pub async fn run_in(&self, env_name: &str, jobs: &[&str]) -> Vec<RunOutcome> {
        let engine = self.engine(env_name);
        let plans = self.plans(&engine, jobs).await;
        let mut out = Vec::new();
        for p in &plans {
            let o = engine.run(p).await;
            if let Some(e) = &o.error {
                panic!("{} failed: {e}", p.job.file);
            }
            assert_balanced(&o.report);
            out.push(o);
        }
        out
    }

    pub async fn query(&self, sql: &str) -> Vec<RecordBatch> {
        self.query_in("dev", sql).await
    }

    pub async fn query_in(&self, env_name: &str, sql: &str) -> Vec<RecordBatch> {
        let engine = self.engine(env_name);
        let ctx = engine.session().await.unwrap();
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    }

    pub async fn count(&self, table: &str) -> i64 {
        let b = self
            .query(&format!("SELECT count(*) AS n FROM {table}"))
            .await;
        arrow::array::cast::as_primitive_array::<arrow::datatypes::Int64Type>(b[0].column(0))
            .value(0)
    }

    /// The table's Delta version, or -1.
    pub async fn version(&self, table: &str) -> i64 {
        let (db, t) = table.split_once('.').unwrap();
        let loc = self.path().join("lake/dev").join(db).join(t);
        match medallion_core::table::open_if_exists(
            table,
            &medallion_core::table::Location::local(&loc).unwrap(),
        )
        .await
        .unwrap()
        {
            Some(t) => medallion_core::table::version(&t),
            None => -1,
        }
    }
}

/// Conservation, checked on every run of every test: each record read is in Bronze or in
/// quarantine, and each Bronze row Silver read is rejected, dropped, quarantined, removed
/// by dedupe or a candidate of the Silver SQL — exactly once.
pub fn assert_balanced(r: &medallion_core::report::RunReport) {
    let b = &r.bronze;
    assert_eq!(
        b.rows_read,
        b.rows_written + b.rows_quarantined,
        "bronze counts of {}: {b:?}",
        r.pipeline
    );
    if let Some(s) = &r.silver {
        assert!(
            s.is_balanced(),
            "silver counts of {} do not add up: {s:?}",
            r.pipeline
        );
    }
}

/// Query result as CSV text (with header).
pub fn csv(batches: &[RecordBatch]) -> String {
    let mut buf = Vec::new();
    {
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut buf);
        for b in batches {
            w.write(b).unwrap();
        }
    }
    String::from_utf8(buf).unwrap()
}

/// Compares `actual` with the committed golden file; `MEDALLION_BLESS=1` rewrites it.
pub fn assert_golden(name: &str, actual: &str) {
    let path = repo_root().join("testdata/golden").join(name);
    if std::env::var("MEDALLION_BLESS").is_ok() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with MEDALLION_BLESS=1 and review it",
            path.display()
        )
    });
    assert_eq!(actual, expected, "output differs from {}", path.display());
}
