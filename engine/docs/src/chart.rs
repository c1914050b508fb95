//! A pipeline's rule outcomes over its last runs as a small SVG chart: one row per rule, one
//! bar per run (oldest left), its height the rows that failed the rule in that run relative
//! to the most in any run. Each bar has a tooltip with the numbers.

use crate::graph_svg::attr;
use crate::model::{RuleDoc, RunDoc};

const BAR: f64 = 14.0;
const GAP: f64 = 4.0;
const ROW: f64 = 34.0;
const LABEL: f64 = 190.0;

/// Rows failing `rule` in `run`: from the run's rule outcomes, or (records written before
/// those were recorded) from its quarantine and drop counts. None: not known for this run,
/// or the rule checked nothing in it (no new rows, or the run stopped before the rule).
pub fn failed(run: &RunDoc, rule: &str) -> Option<u64> {
    if let Some(r) = run.rules.get(rule) {
        return (r.checked > 0).then_some(r.failed);
    }
    if !run.rules.is_empty() {
        return None; // the run recorded its rules, and not this one
    }
    let q = run
        .quarantined
        .iter()
        .filter(|(k, _)| k.rsplit(':').next() == Some(rule))
        .map(|(_, v)| *v)
        .sum::<u64>();
    let d = run.dropped.get(rule).copied().unwrap_or(0);
    (q + d > 0).then_some(q + d)
}

/// A rule name short enough for the label column (the full name is in the tooltip).
fn label(name: &str) -> String {
    const MAX: usize = 26;
    if name.chars().count() <= MAX {
        return name.to_string();
    }
    let cut: String = name.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

fn colour(on_fail: &str, failed: u64) -> &'static str {
    match (failed, on_fail) {
        (0, _) => "#4c9a6a",
        (_, "warn") => "#d9a521",
        (_, "drop") => "#7d8793",
        (_, "quarantine") => "#d0563f",
        _ => "#8e1b1b",
    }
}

/// The chart; empty when there are no rules or no runs.
pub fn rules(rules: &[RuleDoc], runs_newest_first: &[RunDoc]) -> String {
    if rules.is_empty() || runs_newest_first.is_empty() {
        return String::new();
    }
    let runs: Vec<&RunDoc> = runs_newest_first.iter().rev().collect();
    let width = LABEL + runs.len() as f64 * (BAR + GAP) + 60.0;
    let height = rules.len() as f64 * ROW + 8.0;
    let mut s = String::new();
    s.push_str(&format!(
        "<svg class=\"rules-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">"
    ));
    for (i, rule) in rules.iter().enumerate() {
        let top = i as f64 * ROW + 4.0;
        let counts: Vec<Option<u64>> = runs.iter().map(|r| failed(r, &rule.name)).collect();
        let max = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
        s.push_str(&format!(
                        "<g class=\"rule-row\" data-rule=\"{}\"><text x=\"0\" y=\"{}\" class=\"rule-label\"><title>{} \
             ({})</title>{}</text>",
            attr(&rule.name),
            top + ROW / 2.0,
            attr(&rule.name),
            attr(&rule.on_fail),
            attr(&label(&rule.name))
        ));
        for (j, (run, n)) in runs.iter().zip(&counts).enumerate() {
            let x = LABEL + j as f64 * (BAR + GAP);
            let full = ROW - 10.0;
            let (h, fill, tip) = match n {
                None => (
                    2.0,
                    "#cccccc",
                    format!("{}: not checked in this run ({})", run.at, run.status),
                ),
                Some(n) => {
                    let outcome = run.rules.get(&rule.name);
                    let of =
                        outcome.map_or(String::new(), |o| format!(" of {} checked", o.checked));
                    // What the rule did in that run (its on_fail then), not what the spec says now.
                    let on_fail = outcome
                        .map(|o| o.on_fail.as_str())
                        .filter(|f| !f.is_empty())
                        .unwrap_or(&rule.on_fail);
                    (
                        (*n as f64 / max as f64 * full).max(2.0),
                        colour(on_fail, *n),
                        format!(
                            "{}: {n} failed{of}, on_fail {on_fail} ({})",
                            run.at, run.status
                        ),
                    )
                }
            };
            s.push_str(&format!(
                                "<rect x=\"{x}\" y=\"{}\" width=\"{BAR}\" height=\"{h}\" fill=\"{fill}\" data-run=\"{}\"><title>{}</title></rect>",
                top + full - h,
                attr(&run.run_id),
                attr(&tip)
            ));
        }
        let last = counts.iter().rev().flatten().next();
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" class=\"rule-max\">max {}</text></g>",
            LABEL + runs.len() as f64 * (BAR + GAP) + 4.0,
            top + ROW / 2.0,
            counts.iter().flatten().max().or(last).copied().unwrap_or(0)
        ));
    }
    s.push_str("</svg>");
    s
}
