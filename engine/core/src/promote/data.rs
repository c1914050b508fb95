//! Data between environments: `medallion promote data TABLE --from staging --to prod` (reference
//! or seed data, in the promotion order) and `medallion copy TABLE --from prod --to staging
//! --mask` (test data, against it). The only commands that read one environment's lake and
//! write another's.
//!
//! The table at a version is read from the source and written as a new Delta version of the
//! target table (created if missing) with the target's storage options, so every object is
//! encrypted with the target's key. A table holding personal data in clear (see
//! [`super::gates::raw_pii_columns`]) is refused unless `--mask`, which hashes those columns
//! with the target environment's PII key as it writes them. The source's trail records the
//! read (`data_read`), the target's the commit (`table_committed`, with where it came from),
//! and the target's lineage file an OpenLineage event from one environment's dataset to the
//! other's.

use std::collections::BTreeSet;

use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use serde_json::json;

use crate::audit::{AuditLog, Entry};
use crate::catalog::{Catalog, Column, TableEntry};
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::spec::TableName;
use crate::table;

/// `promote data` goes with the promotion order (staging → prod); `copy` against it
/// (prod → staging, test data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Promote,
    Copy,
}

pub struct Request<'a> {
    pub table: &'a str,
    pub from: &'a Environment,
    pub to: &'a Environment,
    pub from_catalog: &'a dyn Catalog,
    pub to_catalog: &'a dyn Catalog,
    pub from_log: &'a AuditLog,
    pub to_log: &'a AuditLog,
    /// The source version (default: the latest).
    pub version: Option<i64>,
    pub mask: bool,
    pub direction: Direction,
    /// Columns of the project's tables holding personal data in clear (`db.table`, column).
    pub raw_pii: &'a BTreeSet<(String, String)>,
    /// The tables the project's specs produce (for others, the catalog's classification
    /// alone tells).
    pub project_tables: &'a BTreeSet<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Copied {
    pub run_id: String,
    pub table: String,
    pub from_version: i64,
    pub to_version: i64,
    pub rows: u64,
    /// Columns written hashed.
    pub masked: Vec<String>,
    pub target: String,
}

pub async fn copy(r: &Request<'_>) -> Result<Copied> {
    check_direction(r)?;
    let name = TableName::parse(r.table).map_err(|m| Error::Input {
        path: r.table.to_string(),
        message: m,
    })?;
    let source = open_source(r, &name).await?;
    let from_version = table::version(&source);
    let entry = r
        .from_catalog
        .get_table(&name.database, &name.table)
        .await?;
    let pii = pii_columns(r, &name, entry.as_ref(), &source)?;
    if !pii.is_empty() && !r.mask {
        return Err(Error::Input {
            path: r.table.to_string(),
            message: format!(
                "it holds personal data in clear ({}); copy it with --mask (hashed with `{}`'s PII key) \
                 or promote a table that does not",
                pii.join(", "),
                r.to.name
            ),
        });
    }
    let run_id = uuid::Uuid::new_v4().to_string();
    // The read is recorded in the source's trail before anything is written (data access).
    r.from_log
        .append(vec![read_entry(r, &run_id, from_version)])
        .await?;
    let (written, rows) = write(r, &name, &source, &pii, &run_id, from_version).await?;
    let to_version = table::version(&written);
    register(r, &name, entry, &written, &pii, from_version).await?;
    let mut committed = Entry::new(
        "table_committed",
        json!({ "layer": layer_of(&source), "operation": operation(r.direction),
                "table_id": table::table_id(&written), "rows": rows,
                "copied_from": { "environment": r.from.name, "table": r.table,
                                 "version": from_version, "table_id": table::table_id(&source) },
                "masked": pii }),
    );
    committed.run_id = Some(run_id.clone());
    committed.table = Some(r.table.to_string());
    committed.version = Some(to_version);
    r.to_log.append(vec![committed]).await?;
    crate::lineage::copy::record(r.from, r.to, r.table, &run_id, &written, &pii).await?;
    Ok(Copied {
        run_id,
        table: r.table.to_string(),
        from_version,
        to_version,
        rows,
        masked: pii,
        target: r.to.location(&name)?.to_string(),
    })
}

