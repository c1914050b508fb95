//! The run's typed event stream.
//!
//! Every stage of a run reports what it did as [`RunEvent`]s, emitted to a list of sinks
//! ([`Events`]). No stage formats output for humans: the run report ([`crate::report`]),
//! progress bars, structured logs and stream metrics are sinks of this stream, and so are
//! the audit trail and lineage. Events are emitted in the order the work happens; a
//! `TableCommitted` event is emitted only after the commit landed.

use std::sync::Arc;

use serde::Serialize;

use crate::spec::OnFail;

/// The stage a record was quarantined or counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Bronze,
    Silver,
    Gold,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Bronze => "bronze",
            Stage::Silver => "silver",
            Stage::Gold => "gold",
        }
    }
}

/// What a run did, one step at a time.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// A run of one pipeline began.
    RunStarted {
        run_id: String,
        pipeline: String,
        spec_file: String,
        /// SHA-256 (hex) of the spec file's content as read to plan this run.
        spec_sha256: Option<String>,
        /// The pinned schema (`dataset@N`) and the SHA-256 of its file.
        schema: String,
        schema_sha256: String,
        environment: String,
        /// RFC 3339, UTC.
        started_at: String,
        bronze_table: String,
        quarantine_table: String,
        silver_table: Option<String>,
        /// Gold tables this run may refresh.
        gold_tables: Vec<String>,
        /// The run this one is part of (a stream's follow runs: the stream's run id).
        parent_run_id: Option<String>,
    },
    /// A stage began (for progress); `total_bytes` when the amount of work is known.
    StageStarted {
        stage: Stage,
        table: String,
        total_bytes: Option<u64>,
    },
    /// Source files matched by the Bronze source, and which of them are new.
    FilesDiscovered {
        table: String,
        matched: u64,
        skipped: u64,
        new_files: Vec<String>,
    },
    /// Good records decoded into Bronze rows (one event per decoded batch).
    RowsDecoded { table: String, rows: u64 },
    /// A source file was read to its end.
    FileRead {
        table: String,
        file: String,
        bytes: u64,
    },
    /// Bronze rows read by Silver (committed ones not processed yet, and the run's staged ones).
    RowsRead { table: String, rows: u64 },
    /// Records sent to the quarantine table (`stage`, `rule`, how many).
    RowsQuarantined {
        table: String,
        stage: Stage,
        rule: String,
        rows: u64,
    },
    /// Rows removed by a rule with `on_fail: drop`.
    RowsDropped {
        table: String,
        rule: String,
        rows: u64,
    },
    /// Older versions of a key removed by dedupe.
    RowsDeduplicated { table: String, rows: u64 },
    /// Rows that passed typing, rules and dedupe: the relation `input` of the Silver SQL.
    SilverCandidates { table: String, rows: u64 },
    /// A quality rule was evaluated on some rows (or, for `row_count`, once).
    RuleOutcome {
        table: String,
        rule: String,
        on_fail: OnFail,
        checked: u64,
        failed: u64,
    },
    /// Rows staged (written, not committed yet) for a table.
    RowsStaged { table: String, rows: u64 },
    /// A stage finished its work (before any commit).
    StageFinished {
        stage: Stage,
        table: String,
        duration_ms: u64,
    },
    /// A commit landed: the table is at `version`. Every Delta commit medallion makes is
    /// reported by one such event (the audit trail cross-checks them with the Delta log).
    TableCommitted {
        table: String,
        /// The Delta table's id (`metaData.id`): tells a recreated table from the old one.
        table_id: String,
        layer: String,
        version: i64,
        /// `append`, `create`, `merge`, `overwrite`, `properties` (table properties only),
        /// `optimize` (compaction) or `bookmark` (no data, only a txn).
        operation: String,
        rows: u64,
        files: u64,
        bytes: u64,
    },
    /// A table's catalog entry was created or updated (after its commit).
    CatalogUpdated {
        table: String,
        location: String,
        version: i64,
        columns: u64,
    },
    /// A table's columns changed (seen when its catalog entry is updated).
    SchemaChanged {
        table: String,
        added: Vec<String>,
        removed: Vec<String>,
        retyped: Vec<String>,
    },
    /// A commit was retried: another writer took the version it was built on (`conflict`),
    /// or it failed and is tried again.
    CommitRetried {
        table: String,
        conflict: bool,
        error: String,
    },
    /// A Gold table was left as it was: none of its inputs changed.
    GoldSkipped { table: String, reason: String },
    /// A Gold table was recomputed and committed.
    GoldRefreshed {
        table: String,
        rows: u64,
        version: i64,
        duration_ms: u64,
        /// `incremental` (kept partial aggregates merged with the rows appended since) or
        /// `full` (recomputed from every input row).
        mode: String,
        /// Why this mode: what was merged, or why the table was recomputed in full.
        reason: String,
    },
    /// The run ended successfully.
    RunFinished { duration_ms: u64 },
    /// The run failed; `committed` says whether any table changed before the failure.
    RunFailed {
        error: String,
        /// `config`, `input`, `data`, `conflict`, `io` or `internal`.
        error_class: String,
        duration_ms: u64,
        committed: bool,
    },
}

