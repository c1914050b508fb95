//! Which retention applies to a table, and which column dates its rows.

use arrow::datatypes::{DataType, SchemaRef};
use serde::Serialize;

use crate::catalog::TableEntry;
use crate::env::Environment;
use crate::plan::{JobPlan, INGEST_TIME};
use crate::spec::TableRetention;

/// The quarantine's time column.
pub const QUARANTINED_AT: &str = "_quarantined_at";

#[derive(Debug, Clone, Serialize)]
pub struct Applies {
    pub days: u32,
    /// Where the number comes from (`spec`, `environment`, `layer quarantine`, `classification pii`).
    pub from: String,
    /// The column that dates a row, when the table has one.
    pub column: Option<String>,
}

/// The table's retention: its spec's `retention.days` if set; otherwise the shortest of the
/// environment's `retention_days`, `retention.layers.<layer>` and
/// `retention.classifications.<c>` for each classification among its columns.
pub fn applies(
    env: &Environment,
    table: &str,
    layer: &str,
    entry: Option<&TableEntry>,
    plans: &[JobPlan],
    schema: &SchemaRef,
) -> Applies {
    let spec = spec_retention(plans, table, layer);
    let column = spec
        .and_then(|r| r.column.clone())
        .or_else(|| default_column(layer, schema));
    if let Some(days) = spec.and_then(|r| r.days) {
        return Applies {
            days,
            from: "spec".into(),
            column,
        };
    }
    let mut best = (env.retention_days, "environment".to_string());
    if let Some(d) = env.retention.layers.get(layer) {
        if *d < best.0 {
            best = (*d, format!("layer {layer}"));
        }
    }
    for (column, class) in classifications(table, layer, entry, plans) {
        if let Some(d) = env.retention.classifications.get(&class) {
            if *d < best.0 {
                best = (*d, format!("classification {class} ({column})"));
            }
        }
    }
    Applies {
        days: best.0,
        from: best.1,
        column,
    }
}

/// The classifications of the table's columns (its catalog entry); a quarantine has those of
/// its pipeline's schema, since `_record` holds the rejected records whole.
fn classifications(
    table: &str,
    layer: &str,
    entry: Option<&TableEntry>,
    plans: &[JobPlan],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = entry
        .into_iter()
        .flat_map(|e| &e.columns)
        .filter_map(|c| c.classification.clone().map(|k| (c.name.clone(), k)))
        .collect();
    if layer == "quarantine" {
        for p in plans
            .iter()
            .filter(|p| p.job.quarantine_table().to_string() == table)
        {
            out.extend(
                p.schema
                    .classifications()
                    .into_iter()
                    .map(|(c, k)| (format!("_record: {c}"), k)),
            );
        }
    }
    out
}

fn spec_retention<'a>(
    plans: &'a [JobPlan],
    table: &str,
    layer: &str,
) -> Option<&'a TableRetention> {
    plans.iter().find_map(|p| {
        let spec = &p.job.spec;
        match layer {
            "bronze" if p.job.bronze_table().to_string() == table => spec.bronze.retention.as_ref(),
            "silver" if p.job.silver_table().is_some_and(|t| t.to_string() == table) => {
                spec.silver.as_ref().and_then(|s| s.retention.as_ref())
            }
            "gold" => spec
                .gold
                .iter()
                .find(|g| g.table == table)
                .and_then(|g| g.retention.as_ref()),
            _ => None,
        }
    })
}

/// `_ingest_time` for Bronze (and Silver when its SQL keeps it), `_quarantined_at` for a
/// quarantine; Gold has none by default (it is recomputed from Silver).
fn default_column(layer: &str, schema: &SchemaRef) -> Option<String> {
    let has = |c: &str| schema.field_with_name(c).is_ok();
    match layer {
        "quarantine" if has(QUARANTINED_AT) => Some(QUARANTINED_AT.into()),
        "bronze" | "silver" if has(INGEST_TIME) => Some(INGEST_TIME.into()),
        _ => None,
    }
}

/// The SQL literal of a cutoff for a column of type `t`; None when the column does not date
/// rows (not a date or timestamp).
pub fn cutoff_literal(t: &DataType, cutoff: chrono::DateTime<chrono::Utc>) -> Option<String> {
    match t {
        // A string literal, cast by the engine to the column's type (with its time zone).
        DataType::Timestamp(_, _) => Some(format!(
            "'{}'",
            cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        )),
        DataType::Date32 | DataType::Date64 => Some(format!("'{}'", cutoff.format("%Y-%m-%d"))),
        _ => None,
    }
}
