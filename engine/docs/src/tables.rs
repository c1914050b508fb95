//! The tables page: every table of the catalog with its Delta state, and the tables the
//! specs produce that have not been written yet.

use std::collections::{BTreeMap, BTreeSet};

use medallion_core::catalog::{Column, TableEntry};
use medallion_core::lineage::Graph;
use medallion_core::spec::{PiiAction, TableName};
use medallion_core::table;

use crate::collect::Sources;
use crate::graph_svg;
use crate::model::{ColumnDoc, CommitDoc, TableDoc};

pub async fn tables(
    s: &Sources<'_>,
    problems: &mut Vec<String>,
) -> medallion_core::Result<Vec<TableDoc>> {
    let entries = s.catalog.list_tables(None).await?;
    let mut out = Vec::new();
    for e in &entries {
        out.push(from_catalog(s, e, problems).await);
    }
    let mut known: BTreeSet<String> = entries.iter().map(TableEntry::qualified_name).collect();
    for name in s.lake_tables.iter().filter(|t| !known.contains(*t)) {
        problems.push(format!(
            "{name} is in the lake but not in the catalog; `medallion catalog sync --env {}` registers it",
            s.env.name
        ));
        out.push(lake_only(s, name, problems).await);
    }
    known.extend(s.lake_tables.iter().cloned());
    for p in s.plans {
        for (name, schema) in p.output_schemas() {
            if known.contains(&name) || out.iter().any(|t: &TableDoc| t.name == name) {
                continue;
            }
            let columns = schema
                .fields()
                .iter()
                .map(|f| ColumnDoc {
                    name: f.name().clone(),
                    ty: f.data_type().to_string(),
                    nullable: f.is_nullable(),
                    classification: None,
                    pii: None,
                    description: None,
                })
                .collect();
            let layer = s.graph.datasets.get(&name).map_or("", |d| d.layer.as_str());
            out.push(TableDoc {
                layer: layer.to_string(),
                pipeline: p.job.spec.pipeline.clone(),
                owner: p.job.spec.owner.clone(),
                description: None,
                location: String::new(),
                schema_ref: None,
                columns,
                in_catalog: false,
                delta_version: None,
                files: None,
                bytes: None,
                rows: None,
                last_commit: None,
                retention_days: s.env.retention_days,
                column_graph_svg: focus_graph(s.graph, &name, problems),
                name,
            });
        }
    }
    out.sort_by(|a, b| (layer_rank(&a.layer), &a.name).cmp(&(layer_rank(&b.layer), &b.name)));
    Ok(out)
}

fn layer_rank(layer: &str) -> u8 {
    match layer {
        "bronze" => 0,
        "silver" => 1,
        "quarantine" => 2,
        "gold" => 3,
        _ => 4,
    }
}

/// A table of the lake that the catalog does not list: what its Delta log tells.
async fn lake_only(s: &Sources<'_>, name: &str, problems: &mut Vec<String>) -> TableDoc {
    let owner = s.graph.datasets.get(name);
    let mut doc = TableDoc {
        name: name.to_string(),
        layer: owner.map_or("", |d| d.layer.as_str()).to_string(),
        pipeline: owner.map_or("", |d| d.pipeline.as_str()).to_string(),
        owner: owner.and_then(|d| d.owner.clone()),
        description: None,
        location: String::new(),
        schema_ref: None,
        columns: Vec::new(),
        in_catalog: false,
        delta_version: None,
        files: None,
        bytes: None,
        rows: None,
        last_commit: None,
        retention_days: s.env.retention_days,
        column_graph_svg: focus_graph(s.graph, name, problems),
    };
    let Some((db, t)) = name.split_once('.') else {
        return doc;
    };
    let table = TableName {
        database: db.to_string(),
        table: t.to_string(),
    };
    match delta_state(s, &table, &mut doc).await {
        Ok(Some(t)) => {
            if let Ok(schema) = table::arrow_schema(&t) {
                doc.columns = schema
                    .fields()
                    .iter()
                    .map(|f| ColumnDoc {
                        name: f.name().clone(),
                        ty: medallion_core::catalog::hive_type(f.data_type()),
                        nullable: f.is_nullable(),
                        classification: None,
                        pii: None,
                        description: None,
                    })
                    .collect();
            }
        }
        Ok(None) => {}
        Err(e) => problems.push(format!("{name}: its Delta log could not be read: {e}")),
    }
    doc
}