fn operation(d: Direction) -> &'static str {
    match d {
        Direction::Promote => "promote data",
        Direction::Copy => "copy",
    }
}

/// `promote data` only into the environment that promotes from the source; `copy` only into
/// an environment before the source in the promotion order.
fn check_direction(r: &Request<'_>) -> Result<()> {
    let ok = match r.direction {
        Direction::Promote => r.to.promote_from.as_deref() == Some(r.from.name.as_str()),
        Direction::Copy => r.from.promote_from.as_deref() == Some(r.to.name.as_str()),
    };
    if ok {
        return Ok(());
    }
    Err(Error::Config(match r.direction {
        Direction::Promote => format!(
            "data is promoted only along the promotion order: `{}` promotes from {}, not from `{}`",
            r.to.name,
            r.to.promote_from.as_deref().map_or("nothing".into(), |f| format!("`{f}`")),
            r.from.name
        ),
        Direction::Copy => format!(
            "`copy` brings test data back down the promotion order: `{}` promotes from {}, so copy from `{}` to that one (use `promote data` to go up)",
            r.from.name,
            r.from.promote_from.as_deref().map_or("nothing".into(), |f| format!("`{f}`")),
            r.from.name
        ),
    }))
}

async fn open_source(r: &Request<'_>, name: &TableName) -> Result<DeltaTable> {
    let loc = r.from.location(name)?;
    let mut t = table::open_if_exists(r.table, &loc)
        .await?
        .ok_or_else(|| Error::Input {
            path: r.table.to_string(),
            message: format!("no such table in environment `{}` ({loc})", r.from.name),
        })?;
    if let Some(v) = r.version {
        let latest = table::version(&t);
        if v < 0 || v > latest {
            return Err(Error::Input {
                path: format!("--version {v}"),
                message: format!(
                    "{} has versions 0 to {latest} in `{}`",
                    r.table, r.from.name
                ),
            });
        }
        t.load_version(v as u64)
            .await
            .map_err(|e| Error::table(r.table, e))?;
    }
    Ok(t)
}

/// The table's columns holding personal data in clear. For a table of the project: a Bronze
/// column classified `pii`, a column computed from one without a hash or mask (the
/// lineage), a quarantine's `_record`. For another table: classified `pii` in the catalog.
fn pii_columns(
    r: &Request<'_>,
    name: &TableName,
    entry: Option<&TableEntry>,
    source: &DeltaTable,
) -> Result<Vec<String>> {
    let schema = table::arrow_schema(source)?;
    let classified = |c: &str| {
        entry.is_some_and(|e| {
            e.columns
                .iter()
                .any(|x: &Column| x.name == c && x.classification.as_deref() == Some("pii"))
        })
    };
    let key = name.to_string();
    let ours = r.project_tables.contains(&key);
    Ok(schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|c| {
            if ours {
                r.raw_pii.contains(&(key.clone(), c.clone()))
            } else {
                classified(c)
            }
        })
        .collect())
}

fn layer_of(t: &DeltaTable) -> String {
    table::properties(t)
        .ok()
        .and_then(|p| p.get(crate::pipeline::PROP_LAYER).cloned())
        .unwrap_or_default()
}

fn read_entry(r: &Request<'_>, run_id: &str, version: i64) -> Entry {
    let mut e = Entry::new(
        "data_read",
        json!({ "purpose": operation(r.direction), "to": r.to.name, "mask": r.mask }),
    );
    e.run_id = Some(run_id.to_string());
    e.table = Some(r.table.to_string());
    e.version = Some(version);
    e
}

