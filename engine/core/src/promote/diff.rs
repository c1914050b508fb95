//! What a release changes in the target: per pipeline against what is promoted there now
//! (from the promotion records, which keep the spec texts), and per table against the
//! target's tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::datatypes::SchemaRef;
use serde::Serialize;

use super::history::Promotion;
use super::release::{Release, ReleasedPipeline};
use crate::catalog::hive_type;
use crate::compat;
use crate::plan::JobPlan;
use crate::spec::{BuiltinCheck, Check, JobSpec, RuleSpec};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Diff {
    pub pipelines: Vec<PipelineChange>,
    pub tables: Vec<TableChange>,
    /// Gold tables the next run in the target recomputes (their SQL or an input changed).
    pub gold_recomputed: Vec<String>,
    /// The target's environments.yaml entry changed since the last promotion (old → new).
    pub environment: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineChange {
    pub pipeline: String,
    /// `new`, `changed` or `unchanged`.
    pub status: String,
    /// One line per change; SQL changes as unified diffs (several lines).
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableChange {
    pub table: String,
    /// `create`, `evolve` or `no longer produced`.
    pub action: String,
    pub changes: Vec<String>,
}

pub fn diff(
    release: &Release,
    plans: &[JobPlan],
    promoted: &[Promotion],
    target_tables: &HashMap<String, SchemaRef>,
    target_retention_days: u32,
) -> Diff {
    let current = super::history::current(promoted);
    let mut d = Diff::default();
    for r in &release.pipelines {
        let old = current.get(&r.pipeline).map(|(_, p)| *p);
        d.pipelines.push(pipeline(r, old));
    }
    if let Some(last) = promoted.last() {
        let mut lines = Vec::new();
        if last.environment_sha256 != release.environment_sha256 {
            lines.push(format!(
                "entry changed ({} → {})",
                &last.environment_sha256[..12.min(last.environment_sha256.len())],
                &release.environment_sha256[..12.min(release.environment_sha256.len())]
            ));
        }
        if let Some(old) = last.retention_days.filter(|d| *d != target_retention_days) {
            lines.push(format!("retention_days {old} → {target_retention_days}"));
        }
        if !lines.is_empty() {
            d.environment = Some(lines.join("; "));
        }
    }
    for p in plans {
        d.tables.extend(tables(p, target_tables));
        let old = current.get(&p.job.spec.pipeline).map(|(_, r)| *r);
        d.tables.extend(dropped_tables(p, old));
        let changed = d
            .pipelines
            .iter()
            .any(|c| c.pipeline == p.job.spec.pipeline && c.status != "unchanged");
        if changed {
            d.gold_recomputed
                .extend(p.gold.iter().map(|g| g.table.to_string()));
        }
    }
    d
}

fn parse(r: &ReleasedPipeline) -> Option<JobSpec> {
    crate::yaml::parse::<JobSpec>(&r.spec_file, &r.spec_text).ok()
}

fn pipeline(new: &ReleasedPipeline, old: Option<&ReleasedPipeline>) -> PipelineChange {
    let status = |s: &str, changes| PipelineChange {
        pipeline: new.pipeline.clone(),
        status: s.into(),
        changes,
    };
    let Some(old) = old else {
        return status(
            "new",
            vec![format!("spec {} ({})", new.spec_file, new.schema)],
        );
    };
    if old.spec_sha256 == new.spec_sha256 && old.schema_sha256 == new.schema_sha256 {
        return status("unchanged", Vec::new());
    }
    let mut changes = Vec::new();
    if old.schema != new.schema || old.schema_sha256 != new.schema_sha256 {
        changes.push(format!("schema {} → {}", old.schema, new.schema));
    }
    match (parse(old), parse(new)) {
        (Some(a), Some(b)) => {
            changes.extend(spec_changes(&a, &b));
            changes.extend(other_changes(&old.spec_text, &new.spec_text));
        }
        _ => changes.push(unified("spec", &old.spec_text, &new.spec_text)),
    }
    if changes.is_empty() {
        changes.push("spec file changed (comments or layout only)".into());
    }
    status("changed", changes)
}

/// Rules, SQL, PII and dedupe changes between two specs of a pipeline.
pub fn spec_changes(a: &JobSpec, b: &JobSpec) -> Vec<String> {
    let mut out = Vec::new();
    let (sa, sb) = (a.silver.as_ref(), b.silver.as_ref());
    let rules = |s: Option<&crate::spec::SilverSpec>| -> BTreeMap<String, RuleSpec> {
        s.map(|s| {
            s.rules
                .iter()
                .map(|r| (r.name.clone(), r.clone()))
                .collect()
        })
        .unwrap_or_default()
    };
    let (ra, rb) = (rules(sa), rules(sb));
    for (name, r) in &rb {
        match ra.get(name) {
            None => out.push(format!(
                "+ rule {name}: {} (on_fail {})",
                check(&r.check),
                r.on_fail
            )),
            Some(o) if check(&o.check) != check(&r.check) || o.on_fail != r.on_fail => {
                out.push(format!(
                    "~ rule {name}: {} (on_fail {}) → {} (on_fail {})",
                    check(&o.check),
                    o.on_fail,
                    check(&r.check),
                    r.on_fail
                ))
            }
            Some(_) => {}
        }
    }
    for (name, r) in &ra {
        if !rb.contains_key(name) {
            out.push(format!(
                "- rule {name}: {} (on_fail {})",
                check(&r.check),
                r.on_fail
            ));
        }
    }
    let sql =
        |s: Option<&crate::spec::SilverSpec>| s.and_then(|s| s.sql.clone()).unwrap_or_default();
    if sql(sa) != sql(sb) {
        out.push(unified("silver.sql", &sql(sa), &sql(sb)));
    }
    let pii = |s: Option<&crate::spec::SilverSpec>| {
        s.map(|s| {
            s.pii
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v:?}").to_lowercase()))
                .collect()
        })
        .unwrap_or_else(BTreeMap::<String, String>::new)
    };
    out.extend(map_changes("pii", &pii(sa), &pii(sb)));
    let allow =
        |s: Option<&crate::spec::SilverSpec>| s.map(|s| s.pii_allow.clone()).unwrap_or_default();
    out.extend(map_changes("pii_allow", &allow(sa), &allow(sb)));
    let dedupe = |s: Option<&crate::spec::SilverSpec>| {
        s.and_then(|s| s.dedupe.as_ref()).map(|d| {
            format!(
                "keys [{}], latest_by {}",
                d.keys.join(", "),
                d.latest_by.as_deref().unwrap_or("arrival")
            )
        })
    };
    if dedupe(sa) != dedupe(sb) {
        out.push(format!(
            "~ dedupe: {} → {}",
            dedupe(sa).unwrap_or("none".into()),
            dedupe(sb).unwrap_or("none".into())
        ));
    }
    let gold = |s: &JobSpec| -> BTreeMap<String, String> {
        s.gold
            .iter()
            .map(|g| (g.table.clone(), g.sql.clone()))
            .collect()
    };
    let (ga, gb) = (gold(a), gold(b));
    for (t, q) in &gb {
        match ga.get(t) {
            None => out.push(format!("+ gold {t}")),
            Some(o) if o != q => out.push(unified(&format!("gold {t}"), o, q)),
            Some(_) => {}
        }
    }
    for t in ga.keys().filter(|t| !gb.contains_key(*t)) {
        out.push(format!("- gold {t}"));
    }
    out
}

/// Every other field of the two specs (source, gates, table names, owner, ...), by path:
/// what [`spec_changes`] does not show is still shown.
fn other_changes(old: &str, new: &str) -> Vec<String> {
    const SHOWN: [&str; 6] = [
        "silver.rules",
        "silver.sql",
        "silver.pii",
        "silver.pii_allow",
        "silver.dedupe",
        "gold",
    ];
    let flat = |text: &str| -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Ok(v) = serde_norway::from_str::<serde_json::Value>(text) {
            flatten("", &v, &mut out);
        }
        out.retain(|k, _| {
            !SHOWN.iter().any(|s| {
                k == s || k.starts_with(&format!("{s}.")) || k.starts_with(&format!("{s}["))
            })
        });
        out
    };
    map_changes("", &flat(old), &flat(new))
        .into_iter()
        .map(|l| l.replacen("  ", " ", 1))
        .collect()
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(&join(k), x, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

fn map_changes(
    what: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (a.get(k), b.get(k)) {
            (None, Some(v)) => Some(format!("+ {what} {k}: {v}")),
            (Some(v), None) => Some(format!("- {what} {k}: {v}")),
            (Some(x), Some(y)) if x != y => Some(format!("~ {what} {k}: {x} → {y}")),
            _ => None,
        })
        .collect()
}

/// A unified diff of two texts, headed by what they are.
pub fn unified(what: &str, old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let body = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("{what} (promoted)"), &format!("{what} (release)"))
        .to_string();
    format!("~ {what}:\n{}", body.trim_end())
}

