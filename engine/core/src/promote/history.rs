//! Promotions and runs as an environment's audit trail recorded them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::release::ReleasedPipeline;
use crate::audit::Record;

/// The action of a promotion record in the target's trail.
pub const PROMOTED: &str = "release_promoted";

/// A promotion, from its record's detail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Promotion {
    pub release: String,
    pub from: String,
    /// The `from` environment's entry when the promotion was made (records before this field
    /// existed have none).
    #[serde(default)]
    pub from_environment_sha256: Option<String>,
    pub environment_sha256: String,
    #[serde(default)]
    pub retention_days: Option<u32>,
    pub plan_sha256: String,
    pub pipelines: Vec<ReleasedPipeline>,
    /// Filled from the record.
    #[serde(default)]
    pub seq: u64,
    #[serde(default)]
    pub at: String,
}

/// The promotions of a trail, oldest first. A record that does not parse as one is an
/// error naming it (a promotion must never be skipped silently: it decides what runs).
pub fn promotions(records: &[Record]) -> Result<Vec<Promotion>, String> {
    records
        .iter()
        .filter(|r| r.action == PROMOTED)
        .map(|r| {
            let mut p: Promotion = serde_json::from_value(r.detail.clone()).map_err(|e| {
                format!(
                    "audit record {} ({PROMOTED}) is not a promotion: {e}",
                    r.seq
                )
            })?;
            p.seq = r.seq;
            p.at = r.at.clone();
            Ok(p)
        })
        .collect()
}

/// What is promoted now, per pipeline: the pipeline as the newest promotion holding it
/// released it.
pub fn current(promotions: &[Promotion]) -> BTreeMap<String, (&Promotion, &ReleasedPipeline)> {
    let mut out = BTreeMap::new();
    for p in promotions {
        for r in &p.pipelines {
            out.insert(r.pipeline.clone(), (p, r));
        }
    }
    out
}

/// One run of a pipeline, from its start and end records.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub started_at: String,
    /// The `seq` of its `run_started` record (the trail's order, unlike times from hosts'
    /// clocks).
    pub started_seq: u64,
    /// The end record's time; empty while the run has none.
    pub ended_at: String,
    /// `run_finished`, `run_failed`, `run_interrupted` or empty (no end recorded).
    pub end: String,
    pub spec_sha256: Option<String>,
    /// The run this one follows (a stream's Silver and Gold runs).
    pub parent_run_id: Option<String>,
    pub schema: Option<String>,
    pub schema_sha256: Option<String>,
    pub duration_ms: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    /// Rows committed to Bronze, and rows quarantined (all stages).
    pub bronze_rows: u64,
    pub quarantined: u64,
    /// Rows quarantined at Bronze (unparseable): input rows that never reached Bronze.
    pub bronze_quarantined: u64,
    /// Rules with `on_fail: fail` that failed rows.
    pub failed_fail_rules: Vec<String>,
    pub error: Option<String>,
    /// Each rule's outcome in this run (the end record's `rules`).
    pub rules: BTreeMap<String, RuleOutcome>,
    /// Rows quarantined per `stage:rule` (`bronze:parse`, `silver:schema`, `silver:<rule>`).
    pub quarantined_by_rule: BTreeMap<String, u64>,
    /// Rows dropped per rule (`on_fail: drop`).
    pub dropped_by_rule: BTreeMap<String, u64>,
    /// Rows committed per table (`table_committed` records of the run, in order of commit).
    pub rows_by_table: BTreeMap<String, u64>,
    /// The run ended `run_failed` before committing anything: its quarantine, drop and rule
    /// numbers are of rows that never reached the lake and are left out of the fields above
    /// (a repeated failed run would count them twice); what it would have quarantined.
    pub aborted: bool,
    pub aborted_quarantined: u64,
}

/// One rule's outcome in a run, as its end record holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleOutcome {
    pub on_fail: String,
    pub checked: u64,
    pub failed: u64,
}

