//! `medallion maintain` for one table: retention, then VACUUM, checkpoint and log cleanup.
//! Each commit is recorded in the audit trail as soon as it is made.

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use serde::Serialize;
use serde_json::json;

use super::policy::{self, Applies};
use super::readers::{self, Readers};
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
    /// Every table of the lake (readers of a Bronze table are found among them).
    pub lake_tables: &'a [TableName],
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
    /// The oldest row of the table and how many rows are older than the cutoff by the time
    /// column, whatever maintain removes (Gold's rows are never expired by maintain: a Gold
    /// table with its own column can hold rows past it).
    pub oldest_row: Option<String>,
    pub rows_past_cutoff: u64,
    /// Versions this made (retention delete, VACUUM START/END).
    pub versions: Vec<i64>,
    pub notes: Vec<String>,
    /// Why retention was not applied (the table is left as it was): the user must act.
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
    let props = table::properties(&t)?;
    let layer = entry
        .map(|e| e.layer.clone())
        .or_else(|| props.get(crate::pipeline::PROP_LAYER).cloned())
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
    let readers = if layer == "bronze" {
        readers::of_bronze(m.env, m.lake_tables, m.plans, &shown, table::version(&t)).await?
    } else {
        Readers::default()
    };
    let owner = props
        .get(crate::pipeline::PROP_PIPELINE)
        .cloned()
        .unwrap_or_default();
    let t = match unknown_spec(m, &layer, &owner) {
        Some(why) => {
            r.refused = Some(why);
            t
        }
        None => expire(m, &a, cutoff, t, &readers, &mut r).await?,
    };
    let t = vacuum_and_clean(m, &shown, t, &readers, &mut r).await?;
    r.oldest_remaining = oldest(&t, &a, m.dry_run.then_some(cutoff)).await?;
    (r.oldest_row, r.rows_past_cutoff) = past(&t, &a, cutoff).await?;
    if !m.dry_run {
        let mut done = Entry::new(
            "retention_applied",
            serde_json::to_value(&r).unwrap_or_default(),
        );
        done.run_id = Some(m.run_id.clone());
        done.table = Some(shown);
        m.log.append(vec![done]).await?;
    }
    Ok(r)
}

/// A pipeline's table whose spec is not among those given: its own retention and time
/// column cannot be known.
fn unknown_spec(m: &Maintain<'_>, layer: &str, owner: &str) -> Option<String> {
    let pipelines_table =
        matches!(layer, "bronze" | "silver" | "quarantine" | "gold") && !owner.is_empty();
    (pipelines_table && !m.plans.iter().any(|p| p.job.spec.pipeline == owner)).then(|| {
        format!("the spec of its pipeline `{owner}` is not among the specs given (--jobs): its retention cannot be told")
    })
}

async fn expire(
    m: &Maintain<'_>,
    a: &Applies,
    cutoff: DateTime<Utc>,
    t: DeltaTable,
    readers: &Readers,
    r: &mut TableReport,
) -> Result<DeltaTable> {
    let name = r.table.clone();
    let Some(column) = a.column.clone().filter(|_| r.layer != "gold") else {
        r.notes.push(match r.layer.as_str() {
            "gold" => "Gold is recomputed from Silver: Silver's retention decides its rows".into(),
            _ => format!(
                "no column dates its rows: declare `retention.column` for {name} in its spec"
            ),
        });
        return Ok(t);
    };
    let schema = table::arrow_schema(&t)?;
    let Ok(field) = schema.field_with_name(&column) else {
        r.refused = Some(format!(
            "its retention column `{column}` is not in the table"
        ));
        return Ok(t);
    };
    let Some(literal) = policy::cutoff_literal(field.data_type(), cutoff) else {
        r.refused = Some(format!(
            "its retention column `{column}` is {}, not a date or timestamp",
            field.data_type()
        ));
        return Ok(t);
    };
    let predicate = format!("{} < {literal}", crate::spec::sql_ident(&column));
    if matches!(r.layer.as_str(), "bronze" | "quarantine") {
        expire_files(m, &column, cutoff, t, readers, predicate, r).await
    } else {
        expire_rows(m, t, predicate, r).await
    }
}

/// Bronze and quarantine: whole files past the cutoff, their sources kept in the ledger.
async fn expire_files(
    m: &Maintain<'_>,
    column: &str,
    cutoff: DateTime<Utc>,
    t: DeltaTable,
    readers: &Readers,
    predicate: String,
    r: &mut TableReport,
) -> Result<DeltaTable> {
    let name = r.table.clone();
    let expired = expire::expired_files(m.env, &t, column, cutoff).await?;
    if expired.undated > 0 {
        r.refused = Some(format!(
            "{} of its files have no value of `{column}` to date them: nothing was removed",
            expired.undated
        ));
        return Ok(t);
    }
    if let Some(first) = readers.first_unprocessed {
        let unprocessed = table::added_files(&t, first - 1, table::version(&t)).await?;
        let blocked = unprocessed
            .iter()
            .filter(|a| expired.paths.contains(&a.path))
            .count();
        if blocked > 0 {
            r.refused = Some(format!(
                "{blocked} of its files past retention hold rows Silver has not processed yet \
                 (Bronze versions {first}..): run the pipeline first, then maintain"
            ));
            return Ok(t);
        }
    }
    if m.dry_run || expired.paths.is_empty() {
        (r.rows_deleted, r.files_removed, r.bytes_removed) =
            (expired.rows, expired.paths.len() as u64, expired.bytes);
        return Ok(t);
    }
    // First the ledger: the sources of the rows removed stay ingested (a crash between the
    // two leaves them in both, which is harmless).
    let (bronze, filter) = if r.layer == "bronze" {
        (name.clone(), None)
    } else {
        let Some(p) = m
            .plans
            .iter()
            .find(|p| p.job.quarantine_table().to_string() == name)
        else {
            r.refused = Some("the spec of its pipeline is not among the specs given: its Bronze bookmark cannot be kept".into());
            return Ok(t);
        };
        (p.job.bronze_table().to_string(), Some("_stage = 'bronze'"))
    };
    let sources = expire::sources_in_files(m.env, &t, &expired.paths, filter).await?;
    let bronze = TableName::parse(&bronze).map_err(Error::Config)?;
    super::ledger::add(m.env, &bronze, &sources, &m.run_id).await?;
    let t = expire::remove_files(
        &t,
        &name,
        &expired.paths,
        predicate,
        metadata(m, "retention"),
    )
    .await?;
    (r.rows_deleted, r.files_removed, r.bytes_removed) =
        (expired.rows, expired.paths.len() as u64, expired.bytes);
    record_commits(m, r, &t, table::version(&t) - 1).await?;
    Ok(t)
}