/// A rule's check as one line.
pub fn check(c: &Check) -> String {
    match c {
        Check::Sql(s) | Check::Builtin(BuiltinCheck::Sql(s)) => s.trim().to_string(),
        Check::Builtin(b) => match b {
            BuiltinCheck::NotNull(c) => format!("not_null {c}"),
            BuiltinCheck::Unique(cols) => format!("unique [{}]", cols.columns().join(", ")),
            BuiltinCheck::Between(x) => format!(
                "between {} {}..{}",
                x.column,
                x.min.as_ref().map_or(String::new(), |v| v.sql()),
                x.max.as_ref().map_or(String::new(), |v| v.sql())
            ),
            BuiltinCheck::AcceptedValues(x) => format!(
                "accepted_values {} [{}]",
                x.column,
                x.values
                    .iter()
                    .map(|v| v.sql())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            BuiltinCheck::Regex(x) => format!("regex {} {}", x.column, x.pattern),
            BuiltinCheck::RowCount(x) => format!(
                "row_count {}..{}",
                x.min.map_or(String::new(), |v| v.to_string()),
                x.max.map_or(String::new(), |v| v.to_string())
            ),
            BuiltinCheck::PiiScan(x) => format!(
                "pii_scan [{}] detectors [{}]",
                x.columns.join(", "),
                x.detectors.join(", ")
            ),
            BuiltinCheck::Sql(_) => unreachable!("matched above"),
        },
    }
}

/// The release's tables against the target's: created, or columns added / widened / changed.
fn tables(p: &JobPlan, target: &HashMap<String, SchemaRef>) -> Vec<TableChange> {
    let mut out = Vec::new();
    for (name, schema) in p.output_schemas() {
        let Some(current) = target.get(&name) else {
            out.push(TableChange {
                table: name,
                action: "create".into(),
                changes: vec![format!("{} columns", schema.fields().len())],
            });
            continue;
        };
        let mut changes = Vec::new();
        for f in schema.fields() {
            match current.field_with_name(f.name()) {
                Err(_) => changes.push(format!(
                    "+ column {} {}",
                    f.name(),
                    hive_type(f.data_type())
                )),
                // Compared as stored (a query's UInt64 is a Delta `long`, as the table has it).
                Ok(c) if hive_type(c.data_type()) != hive_type(f.data_type()) => {
                    let how = if compat::widens(c.data_type(), f.data_type()) {
                        "widens"
                    } else {
                        "changes"
                    };
                    changes.push(format!(
                        "~ column {} {how}: {} → {}",
                        f.name(),
                        hive_type(c.data_type()),
                        hive_type(f.data_type())
                    ))
                }
                Ok(_) => {}
            }
        }
        for c in current.fields() {
            if schema.field_with_name(c.name()).is_err() {
                changes.push(format!(
                    "- column {} (no longer written; kept in the table)",
                    c.name()
                ));
            }
        }
        if !changes.is_empty() {
            out.push(TableChange {
                table: name,
                action: "evolve".into(),
                changes,
            });
        }
    }
    out
}

/// Tables the promoted spec of the pipeline produced that the release's does not.
fn dropped_tables(p: &JobPlan, old: Option<&ReleasedPipeline>) -> Vec<TableChange> {
    let Some(old) = old.and_then(parse) else {
        return Vec::new();
    };
    let new: BTreeSet<String> = p
        .job
        .output_tables()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let old_job = crate::spec::Job {
        file: String::new(),
        spec: old,
        content_sha256: None,
    };
    old_job
        .output_tables()
        .into_iter()
        .map(|t| t.to_string())
        .filter(|t| !new.contains(t))
        .map(|t| TableChange {
            table: t,
            action: "no longer produced".into(),
            changes: vec![
                "the table stays in the target; nothing writes it after the promotion".into(),
            ],
        })
        .collect()
}
