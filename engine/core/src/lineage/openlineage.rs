//! OpenLineage RunEvents (spec 2-0-2) of a pipeline run: job namespace = environment, job
//! name = pipeline; inputs = the source (files or Kafka topics) and the tables its SQL reads;
//! outputs = Bronze, quarantine, Silver and Gold tables, with schema, symlinks (catalog name),
//! dataSource, ownership, documentation and columnLineage facets, and per run
//! outputStatistics (what the run committed) and dataQualityMetrics (rule outcomes).
//!
//! Dataset names follow the OpenLineage naming conventions: a local table is namespace
//! `file`, name its absolute path; an S3 table `s3://bucket`, name its key prefix; a Kafka
//! topic `kafka://host:port`, name the topic.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::columns::{Kind, Sources};
use super::graph::{self, Graph};
use crate::env::{Environment, LakeRoot};
use crate::plan::JobPlan;
use crate::spec::{SourceSpec, TableName};

pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const FACETS: &str = "https://openlineage.io/spec/facets";

/// `_producer` of every event and facet.
pub fn producer() -> String {
    format!(
        "https://github.com/medallion-lake/medallion/tree/v{}",
        env!("CARGO_PKG_VERSION")
    )
}

pub fn facet(name: &str, version: &str, mut body: Value) -> Value {
    body["_producer"] = json!(producer());
    body["_schemaURL"] = json!(format!("{FACETS}/{version}/{name}.json#/$defs/{name}"));
    body
}

/// An OpenLineage dataset: namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DatasetId {
    pub namespace: String,
    pub name: String,
}

/// The OpenLineage id of a table of `env` (`silver.orders`).
pub fn table_id(env: &Environment, table: &str) -> Option<DatasetId> {
    let t = TableName::parse(table).ok()?;
    Some(match &env.lake {
        LakeRoot::Local(root) => DatasetId {
            namespace: "file".into(),
            name: root.join(&t.database).join(&t.table).display().to_string(),
        },
        LakeRoot::S3 { bucket, prefix } => DatasetId {
            namespace: format!("s3://{bucket}"),
            name: [prefix.as_str(), &t.database, &t.table]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("/"),
        },
    })
}

/// The OpenLineage ids of a pipeline's source: the folder of a file glob, or Kafka topics.
pub fn source_ids(env: &Environment, plan: &JobPlan) -> Vec<(String, DatasetId)> {
    match &plan.job.spec.bronze.source {
        SourceSpec::Files(f) => {
            let pattern = crate::env::normalize(&env.project_root, std::path::Path::new(&f.path));
            let dir = pattern
                .ancestors()
                .find(|a| !a.to_string_lossy().contains(['*', '?', '[']))
                .unwrap_or(&pattern)
                .display()
                .to_string();
            graph::source_names(plan)
                .into_iter()
                .map(|n| {
                    (
                        n,
                        DatasetId {
                            namespace: "file".into(),
                            name: dir.clone(),
                        },
                    )
                })
                .collect()
        }
        SourceSpec::Kafka(k) => {
            // As the stream resolves them: MEDALLION_KAFKA_BROKERS overrides the environment's.
            let brokers = std::env::var("MEDALLION_KAFKA_BROKERS")
                .ok()
                .or_else(|| env.kafka.as_ref().and_then(|k| k.brokers.clone()))
                .unwrap_or_default();
            let first = brokers.split(',').next().unwrap_or("").trim().to_string();
            if first.is_empty() {
                // No brokers here (a batch run of a Kafka pipeline reads no topic).
                return vec![];
            }
            k.topics()
                .into_iter()
                .map(|t| {
                    (
                        format!("kafka:{t}"),
                        DatasetId {
                            namespace: format!("kafka://{first}"),
                            name: t,
                        },
                    )
                })
                .collect()
        }
    }
}

/// What the events of one pipeline share, computed once from its plan and the project graph.
#[derive(Debug, Clone)]
pub struct JobTemplate {
    pub pipeline: String,
    /// The pipeline's Bronze table (an input of its Silver stage, with data quality facets).
    pub bronze: String,
    /// Events of `medallion stream` (RUNNING after Bronze commits).
    pub streaming: bool,
    pub namespace: String,
    pub job_facets: Value,
    /// Input datasets (source, upstream tables), by graph name.
    pub inputs: BTreeMap<String, Value>,
    /// Output datasets (this pipeline's tables), by catalog name.
    pub outputs: BTreeMap<String, Value>,
}

/// Resolves a graph dataset name (`silver.orders`, `files:...`, `kafka:topic`) to its id.
fn id_of(env: &Environment, plan: &JobPlan, name: &str) -> Option<DatasetId> {
    if name.starts_with("files:") || name.starts_with("kafka:") {
        return source_ids(env, plan)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id);
    }
    table_id(env, name)
}

