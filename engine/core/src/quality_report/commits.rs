//! The newest commit of each table made by a pipeline run, from the audit trail: the
//! `table_committed` records of runs with a `run_started` record. Commits by maintenance,
//! erasures, table restores, backups' restores and data promotions (none of which starts a
//! run) are not new data; nor is Gold recomputed by an erasure (a run whose parent is the
//! erasure, not a pipeline run).

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::Record;

/// A table's newest pipeline commit: the record's time (RFC 3339) and the Delta version.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineCommit {
    pub at: String,
    pub version: Option<i64>,
}

/// Per table name (as the trail names it), its newest commit by a pipeline run.
pub fn newest(records: &[Record]) -> BTreeMap<String, PipelineCommit> {
    let started: BTreeSet<&str> = records
        .iter()
        .filter(|r| r.action == "run_started")
        .filter_map(|r| r.run_id.as_deref())
        .collect();
    let pipeline_runs: BTreeSet<&str> = records
        .iter()
        .filter(|r| r.action == "run_started")
        .filter(|r| match r.detail["parent_run_id"].as_str() {
            None => true,
            Some(p) => started.contains(p),
        })
        .filter_map(|r| r.run_id.as_deref())
        .collect();
    let mut out = BTreeMap::new();
    for r in records.iter().filter(|r| r.action == "table_committed") {
        let (Some(run), Some(table)) = (r.run_id.as_deref(), &r.table) else {
            continue;
        };
        if pipeline_runs.contains(run) {
            let c = PipelineCommit {
                at: r.at.clone(),
                version: r.version,
            };
            out.insert(table.clone(), c);
        }
    }
    out
}
