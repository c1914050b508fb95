//! The catalog side of a commit: the table's entry (location, columns with descriptions and
//! classifications, Delta version, owner) and the properties recorded in the Delta table
//! itself, so that `catalog sync` can rebuild a lost catalog from the lake alone.

use std::collections::{BTreeMap, HashMap};

use deltalake::DeltaTable;

use super::Run;
use crate::catalog::{columns_of, Database, TableEntry};
use crate::error::Result;
use crate::events::RunEvent;
use crate::plan::JobPlan;
use crate::spec::TableName;
use crate::table;

pub const PROP_LAYER: &str = "medallion.layer";
pub const PROP_PIPELINE: &str = "medallion.pipeline";
pub const PROP_SCHEMA: &str = "medallion.schema";
pub const PROP_OWNER: &str = "medallion.owner";
pub const PROP_DESCRIPTION: &str = "medallion.description";

/// Table properties recorded in the Delta table when medallion creates it.
pub fn table_properties(
    plan: &JobPlan,
    layer: &str,
    description: Option<String>,
) -> HashMap<String, String> {
    let mut p = HashMap::new();
    p.insert(PROP_LAYER.into(), layer.into());
    p.insert(PROP_PIPELINE.into(), plan.job.spec.pipeline.clone());
    if matches!(layer, "bronze" | "silver") {
        p.insert(PROP_SCHEMA.into(), plan.schema.reference());
        p.extend(crate::compat::schema_properties(&plan.schema));
    }
    if let Some(o) = &plan.job.spec.owner {
        p.insert(PROP_OWNER.into(), o.clone());
    }
    if let Some(d) = description {
        p.insert(PROP_DESCRIPTION.into(), d);
    }
    p
}

/// Registers (or updates) a table in the catalog after a commit.
pub async fn register(
    run: &Run<'_>,
    name: &TableName,
    layer: &str,
    t: &DeltaTable,
    description: Option<String>,
) -> Result<()> {
    let env = run.env();
    let plan = run.plan;
    let lake = env.lake_location()?;
    run.engine
        .catalog
        .create_database(&Database {
            name: name.database.clone(),
            description: None,
            location: lake.child(&name.database)?.to_string(),
        })
        .await?;
    let described: Vec<(String, Option<String>, Option<String>)> = plan
        .schema
        .fields
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                f.description.clone(),
                f.classification.clone(),
            )
        })
        .collect();
    let typed_layer = matches!(layer, "bronze" | "silver");
    // A quarantined record is kept as delivered: it holds whatever personal data its
    // source fields hold.
    let quarantined: Vec<(String, Option<String>, Option<String>)> = vec![(
        "_record".into(),
        Some("The rejected record as delivered".into()),
        (!plan.schema.pii_columns().is_empty()).then(|| "pii".to_string()),
    )];
    let described: &[_] = match layer {
        "bronze" | "silver" => &described,
        "quarantine" => &quarantined,
        _ => &[],
    };
    let mut parameters = BTreeMap::new();
    parameters.insert("environment".into(), env.name.clone());
    parameters.insert("retention_days".into(), env.retention_days.to_string());
    if let Some(o) = &plan.job.spec.owner {
        parameters.insert("owner".into(), o.clone());
    }
    let columns = columns_of(&table::arrow_schema(t)?, described);
    // The table's tag: every classification its columns carry (Glue table parameter).
    let classes: std::collections::BTreeSet<&str> = columns
        .iter()
        .filter_map(|c| c.classification.as_deref())
        .collect();
    if !classes.is_empty() {
        let classes: Vec<&str> = classes.into_iter().collect();
        parameters.insert("classifications".into(), classes.join(","));
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let entry = TableEntry {
        database: name.database.clone(),
        name: name.table.clone(),
        location: env.location(name)?.to_string(),
        format: "delta".into(),
        layer: layer.into(),
        columns,
        delta_version: table::version(t),
        owner_pipeline: plan.job.spec.pipeline.clone(),
        schema_ref: typed_layer.then(|| plan.schema.reference()),
        description,
        parameters,
        created_at: now.clone(),
        updated_at: now,
    };
    let previous = run
        .engine
        .catalog
        .get_table(&entry.database, &entry.name)
        .await?;
    if previous.as_ref().is_some_and(|p| same_entry(p, &entry)) {
        return Ok(()); // nothing changed: no catalog write, no record
    }
    run.engine.catalog.upsert_table(&entry).await?;
    if let Some(change) = schema_change(&name.to_string(), previous.as_ref(), &entry) {
        run.emit(change);
    }
    run.record(RunEvent::CatalogUpdated {
        table: name.to_string(),
        location: entry.location.clone(),
        version: entry.delta_version,
        columns: entry.columns.len() as u64,
    })
    .await
}

/// Whether two entries differ only in their timestamps.
fn same_entry(a: &TableEntry, b: &TableEntry) -> bool {
    let strip = |e: &TableEntry| TableEntry {
        created_at: String::new(),
        updated_at: String::new(),
        ..e.clone()
    };
    strip(a) == strip(b)
}

/// The columns added, removed or retyped between a table's previous catalog entry and its
/// new one; None when they are the same or the table is new.
fn schema_change(table: &str, previous: Option<&TableEntry>, now: &TableEntry) -> Option<RunEvent> {
    let before: BTreeMap<&str, &str> = previous?
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty.as_str()))
        .collect();
    let after: BTreeMap<&str, &str> = now
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty.as_str()))
        .collect();
    let names = |m: &BTreeMap<&str, &str>, other: &BTreeMap<&str, &str>| -> Vec<String> {
        m.keys()
            .filter(|k| !other.contains_key(*k))
            .map(|k| k.to_string())
            .collect()
    };
    let added = names(&after, &before);
    let removed = names(&before, &after);
    let retyped: Vec<String> = after
        .iter()
        .filter(|(k, t)| before.get(*k).is_some_and(|b| b != *t))
        .map(|(k, t)| format!("{k}: {} -> {t}", before[k]))
        .collect();
    (!added.is_empty() || !removed.is_empty() || !retyped.is_empty()).then(|| {
        RunEvent::SchemaChanged {
            table: table.to_string(),
            added,
            removed,
            retyped,
        }
    })
}
