//! Every release promoted through the gates: in an environment with `promote_from`, each run
//! recorded in its trail ran exactly the spec and schema that the newest promotion before it
//! holds for its pipeline (`release_promoted` records, read by the promotion history), and no
//! run was made with `--break-glass`.

use super::{Control, Inputs};
use crate::promote::history::{self, Promotion, RunSummary, PROMOTED};

const ID: &str = "promotion-gates";

pub fn check(i: &Inputs<'_>) -> Result<Control, String> {
    let promoted = i.records.iter().any(|r| r.action == PROMOTED);
    if i.env.promote_from.is_none() && !promoted {
        return Ok(Control::not_applicable(ID, format!(
            "environment `{}` has no promote_from and its trail holds no promotion: it runs any spec by design (releases are promoted from it, not into it)",
            i.env.name
        )));
    }
    let promotions = history::promotions(i.records)?;
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for r in i.records.iter().filter(|r| r.action == "break_glass") {
        fail.push(format!(
            "record {} ({}): a break-glass run by {}@{}, reason {:?}: specs ran without promotion",
            r.seq,
            r.at,
            r.who.user,
            r.who.host,
            r.detail["reason"].as_str().unwrap_or("(none recorded)")
        ));
    }
    for p in history::pipelines(i.records) {
        let runs = history::runs(i.records, &p);
        let uncovered: Vec<String> = runs
            .iter()
            .filter(|run| !covered(&promotions, &p, run))
            .map(|run| {
                format!(
                    "{} ({})",
                    &crate::quality_report::render::short(&run.run_id),
                    run.started_at
                )
            })
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
    pass.push(format!("{} promotion(s) recorded", promotions.len()));
    Ok(Control::judged(ID, fail, pass))
}

/// Whether the newest promotion of `pipeline` made before the run holds its spec and schema.
fn covered(promotions: &[Promotion], pipeline: &str, run: &RunSummary) -> bool {
    promotions
        .iter()
        .filter(|p| p.at.as_str() <= run.started_at.as_str())
        .filter_map(|p| p.pipelines.iter().find(|x| x.pipeline == pipeline))
        .next_back()
        .is_some_and(|released| run.matches(released))
}
