//! The PII policy gate, and the columns of a project holding personal data in clear.

use super::*;

/// Every `classification: pii` column is hashed, masked or dropped before Silver, or kept with
/// a written reason (`silver.pii_allow`); no Gold column is computed from raw PII.
pub(super) fn pii_policy(i: &Inputs<'_>) -> Gate {
    let in_release = |pipeline: &str| i.plans.iter().any(|p| p.job.spec.pipeline == pipeline);
    let (fail, mut pass) = pii_findings(i.all_plans, i.graph, &in_release);
    if fail.is_empty() && pass.is_empty() {
        pass.push("no column of the release's schemas is classified pii".into());
    }
    Gate::of("PII policy", fail, pass)
}

/// The PII policy over the pipelines `in_release` says are judged (and every Silver or Gold
/// column of theirs that another pipeline's raw PII reaches): what fails it, and what passes
/// with how each PII column is protected. The promotion gate and the compliance report's PII
/// control are both this.
pub fn pii_findings(
    all_plans: &[JobPlan],
    graph: &Graph,
    in_release: &dyn Fn(&str) -> bool,
) -> (Vec<String>, Vec<String>) {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    let owner = |table: &str| {
        graph
            .datasets
            .get(table)
            .map(|d| d.pipeline.clone())
            .unwrap_or_default()
    };
    // Every pipeline of the project: a release's Gold may read another pipeline's column.
    for p in all_plans {
        let pipeline = &p.job.spec.pipeline;
        let bronze = p.job.bronze_table().to_string();
        let allow = p
            .job
            .spec
            .silver
            .as_ref()
            .map(|s| s.pii_allow.clone())
            .unwrap_or_default();
        for col in &p.schema.pii_columns() {
            let exposed: Vec<_> = raw_reach(graph, &bronze, col, &allow)
                .into_iter()
                .filter(|(t, _, _)| in_release(pipeline) || in_release(&owner(t)))
                .collect();
            if !in_release(pipeline) && exposed.is_empty() {
                continue;
            }
            for (table, c, layer) in &exposed {
                let why = if layer == "gold" {
                    format!("Gold {table}.{c} is computed from the raw PII column {bronze}.{col}: Gold must never expose raw PII; hash or mask `{col}` in silver.pii")
                } else {
                    format!("{table}.{c} keeps the PII column `{col}` raw: add `pii: {{ {col}: hash }}` (or mask, drop) to silver, or `pii_allow: {{ {col}: \"<reason>\" }}`")
                };
                fail.push(format!("{pipeline}: {why}"));
            }
            if exposed.is_empty() {
                pass.push(format!(
                    "{pipeline}: {bronze}.{col} (pii): {}",
                    protection(p, col)
                ));
            }
        }
        for (col, reason) in allow.iter().filter(|_| in_release(pipeline)) {
            if reason.trim().is_empty() {
                fail.push(format!(
                    "{pipeline}: silver.pii_allow.{col} needs a written reason"
                ));
            }
        }
    }
    (fail, pass)
}

/// How a PII column that reaches no Silver or Gold column in clear is kept from them.
fn protection(p: &JobPlan, col: &str) -> String {
    let silver = p.job.spec.silver.as_ref();
    match (
        silver.and_then(|s| s.pii_allow.get(col)),
        silver.and_then(|s| s.pii.get(col)),
    ) {
        (Some(reason), _) => format!("kept raw in Silver, allowed: {reason}"),
        (None, Some(a)) => format!("{a:?} before Silver").to_lowercase(),
        (None, None) => "never reaches Silver or Gold".into(),
    }
}

/// Every column of the project's tables that holds personal data in clear: each Bronze
/// column classified `pii`, the quarantine's `_record` of a pipeline that has one, and the
/// Silver and Gold columns computed from them without a `hash` or `mask` (allowed or not).
pub fn raw_pii_columns(plans: &[JobPlan], g: &Graph) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for p in plans {
        let bronze = p.job.bronze_table().to_string();
        let pii = p.schema.pii_columns();
        if !pii.is_empty() {
            out.insert((p.job.quarantine_table().to_string(), "_record".to_string()));
        }
        for col in pii {
            out.insert((bronze.clone(), col.clone()));
            let none = std::collections::BTreeMap::new();
            out.extend(
                raw_reach(g, &bronze, &col, &none)
                    .into_iter()
                    .map(|(t, c, _)| (t, c)),
            );
        }
    }
    out
}

/// The Silver and Gold columns computed from `bronze.col` through DIRECT edges that do not
/// mask it; a Silver column in `allow` is accepted there, but what it feeds is followed.
fn raw_reach(
    g: &Graph,
    bronze: &str,
    col: &str,
    allow: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String, String)> {
    let mut seen = BTreeSet::from([(bronze.to_string(), col.to_string())]);
    let mut queue = VecDeque::from([(bronze.to_string(), col.to_string())]);
    let mut out = Vec::new();
    while let Some((t, c)) = queue.pop_front() {
        for e in g.edges.iter().filter(|e| e.from.0 == t && e.from.1 == c) {
            let Some(to_col) = &e.to.1 else { continue };
            if e.transform.kind != Kind::Direct || e.transform.masking {
                continue;
            }
            let layer = g.datasets.get(&e.to.0).map_or("", |d| d.layer.as_str());
            if layer == "quarantine" {
                continue; // rejected records are kept whole, by design (docs/spec.md)
            }
            let node = (e.to.0.clone(), to_col.clone());
            if !seen.insert(node.clone()) {
                continue;
            }
            let allowed = layer == "silver" && allow.contains_key(to_col);
            if (layer == "silver" && !allowed) || layer == "gold" {
                out.push((node.0.clone(), node.1.clone(), layer.to_string()));
            }
            queue.push_back(node);
        }
    }
    out
}