/// The template of `plan`'s events in `env`, with column lineage from `g`.
pub fn template(env: &Environment, plan: &JobPlan, g: &Graph, streaming: bool) -> JobTemplate {
    let job = &plan.job;
    let mut sql = Vec::new();
    if let Some(s) = &plan.silver_sql {
        sql.push(format!(
            "-- {}\n{s}",
            job.silver_table()
                .map(|t| t.to_string())
                .unwrap_or_default()
        ));
    }
    for gp in &plan.gold {
        sql.push(format!("-- {}\n{}", gp.table, gp.sql));
    }
    let mut job_facets = json!({
        "jobType": facet("JobTypeJobFacet", "2-0-4", json!({
            "processingType": if streaming { "STREAMING" } else { "BATCH" },
            "integration": "MEDALLION",
            "jobType": "JOB",
        })),
        "sql": facet("SQLJobFacet", "1-1-0", json!({ "query": sql.join(";\n"), "dialect": "datafusion" })),
    });
    if let Some(d) = &job.spec.description {
        job_facets["documentation"] = facet(
            "DocumentationJobFacet",
            "1-1-0",
            json!({ "description": d }),
        );
    }
    let mut outputs = BTreeMap::new();
    let mut inputs = BTreeMap::new();
    for (name, d) in &g.datasets {
        if d.pipeline != job.spec.pipeline || d.layer == "source" {
            continue;
        }
        if let Some(id) = table_id(env, name) {
            outputs.insert(name.clone(), dataset(env, plan, g, name, &id, true));
        }
    }
    // Every dataset an output is computed from is an input, this pipeline's own Bronze
    // (read by its Silver) and Silver (read by its Gold) included.
    for e in &g.edges {
        if !outputs.contains_key(&e.to.0) {
            continue;
        }
        if let Some(id) = id_of(env, plan, &e.from.0) {
            inputs
                .entry(e.from.0.clone())
                .or_insert_with(|| dataset(env, plan, g, &e.from.0, &id, false));
        }
    }
    JobTemplate {
        pipeline: job.spec.pipeline.clone(),
        bronze: job.bronze_table().to_string(),
        streaming,
        namespace: env.name.clone(),
        job_facets,
        inputs,
        outputs,
    }
}

fn dataset(
    env: &Environment,
    plan: &JobPlan,
    g: &Graph,
    name: &str,
    id: &DatasetId,
    output: bool,
) -> Value {
    let mut facets = serde_json::Map::new();
    if let Some(d) = g.datasets.get(name) {
        let types = schema_types(plan, name);
        let fields: Vec<Value> = d
            .columns
            .iter()
            .map(|c| match types.get(c) {
                Some(t) => json!({ "name": c, "type": t }),
                None => json!({ "name": c }),
            })
            .collect();
        facets.insert(
            "schema".into(),
            facet("SchemaDatasetFacet", "1-2-0", json!({ "fields": fields })),
        );
        if let Some(o) = &d.owner {
            facets.insert(
                "ownership".into(),
                facet(
                    "OwnershipDatasetFacet",
                    "1-0-1",
                    json!({ "owners": [{ "name": o, "type": "team" }] }),
                ),
            );
        }
    }
    facets.insert(
        "dataSource".into(),
        facet("DatasourceDatasetFacet", "1-0-1", json!({
            "name": id.namespace,
            "uri": if id.namespace == "file" { format!("file://{}", id.name) } else { format!("{}/{}", id.namespace, id.name) },
        })),
    );
    if TableName::parse(name).is_ok() {
        facets.insert(
            "symlinks".into(),
            facet(
                "SymlinksDatasetFacet",
                "1-0-1",
                json!({ "identifiers": [{
                "namespace": format!("medallion://{}", env.name), "name": name, "type": "TABLE",
            }] }),
            ),
        );
    }
    if let Some(desc) = description(plan, name) {
        facets.insert(
            "documentation".into(),
            facet(
                "DocumentationDatasetFacet",
                "1-1-0",
                json!({ "description": desc }),
            ),
        );
    }
    if output {
        if let Some(cl) = column_lineage(env, plan, g, name) {
            facets.insert("columnLineage".into(), cl);
        }
    }
    json!({ "namespace": id.namespace, "name": id.name, "facets": facets })
}

fn description(plan: &JobPlan, name: &str) -> Option<String> {
    let spec = &plan.job.spec;
    if name == plan.job.bronze_table().to_string() {
        return spec.bronze.description.clone();
    }
    if plan
        .job
        .silver_table()
        .is_some_and(|t| t.to_string() == name)
    {
        return spec.silver.as_ref().and_then(|s| s.description.clone());
    }
    spec.gold
        .iter()
        .find(|g| g.table == name)
        .and_then(|g| g.description.clone())
}

