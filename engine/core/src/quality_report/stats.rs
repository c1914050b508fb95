//! Per run and totals over the window: rule outcomes, quarantine and schema-rejection
//! rates, the top reasons rows were quarantined.

use std::collections::BTreeMap;

use serde::Serialize;

use super::anomaly::{self, Anomaly, Thresholds};
use super::{at_or_after, ratio, Options};
use crate::promote::history::{self, RuleOutcome, RunSummary};
use crate::report::SCHEMA_RULE;

/// One run in the window.
#[derive(Debug, Clone, Serialize)]
pub struct RunLine {
    pub run_id: String,
    pub started_at: String,
    /// `run_finished`, `run_failed`, `run_interrupted`, or empty (no end recorded yet).
    pub end: String,
    /// `run`; `follow` (a stream's Silver or Gold run: its quarantine counts in its parent's
    /// line and rates); `recompute` (its parent is no run of the pipeline, e.g. Gold recomputed
    /// by an erasure: not counted as a run).
    pub kind: String,
    pub parent_run_id: Option<String>,
    /// Rows that reached Bronze plus records refused before Bronze (unparseable).
    pub input_rows: u64,
    /// With the rows its follow runs quarantined (a run's own rows for a follow run).
    pub quarantined: u64,
    /// None when the run read no rows (a follow run's rows count in its parent's rate).
    pub quarantine_rate: Option<f64>,
    /// Rows refused for their type or shape: `bronze:*` (unparseable) and `*:schema` (typing).
    pub schema_rejected: u64,
    pub schema_rejection_rate: Option<f64>,
    /// The run failed before committing anything; the rows it would have quarantined (counted
    /// nowhere else).
    pub aborted: bool,
    pub aborted_quarantined: u64,
    pub dropped: u64,
    /// Rows committed per table.
    pub rows_by_table: BTreeMap<String, u64>,
    pub rules: BTreeMap<String, RuleOutcome>,
}

/// A rule over the window.
#[derive(Debug, Clone, Serialize)]
pub struct RuleTotal {
    pub rule: String,
    pub on_fail: String,
    pub checked: u64,
    pub failed: u64,
    pub failure_rate: f64,
}

/// A reason rows were quarantined (`stage:rule`) over the window.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    pub reason: String,
    pub rows: u64,
    /// Share of the window's input rows.
    pub rate: f64,
}

/// The window's totals of a pipeline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Pipeline runs (`run` and `follow` lines), not `recompute`s.
    pub runs: u64,
    pub recomputes: u64,
    pub succeeded: u64,
    /// Runs that ended `run_failed` or `run_interrupted`.
    pub failed: u64,
    /// Runs that failed before committing anything, and the rows they would have quarantined
    /// (not in `quarantined`).
    pub aborted: u64,
    pub aborted_quarantined: u64,
    /// Over the judged runs ([`history::judged`]): runs that committed and read rows, with
    /// their follow runs' quarantine.
    pub input_rows: u64,
    pub quarantined: u64,
    pub quarantine_rate: f64,
    pub schema_rejected: u64,
    pub schema_rejection_rate: f64,
    pub dropped: u64,
}

/// One pipeline's section of the report.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineQuality {
    pub pipeline: String,
    pub totals: Totals,
    pub runs: Vec<RunLine>,
    /// The rules with the most failed rows first (at most `top`).
    pub rules: Vec<RuleTotal>,
    /// The reasons with the most quarantined rows first (at most `top`).
    pub quarantine_reasons: Vec<Reason>,
    pub anomalies: Vec<Anomaly>,
}

/// Whether a `stage:rule` quarantine key is a schema rejection.
pub fn is_schema_rejection(key: &str) -> bool {
    key.starts_with("bronze:") || key.rsplit(':').next() == Some(SCHEMA_RULE)
}

/// Whether `r` is a pipeline run, a stream's follow run or a recompute (see [`RunLine::kind`]).
fn kind(r: &RunSummary, all: &[RunSummary]) -> &'static str {
    match &r.parent_run_id {
        None => "run",
        Some(p) if all.iter().any(|x| &x.run_id == p) => "follow",
        Some(_) => "recompute",
    }
}

/// A run's line; `r` is the judged run (with its follow runs' quarantine) when it is one.
pub fn line(r: &RunSummary, kind: &str) -> RunLine {
    let input_rows = r.input_rows();
    let schema_rejected = schema_rejected(r);
    let rate = |n| (input_rows > 0).then(|| ratio(n, input_rows));
    RunLine {
        run_id: r.run_id.clone(),
        started_at: r.started_at.clone(),
        end: r.end.clone(),
        kind: kind.to_string(),
        parent_run_id: r.parent_run_id.clone(),
        input_rows,
        quarantined: r.quarantined,
        quarantine_rate: rate(r.quarantined),
        schema_rejected,
        schema_rejection_rate: rate(schema_rejected),
        aborted: r.aborted,
        aborted_quarantined: r.aborted_quarantined,
        dropped: r.dropped_by_rule.values().sum(),
        rows_by_table: r.rows_by_table.clone(),
        rules: r.rules.clone(),
    }
}

fn schema_rejected(r: &RunSummary) -> u64 {
    r.quarantined_by_rule
        .iter()
        .filter(|(k, _)| is_schema_rejection(k))
        .map(|(_, n)| n)
        .sum()
}

