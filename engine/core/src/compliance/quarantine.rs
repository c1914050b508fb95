//! Quarantine rates within the quality threshold: per pipeline, the rows quarantined over
//! the input rows of its runs in the last [`WINDOW_DAYS`] days ([`history::judged`]: runs
//! that committed and read rows, with their follow runs' quarantine; the quality report's
//! totals for the same window), against the environment's `gates.max_quarantine_ratio` (a
//! pipeline's own `gates.max_quarantine_ratio` may only tighten it), or [`DEFAULT_MAX`] when
//! the environment sets none.

use super::{Control, Inputs};
use crate::promote::history;
use crate::quality_report::{at_or_after, ratio};

const ID: &str = "quarantine-rate";

pub const WINDOW_DAYS: i64 = 30;

/// What the rate is taken over, stated in the evidence (the promotion quality gate judges
/// fewer runs: only the successful ones of the release it promotes).
const JUDGED: &str = "judged: every run of the window that committed and read rows, with its \
    follow runs' quarantine (history::judged, as the quality report's totals); runs that failed \
    before committing are not counted";
/// The threshold when the environment has no quality gate.
pub const DEFAULT_MAX: f64 = 0.5;

pub fn check(i: &Inputs<'_>) -> Result<Control, String> {
    let since = i.now - chrono::Duration::days(WINDOW_DAYS);
    let (env_max, from) = match i.env.gates.max_quarantine_ratio {
        Some(m) => (m, "the environment's gates.max_quarantine_ratio"),
        None => (
            DEFAULT_MAX,
            "the default; the environment sets no gates.max_quarantine_ratio",
        ),
    };
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for p in history::pipelines(i.records) {
        let runs = history::runs(i.records, &p);
        for r in &runs {
            at_or_after(&r.started_at, since)?;
        }
        let judged = history::judged(&runs, |r| {
            at_or_after(&r.started_at, since).unwrap_or(false)
        });
        let (quarantined, input) = history::quarantine_of(&judged);
        if input == 0 {
            continue;
        }
        let own = i
            .plans
            .iter()
            .find(|x| x.job.spec.pipeline == p)
            .and_then(|x| x.job.spec.gates.as_ref())
            .and_then(|g| g.max_quarantine_ratio);
        let max = own.map_or(env_max, |o| o.min(env_max));
        let rate = ratio(quarantined, input);
        let line = format!("{p}: {quarantined} of {input} input rows quarantined ({:.1}%) in the last {WINDOW_DAYS} days, limit {:.1}%", rate * 100.0, max * 100.0);
        match rate > max {
            true => fail.push(line),
            false => pass.push(line),
        }
    }
    if fail.is_empty() && pass.is_empty() {
        return Ok(Control::not_applicable(
            ID,
            format!(
                "no run of `{}` read any rows in the last {WINDOW_DAYS} days: no rate to judge",
                i.env.name
            ),
        ));
    }
    pass.push(format!("limit: {:.1}% ({from})", env_max * 100.0));
    pass.push(JUDGED.to_string());
    Ok(Control::judged(ID, fail, pass))
}
