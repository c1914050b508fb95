//! The run's events as audit records ([`AuditSink`]).
//!
//! Records of state changes: a run's start and end, each table commit, catalog and schema
//! changes. Quarantines and drops are counted per rule and recorded with the run's end.
//! Records are buffered by `emit` and written by `flush`, which the run awaits right after
//! each commit and at its start and end; a failed write fails the run, and the records are
//! kept to be written by the next flush (the run's failure record).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::gaps::{self, Marker};
use super::record::{Entry, What};
use super::store::AuditLog;
use crate::env::Environment;
use crate::error::Result;
use crate::events::{EventSink, RunEvent};

/// Writes the events of runs to the environment's audit trail.
pub struct AuditSink {
    log: Arc<AuditLog>,
    env: Environment,
    state: Arc<Mutex<State>>,
    /// The task refreshing the markers of this process's runs (started with the first run).
    refresher: std::sync::OnceLock<()>,
    /// Serializes flushes, so records are written in the order they were emitted.
    flushing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    runs: HashMap<String, RunState>,
    pending: Vec<Pending>,
}

struct RunState {
    what: What,
    marker: Marker,
    quarantined: BTreeMap<String, u64>,
    dropped: BTreeMap<String, u64>,
    /// Per rule: its `on_fail`, rows checked and rows failing (summed over the run's batches).
    rules: BTreeMap<String, RuleTally>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
struct RuleTally {
    on_fail: String,
    checked: u64,
    failed: u64,
}

/// A record to write, and what to do with the run's marker once it is written.
struct Pending {
    entry: Entry,
    after: AfterWrite,
}

#[derive(Clone, Copy, PartialEq)]
enum AfterWrite {
    Nothing,
    /// The run started: recover dead runs first, then write its marker.
    OpenRun,
    /// The run committed: refresh its marker's liveness.
    TouchRun,
    /// The run ended: remove its marker.
    CloseRun,
}

impl AuditSink {
    pub fn new(log: Arc<AuditLog>, env: Environment) -> Self {
        Self {
            log,
            env,
            state: Arc::new(Mutex::new(State::default())),
            refresher: std::sync::OnceLock::new(),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn log(&self) -> &Arc<AuditLog> {
        &self.log
    }

    fn entry(&self, run_id: &str, action: &str, detail: serde_json::Value) -> Entry {
        let state = self.state.lock().expect("audit sink lock");
        Entry {
            action: action.to_string(),
            run_id: Some(run_id.to_string()),
            what: state
                .runs
                .get(run_id)
                .map(|r| r.what.clone())
                .unwrap_or_default(),
            detail,
            ..Default::default()
        }
    }

    fn push(&self, entry: Entry, after: AfterWrite) {
        self.state
            .lock()
            .expect("audit sink lock")
            .pending
            .push(Pending { entry, after });
    }

    fn started(&self, run_id: &str, e: &RunEvent) {
        let RunEvent::RunStarted {
            pipeline,
            spec_file,
            spec_sha256,
            schema,
            schema_sha256,
            started_at,
            bronze_table,
            quarantine_table,
            silver_table,
            gold_tables,
            parent_run_id,
            ..
        } = e
        else {
            return;
        };
        let what = What {
            pipeline: Some(pipeline.clone()),
            spec_file: Some(spec_file.clone()),
            spec_sha256: spec_sha256.clone(),
            schema: Some(schema.clone()),
            schema_sha256: Some(schema_sha256.clone()),
            ..Default::default()
        };
        let tables: Vec<String> = [bronze_table, quarantine_table]
            .into_iter()
            .chain(silver_table.as_ref())
            .chain(gold_tables.iter())
            .cloned()
            .collect();
        let marker = Marker::new(run_id, pipeline, started_at, &self.env, &tables);
        self.state.lock().expect("audit sink lock").runs.insert(
            run_id.to_string(),
            RunState {
                what,
                marker,
                quarantined: BTreeMap::new(),
                dropped: BTreeMap::new(),
                rules: BTreeMap::new(),
            },
        );
        let entry = self.entry(
            run_id,
            "run_started",
            json!({ "tables": tables, "parent_run_id": parent_run_id }),
        );
        self.push(entry, AfterWrite::OpenRun);
    }

    fn count(&self, run_id: &str, e: &RunEvent) {
        let mut state = self.state.lock().expect("audit sink lock");
        let Some(run) = state.runs.get_mut(run_id) else {
            return;
        };
        match e {
            RunEvent::RowsQuarantined {
                stage, rule, rows, ..
            } => {
                *run.quarantined
                    .entry(format!("{}:{rule}", stage.as_str()))
                    .or_default() += rows
            }
            RunEvent::RowsDropped { rule, rows, .. } => {
                *run.dropped.entry(rule.clone()).or_default() += rows
            }
            RunEvent::RuleOutcome {
                rule,
                on_fail,
                checked,
                failed,
                ..
            } => {
                let t = run.rules.entry(rule.clone()).or_default();
                t.on_fail = on_fail.to_string();
                t.checked += checked;
                t.failed += failed;
            }
            _ => {}
        }
    }

    fn ended(&self, run_id: &str, e: &RunEvent) {
        let (quarantined, dropped, rules) = {
            let state = self.state.lock().expect("audit sink lock");
            state.runs.get(run_id).map_or_else(Default::default, |r| {
                (r.quarantined.clone(), r.dropped.clone(), r.rules.clone())
            })
        };
        let (action, mut detail) = match e {
            RunEvent::RunFinished { duration_ms } => {
                ("run_finished", json!({ "duration_ms": duration_ms }))
            }
            RunEvent::RunFailed {
                error,
                error_class,
                duration_ms,
                committed,
            } => (
                "run_failed",
                json!({ "error": error, "error_class": error_class,
                        "duration_ms": duration_ms, "committed": committed }),
            ),
            _ => return,
        };
        detail["quarantined_by_rule"] = json!(quarantined);
        detail["dropped_by_rule"] = json!(dropped);
        detail["rules"] = json!(rules);
        detail["peak_rss_bytes"] = json!(super::record::peak_rss_bytes());
        let entry = self.entry(run_id, action, detail);
        self.push(entry, AfterWrite::CloseRun);
    }

    fn table_entry(
        &self,
        run_id: &str,
        action: &str,
        table: &str,
        version: Option<i64>,
        mut detail: serde_json::Value,
    ) -> Entry {
        if let Some(loc) = gaps::table_location(&self.env, table) {
            detail["location"] = json!(loc);
        }
        let mut entry = self.entry(run_id, action, detail);
        entry.table = Some(table.to_string());
        entry.version = version;
        entry
    }
}

#[async_trait::async_trait]
impl EventSink for AuditSink {
    fn emit(&self, run_id: &str, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { .. } => self.started(run_id, event),
            RunEvent::TableCommitted {
                table,
                table_id,
                layer,
                version,
                operation,
                rows,
                files,
                bytes,
            } => {
                let detail = json!({ "layer": layer, "operation": operation, "table_id": table_id,
                    "rows": rows, "files": files, "bytes": bytes });
                let e = self.table_entry(run_id, "table_committed", table, Some(*version), detail);
                self.push(e, AfterWrite::TouchRun);
            }
            RunEvent::CatalogUpdated {
                table,
                location,
                version,
                columns,
            } => {
                let detail = json!({ "catalog_location": location, "columns": columns });
                let e = self.table_entry(run_id, "catalog_updated", table, Some(*version), detail);
                self.push(e, AfterWrite::Nothing);
            }
            RunEvent::SchemaChanged {
                table,
                added,
                removed,
                retyped,
            } => {
                let detail = json!({ "added": added, "removed": removed, "retyped": retyped });
                let e = self.table_entry(run_id, "schema_changed", table, None, detail);
                self.push(e, AfterWrite::Nothing);
            }
            RunEvent::RowsQuarantined { .. }
            | RunEvent::RowsDropped { .. }
            | RunEvent::RuleOutcome { .. } => self.count(run_id, event),
            RunEvent::RunFinished { .. } | RunEvent::RunFailed { .. } => self.ended(run_id, event),
            _ => {}
        }
    }

    async fn flush(&self) -> Result<()> {
        let _one_at_a_time = self.flushing.lock().await;
        let pending = std::mem::take(&mut self.state.lock().expect("audit sink lock").pending);
        if pending.is_empty() {
            return Ok(());
        }
        if pending.iter().any(|p| p.after == AfterWrite::OpenRun) {
            self.start_refresher();
            let ours: Vec<String> = {
                let state = self.state.lock().expect("audit sink lock");
                state.runs.keys().cloned().collect()
            };
            // Recovering another run's records must not stop this one: the dead run's
            // marker stays, and the next run (or `audit verify`) sees the gap.
            if let Err(e) = gaps::recover(&self.log, &self.env, &ours).await {
                tracing::warn!(error = %e, "Could not record the commits of an interrupted run; will try again at the next run.");
            }
        }
        let entries: Vec<Entry> = pending.iter().map(|p| p.entry.clone()).collect();
        let (written, error) = self.log.append_partial(entries).await;
        let mut pending = pending;
        let rest = pending.split_off(written.len());
        for (p, record) in pending.iter().zip(&written) {
            self.after_write(p, record.seq).await?;
        }
        if let Some(e) = error {
            // The records not written are kept for the next flush (the run's failure record).
            let mut state = self.state.lock().expect("audit sink lock");
            let later = std::mem::take(&mut state.pending);
            state.pending = rest.into_iter().chain(later).collect();
            return Err(e);
        }
        Ok(())
    }
}

impl AuditSink {
    /// Refreshes the markers of this process's live runs every [`gaps::REFRESH_EVERY`], so
    /// that a long step without commits is not taken for a dead run by another host.
    fn start_refresher(&self) {
        self.refresher.get_or_init(|| {
            let (state, log) = (Arc::downgrade(&self.state), self.log.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(gaps::REFRESH_EVERY).await;
                    let Some(state) = state.upgrade() else { return };
                    let markers: Vec<gaps::Marker> = {
                        let mut s = state.lock().expect("audit sink lock");
                        s.runs
                            .values_mut()
                            .map(|r| {
                                r.marker.touch();
                                r.marker.clone()
                            })
                            .collect()
                    };
                    for m in markers {
                        if let Err(e) = gaps::write_marker(&log, &m).await {
                            tracing::warn!(error = %e, run_id = %m.run_id, "Could not refresh the run's audit marker.");
                        }
                    }
                }
            });
        });
    }

    async fn after_write(&self, p: &Pending, seq: u64) -> Result<()> {
        let run_id = p.entry.run_id.clone().unwrap_or_default();
        let marker = {
            let mut state = self.state.lock().expect("audit sink lock");
            let Some(run) = state.runs.get_mut(&run_id) else {
                return Ok(());
            };
            if p.after == AfterWrite::OpenRun {
                run.marker.seq = seq;
            }
            run.marker.touch();
            run.marker.clone()
        };
        match p.after {
            AfterWrite::Nothing => Ok(()),
            AfterWrite::OpenRun | AfterWrite::TouchRun => {
                gaps::write_marker(&self.log, &marker).await
            }
            AfterWrite::CloseRun => {
                self.state
                    .lock()
                    .expect("audit sink lock")
                    .runs
                    .remove(&run_id);
                // A failed run may have committed without recording it (an error right
                // after a commit): record those from the Delta log before letting go.
                if p.entry.action == "run_failed" {
                    gaps::record_unrecorded(&self.log, &self.env, &marker, false).await?;
                }
                gaps::remove_marker(&self.log, &run_id).await
            }
        }
    }
}
