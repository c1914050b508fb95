//! The batch run of one pipeline, as a sequence of stages with explicit inputs and outputs.
//!
//! 1. [`bronze::stage`]: new source files are decoded into staged (uncommitted) Bronze files;
//!    unparseable records go to the run's quarantine writer.
//! 2. [`silver::stage`]: the Bronze rows Silver has not processed (committed ones after its
//!    bookmark, then the staged ones) are typed, checked by the rules, deduplicated and
//!    transformed into staged Silver files. A rule with `on_fail: fail` stops the run here:
//!    staged files are deleted and no table changes.
//! 3. [`commit`]: Bronze, then the quarantine table, then Silver, each one atomic Delta
//!    commit carrying its bookmark (see engine/ARCHITECTURE.md, "What a crash leaves").
//! 4. [`gold::refresh`]: Gold tables whose SQL or input tables' Delta versions changed.
//!
//! Every stage reports what it does as [`RunEvent`]s; the run report is one sink of them.

mod bookmark;
mod bronze;
mod commit;
mod gold;
mod merge;
mod quarantine;
mod register;
mod scratch;
mod session;
mod shard;
mod silver;
mod temp_parquet;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::catalog::Catalog;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::events::{EventSink, Events, RunEvent};
use crate::plan::JobPlan;
use crate::report::{NoProgress, Progress, ProgressSink, ReportSink, RunReport};

pub(crate) use gold::create as create_table_from;
pub(crate) use gold::state::{clear_all as clear_gold_states, ROOT as GOLD_STATES};

/// The application id of Silver's bookmark of a Bronze table (the Bronze version it has
/// processed up to).
pub fn silver_bookmark_app_id(bronze: &str) -> String {
    silver::bookmark_app_id(bronze)
}

/// The application id of the quarantine's bookmark of a Bronze table (the Bronze version
/// whose unparseable records it holds).
pub fn quarantine_bronze_app_id(bronze: &str) -> String {
    quarantine::bronze_app_id(bronze)
}
pub use register::{
    table_properties, PROP_DESCRIPTION, PROP_LAYER, PROP_OWNER, PROP_PIPELINE, PROP_SCHEMA,
};
pub use scratch::conform;
pub use session::new_session;
pub use shard::Shard;

/// What a run ends with: the report, and the error if it failed.
pub struct RunOutcome {
    pub report: RunReport,
    pub error: Option<Error>,
}

/// Runs pipelines in one environment.
pub struct Engine {
    pub env: Environment,
    pub catalog: Arc<dyn Catalog>,
    pub progress: Arc<dyn Progress>,
    /// Sinks that receive every run's events (logs, audit, lineage), besides the report.
    pub sinks: Vec<Arc<dyn EventSink>>,
    /// The run these runs are part of (a stream's Silver/Gold follow runs: the stream's run).
    pub parent_run: Option<String>,
    /// Ingest only this shard's new files into Bronze, and nothing else (see [`Shard`]).
    pub shard: Option<Shard>,
    /// The memory budget of a run, in bytes (see [`crate::memory`]).
    pub memory_limit: u64,
}

/// One run of one pipeline: what every stage needs to know.
pub(crate) struct Run<'a> {
    pub engine: &'a Engine,
    pub plan: &'a JobPlan,
    pub id: String,
    pub events: Events,
    /// Set once any table changed: a failure after it is not "nothing committed".
    pub committed_any: AtomicBool,
}

impl Run<'_> {
    pub fn env(&self) -> &Environment {
        &self.engine.env
    }
    pub fn emit(&self, event: RunEvent) {
        self.events.emit(event);
    }
    /// Emits an event that must be durable before the run goes on (see [`Events::record`]).
    pub async fn record(&self, event: RunEvent) -> Result<()> {
        self.events.record(event).await
    }
    pub fn spec_file(&self) -> &str {
        &self.plan.job.file
    }
}

