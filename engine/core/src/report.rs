//! The run report: what every stage read, wrote, dropped and quarantined, per rule, with
//! durations. Printed as text or JSON by the CLI.

use serde::Serialize;

use crate::events::{EventSink, RunEvent, Stage};
use crate::spec::OnFail;

/// The rule name of records that do not fit the pinned schema.
pub const SCHEMA_RULE: &str = "schema";

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub pipeline: String,
    pub spec_file: String,
    pub environment: String,
    /// `succeeded` or `failed`.
    pub status: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub bronze: BronzeReport,
    pub silver: Option<SilverReport>,
    pub gold: Vec<GoldReport>,
    /// Set when the run failed.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BronzeReport {
    pub table: String,
    pub quarantine_table: String,
    /// Files the source path matched.
    pub files_matched: u64,
    /// Files already ingested by earlier runs (skipped).
    pub files_skipped: u64,
    /// Files read by this run.
    pub files_ingested: Vec<String>,
    pub bytes_read: u64,
    /// Records read (good + unparseable).
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_quarantined: u64,
    /// The table version this run committed (None: nothing new).
    pub version: Option<i64>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SilverReport {
    pub table: String,
    /// Bronze rows this run processed (new since the last Silver run).
    pub rows_read: u64,
    /// Rows that did not fit the pinned schema (quarantined).
    pub rows_schema_rejected: u64,
    pub rows_dropped: u64,
    pub rows_quarantined: u64,
    /// Older versions of a key removed by dedupe.
    pub rows_deduplicated: u64,
    /// Rows that passed typing, rules and dedupe: the relation `input` of the Silver SQL.
    pub rows_candidates: u64,
    /// Rows the transform produced and the run merged or appended.
    pub rows_written: u64,
    pub rules: Vec<RuleReport>,
    pub version: Option<i64>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    pub name: String,
    pub on_fail: OnFail,
    /// Rows (or, for row_count, runs) checked.
    pub checked: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GoldReport {
    pub table: String,
    pub rows_written: u64,
    /// False when no input changed since the last run (the table was left as it was).
    pub refreshed: bool,
    pub version: Option<i64>,
    pub duration_ms: u64,
    /// How a refreshed table was computed: `incremental` or `full` (empty when not refreshed).
    pub mode: String,
    /// Why: what was merged, or why it was recomputed in full.
    pub reason: String,
}

impl RunReport {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        o.push_str(&format!(
            "pipeline {} ({}) in {}: {} in {:.2}s, run {}\n",
            self.pipeline,
            self.spec_file,
            self.environment,
            self.status,
            self.duration_ms as f64 / 1000.0,
            self.run_id
        ));
        let b = &self.bronze;
        o.push_str(&format!(
            "  bronze  {:<28} files {} new / {} already ingested, {} read ({} bytes), {} written, {} quarantined{}  {:.2}s\n",
            b.table,
            b.files_ingested.len(),
            b.files_skipped,
            b.rows_read,
            b.bytes_read,
            b.rows_written,
            b.rows_quarantined,
            version_text(b.version),
            b.duration_ms as f64 / 1000.0
        ));
        if let Some(s) = &self.silver {
            o.push_str(&format!(
                "  silver  {:<28} {} read, {} schema-rejected, {} dropped, {} quarantined, {} deduplicated, {} written{}  {:.2}s\n",
                s.table,
                s.rows_read,
                s.rows_schema_rejected,
                s.rows_dropped,
                s.rows_quarantined,
                s.rows_deduplicated,
                s.rows_written,
                version_text(s.version),
                s.duration_ms as f64 / 1000.0
            ));
            for r in &s.rules {
                o.push_str(&format!(
                    "          rule {:<26} on_fail {:<10} {} checked, {} passed, {} failed\n",
                    r.name,
                    r.on_fail.to_string(),
                    r.checked,
                    r.checked - r.failed.min(r.checked),
                    r.failed
                ));
            }
        }
        for g in &self.gold {
            o.push_str(&format!(
                "  gold    {:<28} {}{}  {:.2}s\n",
                g.table,
                if g.refreshed {
                    format!("{} rows written ({})", g.rows_written, g.mode)
                } else {
                    "up to date (no input changed)".into()
                },
                version_text(g.version),
                g.duration_ms as f64 / 1000.0
            ));
        }
        if let Some(e) = &self.error {
            o.push_str(&format!("  error: {e}\n"));
        }
        o
    }
}