impl RunSummary {
    pub fn succeeded(&self) -> bool {
        self.end == "run_finished"
    }

    /// Bronze rows + rows refused before Bronze.
    pub fn input_rows(&self) -> u64 {
        self.bronze_rows + self.bronze_quarantined
    }

    /// Quarantined rows over input rows (Bronze rows + rows refused before Bronze).
    pub fn quarantine_ratio(&self) -> f64 {
        let input = self.input_rows();
        if input == 0 {
            0.0
        } else {
            self.quarantined as f64 / input as f64
        }
    }

    pub fn matches(&self, r: &ReleasedPipeline) -> bool {
        self.spec_sha256.as_deref() == Some(r.spec_sha256.as_str())
            && self.schema_sha256.as_deref() == Some(r.schema_sha256.as_str())
    }
}

/// The pipelines whose runs a trail records (`run_started` records), sorted.
pub fn pipelines(records: &[Record]) -> Vec<String> {
    let names: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| r.action == "run_started")
        .filter_map(|r| r.what.pipeline.as_deref())
        .collect();
    names.into_iter().map(str::to_string).collect()
}

/// The runs of `pipeline` in a trail, oldest first.
pub fn runs(records: &[Record], pipeline: &str) -> Vec<RunSummary> {
    let mut by_id: BTreeMap<&str, RunSummary> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for r in records {
        let Some(id) = r.run_id.as_deref() else {
            continue;
        };
        if r.action == "run_started" {
            if r.what.pipeline.as_deref() != Some(pipeline) {
                continue;
            }
            order.push(id);
            by_id.insert(
                id,
                RunSummary {
                    run_id: id.to_string(),
                    started_at: r.at.clone(),
                    started_seq: r.seq,
                    spec_sha256: r.what.spec_sha256.clone(),
                    parent_run_id: r.detail["parent_run_id"].as_str().map(str::to_string),
                    schema: r.what.schema.clone(),
                    schema_sha256: r.what.schema_sha256.clone(),
                    ..Default::default()
                },
            );
            continue;
        }
        if let Some(run) = by_id.get_mut(id) {
            add(run, r);
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(id))
        .collect()
}

fn add(run: &mut RunSummary, r: &Record) {
    let d = &r.detail;
    match r.action.as_str() {
        "table_committed" => {
            let rows = d["rows"].as_u64().unwrap_or(0);
            if d["layer"] == "bronze" {
                run.bronze_rows += rows;
            }
            if let Some(t) = &r.table {
                *run.rows_by_table.entry(t.clone()).or_insert(0) += rows;
            }
        }
        "run_finished" | "run_failed" | "run_interrupted" => end(run, r),
        _ => {}
    }
}

/// Whether a `run_failed` record says the run committed before failing (`committed`: a bool;
/// a list or map of commits counts when not empty).
fn committed_before_failing(d: &serde_json::Value) -> bool {
    match &d["committed"] {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
        _ => false,
    }
}

fn end(run: &mut RunSummary, r: &Record) {
    let d = &r.detail;
    run.end = r.action.clone();
    run.ended_at = r.at.clone();
    run.duration_ms = d["duration_ms"].as_u64();
    run.peak_rss_bytes = d["peak_rss_bytes"].as_u64();
    run.error = d["error"].as_str().map(str::to_string);
    run.aborted = r.action == "run_failed" && !committed_before_failing(d);
    if run.aborted {
        let q = d["quarantined_by_rule"].as_object().into_iter().flatten();
        run.aborted_quarantined = q.map(|(_, v)| v.as_u64().unwrap_or(0)).sum();
        fail_rules(run, d);
        return;
    }
    if let Some(q) = d["quarantined_by_rule"].as_object() {
        for (k, v) in q {
            let n = v.as_u64().unwrap_or(0);
            run.quarantined += n;
            if k.starts_with("bronze:") {
                run.bronze_quarantined += n;
            }
            *run.quarantined_by_rule.entry(k.clone()).or_insert(0) += n;
        }
    }
    if let Some(q) = d["dropped_by_rule"].as_object() {
        for (k, v) in q {
            *run.dropped_by_rule.entry(k.clone()).or_insert(0) += v.as_u64().unwrap_or(0);
        }
    }
    fail_rules(run, d);
    if let Some(rules) = d["rules"].as_object() {
        for (name, o) in rules {
            let outcome = RuleOutcome {
                on_fail: o["on_fail"].as_str().unwrap_or_default().to_string(),
                checked: o["checked"].as_u64().unwrap_or(0),
                failed: o["failed"].as_u64().unwrap_or(0),
            };
            run.rules.insert(name.clone(), outcome);
        }
    }
}

/// The `on_fail: fail` rules that failed rows (kept for an aborted run too: such a rule is
/// what aborts a run).
fn fail_rules(run: &mut RunSummary, d: &serde_json::Value) {
    for (name, o) in d["rules"].as_object().into_iter().flatten() {
        if o["on_fail"] == "fail" && o["failed"].as_u64().unwrap_or(0) > 0 {
            run.failed_fail_rules.push(name.clone());
        }
    }
}

/// The runs whose quarantine ratio is judged, one reading for the promotion quality gate, the
/// quality report's totals and the compliance `quarantine-rate` control: of `runs` (all runs
/// of one pipeline, oldest first), those `keep` selects that are not aborted and read rows
/// (input > 0), each with the quarantine of its follow runs (`parent_run_id`; a stream's
/// Silver and Gold) added. A follow run counts only through a kept parent.
pub fn judged(runs: &[RunSummary], keep: impl Fn(&RunSummary) -> bool) -> Vec<RunSummary> {
    let mut judged: Vec<RunSummary> = runs
        .iter()
        .filter(|x| !x.aborted && x.input_rows() > 0 && keep(x))
        .cloned()
        .collect();
    for j in &mut judged {
        let children = runs
            .iter()
            .filter(|c| c.parent_run_id.as_deref() == Some(j.run_id.as_str()));
        for c in children {
            j.quarantined += c.quarantined;
            for (k, n) in &c.quarantined_by_rule {
                *j.quarantined_by_rule.entry(k.clone()).or_insert(0) += n;
            }
            j.failed_fail_rules
                .extend(c.failed_fail_rules.iter().cloned());
        }
    }
    judged
}

/// Quarantined rows and input rows of [`judged`] runs.
pub fn quarantine_of(judged: &[RunSummary]) -> (u64, u64) {
    let q = judged.iter().map(|x| x.quarantined).sum();
    (q, judged.iter().map(RunSummary::input_rows).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{What, Who};

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
                pipeline: Some("orders".into()),
                ..Default::default()
            },
            detail,
        }
    }

    /// A run that failed before committing counts nothing but what it would have quarantined;
    /// one that failed after committing counts like a finished run.
    #[test]
    fn only_runs_that_committed_count() {
        let end = |committed: bool| {
            serde_json::json!({ "committed": committed, "quarantined_by_rule": { "silver:x": 6 },
                "dropped_by_rule": { "d": 1 },
                "rules": { "x": { "on_fail": "quarantine", "checked": 16, "failed": 6 } } })
        };
        let records = vec![
            record(0, "run_started", "a", serde_json::json!({})),
            record(1, "run_failed", "a", end(false)),
            record(2, "run_started", "b", serde_json::json!({})),
            record(3, "run_failed", "b", end(true)),
        ];
        let runs = runs(&records, "orders");
        assert!(runs[0].aborted && runs[0].aborted_quarantined == 6);
        assert_eq!(runs[0].quarantined, 0);
        assert!(runs[0].rules.is_empty() && runs[0].dropped_by_rule.is_empty());
        assert!(!runs[1].aborted);
        assert_eq!((runs[1].quarantined, runs[1].rules["x"].failed), (6, 6));
        assert_eq!(runs[1].started_seq, 2);
    }
}