/// Silver: a DELETE of the rows past the cutoff.
async fn expire_rows(
    m: &Maintain<'_>,
    t: DeltaTable,
    predicate: String,
    r: &mut TableReport,
) -> Result<DeltaTable> {
    let rows = count(&t, &predicate).await?;
    if m.dry_run || rows == 0 {
        r.rows_deleted = rows;
        return Ok(t);
    }
    let before = table::version(&t);
    let name = r.table.clone();
    let (t, deleted) = expire::delete_rows(t, &name, &predicate, metadata(m, "retention")).await?;
    r.rows_deleted = deleted;
    record_commits(m, r, &t, before).await?;
    Ok(t)
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
    readers: &Readers,
    r: &mut TableReport,
) -> Result<DeltaTable> {
    let hours = m.env.retention.vacuum_hours.unwrap_or(DEFAULT_VACUUM_HOURS);
    let before = table::version(&t);
    let keep: Vec<u64> = readers.first_unprocessed.map_or(Vec::new(), |f| {
        (f.max(0) as u64..=before.max(0) as u64).collect()
    });
    let (t, v) = vacuum::vacuum(t, name, hours, &keep, m.dry_run, metadata(m, "vacuum")).await?;
    (r.files_vacuumed, r.bytes_vacuumed) = (v.files, v.bytes);
    if let Some(f) = readers.first_unprocessed {
        r.notes.push(format!(
            "files of Bronze versions {f}.. are kept: Silver has not processed them"
        ));
    }
    record_commits(m, r, &t, before).await?;
    if !m.dry_run {
        let keep_from = readers.keep_log_from.unwrap_or(i64::MAX);
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
    let schema = table::arrow_schema(t)?;
    let Ok(field) = schema.field_with_name(column) else {
        return Ok(None);
    };
    let ctx = SessionContext::new();
    ctx.register_table("t", table::provider(t, &ctx).await?)?;
    let c = crate::spec::sql_ident(column);
    let filter = after
        .and_then(|cut| policy::cutoff_literal(field.data_type(), cut))
        .map(|l| format!(" WHERE {c} >= {l}"));
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

/// The oldest row by the time column, unfiltered, and the count of rows older than `cutoff`
/// (after what this run removed; in a dry run, before).
async fn past(t: &DeltaTable, a: &Applies, cutoff: DateTime<Utc>) -> Result<(Option<String>, u64)> {
    let Some(column) = &a.column else {
        return Ok((None, 0));
    };
    let schema = table::arrow_schema(t)?;
    let Ok(field) = schema.field_with_name(column) else {
        return Ok((None, 0));
    };
    let Some(l) = policy::cutoff_literal(field.data_type(), cutoff) else {
        return Ok((None, 0));
    };
    let ctx = SessionContext::new();
    ctx.register_table("t", table::provider(t, &ctx).await?)?;
    let c = crate::spec::sql_ident(column);
    let sql = format!(
        "SELECT CAST(min({c}) AS VARCHAR), CAST(count(CASE WHEN {c} < {l} THEN 1 END) AS BIGINT) FROM t"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let Some(b) = batches.first().filter(|b| b.num_rows() > 0) else {
        return Ok((None, 0));
    };
    let text = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
    let min = arrow::array::cast::as_string_array(&text);
    let n = arrow::array::cast::as_primitive_array::<arrow::datatypes::Int64Type>(b.column(1));
    let oldest = (!arrow::array::Array::is_null(min, 0)).then(|| min.value(0).to_string());
    Ok((oldest, n.value(0).max(0) as u64))
}

fn metadata(m: &Maintain<'_>, what: &str) -> std::collections::HashMap<String, serde_json::Value> {
    table::commit_metadata(
        &m.run_id,
        "",
        &m.env.name,
        vec![("medallion.maintain", json!(what))],
    )
}

/// Records the table's commits after version `after` that this run made (its id in their
/// commit info; another writer's commit in between is not this run's).
async fn record_commits(
    m: &Maintain<'_>,
    r: &mut TableReport,
    t: &DeltaTable,
    after: i64,
) -> Result<()> {
    let mut entries = Vec::new();
    for (v, info) in table::commit_infos(t, after, table::version(t)).await? {
        if info.info.get("medallion.run_id").and_then(|x| x.as_str()) != Some(m.run_id.as_str()) {
            continue;
        }
        let mut e = Entry::new(
            "table_committed",
            json!({ "layer": r.layer, "operation": info.operation, "maintain": true }),
        );
        e.run_id = Some(m.run_id.clone());
        e.table = Some(r.table.clone());
        e.version = Some(v);
        entries.push(e);
        r.versions.push(v);
    }
    if !entries.is_empty() {
        m.log.append(entries).await?;
    }
    Ok(())
}
