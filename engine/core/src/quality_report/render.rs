//! The quality report as Markdown.

use super::freshness::{human_age, Status};
use super::{PipelineQuality, QualityReport};

pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A rate, or `n/a` when there were no input rows to take it over.
pub fn pct_or_na(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), pct)
}

/// A run's end and kind: `run_failed (aborted: would have quarantined 6)`, `follow of 1a2b3c4d`,
/// `recompute` (its parent is no run of the pipeline, e.g. an erasure).
pub fn end_and_kind(r: &super::RunLine) -> String {
    let mut s = if r.end.is_empty() {
        "running".to_string()
    } else {
        r.end.clone()
    };
    if r.aborted {
        s.push_str(&format!(
            " (aborted: would have quarantined {})",
            r.aborted_quarantined
        ));
    }
    match (r.kind.as_str(), &r.parent_run_id) {
        ("follow", Some(p)) => s.push_str(&format!(", follow of {}", short(p))),
        ("recompute", Some(p)) => s.push_str(&format!(", recompute for {}", short(p))),
        _ => {}
    }
    s
}

/// A value from the trail or the lake as Markdown text.
use crate::markdown::text as cell;

pub fn markdown(r: &QualityReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# Data quality: {}\n\nRuns since {} (generated {}). {}\n\n",
        cell(&r.environment),
        r.since,
        r.generated_at,
        thresholds(&r.thresholds)
    ));
    freshness(&mut s, r);
    for p in &r.pipelines {
        pipeline(&mut s, p);
    }
    if r.pipelines.is_empty() {
        s.push_str("No run is recorded in the audit trail.\n");
    }
    s
}

fn freshness(s: &mut String, r: &QualityReport) {
    s.push_str("## Freshness\n\n| table | pipeline | last commit | age | expected every | status |\n|---|---|---|---|---|---|\n");
    for t in &r.tables {
        let status = match t.status {
            Status::Stale | Status::Missing => format!("**{}**", t.status.as_str()),
            s => s.as_str().to_string(),
        };
        s.push_str(&format!(
            "| {} | {} | {} (v{}) | {} | {} | {status} |\n",
            cell(&t.table),
            cell(t.pipeline.as_deref().unwrap_or("-")),
            t.last_commit.as_deref().unwrap_or("-"),
            t.version.map_or("-".into(), |v| v.to_string()),
            t.age_s.map_or("-".into(), human_age),
            cell(t.expect_every.as_deref().unwrap_or("-")),
        ));
    }
    s.push('\n');
}

fn pipeline(s: &mut String, p: &PipelineQuality) {
    let t = &p.totals;
    s.push_str(&format!("## {}\n\n{}\n\n", cell(&p.pipeline), summary(t)));
    s.push_str("| rule | on_fail | checked | failed | failure rate |\n|---|---|---|---|---|\n");
    for r in &p.rules {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            cell(&r.rule),
            cell(&r.on_fail),
            r.checked,
            r.failed,
            pct(r.failure_rate)
        ));
    }
    s.push_str("\n| quarantine reason | rows | share of input |\n|---|---|---|\n");
    for q in &p.quarantine_reasons {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            cell(&q.reason),
            q.rows,
            pct(q.rate)
        ));
    }
    s.push_str("\n| run | started | end | input | quarantined | schema-rejected | dropped | rules failed/checked |\n|---|---|---|---|---|---|---|---|\n");
    for r in &p.runs {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} ({}) | {} ({}) | {} | {} |\n",
            cell(&short(&r.run_id)),
            r.started_at,
            cell(&end_and_kind(r)),
            r.input_rows,
            r.quarantined,
            pct_or_na(r.quarantine_rate),
            r.schema_rejected,
            pct_or_na(r.schema_rejection_rate),
            r.dropped,
            cell(&rule_counts(r))
        ));
    }
    s.push('\n');
    for a in &p.anomalies {
        s.push_str(&format!(
            "- **anomaly** ({}, run {}): {}\n",
            a.kind,
            cell(&short(&a.run_id)),
            cell(&a.message)
        ));
    }
    if p.anomalies.is_empty() {
        s.push_str("No anomaly.\n");
    }
    s.push('\n');
}

/// The anomaly thresholds as a sentence (every report states them: Markdown and HTML).
pub fn thresholds(t: &super::Thresholds) -> String {
    format!(
        "Anomaly thresholds: input rows outside {}x..{}x of the mean of the last {} runs that read \
         rows; a rule's failure rate at least {} percentage points and {}x above its rate in its \
         last {} runs; at least {} earlier runs.",
        t.rows_low,
        t.rows_high,
        t.baseline_runs,
        t.rate_jump * 100.0,
        t.rate_factor,
        t.baseline_runs,
        t.min_history
    )
}

/// A pipeline's totals as a sentence (Markdown and HTML).
pub fn summary(t: &super::Totals) -> String {
    let mut s =
        format!(
        "{} runs ({} succeeded, {} failed or interrupted); {} input rows, {} quarantined ({}), \
         {} schema-rejected ({}), {} dropped.",
        t.runs, t.succeeded, t.failed, t.input_rows, t.quarantined, pct(t.quarantine_rate),
        t.schema_rejected, pct(t.schema_rejection_rate), t.dropped
    );
    if t.aborted > 0 {
        s.push_str(&format!(
            " {} aborted run(s) (failed before committing): would have quarantined {}, not counted.",
            t.aborted, t.aborted_quarantined
        ));
    }
    if t.recomputes > 0 {
        s.push_str(&format!(
            " {} recompute(s) by other operations (e.g. an erasure), not counted as runs.",
            t.recomputes
        ));
    }
    s
}

/// A run's rules: `name failed/checked`, in name order.
pub fn rule_counts(r: &super::RunLine) -> String {
    r.rules
        .iter()
        .map(|(name, o)| format!("{name} {}/{}", o.failed, o.checked))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first 8 characters of a run id (characters, not bytes: the trail is read, not trusted).
pub fn short(id: &str) -> String {
    id.chars().take(8).collect()
}
