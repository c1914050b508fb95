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

mod infra;
mod pii;
mod runs;
mod schema;

use infra::infrastructure;
use pii::pii_policy;
pub use pii::{pii_findings, raw_pii_columns};
use runs::{performance, quality};
use schema::schema_compatibility;

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
