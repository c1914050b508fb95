//! What a spec change breaks downstream, before anything runs (`medallion validate --env`):
//! the columns a table has today that its new spec no longer writes, or writes with another
//! type, and every table and column that reads them (from the lineage of all job specs).

use std::collections::HashMap;

use arrow::datatypes::{DataType, SchemaRef};

use super::graph::Graph;
use super::impact::{walk, Direction, Node};
use crate::plan::JobPlan;

/// A column the new spec stops writing or retypes.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnChange {
    pub table: String,
    pub column: String,
    /// `no longer written` or `changes type from X to Y`.
    pub what: String,
    /// The spec file that makes the change.
    pub file: String,
}

/// Strings and binaries in their plain form (a view or large type is not a change readers see).
fn plain(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        other => other.clone(),
    }
}

/// Columns of the tables as they are (`current`, e.g. from the catalog) that the planned
/// outputs of `plans` drop or retype. Medallion's own metadata columns (`_…`) are left out.
pub fn column_changes(
    plans: &[JobPlan],
    current: &HashMap<String, SchemaRef>,
) -> Vec<ColumnChange> {
    let mut out = Vec::new();
    for p in plans {
        for (table, planned) in p.output_schemas() {
            let Some(now) = current.get(&table) else {
                continue;
            };
            for f in now.fields().iter().filter(|f| !f.name().starts_with('_')) {
                let what = match planned.field_with_name(f.name()) {
                    Err(_) => "is no longer written".to_string(),
                    Ok(n) if plain(n.data_type()) != plain(f.data_type()) => {
                        format!("changes type from {} to {}", f.data_type(), n.data_type())
                    }
                    Ok(_) => continue,
                };
                out.push(ColumnChange {
                    table: table.clone(),
                    column: f.name().clone(),
                    what,
                    file: p.job.file.clone(),
                });
            }
        }
    }
    out
}

/// One line per change that something reads: the change and every dataset and column it
/// reaches downstream, with pipelines and owners. Changes nothing reads are left out.
pub fn impacts(changes: &[ColumnChange], g: &Graph) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| {
            let start = Node {
                dataset: c.table.clone(),
                column: Some(c.column.clone()),
            };
            let reached = walk(g, &start, Direction::Downstream, None).datasets;
            if reached.is_empty() {
                return None;
            }
            let readers: Vec<String> = reached
                .iter()
                .map(|r| {
                    let cols = if r.columns.is_empty() {
                        "all rows".to_string()
                    } else {
                        r.columns.join(", ")
                    };
                    format!(
                        "{} ({cols}; pipeline {}{})",
                        r.dataset,
                        r.pipeline,
                        r.owner
                            .as_ref()
                            .map(|o| format!(", owner {o}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            Some(format!(
                "{}: {}.{} {} in the new spec, and it is read downstream by: {}",
                c.file,
                c.table,
                c.column,
                c.what,
                readers.join("; ")
            ))
        })
        .collect()
}
