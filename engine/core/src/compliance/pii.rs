//! PII protected in Silver and Gold, on the configuration and on the data: the promotion PII
//! gate's rule over every pipeline of the project (each `pii` column hashed, masked or dropped
//! before Silver, or kept with a written `pii_allow` reason; no Gold column computed from raw
//! PII), and the classification sample: no Silver or Gold column whose values hold personal
//! data in clear, unless its pipeline allows it with a reason. A Silver or Gold table with no
//! values to sample is listed as not evaluated ([`sampled`]).

use super::{sampled, Control, Inputs};
use crate::classify::{ColumnFinding, Status};
use crate::promote::gates::pii_findings;

const ID: &str = "pii-protected";

pub fn check(i: &Inputs<'_>, findings: Result<&[ColumnFinding], &str>) -> Result<Control, String> {
    let findings = findings.map_err(str::to_string)?;
    let (mut fail, mut pass) = pii_findings(i.plans, i.graph, &|_| true);
    for f in findings {
        let layer = sampled::layer(i, &f.table);
        if !matches!(layer.as_str(), "silver" | "gold") {
            continue;
        }
        if !matches!(f.status, Status::Classified | Status::Unclassified) {
            continue;
        }
        let what = format!(
            "{}.{} ({layer}): {:.0}% of {} sampled values hold {} in clear",
            f.table,
            f.column,
            f.ratio * 100.0,
            f.sampled,
            f.detector.map_or("personal data", |d| d.name())
        );
        match allowed(i, &f.table, &f.column) {
            Some(reason) => pass.push(format!("{what}, allowed: {reason}")),
            None => fail.push(what),
        }
    }
    pass.extend(sampled::coverage(i, findings).evidence());
    Ok(Control::judged(ID, fail, pass))
}

/// The written reason a Silver column is kept in clear (`silver.pii_allow`).
fn allowed(i: &Inputs<'_>, table: &str, column: &str) -> Option<String> {
    i.plans.iter().find_map(|p| {
        let s = p.job.spec.silver.as_ref()?;
        if p.job.silver_table().map(|t| t.to_string()).as_deref() != Some(table) {
            return None;
        }
        s.pii_allow
            .get(column)
            .filter(|r| !r.trim().is_empty())
            .cloned()
    })
}
