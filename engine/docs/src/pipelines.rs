//! The pipelines page: each spec, its rules with their last outcome, and its last runs from
//! the audit trail.

use std::collections::BTreeMap;

use medallion_core::audit::Record;
use medallion_core::plan::JobPlan;
use medallion_core::quality::RuleKind;

use crate::chart;
use crate::collect::Sources;
use crate::model::{PipelineDoc, RuleDoc, RuleRun, RunDoc};

/// Runs shown per pipeline.
const RUNS: usize = 20;

pub fn pipelines(s: &Sources<'_>, problems: &mut Vec<String>) -> Vec<PipelineDoc> {
    s.plans.iter().map(|p| pipeline(s, p, problems)).collect()
}

fn pipeline(s: &Sources<'_>, p: &JobPlan, problems: &mut Vec<String>) -> PipelineDoc {
    let spec = &p.job.spec;
    let spec_text = std::fs::read_to_string(&p.job.file).unwrap_or_else(|e| {
        problems.push(format!("{}: could not be read: {e}", p.job.file));
        String::new()
    });
    let runs = runs(&s.records, &spec.pipeline);
    let mut rules: Vec<RuleDoc> = p
        .rules
        .iter()
        .map(|r| RuleDoc {
            name: r.name.clone(),
            check: match &r.kind {
                RuleKind::Row { sql, .. } => sql.clone(),
                RuleKind::Unique(cols) => format!("unique({})", cols.join(", ")),
                RuleKind::RowCount { min, max } => format!(
                    "row_count between {} and {}",
                    min.map_or("-".into(), |v| v.to_string()),
                    max.map_or("-".into(), |v| v.to_string())
                ),
            },
            on_fail: r.on_fail.to_string(),
            description: spec
                .silver
                .as_ref()
                .and_then(|sv| sv.rules.iter().find(|x| x.name == r.name))
                .and_then(|x| x.description.clone()),
            last_outcome: None,
        })
        .collect();
    for (r, compiled) in rules.iter_mut().zip(&p.rules) {
        let row_count = matches!(compiled.kind, RuleKind::RowCount { .. });
        r.last_outcome = last_outcome(&runs, &r.name, &r.on_fail, row_count);
    }
    let mut tables: Vec<String> = s
        .graph
        .datasets
        .values()
        .filter(|d| d.pipeline == spec.pipeline && d.layer != "source")
        .map(|d| d.name.clone())
        .collect();
    tables.sort();
    PipelineDoc {
        name: spec.pipeline.clone(),
        description: spec.description.clone(),
        owner: spec.owner.clone(),
        spec_file: p.job.file.clone(),
        spec_text,
        source: medallion_core::lineage::graph::source_names(p),
        tables,
        rules_chart_svg: chart::rules(&rules, &runs),
        rules,
        runs,
    }
}

/// The pipeline's last runs in the trail (newest first): each run's end record.
fn runs(records: &[Record], pipeline: &str) -> Vec<RunDoc> {
    let of_pipeline = |r: &Record| {
        r.what.pipeline.as_deref() == Some(pipeline)
            || r.detail.get("pipeline").and_then(|v| v.as_str()) == Some(pipeline)
    };
    records
        .iter()
        .rev()
        .filter(|r| of_pipeline(r))
        .filter_map(run)
        .take(RUNS)
        .collect()
}

fn run(r: &Record) -> Option<RunDoc> {
    let status = match r.action.as_str() {
        "run_finished" => "finished",
        "run_failed" => "failed",
        "run_interrupted" => "interrupted",
        _ => return None,
    };
    let map = |key: &str| -> BTreeMap<String, u64> {
        r.detail
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    };
    let rules: BTreeMap<String, RuleRun> = r
        .detail
        .get("rules")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    Some(RunDoc {
        run_id: r.run_id.clone().unwrap_or_default(),
        at: r.at.clone(),
        status: status.to_string(),
        duration_ms: r.detail.get("duration_ms").and_then(|v| v.as_u64()),
        error: r
            .detail
            .get("error")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        rules,
        quarantined: map("quarantined_by_rule"),
        dropped: map("dropped_by_rule"),
    })
}