/// Writes the source's rows (PII columns hashed) as the target table's next version.
async fn write(
    r: &Request<'_>,
    name: &TableName,
    source: &DeltaTable,
    pii: &[String],
    run_id: &str,
    from_version: i64,
) -> Result<(DeltaTable, u64)> {
    let ctx = SessionContext::new();
    let key = crate::pii::hash_key(r.to)?;
    crate::pii::register_udfs(&ctx, key.as_ref());
    ctx.register_table("source", table::provider(source, &ctx).await?)?;
    let schema = table::arrow_schema(source)?;
    let actions = pii
        .iter()
        .map(|c| (c.clone(), crate::spec::PiiAction::Hash))
        .collect();
    let select = crate::pii::pii_select(&schema, &actions, key.as_ref());
    let df = ctx.sql(&format!("SELECT {select} FROM source")).await?;
    let metadata = table::commit_metadata(
        run_id,
        "",
        &r.to.name,
        vec![(
            "medallion.copied_from",
            json!({ "environment": r.from.name, "table": r.table, "version": from_version }),
        )],
    );
    let location = r.to.location(name)?;
    let mut properties = table::properties(source)?;
    properties.retain(|k, _| k.starts_with("medallion."));
    let written = match table::open_if_exists(r.table, &location).await? {
        Some(t) => t
            .write(vec![])
            .with_input_plan(df.logical_plan().clone())
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .with_commit_properties(CommitProperties::default().with_metadata(metadata))
            .await
            .map_err(|e| Error::table(r.table, e))?,
        None => {
            let txn = Transaction::new("medallion-copy", from_version);
            crate::pipeline::create_table_from(r.table, &location, df, properties, metadata, txn)
                .await?
        }
    };
    // The version holds exactly the copied rows (an overwrite or a new table).
    let rows = table::file_stats(&written)?.rows.unwrap_or(0);
    Ok((written, rows))
}

/// The target catalog's entry: the source's (description, owner, classifications), with the
/// target's location, version and columns as written.
async fn register(
    r: &Request<'_>,
    name: &TableName,
    entry: Option<TableEntry>,
    written: &DeltaTable,
    masked: &[String],
    from_version: i64,
) -> Result<()> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let described: Vec<(String, Option<String>, Option<String>)> = entry
        .as_ref()
        .map(|e| {
            e.columns
                .iter()
                .map(|c| {
                    let masked = masked.contains(&c.name);
                    let desc = match (masked, &c.description) {
                        (true, Some(d)) => Some(format!("{d} (hashed by copy)")),
                        (true, None) => Some("hashed by copy".into()),
                        (false, d) => d.clone(),
                    };
                    (c.name.clone(), desc, c.classification.clone())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut parameters = entry
        .as_ref()
        .map(|e| e.parameters.clone())
        .unwrap_or_default();
    parameters.insert("environment".into(), r.to.name.clone());
    parameters.insert("retention_days".into(), r.to.retention_days.to_string());
    parameters.insert(
        "copied_from".into(),
        format!("{}:{}@{from_version}", r.from.name, r.table),
    );
    let lake = r.to.lake_location()?;
    r.to_catalog
        .create_database(&crate::catalog::Database {
            name: name.database.clone(),
            description: None,
            location: lake.child(&name.database)?.to_string(),
        })
        .await?;
    let new = TableEntry {
        database: name.database.clone(),
        name: name.table.clone(),
        location: r.to.location(name)?.to_string(),
        format: "delta".into(),
        layer: entry
            .as_ref()
            .map_or_else(|| layer_of(written), |e| e.layer.clone()),
        columns: crate::catalog::columns_of(&table::arrow_schema(written)?, &described),
        delta_version: table::version(written),
        owner_pipeline: entry
            .as_ref()
            .map(|e| e.owner_pipeline.clone())
            .unwrap_or_default(),
        schema_ref: entry.as_ref().and_then(|e| e.schema_ref.clone()),
        description: entry.as_ref().and_then(|e| e.description.clone()),
        parameters,
        created_at: now.clone(),
        updated_at: now,
    };
    r.to_catalog.upsert_table(&new).await
}
