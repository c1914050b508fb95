//! The run's events as OpenLineage RunEvents ([`LineageSink`]): START when a run starts,
//! RUNNING for a stream at most every `running_interval` (after a Bronze commit), COMPLETE
//! or FAIL at its end with what it committed (outputStatistics) and how its rules went
//! (dataQuality facets). Lineage never fails a run: a transport error is logged and counted.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::openlineage::{self as ol, JobTemplate};
use super::transport::{FileTransport, HttpTransport};
use crate::events::{EventSink, RunEvent};

/// Emits OpenLineage events for the runs of the pipelines it has templates of.
pub struct LineageSink {
    templates: HashMap<String, JobTemplate>,
    file: FileTransport,
    http: Option<Arc<HttpTransport>>,
    running_interval: Duration,
    runs: Mutex<HashMap<String, RunState>>,
    /// Events built but not written to the file yet (written by `flush`).
    pending: Mutex<Vec<(String, Value)>>,
    /// Events the file transport failed to write.
    pub file_failures: AtomicU64,
}

struct RunState {
    pipeline: String,
    /// The run this one is part of (ParentRunFacet).
    parent: Option<String>,
    committed: BTreeMap<String, (u64, u64, u64)>,
    rules: BTreeMap<String, (u64, u64)>,
    rows_read: u64,
    last_running: Option<Instant>,
}

impl LineageSink {
    pub fn new(
        templates: Vec<JobTemplate>,
        file: FileTransport,
        http: Option<Arc<HttpTransport>>,
        running_interval: Duration,
    ) -> Self {
        Self {
            templates: templates
                .into_iter()
                .map(|t| (t.pipeline.clone(), t))
                .collect(),
            file,
            http,
            running_interval,
            runs: Mutex::new(HashMap::new()),
            pending: Mutex::new(Vec::new()),
            file_failures: AtomicU64::new(0),
        }
    }

    pub fn http(&self) -> Option<&Arc<HttpTransport>> {
        self.http.as_ref()
    }

    fn send(&self, run_id: &str, event: Value) {
        if let Some(h) = &self.http {
            h.send(event.clone());
        }
        self.pending
            .lock()
            .expect("lineage lock")
            .push((run_id.to_string(), event));
    }

    fn started(&self, run_id: &str, pipeline: &str, parent: Option<&str>) {
        let Some(t) = self.templates.get(pipeline) else {
            return;
        };
        self.runs.lock().expect("lineage lock").insert(
            run_id.to_string(),
            RunState {
                pipeline: pipeline.to_string(),
                parent: parent.map(str::to_string),
                committed: BTreeMap::new(),
                rules: BTreeMap::new(),
                rows_read: 0,
                last_running: None,
            },
        );
        let e = ol::event(
            t,
            "START",
            run_id,
            ol::run_facets(None, parent, t),
            t.inputs.values().cloned().collect(),
            t.outputs.values().cloned().collect(),
        );
        self.send(run_id, e);
    }

    /// A stream's RUNNING event after a Bronze commit, at most every `running_interval`.
    fn running(&self, run_id: &str) {
        let (t, outputs) = {
            let mut runs = self.runs.lock().expect("lineage lock");
            let Some(r) = runs.get_mut(run_id) else {
                return;
            };
            if r.last_running
                .is_some_and(|l| l.elapsed() < self.running_interval)
            {
                return;
            }
            r.last_running = Some(Instant::now());
            let Some(t) = self.templates.get(&r.pipeline) else {
                return;
            };
            (t.clone(), self.outputs(t, r))
        };
        let e = ol::event(
            &t,
            "RUNNING",
            run_id,
            ol::run_facets(None, None, &t),
            vec![],
            outputs,
        );
        self.send(run_id, e);
    }

