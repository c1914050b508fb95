//! The lineage of a project, from its job specs alone (no data needed): source fields →
//! Bronze columns → Silver columns → Gold columns, each edge with its transformation.
//!
//! - Bronze column `x` is the source field `x` (kept as raw text: IDENTITY).
//! - Silver's SQL reads `input`: the Bronze columns typed by the pinned schema (a cast is a
//!   TRANSFORMATION unless the types are the same) and protected by `silver.pii` (`hash` and
//!   `mask` are masking TRANSFORMATIONs). Rules that drop or quarantine rows, and the dedupe
//!   keys and `latest_by`, decide Silver's rows: INDIRECT FILTER of the whole table.
//! - Gold's SQL reads tables by their catalog names.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::empty::EmptyTable;
use serde::Serialize;

use super::columns::{self, ColumnLineage, Kind, Sources, Subtype, Transform};
use crate::plan::JobPlan;
use crate::quality::RuleKind;
use crate::spec::{OnFail, PiiAction, SourceSpec};

/// A dataset of the graph: a table, a file source or a Kafka topic.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    pub name: String,
    /// `source`, `bronze`, `silver`, `quarantine` or `gold`.
    pub layer: String,
    pub pipeline: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub columns: Vec<String>,
}

/// `to` is computed from (DIRECT) or decided by (INDIRECT) `from`. A `None` column is the
/// whole dataset (a dataset-level dependency of `to`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    pub from: (String, String),
    pub to: (String, Option<String>),
    pub transform: Transform,
    /// The pipeline whose spec makes this edge.
    pub pipeline: String,
}

/// The project's lineage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    pub datasets: BTreeMap<String, Dataset>,
    pub edges: Vec<Edge>,
}

/// The name of a pipeline's source dataset: `files:<path>` or `kafka:<topic>` per topic.
pub fn source_names(plan: &JobPlan) -> Vec<String> {
    match &plan.job.spec.bronze.source {
        SourceSpec::Files(f) => vec![format!("files:{}", f.path)],
        SourceSpec::Kafka(k) => k.topics().iter().map(|t| format!("kafka:{t}")).collect(),
    }
}

/// The lineage of `plans` (planned together, in dependency order); `known` holds the
/// schemas of other tables their SQL may read (from the catalog).
pub async fn build(plans: &[JobPlan], known: HashMap<String, SchemaRef>) -> crate::Result<Graph> {
    let mut known = known;
    for p in plans {
        known.extend(p.output_schemas());
    }
    let mut g = Graph::default();
    for p in plans {
        add_job(&mut g, p, &known).await?;
    }
    g.edges.sort();
    g.edges.dedup();
    Ok(g)
}

async fn add_job(
    g: &mut Graph,
    p: &JobPlan,
    known: &HashMap<String, SchemaRef>,
) -> crate::Result<()> {
    let job = &p.job;
    let pipeline = job.spec.pipeline.clone();
    let dataset = |name: String, layer: &str, schema: &SchemaRef| Dataset {
        name,
        layer: layer.into(),
        pipeline: pipeline.clone(),
        owner: job.spec.owner.clone(),
        columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
    };
    let bronze = job.bronze_table().to_string();
    for s in source_names(p) {
        g.datasets
            .insert(s.clone(), dataset(s.clone(), "source", &p.raw_schema));
        for f in p.raw_schema.fields() {
            g.edges.push(Edge {
                from: (s.clone(), f.name().clone()),
                to: (bronze.clone(), Some(f.name().clone())),
                transform: Transform::IDENTITY,
                pipeline: pipeline.clone(),
            });
        }
    }
    g.datasets.insert(
        bronze.clone(),
        dataset(bronze.clone(), "bronze", &p.bronze_schema),
    );
    let q = job.quarantine_table().to_string();
    g.datasets.insert(
        q.clone(),
        dataset(q.clone(), "quarantine", &crate::plan::quarantine_schema()),
    );
    // A rejected record is kept whole, as delivered, in the quarantine's `_record`: every
    // source field can reach it (personal data included).
    for f in p.raw_schema.fields() {
        g.edges.push(Edge {
            from: (bronze.clone(), f.name().clone()),
            to: (q.clone(), Some("_record".into())),
            transform: Transform {
                kind: Kind::Direct,
                subtype: Subtype::Transformation,
                masking: false,
            },
            pipeline: pipeline.clone(),
        });
    }
    if let (Some(silver), Some(sql), Some(out)) =
        (job.silver_table(), &p.silver_sql, &p.silver_output)
    {
        let silver = silver.to_string();
        g.datasets
            .insert(silver.clone(), dataset(silver.clone(), "silver", out));
        let l = plan_sql(sql, known, p.silver_input_schema.as_ref()).await?;
        let l = through_input(p, l);
        push(g, &silver, l, &pipeline);
        for c in row_deciders(p) {
            g.edges.push(Edge {
                from: (bronze.clone(), c),
                to: (silver.clone(), None),
                transform: indirect(Subtype::Filter),
                pipeline: pipeline.clone(),
            });
        }
    }
    for gold in &p.gold {
        let name = gold.table.to_string();
        g.datasets
            .insert(name.clone(), dataset(name.clone(), "gold", &gold.output));
        let l = plan_sql(&gold.sql, known, None).await?;
        push(g, &name, l, &pipeline);
    }
    Ok(())
}