async fn from_catalog(s: &Sources<'_>, e: &TableEntry, problems: &mut Vec<String>) -> TableDoc {
    let name = e.qualified_name();
    let plan = s
        .plans
        .iter()
        .find(|p| p.job.spec.pipeline == e.owner_pipeline);
    let pii: BTreeMap<String, PiiAction> = match (plan, e.layer.as_str()) {
        (Some(p), "silver") => p
            .job
            .spec
            .silver
            .as_ref()
            .map(|sv| sv.pii.clone().into_iter().collect())
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    };
    let mut doc = TableDoc {
        name: name.clone(),
        layer: e.layer.clone(),
        pipeline: e.owner_pipeline.clone(),
        owner: plan.and_then(|p| p.job.spec.owner.clone()),
        description: e.description.clone(),
        location: e.location.clone(),
        schema_ref: e.schema_ref.clone(),
        columns: e.columns.iter().map(|c| column(c, &pii)).collect(),
        in_catalog: true,
        delta_version: Some(e.delta_version),
        files: None,
        bytes: None,
        rows: None,
        last_commit: None,
        retention_days: s.env.retention_days,
        column_graph_svg: focus_graph(s.graph, &name, problems),
    };
    let table = TableName {
        database: e.database.clone(),
        table: e.name.clone(),
    };
    // The catalog's version is what it last recorded; the site shows the log's.
    doc.delta_version = None;
    match delta_state(s, &table, &mut doc).await {
        Ok(Some(_)) => {}
        Ok(None) => problems.push(format!(
            "{name}: the catalog names it, but there is no Delta table at {}; \
             `medallion catalog sync --env {}` re-registers the lake's tables",
            doc.location, s.env.name
        )),
        Err(err) => problems.push(format!(
            "{name}: its Delta log at {} could not be read: {err}",
            doc.location
        )),
    }
    tag_pii(s.graph, &name, &mut doc.columns);
    doc
}

fn column(c: &Column, pii: &BTreeMap<String, PiiAction>) -> ColumnDoc {
    ColumnDoc {
        name: c.name.clone(),
        ty: c.ty.clone(),
        nullable: c.nullable,
        classification: c.classification.clone(),
        pii: pii.get(&c.name).map(|a| {
            serde_json::to_value(a)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{a:?}"))
        }),
        description: c.description.clone(),
    }
}

/// The table's version, files, bytes, rows and last commit, from its Delta log (None: there
/// is no Delta table where the environment keeps it).
async fn delta_state(
    s: &Sources<'_>,
    name: &TableName,
    doc: &mut TableDoc,
) -> medallion_core::Result<Option<deltalake::DeltaTable>> {
    let location = s.env.location(name)?;
    doc.location = location.url.to_string();
    let Some(t) = table::open_if_exists(&name.to_string(), &location).await? else {
        return Ok(None);
    };
    let version = table::version(&t);
    let stats = table::file_stats(&t)?;
    doc.delta_version = Some(version);
    doc.files = Some(stats.files);
    doc.bytes = Some(stats.bytes);
    doc.rows = stats.rows;
    let info = table::commit_entry(&t, version).await?.flatten();
    doc.last_commit = Some(CommitDoc {
        version,
        at: info
            .as_ref()
            .and_then(|i| i.timestamp)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        operation: info.and_then(|i| i.operation),
    });
    Ok(Some(t))
}

/// Columns computed from a masking edge (a `hash` or `mask` of `silver.pii`, also under a new
/// name) say what they protect; a quarantine's `_record` holds rejected records whole.
fn tag_pii(g: &Graph, table: &str, columns: &mut [ColumnDoc]) {
    for c in columns.iter_mut() {
        let masked: Vec<String> = g
            .edges
            .iter()
            .filter(|e| {
                e.to.0 == table && e.to.1.as_deref() == Some(c.name.as_str()) && e.transform.masking
            })
            .map(|e| format!("{}.{}", e.from.0, e.from.1))
            .collect();
        if c.pii.is_none() && !masked.is_empty() {
            c.pii = Some(format!("masked from {}", masked.join(", ")));
        }
        let layer = g.datasets.get(table).map_or("", |d| d.layer.as_str());
        if layer == "quarantine" && c.name == "_record" && c.classification.is_none() {
            c.classification = Some("raw input (may hold personal data)".into());
        }
    }
}

/// The column lineage around `table`: its columns and the datasets one edge away.
fn focus_graph(g: &Graph, table: &str, problems: &mut Vec<String>) -> String {
    let mut keep: BTreeSet<String> = BTreeSet::from([table.to_string()]);
    for e in &g.edges {
        if e.to.0 == table {
            keep.insert(e.from.0.clone());
        }
        if e.from.0 == table {
            keep.insert(e.to.0.clone());
        }
    }
    let prefix = format!(
        "t{}-",
        medallion_core::audit::sha256_hex(table.as_bytes())
            .get(..8)
            .unwrap_or("")
    );
    graph_svg::columns(g, Some(&keep), &prefix).unwrap_or_else(|e| {
        problems.push(format!("{table}: its column lineage graph: {e}"));
        String::new()
    })
}