    fn ended(&self, run_id: &str, error: Option<&str>) {
        let Some(r) = self.runs.lock().expect("lineage lock").remove(run_id) else {
            return;
        };
        let Some(t) = self.templates.get(&r.pipeline) else {
            return;
        };
        let outputs = self.outputs(t, &r);
        // Silver's rules judge the Bronze rows it read: the Bronze input carries them.
        let inputs: Vec<Value> = t
            .inputs
            .iter()
            .map(|(name, d)| {
                let mut d = d.clone();
                if *name == t.bronze && (r.rows_read > 0 || !r.rules.is_empty()) {
                    d["inputFacets"] = ol::data_quality(r.rows_read, &r.rules);
                }
                d
            })
            .collect();
        let kind = if error.is_some() { "FAIL" } else { "COMPLETE" };
        let facets = ol::run_facets(error, r.parent.as_deref(), t);
        let e = ol::event(t, kind, run_id, facets, inputs, outputs);
        self.send(run_id, e);
    }

    /// The outputs, with outputStatistics for each table the run committed.
    fn outputs(&self, t: &JobTemplate, r: &RunState) -> Vec<Value> {
        t.outputs
            .iter()
            .map(|(name, d)| {
                let mut d = d.clone();
                if let Some((rows, bytes, files)) = r.committed.get(name) {
                    d["outputFacets"] =
                        json!({ "outputStatistics": ol::output_statistics(*rows, *bytes, *files) });
                }
                d
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl EventSink for LineageSink {
    fn emit(&self, run_id: &str, event: &RunEvent) {
        match event {
            RunEvent::RunStarted {
                pipeline,
                parent_run_id,
                ..
            } => self.started(run_id, pipeline, parent_run_id.as_deref()),
            RunEvent::TableCommitted {
                table,
                layer,
                operation,
                rows,
                files,
                bytes,
                ..
            } => {
                let bronze_append = layer == "bronze" && operation == "append";
                if let Some(r) = self.runs.lock().expect("lineage lock").get_mut(run_id) {
                    let c = r.committed.entry(table.clone()).or_default();
                    c.0 += rows;
                    c.1 += bytes;
                    c.2 += files;
                }
                let streaming = self
                    .runs
                    .lock()
                    .expect("lineage lock")
                    .get(run_id)
                    .and_then(|r| self.templates.get(&r.pipeline))
                    .is_some_and(|t| t.streaming);
                if bronze_append && streaming {
                    self.running(run_id);
                }
            }
            RunEvent::RowsRead { rows, .. } => {
                if let Some(r) = self.runs.lock().expect("lineage lock").get_mut(run_id) {
                    r.rows_read += rows;
                }
            }
            RunEvent::RuleOutcome {
                rule,
                checked,
                failed,
                ..
            } => {
                if let Some(r) = self.runs.lock().expect("lineage lock").get_mut(run_id) {
                    let c = r.rules.entry(rule.clone()).or_default();
                    c.0 += checked;
                    c.1 += failed;
                }
            }
            RunEvent::RunFinished { .. } => self.ended(run_id, None),
            RunEvent::RunFailed { error, .. } => self.ended(run_id, Some(error)),
            _ => {}
        }
    }

    /// Writes the built events to the lineage file (one part per run and flush). Never fails
    /// the run: a failed write is logged as an error and counted.
    async fn flush(&self) -> crate::Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("lineage lock"));
        let mut by_run: Vec<(String, Vec<Value>)> = Vec::new();
        for (run_id, e) in pending {
            match by_run.last_mut() {
                Some((r, events)) if *r == run_id => events.push(e),
                _ => by_run.push((run_id, vec![e])),
            }
        }
        for (run_id, events) in by_run {
            if let Err(err) = self.file.send(&run_id, &events).await {
                self.file_failures.fetch_add(events.len() as u64, Relaxed);
                tracing::error!(error = %err, run_id = %run_id, events = events.len(), "Could not write lineage events to the lineage file.");
            }
            if events
                .iter()
                .any(|e| matches!(e["eventType"].as_str(), Some("COMPLETE" | "FAIL")))
            {
                self.file.close(&run_id).await;
            }
        }
        Ok(())
    }
}