/// The rule's outcome in the newest run that checked rows with it (a run with no new rows
/// checks none: it says nothing about the rule), in the words of the `on_fail` the rule had
/// in that run. A `row_count` rule checks the run's row count once.
fn last_outcome(
    runs: &[RunDoc],
    rule: &str,
    spec_on_fail: &str,
    row_count: bool,
) -> Option<String> {
    let Some(run) = runs
        .iter()
        .find(|r| r.rules.get(rule).is_some_and(|o| o.checked > 0))
    else {
        let recorded = runs.iter().any(|r| r.rules.contains_key(rule));
        return recorded.then(|| format!("no rows checked in the last {} runs", runs.len()));
    };
    let o = &run.rules[rule];
    let on_fail = if o.on_fail.is_empty() {
        spec_on_fail
    } else {
        &o.on_fail
    };
    let then = if on_fail == spec_on_fail {
        String::new()
    } else {
        format!(", on_fail was {on_fail}")
    };
    if row_count {
        let held = if o.failed == 0 {
            "held"
        } else {
            "did not hold"
        };
        return Some(format!("the row count {held} ({}{then})", run.at));
    }
    let what = match (o.failed, on_fail) {
        (0, _) => {
            return Some(format!(
                "passed: {} rows checked ({}{then})",
                o.checked, run.at
            ))
        }
        (_, "warn") => "warned",
        (_, "drop") => "dropped",
        (_, "quarantine") => "quarantined",
        _ => "failed, which failed the run",
    };
    Some(format!(
        "{} of {} rows {what} ({}{then})",
        o.failed, o.checked, run.at
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(at: &str, rule: Option<(u64, u64)>) -> RunDoc {
        RunDoc {
            run_id: at.into(),
            at: at.into(),
            status: "finished".into(),
            duration_ms: None,
            error: None,
            rules: rule
                .map(|(checked, failed)| {
                    let r = RuleRun {
                        on_fail: "quarantine".into(),
                        checked,
                        failed,
                    };
                    BTreeMap::from([("r".to_string(), r)])
                })
                .unwrap_or_default(),
            quarantined: BTreeMap::new(),
            dropped: BTreeMap::new(),
        }
    }

    #[test]
    fn last_outcome_skips_runs_that_checked_no_rows() {
        let runs = [
            run("t3", Some((0, 0))),
            run("t2", Some((10, 3))),
            run("t1", Some((5, 0))),
        ];
        assert_eq!(
            last_outcome(&runs, "r", "quarantine", false).unwrap(),
            "3 of 10 rows quarantined (t2)"
        );
        // The spec says warn now; the run quarantined.
        assert_eq!(
            last_outcome(&runs, "r", "warn", false).unwrap(),
            "3 of 10 rows quarantined (t2, on_fail was quarantine)"
        );
        let idle = [run("t2", Some((0, 0)))];
        assert_eq!(
            last_outcome(&idle, "r", "quarantine", false).unwrap(),
            "no rows checked in the last 1 runs"
        );
        assert_eq!(last_outcome(&[run("t1", None)], "r", "warn", false), None);
        let passed = [run("t1", Some((4, 0)))];
        assert_eq!(
            last_outcome(&passed, "r", "quarantine", false).unwrap(),
            "passed: 4 rows checked (t1)"
        );
        let count = [run("t1", Some((1, 1)))];
        assert_eq!(
            last_outcome(&count, "r", "quarantine", true).unwrap(),
            "the row count did not hold (t1)"
        );
    }

    #[test]
    fn chart_counts_from_old_records_without_rule_outcomes() {
        let mut r = run("t1", None);
        r.quarantined.insert("silver:r".into(), 2);
        r.dropped.insert("r".into(), 1);
        assert_eq!(chart::failed(&r, "r"), Some(3));
        assert_eq!(chart::failed(&r, "other"), None);
        let svg = chart::rules(
            &[RuleDoc {
                name: "r".into(),
                check: "x > 0".into(),
                on_fail: "quarantine".into(),
                description: None,
                last_outcome: None,
            }],
            &[r],
        );
        assert!(
            svg.contains("t1: 3 failed, on_fail quarantine (finished)"),
            "{svg}"
        );
        // A run that recorded its rules but checked none with this one: grey, not a pass.
        let idle = run("t2", Some((0, 0)));
        assert_eq!(chart::failed(&idle, "r"), None);
        assert_eq!(chart::failed(&run("t3", Some((5, 0))), "r"), Some(0));
    }
}