fn version_text(v: Option<i64>) -> String {
    match v {
        Some(v) => format!(" → v{v}"),
        None => String::new(),
    }
}

/// Progress of long stages (the CLI draws bars when stdout is a terminal).
pub trait Progress: Send + Sync {
    /// A stage starts; `total_bytes` when known.
    fn start(&self, _stage: &str, _total_bytes: Option<u64>) {}
    /// Work done since the last call.
    fn advance(&self, _rows: u64, _bytes: u64) {}
    /// The stage ended.
    fn finish(&self) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Builds the [`RunReport`] from a run's events: the report is a sink of the event stream.
#[derive(Default)]
pub struct ReportSink {
    report: std::sync::Mutex<Option<RunReport>>,
}

impl ReportSink {
    /// The report so far (None before the run started).
    pub fn report(&self) -> Option<RunReport> {
        self.report.lock().expect("report lock").clone()
    }
}

impl EventSink for ReportSink {
    fn emit(&self, _run_id: &str, event: &RunEvent) {
        let mut guard = self.report.lock().expect("report lock");
        if let RunEvent::RunStarted { .. } = event {
            *guard = Some(RunReport::started(event));
            return;
        }
        if let Some(r) = guard.as_mut() {
            r.apply(event);
        }
    }
}

impl RunReport {
    fn started(event: &RunEvent) -> Self {
        let RunEvent::RunStarted {
            run_id,
            pipeline,
            spec_file,
            environment,
            started_at,
            bronze_table,
            quarantine_table,
            silver_table,
            ..
        } = event
        else {
            unreachable!("called with RunStarted only")
        };
        RunReport {
            run_id: run_id.clone(),
            pipeline: pipeline.clone(),
            spec_file: spec_file.clone(),
            environment: environment.clone(),
            status: "running".into(),
            started_at: started_at.clone(),
            duration_ms: 0,
            bronze: BronzeReport {
                table: bronze_table.clone(),
                quarantine_table: quarantine_table.clone(),
                ..Default::default()
            },
            silver: silver_table.as_ref().map(|t| SilverReport {
                table: t.clone(),
                ..Default::default()
            }),
            gold: Vec::new(),
            error: None,
        }
    }