fn indirect(subtype: Subtype) -> Transform {
    Transform {
        kind: Kind::Indirect,
        subtype,
        masking: false,
    }
}

fn push(g: &mut Graph, table: &str, l: ColumnLineage, pipeline: &str) {
    for (col, sources) in l.fields {
        for ((t, c), ts) in sources {
            for tr in ts {
                g.edges.push(Edge {
                    from: (t.clone(), c.clone()),
                    to: (table.to_string(), Some(col.clone())),
                    transform: tr,
                    pipeline: pipeline.to_string(),
                });
            }
        }
    }
    for ((t, c), ts) in l.dataset {
        for tr in ts {
            g.edges.push(Edge {
                from: (t.clone(), c.clone()),
                to: (table.to_string(), None),
                transform: tr,
                pipeline: pipeline.to_string(),
            });
        }
    }
}

/// The column lineage of `sql` planned over empty tables of the known schemas (and `input`).
pub async fn plan_sql(
    sql: &str,
    known: &HashMap<String, SchemaRef>,
    input: Option<&SchemaRef>,
) -> crate::Result<ColumnLineage> {
    let ctx = crate::plan::planning_context(known).await;
    if let Some(i) = input {
        ctx.register_table("input", Arc::new(EmptyTable::new(i.clone())))?;
    }
    let plan = ctx.state().create_logical_plan(sql).await?;
    Ok(columns::of_plan(&plan))
}

/// Replaces the relation `input` by the Bronze columns it is typed and protected from.
fn through_input(p: &JobPlan, l: ColumnLineage) -> ColumnLineage {
    let bronze = p.job.bronze_table().to_string();
    let pii = p
        .job
        .spec
        .silver
        .as_ref()
        .map(|s| s.pii.clone())
        .unwrap_or_default();
    let step = |c: &str| -> Transform {
        let raw = p
            .bronze_schema
            .field_with_name(c)
            .ok()
            .map(|f| f.data_type().clone());
        let typed = p
            .typed_out_schema
            .field_with_name(c)
            .ok()
            .map(|f| f.data_type().clone());
        let (subtype, masking) = match pii.get(c) {
            Some(PiiAction::Hash) | Some(PiiAction::Mask) => (Subtype::Transformation, true),
            _ if raw.is_some() && raw == typed => (Subtype::Identity, false),
            _ => (Subtype::Transformation, false),
        };
        Transform {
            kind: Kind::Direct,
            subtype,
            masking,
        }
    };
    let map = |s: Sources| -> Sources {
        let mut out = Sources::new();
        for ((t, c), ts) in s {
            if t != "input" {
                out.entry((t, c)).or_default().extend(ts);
                continue;
            }
            let st = step(&c);
            let mapped: BTreeSet<Transform> = ts
                .into_iter()
                .map(|x| match x.kind {
                    Kind::Direct => Transform {
                        kind: Kind::Direct,
                        subtype: x.subtype.max(st.subtype),
                        masking: x.masking || st.masking,
                    },
                    Kind::Indirect => x,
                })
                .collect();
            out.entry((bronze.clone(), c)).or_default().extend(mapped);
        }
        out
    };
    ColumnLineage {
        fields: l.fields.into_iter().map(|(n, s)| (n, map(s))).collect(),
        dataset: map(l.dataset),
    }
}

/// Bronze columns that decide which rows reach Silver: typing (a value that does not parse as
/// its type, or a missing required value, quarantines the row), rules that drop or
/// quarantine, dedupe keys and `latest_by`.
fn row_deciders(p: &JobPlan) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in p.typed_schema.fields() {
        let raw = p.raw_schema.field_with_name(f.name()).ok();
        let typed_from_text = raw.is_some_and(|r| r.data_type() != f.data_type());
        if typed_from_text || !f.is_nullable() {
            out.insert(f.name().clone());
        }
    }
    for r in &p.rules {
        if !matches!(r.on_fail, OnFail::Drop | OnFail::Quarantine) {
            continue;
        }
        match &r.kind {
            RuleKind::Row { expr, .. } => {
                for c in datafusion::physical_expr::utils::collect_columns(expr) {
                    out.insert(c.name().to_string());
                }
            }
            RuleKind::Unique(cols) => out.extend(cols.iter().cloned()),
            _ => {}
        }
    }
    if let Some(d) = p.job.spec.silver.as_ref().and_then(|s| s.dedupe.as_ref()) {
        out.extend(d.keys.iter().cloned());
        out.extend(d.latest_by.iter().cloned());
    }
    out
}