/// The pipeline's section: its runs started in the window, their totals, top rules and
/// reasons, and the anomalies of those runs against the runs before each.
pub fn pipeline(
    name: &str,
    runs: &[RunSummary],
    o: &Options,
    t: &Thresholds,
) -> Result<PipelineQuality, String> {
    let mut first = runs.len();
    for (i, r) in runs.iter().enumerate() {
        if at_or_after(&r.started_at, o.since)? {
            first = i;
            break;
        }
    }
    let window = &runs[first..];
    let judged = history::judged(window, |_| true);
    let lines: Vec<RunLine> = window
        .iter()
        .map(|r| {
            let j = judged.iter().find(|j| j.run_id == r.run_id);
            line(j.unwrap_or(r), kind(r, runs))
        })
        .collect();
    let anomalies = (first..runs.len())
        .flat_map(|i| anomaly::of_run(name, &runs[..i], &runs[i], t))
        .collect();
    Ok(PipelineQuality {
        pipeline: name.to_string(),
        totals: totals(window, &judged, &lines),
        rules: top_rules(window, o.top),
        quarantine_reasons: top_reasons(&judged, o.top),
        runs: lines,
        anomalies,
    })
}

fn totals(window: &[RunSummary], judged: &[RunSummary], lines: &[RunLine]) -> Totals {
    let (quarantined, input) = history::quarantine_of(judged);
    let schema = judged.iter().map(schema_rejected).sum();
    let runs = || {
        lines
            .iter()
            .zip(window)
            .filter(|(l, _)| l.kind != "recompute")
    };
    let count = |f: fn(&RunSummary) -> bool| runs().filter(|(_, r)| f(r)).count() as u64;
    Totals {
        runs: runs().count() as u64,
        recomputes: (lines.len() - runs().count()) as u64,
        succeeded: count(RunSummary::succeeded),
        failed: count(|r| matches!(r.end.as_str(), "run_failed" | "run_interrupted")),
        aborted: count(|r| r.aborted),
        aborted_quarantined: window.iter().map(|r| r.aborted_quarantined).sum(),
        input_rows: input,
        quarantined,
        quarantine_rate: ratio(quarantined, input),
        schema_rejected: schema,
        schema_rejection_rate: ratio(schema, input),
        dropped: lines.iter().map(|l| l.dropped).sum(),
    }
}

fn top_rules(window: &[RunSummary], top: usize) -> Vec<RuleTotal> {
    let mut by: BTreeMap<&str, RuleTotal> = BTreeMap::new();
    for r in window {
        for (name, o) in &r.rules {
            let t = by.entry(name).or_insert_with(|| RuleTotal {
                rule: name.clone(),
                on_fail: o.on_fail.clone(),
                checked: 0,
                failed: 0,
                failure_rate: 0.0,
            });
            t.checked += o.checked;
            t.failed += o.failed;
            t.on_fail = o.on_fail.clone();
        }
    }
    let mut out: Vec<RuleTotal> = by.into_values().collect();
    for t in &mut out {
        t.failure_rate = ratio(t.failed, t.checked);
    }
    out.sort_by(|a, b| b.failed.cmp(&a.failed).then(a.rule.cmp(&b.rule)));
    out.truncate(top);
    out
}

fn top_reasons(judged: &[RunSummary], top: usize) -> Vec<Reason> {
    let input: u64 = history::quarantine_of(judged).1;
    let mut by: BTreeMap<&str, u64> = BTreeMap::new();
    for r in judged {
        for (k, n) in &r.quarantined_by_rule {
            *by.entry(k).or_insert(0) += n;
        }
    }
    let mut out: Vec<Reason> = by
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| Reason {
            reason: k.to_string(),
            rows: n,
            rate: ratio(n, input),
        })
        .collect();
    out.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.reason.cmp(&b.reason)));
    out.truncate(top);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Record, What, Who};

    fn record(seq: u64, action: &str, run: &str, detail: serde_json::Value) -> Record {
        Record {
            seq,
            prev: String::new(),
            at: format!("2026-12-01T00:00:{seq:02}Z"),
            environment: "dev".into(),
            action: action.into(),
            run_id: Some(run.into()),
            table: None,
            version: None,
            who: Who::default(),
            what: What {
                pipeline: Some("clicks".into()),
                ..Default::default()
            },
            detail,
        }
    }

    /// A stream run reads 100 rows; its Silver follow run quarantines 7 of them: the stream
    /// run's line carries them (as the promotion gate counts them), the follow run's line has
    /// no rate (it read no input), and nothing shows 0% or more than 100%.
    #[test]
    fn a_follow_runs_quarantine_counts_in_its_parents_line() {
        let records = vec![
            record(0, "run_started", "stream", serde_json::json!({})),
            record(
                1,
                "table_committed",
                "stream",
                serde_json::json!({ "layer": "bronze", "rows": 100 }),
            ),
            record(
                2,
                "run_started",
                "follow",
                serde_json::json!({ "parent_run_id": "stream" }),
            ),
            record(
                3,
                "run_finished",
                "follow",
                serde_json::json!({ "quarantined_by_rule": { "silver:schema": 7 } }),
            ),
            record(4, "run_finished", "stream", serde_json::json!({})),
        ];
        let runs = history::runs(&records, "clicks");
        let o = Options {
            environment: "dev".into(),
            since: chrono::DateTime::UNIX_EPOCH,
            now: chrono::DateTime::UNIX_EPOCH,
            top: 5,
        };
        let p = pipeline("clicks", &runs, &o, &Thresholds::default()).unwrap();
        assert_eq!(
            (p.runs[0].quarantined, p.runs[0].quarantine_rate),
            (7, Some(0.07))
        );
        assert_eq!(
            (p.runs[1].kind.as_str(), p.runs[1].quarantine_rate),
            ("follow", None)
        );
        assert_eq!(
            (p.totals.quarantined, p.totals.input_rows, p.totals.runs),
            (7, 100, 2)
        );
    }
}
