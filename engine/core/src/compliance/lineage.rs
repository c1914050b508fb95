//! Lineage complete: every table of the lake is produced by a pipeline of the project (a
//! dataset of the column-lineage graph) and each of its data columns is a column of that
//! dataset, with the edges from what it is computed from (a column computed from rows alone,
//! `COUNT(*)`, has none and is named as such). The engine's own metadata columns (`_ingest_time`,
//! `_quarantined_at`, ...) are set by the engine, not computed from inputs, and are not
//! required to have edges.

use std::collections::BTreeSet;

use super::{Control, Inputs};
use crate::lineage::graph::Dataset;
use crate::lineage::Graph;
use crate::table;

const ID: &str = "lineage";

pub async fn check(i: &Inputs<'_>) -> Result<Control, String> {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for name in i.lake_tables {
        let shown = name.to_string();
        let Some(d) = i.graph.datasets.get(&shown) else {
            fail.push(format!("{shown}: no pipeline of the project produces it (not in the lineage of the specs given)"));
            continue;
        };
        let loc = i.env.location(name).map_err(|e| e.to_string())?;
        let Some(t) = table::open_if_exists(&shown, &loc)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let schema = table::arrow_schema(&t).map_err(|e| e.to_string())?;
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        match judge(i.graph, d, &columns) {
            Ok(line) => pass.push(line),
            Err(line) => fail.push(line),
        }
    }
    if fail.is_empty() && pass.is_empty() {
        fail.push("the lake holds no table: nothing to check".into());
    }
    Ok(Control::judged(ID, fail, pass))
}

/// One table (its dataset in the graph, and the columns its Delta schema has).
fn judge(g: &Graph, d: &Dataset, columns: &[&str]) -> Result<String, String> {
    let engine_columns: BTreeSet<String> = crate::plan::bronze_meta_fields()
        .iter()
        .chain(
            crate::plan::quarantine_schema()
                .fields()
                .iter()
                .map(|f| f.as_ref()),
        )
        .map(|f| f.name().clone())
        .collect();
    let has_edge = |c: &str| {
        g.edges
            .iter()
            .any(|e| e.to.0 == d.name && e.to.1.as_deref() == Some(c))
    };
    let data: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| !engine_columns.contains(*c))
        .collect();
    let unknown: Vec<&str> = data
        .iter()
        .copied()
        .filter(|c| !d.columns.iter().any(|x| x == c))
        .collect();
    if !unknown.is_empty() {
        return Err(format!("{} (pipeline {}): column(s) {} are not in the lineage of its spec (the table and its spec differ)", d.name, d.pipeline, unknown.join(", ")));
    }
    let rows_only: Vec<&str> = data.iter().copied().filter(|c| !has_edge(c)).collect();
    let mut line = format!(
        "{}: produced by pipeline {}, lineage of its {} data column(s)",
        d.name,
        d.pipeline,
        data.len()
    );
    if !rows_only.is_empty() {
        line.push_str(&format!(
            "; computed from rows, no input column: {}",
            rows_only.join(", ")
        ));
    }
    Ok(line)
}
