//! The gates a release must pass to be promoted, each with its evidence.

use std::collections::{BTreeSet, HashMap, VecDeque};

use arrow::datatypes::SchemaRef;
use serde::Serialize;

use super::history::{self, RunSummary};
use super::release::{Release, ReleasedPipeline};
use super::GatePolicy;
use crate::audit::Record;
use crate::compat;
use crate::env::{Environment, LakeRoot};
use crate::lineage::{Graph, Kind};
use crate::plan::JobPlan;
use crate::schema::DatasetSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    /// Not configured for the target (e.g. no performance budget).
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub name: &'static str,
    pub status: Status,
    /// One line per pipeline or item checked.
    pub evidence: Vec<String>,
}

impl Gate {
    fn of(name: &'static str, failures: Vec<String>, passes: Vec<String>) -> Self {
        let status = if failures.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        };
        Self {
            name,
            status,
            evidence: failures.into_iter().chain(passes).collect(),
        }
    }
}

/// What the gates read.
pub struct Inputs<'a> {
    pub release: &'a Release,
    pub plans: &'a [JobPlan],
    pub graph: &'a Graph,
    pub from: &'a Environment,
    pub to: &'a Environment,
    /// Every spec of the project (the release's and the others), planned together: the PII
    /// gate follows personal data across pipelines.
    pub all_plans: &'a [JobPlan],
    /// The `from` environment's audit trail.
    pub from_records: &'a [Record],
    /// The target's tables as they are now (name → schema), from its lake.
    pub target_tables: &'a HashMap<String, SchemaRef>,
    /// Earlier versions of each pinned dataset (for `*_transitive`).
    pub earlier_schemas: &'a HashMap<String, Vec<DatasetSchema>>,
    /// Whether the target's lake and catalog answered, with what they said if not.
    pub reachable: &'a [(String, Result<(), String>)],
}

pub fn check(i: &Inputs<'_>) -> Vec<Gate> {
    let tested: Vec<(&ReleasedPipeline, Option<RunSummary>)> = i
        .release
        .pipelines
        .iter()
        .map(|r| (r, last_tested_run(i.from_records, r)))
        .collect();
    vec![
        tested_upstream(i, &tested),
        schema_compatibility(i),
        quality(i, &tested),
        pii_policy(i),
        performance(i, &tested),
        infrastructure(i),
    ]
}

/// The newest successful run in `from` of exactly this spec and schema.
fn last_tested_run(records: &[Record], r: &ReleasedPipeline) -> Option<RunSummary> {
    history::runs(records, &r.pipeline)
        .into_iter()
        .rev()
        .find(|run| run.succeeded() && run.matches(r))
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

fn tested_upstream(i: &Inputs<'_>, tested: &[(&ReleasedPipeline, Option<RunSummary>)]) -> Gate {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    // When `from` is gated itself, the release must be what is promoted there: a run there
    // with --break-glass is not a test of a promoted release.
    if let Some(before) = &i.from.promote_from {
        match history::promotions(i.from_records) {
            Err(e) => fail.push(e),
            Ok(promotions) => {
                let current = history::current(&promotions);
                for (r, _) in tested {
                    let promoted = current.get(&r.pipeline).map(|(_, p)| *p);
                    if promoted.is_none_or(|p| {
                        p.spec_sha256 != r.spec_sha256 || p.schema_sha256 != r.schema_sha256
                    }) {
                        fail.push(format!(
                            "{}: this spec and schema are not what is promoted to {} (from {before}); \
                             promote them there first (runs with --break-glass do not count)",
                            r.pipeline, i.from.name
                        ));
                    }
                }
            }
        }
    }
    for (r, run) in tested {
        match run {
            Some(run) => pass.push(format!(
                "{}: run {} finished in {} at {} with this spec ({}) and schema {} ({})",
                r.pipeline,
                short(&run.run_id),
                i.from.name,
                run.ended_at,
                short(&r.spec_sha256),
                r.schema,
                short(&r.schema_sha256)
            )),
            None => {
                let runs = history::runs(i.from_records, &r.pipeline);
                let last = runs.last().map_or("it never ran there".to_string(), |l| {
                    format!(
                        "its last run there ({}, {}) used spec {} and schema {}",
                        l.started_at,
                        if l.end.is_empty() {
                            "no end recorded"
                        } else {
                            &l.end
                        },
                        short(l.spec_sha256.as_deref().unwrap_or("?")),
                        l.schema.as_deref().unwrap_or("?")
                    )
                });
                fail.push(format!(
                    "{}: no successful run in {} with spec {} and schema {} ({}); {last}: \
                     run it there first (medallion run {} --env {})",
                    r.pipeline,
                    i.from.name,
                    short(&r.spec_sha256),
                    r.schema,
                    short(&r.schema_sha256),
                    r.spec_file,
                    i.from.name
                ))
            }
        }
    }
    Gate::of("tested upstream", fail, pass)
}

fn schema_compatibility(i: &Inputs<'_>) -> Gate {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for p in i.plans {
        let ds = &p.schema;
        let mode = ds.compatibility;
        let name = format!(
            "{} ({}, {})",
            p.job.spec.pipeline,
            ds.reference(),
            mode_name(mode)
        );
        if mode == crate::schema::Compatibility::None {
            pass.push(format!("{name}: not checked (compatibility: none)"));
            continue;
        }
        let mut problems = Vec::new();
        let bronze = p.job.bronze_table().to_string();
        if let Some(current) = i.target_tables.get(&bronze) {
            problems.extend(against(&p.job.file, &bronze, current, ds, mode));
        }
        if let (Some(silver), Some(out)) = (p.job.silver_table(), &p.silver_output) {
            let silver = silver.to_string();
            if let Some(current) = i.target_tables.get(&silver) {
                problems.extend(
                    compat::check_silver(&p.job.file, &silver, current, out, ds)
                        .into_iter()
                        .map(|e| e.message),
                );
            }
        }
        if mode.transitive() {
            for old in i.earlier_schemas.get(&ds.dataset).into_iter().flatten() {
                let as_table = old.raw_schema();
                let label = format!("{} (version {})", ds.dataset, old.version);
                problems.extend(against(&p.job.file, &label, &as_table, ds, mode));
            }
        }
        if problems.is_empty() {
            pass.push(format!(
                "{name}: compatible with the tables in {}",
                i.to.name
            ));
        } else {
            fail.extend(problems.into_iter().map(|m| format!("{name}: {m}")));
        }
    }
    Gate::of("schema compatibility", fail, pass)
}