fn schema_types(plan: &JobPlan, name: &str) -> BTreeMap<String, String> {
    plan.output_schemas()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| {
            s.fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The columnLineage facet of a Silver or Gold table (None for Bronze and quarantine).
fn column_lineage(env: &Environment, plan: &JobPlan, g: &Graph, table: &str) -> Option<Value> {
    let layer = g.datasets.get(table)?.layer.as_str();
    if !matches!(layer, "silver" | "gold") {
        return None;
    }
    let mut fields: BTreeMap<String, Sources> = BTreeMap::new();
    let mut whole = Sources::new();
    for e in g.edges.iter().filter(|e| e.to.0 == table) {
        let target = match &e.to.1 {
            Some(c) => fields.entry(c.clone()).or_default(),
            None => &mut whole,
        };
        target
            .entry(e.from.clone())
            .or_default()
            .insert(e.transform);
    }
    let inputs = |s: &Sources| -> Vec<Value> {
        s.iter()
            .filter_map(|((t, c), ts)| {
                let id = id_of(env, plan, t)?;
                let transformations: Vec<Value> = ts
                    .iter()
                    .map(|x| {
                        json!({
                            "type": match x.kind { Kind::Direct => "DIRECT", Kind::Indirect => "INDIRECT" },
                            "subtype": serde_json::to_value(x.subtype).expect("a subtype serializes"),
                            "masking": x.masking,
                        })
                    })
                    .collect();
                Some(json!({ "namespace": id.namespace, "name": id.name, "field": c, "transformations": transformations }))
            })
            .collect()
    };
    let fields: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(c, s)| (c.clone(), json!({ "inputFields": inputs(s) })))
        .collect();
    Some(facet(
        "ColumnLineageDatasetFacet",
        "1-2-0",
        json!({ "fields": fields, "dataset": inputs(&whole) }),
    ))
}

/// Builds one RunEvent.
pub fn event(
    t: &JobTemplate,
    event_type: &str,
    run_id: &str,
    run_facets: Value,
    inputs: Vec<Value>,
    outputs: Vec<Value>,
) -> Value {
    json!({
        "eventType": event_type,
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "producer": producer(),
        "schemaURL": SCHEMA_URL,
        "run": { "runId": run_id, "facets": run_facets },
        "job": { "namespace": t.namespace, "name": t.pipeline, "facets": t.job_facets },
        "inputs": inputs,
        "outputs": outputs,
    })
}

/// The run facets every event carries; `error` on FAIL; `parent` (a stream's run, for its
/// follow runs) as a ParentRunFacet naming the same job.
pub fn run_facets(error: Option<&str>, parent: Option<&str>, t: &JobTemplate) -> Value {
    let mut f = json!({
        "processing_engine": facet("ProcessingEngineRunFacet", "1-1-1", json!({
            "version": env!("CARGO_PKG_VERSION"),
            "name": "medallion",
            "openlineageAdapterVersion": env!("CARGO_PKG_VERSION"),
        })),
    });
    if let Some(p) = parent {
        f["parent"] = facet(
            "ParentRunFacet",
            "1-2-0",
            json!({
                "run": { "runId": p },
                "job": { "namespace": t.namespace, "name": t.pipeline },
            }),
        );
    }
    if let Some(e) = error {
        f["errorMessage"] = facet(
            "ErrorMessageRunFacet",
            "1-0-1",
            json!({
                "message": e, "programmingLanguage": "rust",
            }),
        );
    }
    f
}

/// Output statistics of a table a run committed.
pub fn output_statistics(rows: u64, bytes: u64, files: u64) -> Value {
    facet(
        "OutputStatisticsOutputDatasetFacet",
        "1-0-2",
        json!({
            "rowCount": rows, "size": bytes, "fileCount": files,
        }),
    )
}

/// Input facets of what a run read: rows read (dataQualityMetrics) and, per quality rule,
/// whether every checked row passed (dataQualityAssertions; `rules`: name → (checked, failed)).
pub fn data_quality(rows: u64, rules: &BTreeMap<String, (u64, u64)>) -> Value {
    let assertions: Vec<Value> = rules
        .iter()
        .map(|(name, (_, failed))| json!({ "assertion": name, "success": *failed == 0 }))
        .collect();
    json!({
        "dataQualityMetrics": facet("DataQualityMetricsInputDatasetFacet", "1-0-3", json!({
            "rowCount": rows,
            "columnMetrics": {},
        })),
        "dataQualityAssertions": facet("DataQualityAssertionsDatasetFacet", "1-0-1", json!({
            "assertions": assertions,
        })),
    })
}
