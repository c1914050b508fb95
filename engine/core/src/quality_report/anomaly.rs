//! A run against its pipeline's own history: its input row count against the mean of the
//! runs before it, and each rule's failure rate against the rule's rate in those runs.

use serde::Serialize;

use super::ratio;
use crate::promote::history::RunSummary;

/// The thresholds, stated in every report (docs/quality-report.md).
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    /// How many earlier runs make a baseline (the last k that read rows / checked the rule).
    pub baseline_runs: usize,
    /// No judgement with fewer earlier runs than this.
    pub min_history: usize,
    /// A run's input rows below this share of the baseline mean is an anomaly...
    pub rows_low: f64,
    /// ...and so is above this multiple of it.
    pub rows_high: f64,
    /// A rule's failure rate is an anomaly when it is at least this many points (0.10 = 10
    /// percentage points) above the baseline rate...
    pub rate_jump: f64,
    /// ...and at least this multiple of it.
    pub rate_factor: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            baseline_runs: 5,
            min_history: 3,
            rows_low: 0.5,
            rows_high: 2.0,
            rate_jump: 0.10,
            rate_factor: 2.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    pub pipeline: String,
    pub run_id: String,
    pub started_at: String,
    /// `row_count` or `rule_failure_rate`.
    pub kind: String,
    /// `input` for a row count; the rule's name for a failure rate.
    pub subject: String,
    pub value: f64,
    pub baseline: f64,
    /// How many earlier runs the baseline is made of.
    pub baseline_runs: usize,
    pub message: String,
}

fn input(r: &RunSummary) -> u64 {
    r.bronze_rows + r.bronze_quarantined
}

/// The anomalies of `run` against `before` (the pipeline's runs started before it, oldest
/// first). Only successful runs are judged and make baselines; a run that read nothing (no
/// new input) is idle, not an anomaly.
pub fn of_run(
    pipeline: &str,
    before: &[RunSummary],
    run: &RunSummary,
    t: &Thresholds,
) -> Vec<Anomaly> {
    if !run.succeeded() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let new =
        |kind: &str, subject: &str, value: f64, baseline: f64, n: usize, message: String| Anomaly {
            pipeline: pipeline.to_string(),
            run_id: run.run_id.clone(),
            started_at: run.started_at.clone(),
            kind: kind.to_string(),
            subject: subject.to_string(),
            value,
            baseline,
            baseline_runs: n,
            message,
        };
    if let Some((v, mean, n, msg)) = row_count(before, run, t) {
        out.push(new("row_count", "input", v, mean, n, msg));
    }
    for (rule, o) in run.rules.iter().filter(|(_, o)| o.checked > 0) {
        let checked = |r: &RunSummary| r.rules.get(rule).is_some_and(|x| x.checked > 0);
        let base: Vec<&RunSummary> = last(before, t.baseline_runs, checked).collect();
        if base.len() < t.min_history {
            continue;
        }
        let (f, c) = base.iter().fold((0, 0), |(f, c), r| {
            let x = &r.rules[rule];
            (f + x.failed, c + x.checked)
        });
        let (rate, baseline) = (ratio(o.failed, o.checked), ratio(f, c));
        if rate - baseline >= t.rate_jump && rate >= baseline * t.rate_factor {
            let msg = format!(
                "rule {rule} failed {:.1}% of {} rows against {:.1}% over the {} runs before",
                rate * 100.0,
                o.checked,
                baseline * 100.0,
                base.len()
            );
            out.push(new(
                "rule_failure_rate",
                rule,
                rate,
                baseline,
                base.len(),
                msg,
            ));
        }
    }
    out
}

/// The run's input rows against the mean of the runs before: (value, mean, runs, message)
/// when outside the thresholds.
fn row_count(
    before: &[RunSummary],
    run: &RunSummary,
    t: &Thresholds,
) -> Option<(f64, f64, usize, String)> {
    let base: Vec<u64> = last(before, t.baseline_runs, |r| input(r) > 0)
        .map(input)
        .collect();
    if input(run) == 0 || base.len() < t.min_history {
        return None;
    }
    let mean = base.iter().sum::<u64>() as f64 / base.len() as f64;
    let v = input(run) as f64;
    if v >= mean * t.rows_low && v <= mean * t.rows_high {
        return None;
    }
    let msg = format!(
        "{v} input rows against a mean of {mean:.1} over the {} runs before (outside {}x..{}x)",
        base.len(),
        t.rows_low,
        t.rows_high
    );
    Some((v, mean, base.len(), msg))
}

/// The last `k` successful runs of `before` that `keep`, newest first.
fn last<'a>(
    before: &'a [RunSummary],
    k: usize,
    keep: impl Fn(&RunSummary) -> bool + 'a,
) -> impl Iterator<Item = &'a RunSummary> + 'a {
    before
        .iter()
        .rev()
        .filter(move |r| r.succeeded() && keep(r))
        .take(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promote::history::RuleOutcome;

    fn run(id: &str, rows: u64, rule_failed: u64) -> RunSummary {
        let mut r = RunSummary {
            run_id: id.into(),
            end: "run_finished".into(),
            bronze_rows: rows,
            ..Default::default()
        };
        r.rules.insert(
            "r".into(),
            RuleOutcome {
                on_fail: "quarantine".into(),
                checked: rows,
                failed: rule_failed,
            },
        );
        r
    }

    #[test]
    fn a_steady_history_has_no_anomaly() {
        let before: Vec<_> = (0..5).map(|i| run(&i.to_string(), 100, 2)).collect();
        assert!(of_run("p", &before, &run("x", 110, 3), &Thresholds::default()).is_empty());
    }

    #[test]
    fn a_row_count_drop_and_a_rule_jump_are_anomalies() {
        let before: Vec<_> = (0..5).map(|i| run(&i.to_string(), 100, 2)).collect();
        let a = of_run("p", &before, &run("x", 40, 20), &Thresholds::default());
        let kinds: Vec<&str> = a.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["row_count", "rule_failure_rate"], "{a:?}");
        assert_eq!(a[0].baseline, 100.0);
        assert!((a[1].value - 0.5).abs() < 1e-9 && (a[1].baseline - 0.02).abs() < 1e-9);
    }

    #[test]
    fn too_short_a_history_and_idle_runs_are_not_judged() {
        let before: Vec<_> = (0..2).map(|i| run(&i.to_string(), 100, 0)).collect();
        assert!(of_run("p", &before, &run("x", 1, 1), &Thresholds::default()).is_empty());
        let before: Vec<_> = (0..5).map(|i| run(&i.to_string(), 100, 0)).collect();
        assert!(of_run("p", &before, &run("idle", 0, 0), &Thresholds::default()).is_empty());
    }
}