fn mode_name(m: crate::schema::Compatibility) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The pinned schema's raw columns against a table (or an earlier version) under `mode`.
fn against(
    file: &str,
    table: &str,
    current: &SchemaRef,
    ds: &DatasetSchema,
    mode: crate::schema::Compatibility,
) -> Vec<String> {
    let mut out = Vec::new();
    if mode.backward() {
        out.extend(
            compat::check_bronze(file, table, current, ds)
                .into_iter()
                .map(|e| e.message),
        );
    }
    if mode.forward() {
        let pinned = ds.raw_schema();
        for f in current
            .fields()
            .iter()
            .filter(|f| !f.name().starts_with('_'))
        {
            match pinned.field_with_name(f.name()) {
                Err(_) => out.push(format!(
                    "forward: column `{}` of {table} is dropped or renamed; readers of the old schema need it",
                    f.name()
                )),
                Ok(n) if !compat::widens(n.data_type(), f.data_type()) => out.push(format!(
                    "forward: column `{}` of {table} changes from {} to {}, which readers of the old schema cannot hold",
                    f.name(),
                    crate::catalog::hive_type(f.data_type()),
                    crate::catalog::hive_type(n.data_type())
                )),
                Ok(_) => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The runs of the release in `from` that read rows (the rules met data), each with the
/// rows its follow runs (a stream's Silver and Gold, `parent_run_id`) quarantined.
fn judged_runs(records: &[Record], r: &ReleasedPipeline) -> Vec<RunSummary> {
    let runs: Vec<RunSummary> = history::runs(records, &r.pipeline)
        .into_iter()
        .filter(|x| x.matches(r))
        .collect();
    let mut judged: Vec<RunSummary> = runs
        .iter()
        .filter(|x| x.succeeded() && x.bronze_rows + x.bronze_quarantined > 0)
        .cloned()
        .collect();
    for j in &mut judged {
        let children = runs
            .iter()
            .filter(|c| c.parent_run_id.as_deref() == Some(j.run_id.as_str()));
        for c in children {
            j.quarantined += c.quarantined;
            j.failed_fail_rules
                .extend(c.failed_fail_rules.iter().cloned());
        }
    }
    judged
}

fn quality(i: &Inputs<'_>, tested: &[(&ReleasedPipeline, Option<RunSummary>)]) -> Gate {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for (r, _) in tested {
        let plan = i.plans.iter().find(|p| p.job.spec.pipeline == r.pipeline);
        // A pipeline may set a stricter limit than the environment's, never a looser one.
        let own = plan
            .and_then(|p| p.job.spec.gates.as_ref())
            .and_then(|g| g.max_quarantine_ratio);
        let limit = match (own, i.to.gates.max_quarantine_ratio) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let failed_runs: Vec<String> = history::runs(i.from_records, &r.pipeline)
            .into_iter()
            .filter(|x| x.matches(r) && !x.failed_fail_rules.is_empty())
            .map(|x| format!("{} ({})", short(&x.run_id), x.failed_fail_rules.join(", ")))
            .collect();
        if !failed_runs.is_empty() {
            fail.push(format!(
                "{}: `on_fail: fail` rules failed in {} runs of this release in {}: {}",
                r.pipeline,
                failed_runs.len(),
                i.from.name,
                failed_runs.join("; ")
            ));
        }
        let judged = judged_runs(i.from_records, r);
        if judged.is_empty() {
            fail.push(format!(
                "{}: no run of this release in {} read any rows, so its rules were never applied to data; \
                 run it on new input there (its runs so far found no new files or messages)",
                r.pipeline, i.from.name
            ));
            continue;
        }
        let quarantined: u64 = judged.iter().map(|x| x.quarantined).sum();
        let input: u64 = judged
            .iter()
            .map(|x| x.bronze_rows + x.bronze_quarantined)
            .sum();
        let ratio = quarantined as f64 / input as f64;
        let line = format!(
            "{}: {quarantined} of {input} input rows quarantined ({:.2}%) in {} run(s) of this release in {}",
            r.pipeline,
            ratio * 100.0,
            judged.len(),
            i.from.name
        );
        match limit {
            Some(max) if ratio > max => {
                fail.push(format!("{line}: over the limit of {:.2}%", max * 100.0))
            }
            Some(max) => pass.push(format!("{line}: within {:.2}%", max * 100.0)),
            None => pass.push(format!("{line}: no limit set")),
        }
    }
    Gate::of("quality", fail, pass)
}

/// Every `classification: pii` column is hashed, masked or dropped before Silver, or kept with
/// a written reason (`silver.pii_allow`); no Gold column is computed from raw PII.
fn pii_policy(i: &Inputs<'_>) -> Gate {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    let in_release = |pipeline: &str| i.plans.iter().any(|p| p.job.spec.pipeline == pipeline);
    let owner = |table: &str| {
        i.graph
            .datasets
            .get(table)
            .map(|d| d.pipeline.clone())
            .unwrap_or_default()
    };
    // Every pipeline of the project: a release's Gold may read another pipeline's column.
    for p in i.all_plans {
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
            let exposed: Vec<_> = raw_reach(i.graph, &bronze, col, &allow)
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
                let how = match (
                    allow.get(col),
                    p.job.spec.silver.as_ref().and_then(|s| s.pii.get(col)),
                ) {
                    (Some(reason), _) => format!("kept raw in Silver, allowed: {reason}"),
                    (None, Some(a)) => format!("{a:?} before Silver").to_lowercase(),
                    (None, None) => "never reaches Silver or Gold".into(),
                };
                pass.push(format!("{pipeline}: {bronze}.{col} (pii): {how}"));
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
    if fail.is_empty() && pass.is_empty() {
        pass.push("no column of the release's schemas is classified pii".into());
    }
    Gate::of("PII policy", fail, pass)
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

fn performance(i: &Inputs<'_>, tested: &[(&ReleasedPipeline, Option<RunSummary>)]) -> Gate {
    let policy: &GatePolicy = &i.to.gates;
    if policy.max_duration_s.is_none() && policy.max_peak_memory_mib.is_none() {
        return Gate {
            name: "performance",
            status: Status::Skip,
            evidence: vec![format!(
                "no budget set for {} (gates.max_duration_s, gates.max_peak_memory_mib)",
                i.to.name
            )],
        };
    }
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for (r, _) in tested {
        // The runs that did work (read rows); the slowest and the largest of them.
        let judged = judged_runs(i.from_records, r);
        if judged.is_empty() {
            fail.push(format!(
                "{}: no run of this release read rows: nothing to measure",
                r.pipeline
            ));
            continue;
        }
        if let Some(max) = policy.max_duration_s {
            let slowest = judged
                .iter()
                .max_by_key(|x| x.duration_ms.unwrap_or(u64::MAX))
                .expect("not empty");
            let s = slowest.duration_ms.unwrap_or(u64::MAX) as f64 / 1000.0;
            let line = format!(
                "{}: the slowest of {} run(s), {}, took {s:.1} s (budget {max} s)",
                r.pipeline,
                judged.len(),
                short(&slowest.run_id)
            );
            if s > max {
                fail.push(line)
            } else {
                pass.push(line)
            }
        }
        if let Some(max) = policy.max_peak_memory_mib {
            match judged
                .iter()
                .map(|x| x.peak_rss_bytes)
                .collect::<Option<Vec<u64>>>()
            {
                Some(peaks) => {
                    let mib = peaks.into_iter().max().unwrap_or(0) / (1024 * 1024);
                    let line = format!("{}: peak memory {mib} MiB (budget {max} MiB)", r.pipeline);
                    if mib > max {
                        fail.push(line)
                    } else {
                        pass.push(line)
                    }
                }
                None => fail.push(format!("{}: a run recorded no peak memory", r.pipeline)),
            }
        }
    }
    Gate::of("performance", fail, pass)
}

/// The target's lake and catalog answer, and its key is its own (on S3, a key is set and no
/// other environment of the file uses it).
fn infrastructure(i: &Inputs<'_>) -> Gate {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for (what, r) in i.reachable {
        match r {
            Ok(()) => pass.push(format!("{what}: reachable")),
            Err(e) => fail.push(format!("{what}: {e}")),
        }
    }
    match (&i.to.lake, &i.to.kms_key) {
        (LakeRoot::S3 { .. }, None) => fail.push(format!(
            "{} has an S3 lake and no kms_key: set the environment's own key",
            i.to.name
        )),
        (_, Some(k)) if i.to.other_kms_keys.iter().any(|(_, o)| o == k) => {
            let others: Vec<&str> =
                i.to.other_kms_keys
                    .iter()
                    .filter(|(_, o)| o == k)
                    .map(|(n, _)| n.as_str())
                    .collect();
            fail.push(format!(
                "{} uses the key of {} ({k}): each environment needs its own key",
                i.to.name,
                others.join(", ")
            ))
        }
        (_, Some(k)) => pass.push(format!("key {k} is {}'s own", i.to.name)),
        (LakeRoot::Local(_), None) => {
            pass.push(format!("{}: local lake, no key to check", i.to.name))
        }
    }
    Gate::of("infrastructure", fail, pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{What, Who};

    fn record(seq: u64, action: &str, run: &str, detail: serde_json::Value) -> Record {
        Record {
            seq,
            prev: String::new(),
            at: format!("2026-12-01T00:00:{seq:02}Z"),
            environment: "staging".into(),
            action: action.into(),
            run_id: Some(run.into()),
            table: None,
            version: None,
            who: Who::default(),
            what: What {
                pipeline: Some("clicks".into()),
                spec_sha256: Some("s".into()),
                schema_sha256: Some("h".into()),
                ..Default::default()
            },
            detail,
        }
    }

    /// A stream's run commits Bronze; its Silver follow runs quarantine rows: the ratio counts
    /// both, on the stream run's input.
    #[test]
    fn a_streams_follow_runs_count_in_its_quarantine_ratio() {
        let r = ReleasedPipeline {
            pipeline: "clicks".into(),
            spec_file: "j.yaml".into(),
            spec_sha256: "s".into(),
            schema: "clicks@1".into(),
            schema_sha256: "h".into(),
            spec_text: String::new(),
            schema_text: String::new(),
        };
        let records = vec![
            record(0, "run_started", "stream", serde_json::json!({})),
            record(
                1,
                "table_committed",
                "stream",
                serde_json::json!({ "layer": "bronze", "rows": 100 }),
            ),
            record(
                2,
                "run_started",
                "follow",
                serde_json::json!({ "parent_run_id": "stream" }),
            ),
            record(
                3,
                "run_finished",
                "follow",
                serde_json::json!({
                "quarantined_by_rule": { "silver:schema": 7 },
                "rules": { "must": { "on_fail": "fail", "checked": 93, "failed": 0 } } }),
            ),
            record(
                4,
                "run_finished",
                "stream",
                serde_json::json!({ "quarantined_by_rule": { "bronze:parse": 3 } }),
            ),
        ];
        let judged = judged_runs(&records, &r);
        assert_eq!(judged.len(), 1);
        assert_eq!(judged[0].run_id, "stream");
        assert_eq!(
            judged[0].quarantined, 10,
            "the follow run's 7 and the stream's 3"
        );
        assert_eq!(judged[0].bronze_rows + judged[0].bronze_quarantined, 103);
    }
}
