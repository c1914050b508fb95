//! Classification coverage: every table of the lake is in the catalog (which holds its
//! columns' classifications), and a sample of every table (`medallion classify`'s detectors,
//! with its default sample and ratio) finds no personal or payment data in an unclassified
//! column. A Silver or Gold table with no values to sample is listed as not evaluated.

use super::{sampled, Control, Findings, Inputs};
use crate::classify::{classify_table, summary, ColumnFinding, Options, Status};

const ID: &str = "classification-coverage";

/// `medallion classify`'s defaults.
pub const OPTIONS: Options = Options {
    sample: 10000,
    min_ratio: 0.5,
};

/// Every table of the lake sampled and judged.
pub async fn scan(i: &Inputs<'_>) -> Findings {
    let mut out = Vec::new();
    for n in i.lake_tables {
        let entry = i
            .entries
            .iter()
            .find(|e| e.database == n.database && e.name == n.table);
        let loc = i.env.location(n).map_err(|e| e.to_string())?;
        out.extend(
            classify_table(&n.to_string(), &loc, entry, OPTIONS)
                .await
                .map_err(|e| format!("sampling {n}: {e}"))?,
        );
    }
    Ok(out)
}

pub fn check(i: &Inputs<'_>, findings: Result<&[ColumnFinding], &str>) -> Result<Control, String> {
    let findings = findings.map_err(str::to_string)?;
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for n in i.lake_tables {
        if !i
            .entries
            .iter()
            .any(|e| e.database == n.database && e.name == n.table)
        {
            fail.push(format!("{n} is not in the catalog of `{}`: its columns' classifications are not recorded (`medallion catalog sync`)", i.env.name));
        }
    }
    for f in findings {
        match f.status {
            Status::Unclassified => fail.push(format!(
                "{}.{} holds {} in {:.0}% of {} sampled values but has no classification: declare `classification: {}`",
                f.table,
                f.column,
                f.detector.map_or("personal data", |d| d.name()),
                f.ratio * 100.0,
                f.sampled,
                f.suggested.as_deref().unwrap_or("pii")
            )),
            Status::NothingFound => pass.push(format!(
                "{}.{} is classified {} but its sample shows none of the detected kinds (drift, not a gap)",
                f.table,
                f.column,
                f.classification.as_deref().unwrap_or("-")
            )),
            _ => {}
        }
    }
    let counts: Vec<String> = summary(findings)
        .into_iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let with_values = findings
        .iter()
        .filter(|f| f.status != Status::NoValues)
        .count();
    pass.push(format!(
        "{} tables, {with_values} columns with values sampled (up to {} rows each), {} column(s) had no values: {}",
        i.lake_tables.len(),
        OPTIONS.sample,
        findings.len() - with_values,
        counts.join(", ")
    ));
    pass.extend(
        sampled::coverage(i, findings)
            .evidence()
            .into_iter()
            .skip(1),
    );
    Ok(Control::judged(ID, fail, pass))
}