/// Receives every event of a run.
///
/// `emit` must not block: a sink that writes somewhere slow (the audit trail) buffers in
/// `emit` and writes in `flush`, which the run awaits after each commit and at its end.
/// A sink shared by several runs tells them apart by `run_id`.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync {
    fn emit(&self, run_id: &str, event: &RunEvent);

    /// Makes what was emitted so far durable. An error fails the run.
    async fn flush(&self) -> crate::Result<()> {
        Ok(())
    }
}

/// The sinks of one run's events.
#[derive(Clone)]
pub struct Events {
    run_id: Arc<str>,
    sinks: Vec<Arc<dyn EventSink>>,
}

impl Events {
    pub fn new(run_id: &str, sinks: Vec<Arc<dyn EventSink>>) -> Self {
        Self {
            run_id: run_id.into(),
            sinks,
        }
    }

    pub fn with(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn emit(&self, event: RunEvent) {
        for s in &self.sinks {
            s.emit(&self.run_id, &event);
        }
    }

    /// Flushes every sink (all of them, even after one failed); the first error.
    pub async fn flush(&self) -> crate::Result<()> {
        let mut first = None;
        for s in &self.sinks {
            if let Err(e) = s.flush().await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Emits `event` and flushes: for events that must be durable before the run goes on
    /// (a run's start before its first commit, each commit, the run's end).
    pub async fn record(&self, event: RunEvent) -> crate::Result<()> {
        self.emit(event);
        self.flush().await
    }
}

/// Logs each event as one structured line at debug level (`target: medallion::events`),
/// with the event's fields as JSON. Quarantines are logged at info and failures at error,
/// with the event names log-based alarms match (`records_quarantined`, `job_failed`) and
/// the run's pipeline, environment and run id.
#[derive(Default)]
pub struct LogSink {
    run: std::sync::Mutex<(String, String, String)>,
}

impl EventSink for LogSink {
    fn emit(&self, _run_id: &str, event: &RunEvent) {
        if let RunEvent::RunStarted {
            run_id,
            pipeline,
            environment,
            ..
        } = event
        {
            *self.run.lock().expect("log sink lock") =
                (pipeline.clone(), environment.clone(), run_id.clone());
        }
        let (pipeline, environment, run_id) = self.run.lock().expect("log sink lock").clone();
        let json = serde_json::to_string(event).unwrap_or_default();
        match event {
            RunEvent::RowsQuarantined { table, rows, .. } => tracing::info!(
                target: "medallion::events",
                event = "records_quarantined",
                count = rows,
                table = %table,
                pipeline = %pipeline,
                environment = %environment,
                run_id = %run_id,
                detail = %json,
                "Records quarantined."
            ),
            RunEvent::RunFailed {
                error, error_class, ..
            } => tracing::error!(
                target: "medallion::events",
                event = "job_failed",
                error = %error,
                error_class = %error_class,
                pipeline = %pipeline,
                environment = %environment,
                run_id = %run_id,
                "Pipeline run failed."
            ),
            _ => tracing::debug!(target: "medallion::events", detail = %json, "Run event."),
        }
    }
}

/// Collects events in memory (tests, and sinks that want the whole run at once).
#[derive(Default)]
pub struct Recorder {
    events: std::sync::Mutex<Vec<RunEvent>>,
}

impl Recorder {
    pub fn events(&self) -> Vec<RunEvent> {
        self.events.lock().expect("recorder lock").clone()
    }
}

impl EventSink for Recorder {
    fn emit(&self, _run_id: &str, event: &RunEvent) {
        self.events
            .lock()
            .expect("recorder lock")
            .push(event.clone());
    }
}
