//! `medallion quality report`: data quality per pipeline and rule over a window, from the
//! audit trail (through [`crate::promote::history::runs`] and, for the totals' rates,
//! [`crate::promote::history::judged`]: the readers the promotion quality gate and the
//! compliance report's `quarantine-rate` control use; the gate judges fewer runs, see
//! docs/quality-report.md), plus each table's freshness.
//!
//! - [`stats`]: per run and totals in the window: rules checked/failed, quarantine and
//!   schema-rejection rates, the top quarantine reasons.
//! - [`anomaly`]: a run against the pipeline's own history (row count, rule failure rate),
//!   with the thresholds stated in [`Thresholds`].
//! - [`freshness`]: the age of each table's newest commit by a pipeline run ([`commits`])
//!   against its pipeline's `freshness.expect_every`; declared tables not in the lake.
//! - [`render`] (Markdown) and [`html`] (one self-contained page, every value escaped); the
//!   JSON form is the serialisation of [`QualityReport`] (docs/quality-report.md).

pub mod anomaly;
pub mod commits;
pub mod freshness;
pub mod html;
pub mod render;
pub mod stats;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use anomaly::{Anomaly, Thresholds};
pub use freshness::TableFreshness;
pub use stats::{PipelineQuality, Reason, RuleTotal, RunLine, Totals};

use crate::audit::Record;
use crate::promote::history;

/// The report's `format` version: bumped when a field changes meaning or goes away.
pub const FORMAT_VERSION: u32 = 2;

/// What the report covers.
#[derive(Debug, Clone)]
pub struct Options {
    pub environment: String,
    /// Runs started at or after this time are reported (their history before it still feeds
    /// the anomaly baselines).
    pub since: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// How many rules and quarantine reasons are listed per pipeline.
    pub top: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    pub format_version: u32,
    pub environment: String,
    pub generated_at: String,
    pub since: String,
    pub top: usize,
    pub thresholds: Thresholds,
    pub pipelines: Vec<PipelineQuality>,
    pub tables: Vec<TableFreshness>,
}

impl QualityReport {
    /// Every anomaly of every pipeline.
    pub fn anomalies(&self) -> impl Iterator<Item = &Anomaly> {
        self.pipelines.iter().flat_map(|p| &p.anomalies)
    }

    /// Tables whose last pipeline commit is older than their pipeline expects, or missing.
    pub fn stale(&self) -> impl Iterator<Item = &TableFreshness> {
        self.tables.iter().filter(|t| {
            matches!(
                t.status,
                freshness::Status::Stale | freshness::Status::Missing
            )
        })
    }
}

/// The report of every pipeline with runs in the trail; `tables` come from [`freshness::of`].
pub fn build(
    records: &[Record],
    o: &Options,
    tables: Vec<TableFreshness>,
) -> crate::Result<QualityReport> {
    let thresholds = Thresholds::default();
    let pipelines = history::pipelines(records)
        .into_iter()
        .map(|p| {
            let runs = history::runs(records, &p);
            stats::pipeline(&p, &runs, o, &thresholds)
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(crate::Error::Internal)?;
    Ok(QualityReport {
        format_version: FORMAT_VERSION,
        environment: o.environment.clone(),
        generated_at: o.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        since: o.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        top: o.top,
        thresholds,
        pipelines,
        tables,
    })
}

/// Whether a record's time (RFC 3339) is at or after `since`; a time that does not parse is
/// an error (a trail record with a bad time is a broken trail, not a run to leave out).
pub(crate) fn at_or_after(at: &str, since: DateTime<Utc>) -> Result<bool, String> {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t >= since)
        .map_err(|e| format!("audit time {at:?} is not RFC 3339: {e}"))
}

/// `n / d`, 0 when `d` is 0.
pub(crate) fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{What, Who};

    fn record(seq: u64, action: &str, detail: serde_json::Value) -> Record {
        Record {
            seq,
            prev: String::new(),
            at: format!("2026-12-01T00:00:{seq:02}Z"),
            environment: "dev".into(),
            action: action.into(),
            run_id: Some("r1".into()),
            table: None,
            version: None,
            who: Who::default(),
            what: What {
                pipeline: Some("<b>p</b>".into()),
                ..Default::default()
            },
            detail,
        }
    }

    /// A trail naming a rule and a reason with markup (written by something other than
    /// medallion, whose names are checked): every format keeps it as text.
    #[test]
    fn hostile_names_from_the_trail_are_escaped_in_html() {
        let hostile = "<script>alert(1)</script>";
        let records = vec![
            record(0, "run_started", serde_json::json!({})),
            record(
                1,
                "run_finished",
                serde_json::json!({
                    "quarantined_by_rule": { format!("silver:{hostile}"): 1 },
                    "rules": { hostile: { "on_fail": "quarantine", "checked": 3, "failed": 1 } }
                }),
            ),
        ];
        let since = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let o = Options {
            environment: "dev".into(),
            since,
            now: since,
            top: 5,
        };
        let r = build(&records, &o, Vec::new()).unwrap();
        assert_eq!(r.pipelines[0].rules[0].failed, 1);
        let page = html::html(&r);
        assert!(
            !page.contains("<script>") && !page.contains("<b>p</b>"),
            "{page}"
        );
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            page.contains("Anomaly thresholds: input rows outside 0.5x..2x"),
            "the HTML states the thresholds as the Markdown does: {page}"
        );
        let md = render::markdown(&r);
        assert!(
            md.contains("\\<script\\>alert(1)\\</script\\>")
                && md.contains("\\<b\\>p\\</b\\>")
                && !md.contains("<script>"),
            "Markdown shows markup as text: {md}"
        );
    }
}
