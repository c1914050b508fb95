//! `medallion maintain` for one table: retention, then VACUUM, checkpoint and log cleanup.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use serde::Serialize;
use serde_json::json;

use super::policy::{self, Applies};
use super::{expire, vacuum, DEFAULT_VACUUM_HOURS};
use crate::audit::{AuditLog, Entry};
use crate::catalog::TableEntry;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::plan::JobPlan;
use crate::spec::TableName;
use crate::table;

/// What `maintain` works with.
pub struct Maintain<'a> {
    pub env: &'a Environment,
    pub plans: &'a [JobPlan],
    pub log: &'a AuditLog,
    pub dry_run: bool,
    pub now: DateTime<Utc>,
    pub run_id: String,
}

/// One table's outcome (or, with `--dry-run`, what it would be).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableReport {
    pub table: String,
    pub layer: String,
    pub retention_days: u32,
    /// Where the retention comes from.
    pub retention_from: String,
    pub column: Option<String>,
    pub cutoff: String,
    pub rows_deleted: u64,
    /// Data files no longer part of the table (their bytes are freed by a later VACUUM once
    /// the window has passed).
    pub files_removed: u64,
    pub bytes_removed: u64,
    pub files_vacuumed: u64,
    pub bytes_vacuumed: u64,
    /// The oldest row left (of the time column).
    pub oldest_remaining: Option<String>,
    /// Versions this made (retention delete, VACUUM START/END).
    pub versions: Vec<i64>,
    pub notes: Vec<String>,
    /// Why retention was not applied (the table is left as it was).
    pub refused: Option<String>,
}

pub async fn maintain_table(
    m: &Maintain<'_>,
    name: &TableName,
    entry: Option<&TableEntry>,
) -> Result<TableReport> {
    let shown = name.to_string();
    let loc = m.env.location(name)?;
    let Some(t) = table::open_if_exists(&shown, &loc).await? else {
        return Err(Error::Input {
            path: shown.clone(),
            message: format!("no Delta table at {loc}"),
        });
    };
    let schema = table::arrow_schema(&t)?;
    let layer = entry
        .map(|e| e.layer.clone())
        .or_else(|| {
            table::properties(&t)
                .ok()?
                .get(crate::pipeline::PROP_LAYER)
                .cloned()
        })
        .unwrap_or_default();
    let a = policy::applies(m.env, &shown, &layer, entry, m.plans, &schema);
    let cutoff = m.now - chrono::Duration::days(a.days as i64);
    let mut r = TableReport {
        table: shown.clone(),
        layer: layer.clone(),
        retention_days: a.days,
        retention_from: a.from.clone(),
        column: a.column.clone(),
        cutoff: cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ..Default::default()
    };
    let unprocessed = unprocessed_bronze(m, &shown, &layer, &t).await?;
    let t = match expire(m, &shown, &layer, &a, cutoff, t, &unprocessed, &mut r).await {
        Ok(t) => t,
        Err(Refused(why)) => {
            r.refused = Some(why);
            table::open_if_exists(&shown, &loc)
                .await?
                .expect("it was there")
        }
    };
    let t = vacuum_and_clean(m, &shown, t, &unprocessed, &mut r).await?;
    r.oldest_remaining = oldest(&t, &a, m.dry_run.then_some(cutoff)).await?;
    record(m, &r).await?;
    Ok(r)
}

/// Retention could not be applied, and why.
struct Refused(String);

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        Refused(e.to_string())
    }
}

/// Bronze versions Silver has not processed yet, and the files they added.
#[derive(Default)]
struct Unprocessed {
    versions: Vec<u64>,
    files: HashSet<String>,
    /// The first version Silver still has to read (log entries from it on are kept).
    from: Option<i64>,
}

