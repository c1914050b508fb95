//! The run report: what every stage read, wrote, dropped and quarantined, per rule, with
//! durations. Printed as text or JSON by the CLI.

use serde::Serialize;

use crate::spec::OnFail;

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
                    format!("{} rows written", g.rows_written)
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
