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

mod checks;

use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use serde_json::json;

use crate::audit::{AuditLog, Entry};
use crate::catalog::{Catalog, TableEntry};
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
    /// The target table (default: the source's name). It must be a table no pipeline writes.
    pub target_table: Option<&'a str>,
    /// The project's specs, planned, and their lineage: which columns hold personal data.
    pub plans: &'a [crate::plan::JobPlan],
    pub graph: &'a crate::lineage::Graph,
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
    /// What failed after the copy was committed and recorded (the catalog, the lineage
    /// event), with what to do.
    pub warnings: Vec<String>,
}

pub async fn copy(r: &Request<'_>) -> Result<Copied> {
    check_direction(r)?;
    let parse = |t: &str| {
        TableName::parse(t).map_err(|m| Error::Input {
            path: t.to_string(),
            message: m,
        })
    };
    let name = parse(r.table)?;
    let target = parse(r.target_table.unwrap_or(r.table))?;
    let source = open_source(r, &name).await?;
    let from_version = table::version(&source);
    let entry = r
        .from_catalog
        .get_table(&name.database, &name.table)
        .await?;
    let pii = checks::pii_in_clear(r, &name, entry.as_ref(), &source)?;
    if !pii.is_empty() && !r.mask {
        return Err(Error::Input {
            path: r.table.to_string(),
            message: format!(
                "it holds personal data in clear ({}); copy it with --mask (hashed with `{}`'s PII key)",
                pii.join(", "),
                r.to.name
            ),
        });
    }
    checks::keys(r, &source, !pii.is_empty())?;
    checks::target_free(r, &target).await?;
    let run_id = uuid::Uuid::new_v4().to_string();
    // The read is recorded in the source's trail before anything is written (data access).
    r.from_log
        .append(vec![read_entry(r, &run_id, from_version)])
        .await?;
    let (written, rows) = write(r, &target, &source, &pii, &run_id, from_version).await?;
    let to_version = table::version(&written);
    // Recorded right after the commit: the trail accounts for it whatever fails next.
    r.to_log
        .append(vec![committed_entry(
            r,
            &target,
            &source,
            &written,
            rows,
            &pii,
            &run_id,
            from_version,
        )])
        .await?;
    let mut warnings = Vec::new();
    if let Err(e) = register(r, &target, entry, &written, &pii, from_version).await {
        warnings.push(format!(
            "the copy is committed and recorded, but the catalog of `{}` was not updated ({e}); \
             `medallion catalog sync --env {}` registers it",
            r.to.name, r.to.name
        ));
    }
    let shown = target.to_string();
    if let Err(e) =
        crate::lineage::copy::record(r.from, r.to, r.table, &shown, &run_id, &written, &pii).await
    {
        warnings.push(format!(
            "the lineage event of the copy was not written: {e}"
        ));
    }
    Ok(Copied {
        run_id,
        table: shown,
        from_version,
        to_version,
        rows,
        masked: pii,
        target: r.to.location(&target)?.to_string(),
        warnings,
    })
}

#[allow(clippy::too_many_arguments)]
fn committed_entry(
    r: &Request<'_>,
    target: &TableName,
    source: &DeltaTable,
    written: &DeltaTable,
    rows: u64,
    pii: &[String],
    run_id: &str,
    from_version: i64,
) -> Entry {
    let mut e = Entry::new(
        "table_committed",
        json!({ "layer": layer_of(source), "operation": operation(r.direction),
                "table_id": table::table_id(written), "rows": rows,
                "copied_from": { "environment": r.from.name, "table": r.table,
                                 "version": from_version, "table_id": table::table_id(source) },
                "masked": pii }),
    );
    e.run_id = Some(run_id.to_string());
    e.table = Some(target.to_string());
    e.version = Some(table::version(written));
    e
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
    // The source's layer and description; not its pipeline, pinned schema or PII scheme: no
    // pipeline writes the copy, and its hashes are the target's.
    let mut properties = table::properties(source)?;
    properties.retain(|k, _| {
        k.starts_with("medallion.")
            && !k.starts_with("medallion.schema")
            && k != crate::pipeline::PROP_PIPELINE
            && k != crate::pii::PII_PROP
    });
    properties.insert(
        "medallion.copied_from".into(),
        format!("{}:{}@{from_version}", r.from.name, r.table),
    );
    let shown = name.to_string();
    let written = match table::open_if_exists(&shown, &location).await? {
        Some(t) => t
            .write(vec![])
            .with_input_plan(df.logical_plan().clone())
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .with_commit_properties(CommitProperties::default().with_metadata(metadata))
            .await
            .map_err(|e| Error::table(&shown, e))?,
        None => {
            let txn = Transaction::new("medallion-copy", from_version);
            crate::pipeline::create_table_from(&shown, &location, df, properties, metadata, txn)
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
        // No pipeline writes a copy.
        owner_pipeline: String::new(),
        schema_ref: None,
        description: entry.as_ref().and_then(|e| e.description.clone()),
        parameters,
        created_at: now.clone(),
        updated_at: now,
    };
    r.to_catalog.upsert_table(&new).await
}