impl Engine {
    pub fn new(env: Environment, catalog: Arc<dyn Catalog>) -> Self {
        Self {
            memory_limit: crate::memory::limit_bytes(None, env.memory_limit_mib),
            env,
            catalog,
            progress: Arc::new(NoProgress),
            sinks: Vec::new(),
            parent_run: None,
            shard: None,
        }
    }

    /// Sets the memory budget of a run (`--memory-limit`), in MiB.
    pub fn with_memory_limit_mib(mut self, mib: u64) -> Self {
        self.memory_limit = mib << 20;
        self
    }

    /// Makes every run a Bronze-only run of shard `shard` (see [`Shard`]).
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Makes every run a child of run `parent` (a stream's follow runs).
    pub fn with_parent(mut self, parent: &str) -> Self {
        self.parent_run = Some(parent.to_string());
        self
    }

    /// Adds a sink for the events of every run.
    pub fn with_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Runs one planned pipeline.
    pub async fn run(&self, plan: &JobPlan) -> RunOutcome {
        self.run_with(plan, false).await
    }

    /// Recomputes the pipeline's Gold tables whose inputs changed, reading nothing new
    /// (after an erasure changed Silver); a run of its own in the audit trail.
    pub async fn refresh_gold(&self, plan: &JobPlan) -> RunOutcome {
        self.run_with(plan, true).await
    }

    async fn run_with(&self, plan: &JobPlan, gold_only: bool) -> RunOutcome {
        let started = Instant::now();
        let report = Arc::new(ReportSink::default());
        let mut sinks: Vec<Arc<dyn EventSink>> = vec![
            report.clone(),
            Arc::new(ProgressSink(self.progress.clone())),
        ];
        sinks.extend(self.sinks.iter().cloned());
        let id = uuid::Uuid::new_v4().to_string();
        let run = Run {
            engine: self,
            plan,
            events: Events::new(&id, sinks),
            id,
            committed_any: AtomicBool::new(false),
        };
        let mut scratch = scratch::Scratch::new(self.tmp_dir(&run.id));
        // The start is durable (in the audit trail) before anything is read or committed.
        let mut result = run.events.record(started_event(&run)).await;
        if result.is_ok() {
            result = match gold_only {
                false => self.stages(&run, &mut scratch).await,
                true => gold::refresh(&run, &scratch.tmp).await,
            };
        }
        scratch.discard().await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let end = run
            .events
            .record(match &result {
                Ok(()) => RunEvent::RunFinished { duration_ms },
                Err(e) => RunEvent::RunFailed {
                    error: e.to_string(),
                    error_class: e.class().name().to_string(),
                    duration_ms,
                    committed: run.committed_any.load(Ordering::SeqCst),
                },
            })
            .await;
        RunOutcome {
            report: report.report().expect("the run started"),
            error: result.err().or(end.err()),
        }
    }

    /// The stages, top-down.
    async fn stages(&self, run: &Run<'_>, scratch: &mut scratch::Scratch) -> Result<()> {
        let ctx = self.session().await?;
        let (bronze, mut quarantine) = bronze::stage(run, &ctx, scratch).await?;
        if self.shard.is_some() {
            let bad = quarantine.bronze_rows();
            if let Err(e) = commit::bronze(run, &bronze, bad, scratch).await {
                quarantine.abandon(run).await;
                return Err(e);
            }
            return commit::shard_quarantine(run, quarantine, scratch).await;
        }
        let silver = match silver::stage(run, &ctx, &bronze, &mut quarantine, scratch).await {
            Ok(s) => s,
            Err(e) => {
                quarantine.abandon(run).await;
                return Err(e);
            }
        };
        let bookmark = match commit::bronze(run, &bronze, quarantine.bronze_rows(), scratch).await {
            Ok(b) => b,
            Err(e) => {
                quarantine.abandon(run).await;
                return Err(e);
            }
        };
        commit::quarantine(run, quarantine, &bookmark, scratch).await?;
        if let Some(silver) = silver {
            commit::silver(run, &ctx, silver, &bookmark, scratch).await?;
        }
        gold::refresh(run, &scratch.tmp).await
    }

    /// Temporary Parquet of a run: under a local lake, else in the system temp folder.
    fn tmp_dir(&self, run_id: &str) -> std::path::PathBuf {
        match self.env.lake_location().ok().and_then(|l| l.local_path()) {
            Some(p) => p.join("_medallion").join("tmp").join(run_id),
            None => std::env::temp_dir().join("medallion").join(run_id),
        }
    }
}

/// Test hook of debug builds: `MEDALLION_FAULT=<point>` aborts the process at that point
/// (SIGABRT: no cleanup, as a kill -9 would), to test what a crash between commits leaves.
/// Points: `after_bronze_commit`, `after_quarantine_commit`, `after_silver_commit`, and
/// `before_commit_record` (after a commit, before its audit record); backups:
/// `backup_before_manifest`, `restore_before_log`, `restore_in_log` (after the first log entry).
pub(crate) fn fault_point(point: &str) {
    if cfg!(debug_assertions) && std::env::var("MEDALLION_FAULT").is_ok_and(|v| v == point) {
        eprintln!("medallion: MEDALLION_FAULT={point}: aborting (test hook)");
        std::process::abort();
    }
}

/// Test hook of debug builds: `MEDALLION_FAULT=wait:<point>:<file>` creates `<file>.waiting`
/// (points: `after_share`, a run's rows uploaded for the cluster; `after_listing_<pipeline>`, Bronze's
/// sources listed and not read yet; and those of its callers)
/// at that point, then waits (up to a minute) until `<file>` exists: a test interleaves
/// another process there.
pub(crate) fn fault_wait(point: &str) {
    let Some(spec) = std::env::var("MEDALLION_FAULT")
        .ok()
        .filter(|_| cfg!(debug_assertions))
    else {
        return;
    };
    let Some(file) = spec
        .strip_prefix("wait:")
        .and_then(|r| r.strip_prefix(point))
        .and_then(|r| r.strip_prefix(':'))
    else {
        return;
    };
    let flag = std::path::Path::new(file);
    if let Err(e) = std::fs::write(format!("{file}.waiting"), point) {
        eprintln!("medallion: MEDALLION_FAULT: cannot write {file}.waiting: {e}");
    }
    let until = Instant::now() + std::time::Duration::from_secs(60);
    while !flag.exists() && Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Test hook of debug builds: `MEDALLION_FAULT=error:<point>` makes the run fail with an
/// error at that point (the process goes on: what a failed run leaves).
pub(crate) fn fault_error(point: &str) -> Result<()> {
    if cfg!(debug_assertions)
        && std::env::var("MEDALLION_FAULT").is_ok_and(|v| v.strip_prefix("error:") == Some(point))
    {
        return Err(Error::Internal(format!(
            "MEDALLION_FAULT=error:{point} (test hook)"
        )));
    }
    Ok(())
}

fn started_event(run: &Run<'_>) -> RunEvent {
    run_started(
        &run.id,
        run.plan,
        run.env(),
        run.engine.parent_run.as_deref(),
    )
}

/// The `RunStarted` event of a run (batch or stream) of `plan` in `env`, part of run
/// `parent` if any.
pub fn run_started(
    run_id: &str,
    plan: &JobPlan,
    env: &Environment,
    parent: Option<&str>,
) -> RunEvent {
    let job = &plan.job;
    RunEvent::RunStarted {
        run_id: run_id.to_string(),
        pipeline: job.spec.pipeline.clone(),
        spec_file: job.file.clone(),
        spec_sha256: job.content_sha256.clone(),
        schema: plan.schema.reference(),
        schema_sha256: plan.schema.content_sha256.clone(),
        environment: env.name.clone(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        bronze_table: job.bronze_table().to_string(),
        quarantine_table: job.quarantine_table().to_string(),
        silver_table: job.silver_table().map(|t| t.to_string()),
        gold_tables: plan.gold.iter().map(|g| g.table.to_string()).collect(),
        parent_run_id: parent.map(str::to_string),
    }
}