async fn unprocessed_bronze(
    m: &Maintain<'_>,
    name: &str,
    layer: &str,
    t: &DeltaTable,
) -> Result<Unprocessed> {
    if layer != "bronze" {
        return Ok(Unprocessed::default());
    }
    let latest = table::version(t);
    let mut out = Unprocessed::default();
    for p in m
        .plans
        .iter()
        .filter(|p| p.job.bronze_table().to_string() == name)
    {
        let Some(silver) = p.job.silver_table() else {
            continue;
        };
        let loc = m.env.location(&silver)?;
        let bookmark = match table::open_if_exists(&silver.to_string(), &loc).await? {
            Some(s) => crate::pipeline::silver_bookmark(&s, name).await?,
            None => None,
        };
        let after = bookmark.unwrap_or(-1);
        if after >= latest {
            continue;
        }
        out.from = Some(out.from.map_or(after + 1, |f: i64| f.min(after + 1)));
        out.versions.extend(((after + 1) as u64)..=(latest as u64));
        for add in table::added_files(t, after, latest).await? {
            out.files.insert(add.path);
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn expire(
    m: &Maintain<'_>,
    name: &str,
    layer: &str,
    a: &Applies,
    cutoff: DateTime<Utc>,
    t: DeltaTable,
    unprocessed: &Unprocessed,
    r: &mut TableReport,
) -> std::result::Result<DeltaTable, Refused> {
    let Some(column) = &a.column else {
        r.notes.push(match layer {
            "gold" => "Gold is recomputed from Silver: Silver's retention decides its rows".into(),
            _ => format!(
                "no column dates its rows: declare `retention.column` for {name} in its spec"
            ),
        });
        return Ok(t);
    };
    let schema = table::arrow_schema(&t)?;
    let ty = schema
        .field_with_name(column)
        .map_err(|_| {
            Refused(format!(
                "its retention column `{column}` is not in the table"
            ))
        })?
        .data_type()
        .clone();
    let literal = policy::cutoff_literal(&ty, cutoff).ok_or_else(|| {
        Refused(format!(
            "its retention column `{column}` is {ty}, not a date or timestamp"
        ))
    })?;
    let predicate = format!("{} < {literal}", crate::spec::sql_ident(column));
    let before = table::version(&t);
    let metadata = metadata(m, "retention");
    let t = if matches!(layer, "bronze" | "quarantine") {
        let expired = expire::expired_files(&t, column, cutoff)?;
        if expired.undated > 0 {
            r.notes.push(format!(
                "{} files have no statistics of `{column}`: kept",
                expired.undated
            ));
        }
        let blocked = expired
            .paths
            .iter()
            .filter(|p| unprocessed.files.contains(*p))
            .count();
        if blocked > 0 {
            return Err(Refused(format!(
                "{blocked} of its files past retention hold rows Silver has not processed yet \
                 (Bronze versions {}..): run the pipeline first, then maintain",
                unprocessed.versions.first().copied().unwrap_or(0)
            )));
        }
        r.rows_deleted = expired.rows;
        r.files_removed = expired.paths.len() as u64;
        r.bytes_removed = expired.bytes;
        if m.dry_run || expired.paths.is_empty() {
            return Ok(t);
        }
        // First the ledger: the sources of the rows removed stay ingested (a crash between
        // the two leaves them in both, which is harmless).
        retire_sources(m, name, layer, &t, &predicate).await?;
        expire::remove_files(&t, name, &expired.paths, predicate, metadata).await?
    } else {
        let rows = count(&t, &predicate).await?;
        r.rows_deleted = rows;
        if m.dry_run || rows == 0 {
            return Ok(t);
        }
        let (t, deleted) = expire::delete_rows(t, name, &predicate, metadata).await?;
        r.rows_deleted = deleted;
        t
    };
    r.versions.extend((before + 1)..=table::version(&t));
    Ok(t)
}

/// Appends to the Bronze table's ledger the source files of the rows about to be removed
/// (of a quarantine: of its Bronze-stage records, which are the bookmark of files whose
/// records were all unparseable).
async fn retire_sources(
    m: &Maintain<'_>,
    name: &str,
    layer: &str,
    t: &DeltaTable,
    predicate: &str,
) -> std::result::Result<(), Refused> {
    let (bronze, predicate) = if layer == "bronze" {
        (name.to_string(), predicate.to_string())
    } else {
        let plan = m.plans.iter().find(|p| p.job.quarantine_table().to_string() == name).ok_or_else(|| {
            Refused(format!("the spec of its pipeline is not among the specs given (--jobs); its Bronze bookmark cannot be kept"))
        })?;
        (
            plan.job.bronze_table().to_string(),
            format!("_stage = 'bronze' AND {predicate}"),
        )
    };
    let files = super::ledger::sources_of(t, &predicate).await?;
    let bronze = TableName::parse(&bronze).map_err(Refused)?;
    super::ledger::add(m.env, &bronze, &files, &m.run_id).await?;
    Ok(())
}

async fn count(t: &DeltaTable, predicate: &str) -> Result<u64> {
    let ctx = SessionContext::new();
    ctx.register_table("t", table::provider(t, &ctx).await?)?;
    let df = ctx
        .sql(&format!("SELECT count(*) FROM t WHERE {predicate}"))
        .await?;
    let batches = df.collect().await?;
    Ok(batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
        })
        .map_or(0, |a| a.value(0) as u64))
}

async fn vacuum_and_clean(
    m: &Maintain<'_>,
    name: &str,
    t: DeltaTable,
    unprocessed: &Unprocessed,
    r: &mut TableReport,
) -> Result<DeltaTable> {
    let hours = m.env.retention.vacuum_hours.unwrap_or(DEFAULT_VACUUM_HOURS);
    let before = table::version(&t);
    let (t, v) = vacuum::vacuum(
        t,
        name,
        hours,
        &unprocessed.versions,
        m.dry_run,
        metadata(m, "vacuum"),
    )
    .await?;
    r.files_vacuumed = v.files;
    r.bytes_vacuumed = v.bytes;
    if !unprocessed.versions.is_empty() {
        r.notes.push(format!(
            "files of Bronze versions {}.. are kept: Silver has not processed them",
            unprocessed.versions[0]
        ));
    }
    r.versions.extend((before + 1)..=table::version(&t));
    if !m.dry_run {
        let keep_from = unprocessed.from.unwrap_or(i64::MAX);
        let cleaned = vacuum::checkpoint_and_clean(&t, name, keep_from).await?;
        if cleaned > 0 {
            r.notes.push(format!(
                "{cleaned} log entries past the log retention removed"
            ));
        }
    }
    Ok(t)
}

/// The oldest row of the time column (with `after`, among the rows at or after it: what a
/// dry run would leave).
async fn oldest(
    t: &DeltaTable,
    a: &Applies,
    after: Option<DateTime<Utc>>,
) -> Result<Option<String>> {
    let Some(column) = &a.column else {
        return Ok(None);
    };
    let ctx = SessionContext::new();
    ctx.register_table("t", table::provider(t, &ctx).await?)?;
    let c = crate::spec::sql_ident(column);
    let schema = table::arrow_schema(t)?;
    let filter = match (after, schema.field_with_name(column)) {
        (Some(cut), Ok(f)) => {
            policy::cutoff_literal(f.data_type(), cut).map(|l| format!(" WHERE {c} >= {l}"))
        }
        _ => None,
    };
    let df = ctx
        .sql(&format!(
            "SELECT CAST(min({c}) AS VARCHAR) FROM t{}",
            filter.unwrap_or_default()
        ))
        .await?;
    let batches = df.collect().await?;
    let Some(b) = batches.first().filter(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let text = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
    let a = arrow::array::cast::as_string_array(&text);
    Ok((!arrow::array::Array::is_null(a, 0)).then(|| a.value(0).to_string()))
}

fn metadata(m: &Maintain<'_>, what: &str) -> std::collections::HashMap<String, serde_json::Value> {
    table::commit_metadata(
        &m.run_id,
        "",
        &m.env.name,
        vec![("medallion.maintain", json!(what))],
    )
}

/// The audit records: each commit made, then the table's outcome.
async fn record(m: &Maintain<'_>, r: &TableReport) -> Result<()> {
    if m.dry_run {
        return Ok(());
    }
    let t = table::open_if_exists(
        &r.table,
        &m.env
            .location(&TableName::parse(&r.table).map_err(Error::Config)?)?,
    )
    .await?
    .ok_or_else(|| Error::Internal(format!("{} vanished during maintain", r.table)))?;
    let mut entries = Vec::new();
    for v in &r.versions {
        let info = table::commit_entry(&t, *v).await?.flatten();
        let op = info
            .as_ref()
            .and_then(|i| i.operation.clone())
            .unwrap_or_default();
        let mut e = Entry::new(
            "table_committed",
            json!({ "layer": r.layer, "operation": op, "maintain": true }),
        );
        e.run_id = Some(m.run_id.clone());
        e.table = Some(r.table.clone());
        e.version = Some(*v);
        entries.push(e);
    }
    let mut done = Entry::new(
        "retention_applied",
        serde_json::to_value(r).unwrap_or_default(),
    );
    done.run_id = Some(m.run_id.clone());
    done.table = Some(r.table.clone());
    entries.push(done);
    m.log.append(entries).await?;
    Ok(())
}