    /// Folds one event into the report.
    fn apply(&mut self, event: &RunEvent) {
        use RunEvent as E;
        let bronze = self.bronze.table.clone();
        let is_bronze = |t: &str| t == bronze;
        match event {
            E::FilesDiscovered {
                matched,
                skipped,
                new_files,
                ..
            } => {
                self.bronze.files_matched = *matched;
                self.bronze.files_skipped = *skipped;
                self.bronze.files_ingested = new_files.clone();
            }
            E::RowsDecoded { rows, .. } => self.bronze.rows_read += rows,
            E::FileRead { bytes, .. } => self.bronze.bytes_read += bytes,
            E::RowsQuarantined {
                stage, rule, rows, ..
            } => match stage {
                Stage::Bronze => {
                    self.bronze.rows_read += rows;
                    self.bronze.rows_quarantined += rows;
                }
                _ if rule == SCHEMA_RULE => self.silver_mut().rows_schema_rejected += rows,
                _ => self.silver_mut().rows_quarantined += rows,
            },
            E::RowsStaged { table, rows } if is_bronze(table) => self.bronze.rows_written += rows,
            E::RowsRead { rows, .. } => self.silver_mut().rows_read += rows,
            E::RowsDropped { rows, .. } => self.silver_mut().rows_dropped += rows,
            E::RowsDeduplicated { rows, .. } => self.silver_mut().rows_deduplicated += rows,
            E::SilverCandidates { rows, .. } => self.silver_mut().rows_candidates += rows,
            E::RuleOutcome {
                rule,
                on_fail,
                checked,
                failed,
                ..
            } => self
                .silver_mut()
                .add_rule(rule, *on_fail, *checked, *failed),
            E::StageFinished {
                stage, duration_ms, ..
            } => match stage {
                Stage::Bronze => self.bronze.duration_ms = *duration_ms,
                Stage::Silver => self.silver_mut().duration_ms = *duration_ms,
                Stage::Gold => {}
            },
            E::TableCommitted {
                table,
                version,
                rows,
                ..
            } => self.committed(table, *version, *rows),
            E::GoldSkipped { table, .. } => self.gold.push(GoldReport {
                table: table.clone(),
                ..Default::default()
            }),
            E::GoldRefreshed {
                table,
                rows,
                version,
                duration_ms,
                mode,
                reason,
            } => self.gold.push(GoldReport {
                table: table.clone(),
                rows_written: *rows,
                refreshed: true,
                version: Some(*version),
                duration_ms: *duration_ms,
                mode: mode.clone(),
                reason: reason.clone(),
            }),
            E::RunFinished { duration_ms } => {
                self.status = "succeeded".into();
                self.duration_ms = *duration_ms;
            }
            E::RunFailed {
                error, duration_ms, ..
            } => {
                self.status = "failed".into();
                self.error = Some(error.clone());
                self.duration_ms = *duration_ms;
            }
            _ => {}
        }
    }

    fn committed(&mut self, table: &str, version: i64, rows: u64) {
        if table == self.bronze.table {
            self.bronze.version = Some(version);
        } else if let Some(s) = self.silver.as_mut().filter(|s| s.table == table) {
            s.rows_written = rows;
            s.version = Some(version);
        }
    }

    fn silver_mut(&mut self) -> &mut SilverReport {
        self.silver.get_or_insert_with(SilverReport::default)
    }
}

impl SilverReport {
    fn add_rule(&mut self, name: &str, on_fail: OnFail, checked: u64, failed: u64) {
        match self.rules.iter_mut().find(|r| r.name == name) {
            Some(r) => {
                r.checked += checked;
                r.failed += failed;
            }
            None => self.rules.push(RuleReport {
                name: name.to_string(),
                on_fail,
                checked,
                failed,
            }),
        }
    }

    /// Conservation: every Bronze row Silver read is accounted for exactly once: rejected
    /// by the schema, dropped or quarantined by a rule, removed by dedupe, or a candidate
    /// passed to the Silver SQL.
    pub fn is_balanced(&self) -> bool {
        self.rows_read
            == self.rows_schema_rejected
                + self.rows_dropped
                + self.rows_quarantined
                + self.rows_deduplicated
                + self.rows_candidates
    }
}

/// Drives a [`Progress`] display from the event stream.
pub struct ProgressSink(pub std::sync::Arc<dyn Progress>);

impl EventSink for ProgressSink {
    fn emit(&self, _run_id: &str, event: &RunEvent) {
        match event {
            RunEvent::StageStarted {
                stage,
                table,
                total_bytes,
            } => self
                .0
                .start(&format!("{} {table}", stage.as_str()), *total_bytes),
            RunEvent::RowsDecoded { rows, .. } | RunEvent::RowsRead { rows, .. } => {
                self.0.advance(*rows, 0)
            }
            RunEvent::FileRead { bytes, .. } => self.0.advance(0, *bytes),
            RunEvent::StageFinished { .. } => self.0.finish(),
            _ => {}
        }
    }
}
