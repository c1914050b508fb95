//! Every release promoted through the gates: in an environment with `promote_from`, each run
//! recorded in its trail ran exactly the spec and schema that the newest promotion before it
//! holds for its pipeline (`release_promoted` records, read by the promotion history), and no
//! run was made with `--break-glass`: over the runs and records of the last [`WINDOW_DAYS`]
//! days.

use chrono::{DateTime, Utc};

use super::{Control, Inputs};
use crate::audit::Record;
use crate::promote::history::{self, Promotion, RunSummary, PROMOTED};
use crate::quality_report::at_or_after;
use crate::quality_report::render::short;

/// Runs and break-glass records older than this are not judged (a break-glass run is a
/// finding for the period it happened in, not forever).
pub const WINDOW_DAYS: i64 = 90;

const ID: &str = "promotion-gates";

pub fn check(i: &Inputs<'_>) -> Result<Control, String> {
    let promoted = i.records.iter().any(|r| r.action == PROMOTED);
    if i.env.promote_from.is_none() && !promoted {
        return Ok(Control::not_applicable(ID, format!(
            "environment `{}` has no promote_from and its trail holds no promotion: it runs any spec by design (releases are promoted from it, not into it)",
            i.env.name
        )));
    }
    let (fail, pass) = judge(i.records, i.now)?;
    Ok(Control::judged(ID, fail, pass))
}

/// The runs started and the break-glass records made in the last [`WINDOW_DAYS`] days: each
/// run against the newest promotion before it in the trail (by `seq`), each break-glass a
/// failure. Older ones are counted in the evidence, not judged.
pub fn judge(records: &[Record], now: DateTime<Utc>) -> Result<(Vec<String>, Vec<String>), String> {
    let since = now - chrono::Duration::days(WINDOW_DAYS);
    let promotions = history::promotions(records)?;
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    let mut older = 0;
    for r in records.iter().filter(|r| r.action == "break_glass") {
        if !at_or_after(&r.at, since)? {
            older += 1;
            continue;
        }
        fail.push(format!(
            "record {} ({}): a break-glass run by {}@{}, reason {:?}: specs ran without promotion",
            r.seq,
            r.at,
            r.who.user,
            r.who.host,
            r.detail["reason"].as_str().unwrap_or("(none recorded)")
        ));
    }
    for p in history::pipelines(records) {
        let mut runs = Vec::new();
        for run in history::runs(records, &p) {
            if at_or_after(&run.started_at, since)? {
                runs.push(run);
            }
        }
        pipeline(&promotions, &p, &runs, &mut fail, &mut pass);
    }
    pass.push(format!(
        "{} promotion(s) recorded; runs and break-glass records of the last {WINDOW_DAYS} days judged ({older} older break-glass record(s) not judged)",
        promotions.len()
    ));
    Ok((fail, pass))
}

fn pipeline(
    promotions: &[Promotion],
    p: &str,
    runs: &[RunSummary],
    fail: &mut Vec<String>,
    pass: &mut Vec<String>,
) {
    let uncovered: Vec<String> = runs
        .iter()
        .filter(|run| !covered(promotions, p, run))
        .map(|run| format!("{} ({})", short(&run.run_id), run.started_at))
        .collect();
    match uncovered.is_empty() {
        true => pass.push(format!(
            "{p}: {} run(s), each of a promoted release",
            runs.len()
        )),
        false => fail.push(format!(
            "{p}: {} of {} run(s) ran a spec or schema no earlier promotion holds: {}",
            uncovered.len(),
            runs.len(),
            uncovered.join(", ")
        )),
    }
}

/// Whether the newest promotion of `pipeline` recorded before the run (by `seq`: hosts'
/// clocks and time formats may differ) holds its spec and schema.
fn covered(promotions: &[Promotion], pipeline: &str, run: &RunSummary) -> bool {
    promotions
        .iter()
        .filter(|p| p.seq < run.started_seq)
        .filter_map(|p| p.pipelines.iter().find(|x| x.pipeline == pipeline))
        .next_back()
        .is_some_and(|released| run.matches(released))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{What, Who};

    fn record(seq: u64, at: &str, action: &str, detail: serde_json::Value) -> Record {
        Record {
            seq,
            prev: String::new(),
            at: at.into(),
            environment: "prod".into(),
            action: action.into(),
            run_id: Some(format!("run{seq}")),
            table: None,
            version: None,
            who: Who::default(),
            what: What {
                pipeline: Some("orders".into()),
                spec_sha256: Some("s".into()),
                schema_sha256: Some("h".into()),
                ..Default::default()
            },
            detail,
        }
    }

    fn promotion(seq: u64, at: &str) -> Record {
        let released = serde_json::json!({ "pipeline": "orders", "spec_file": "o.yaml",
            "spec_sha256": "s", "schema": "orders@1", "schema_sha256": "h",
            "spec_text": "", "schema_text": "" });
        record(
            seq,
            at,
            PROMOTED,
            serde_json::json!({ "release": "r1", "from": "staging", "environment_sha256": "e",
                "plan_sha256": "p", "pipelines": [released] }),
        )
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// The promotion is recorded before the run (seq 1 < 2) by a host whose clock runs 5 s
    /// ahead: the run is covered (the trail's order decides, not the clocks).
    #[test]
    fn a_run_after_its_promotion_in_the_trail_is_covered() {
        let records = vec![
            promotion(1, "2026-12-01T10:00:05Z"),
            record(
                2,
                "2026-12-01T10:00:00Z",
                "run_started",
                serde_json::json!({}),
            ),
        ];
        let (fail, _) = judge(&records, now()).unwrap();
        assert!(fail.is_empty(), "{fail:?}");
    }

    /// A break-glass run fails the control while it is in the window, not forever.
    #[test]
    fn a_break_glass_run_fails_only_within_the_window() {
        let glass = |at: &str| {
            vec![
                promotion(1, "2026-01-01T00:00:00Z"),
                record(
                    2,
                    at,
                    "break_glass",
                    serde_json::json!({ "reason": "hotfix" }),
                ),
            ]
        };
        let (fail, _) = judge(&glass("2026-11-30T00:00:00Z"), now()).unwrap();
        assert!(fail[0].contains("a break-glass run"), "{fail:?}");
        let (fail, pass) = judge(&glass("2026-02-01T00:00:00Z"), now()).unwrap();
        assert!(fail.is_empty(), "{fail:?}");
        assert!(
            pass.last()
                .unwrap()
                .contains("1 older break-glass record(s) not judged"),
            "{pass:?}"
        );
    }
}
