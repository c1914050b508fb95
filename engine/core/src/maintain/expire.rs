//! Removing what is past retention.
//!
//! Bronze and quarantine tables lose whole data files: a file goes when its newest row (the
//! `maxValues` statistics of its time column) is older than the cutoff. Files are never
//! rewritten: Silver reads Bronze by the files its commits added, and a rewritten file would
//! be read again. Each run writes its own files with one `_ingest_time`, so this is exact for
//! Bronze; a file that straddles the cutoff waits until all its rows are past it.
//!
//! Silver tables lose rows (a Delta DELETE with `column < cutoff`): nothing reads Silver
//! incrementally (Gold recomputes from it).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::DeltaTable;

use crate::error::{Error, Result};
use crate::table;

/// Data files whose rows are all older than the cutoff.
#[derive(Debug, Default)]
pub struct Expired {
    pub paths: Vec<String>,
    pub bytes: u64,
    pub rows: u64,
    /// Files without statistics of the column (kept: their age is unknown).
    pub undated: u64,
}

/// The table's files whose newest `column` value is before `cutoff`: from the file's
/// statistics, else (a column beyond the ones Delta keeps statistics of) read from the file.
pub async fn expired_files(
    env: &crate::env::Environment,
    t: &DeltaTable,
    column: &str,
    cutoff: DateTime<Utc>,
) -> Result<Expired> {
    let mut out = Expired::default();
    let files: Vec<_> = t.snapshot()?.log_data().iter().collect();
    for f in files {
        let from_stats = f
            .stats()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|s| s["maxValues"][column].as_str().map(str::to_string))
            .and_then(|v| parse_time(&v))
            // Statistics keep milliseconds: a row later in the same millisecond is newer.
            .map(|t| t + chrono::Duration::milliseconds(1));
        let newest = match from_stats {
            Some(t) => Some(t),
            None => newest_in_file(env, t, &f.path(), column).await?,
        };
        match newest {
            Some(at) if at <= cutoff => {
                out.paths.push(f.path().to_string());
                out.bytes += f.size().max(0) as u64;
                out.rows += f.num_records().unwrap_or(0) as u64;
            }
            Some(_) => {}
            None => out.undated += 1,
        }
    }
    Ok(out)
}

/// The newest value of `column` in one data file of the table (None: the file has no
/// non-null value of it).
async fn newest_in_file(
    env: &crate::env::Environment,
    t: &DeltaTable,
    path: &str,
    column: &str,
) -> Result<Option<DateTime<Utc>>> {
    let ctx = file_session(env)?;
    let url = t
        .table_url()
        .join(path)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let df = ctx
        .read_parquet(
            url.to_string(),
            datafusion::prelude::ParquetReadOptions::default(),
        )
        .await?;
    let c = crate::spec::sql_ident(column);
    ctx.register_table("f", df.into_view())?;
    let batches = ctx
        .sql(&format!("SELECT CAST(max({c}) AS VARCHAR) FROM f"))
        .await?
        .collect()
        .await?;
    let Some(b) = batches.first().filter(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let text = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
    let a = arrow::array::cast::as_string_array(&text);
    if arrow::array::Array::is_null(a, 0) {
        return Ok(None);
    }
    Ok(parse_time(&a.value(0).replace(' ', "T")).or_else(|| parse_naive(a.value(0))))
}

/// A session that reads the lake's files (its object store registered).
fn file_session(env: &crate::env::Environment) -> Result<datafusion::prelude::SessionContext> {
    let ctx = crate::pipeline::new_session();
    let lake = env.lake_location()?;
    let (store, _) = lake.object_store()?;
    ctx.register_object_store(&lake.store_url(), store);
    Ok(ctx)
}

fn parse_naive(v: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
        .map(|t| t.and_utc())
}

/// The `_source_file` values of the given data files of the table (with `filter`, only of
/// the rows matching it): exactly the sources of what is removed.
pub async fn sources_in_files(
    env: &crate::env::Environment,
    t: &DeltaTable,
    paths: &[String],
    filter: Option<&str>,
) -> Result<Vec<String>> {
    let mut out = std::collections::BTreeSet::new();
    for p in paths {
        let ctx = file_session(env)?;
        let url = t
            .table_url()
            .join(p)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let df = ctx
            .read_parquet(
                url.to_string(),
                datafusion::prelude::ParquetReadOptions::default(),
            )
            .await?;
        ctx.register_table("f", df.into_view())?;
        let w = filter.map_or(String::new(), |f| format!(" WHERE {f}"));
        let batches = ctx
            .sql(&format!(
                "SELECT DISTINCT CAST({} AS VARCHAR) FROM f{w}",
                crate::plan::SOURCE_FILE
            ))
            .await?
            .collect()
            .await?;
        for b in batches {
            let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
            out.extend(
                arrow::array::cast::as_string_array(&c)
                    .iter()
                    .flatten()
                    .map(str::to_string),
            );
        }
    }
    Ok(out.into_iter().collect())
}

/// A statistics value of a timestamp (RFC 3339) or date column.
fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// Removes `paths` from the table in one commit (the files stay on storage until VACUUM).
pub async fn remove_files(
    t: &DeltaTable,
    name: &str,
    paths: &[String],
    predicate: String,
    metadata: std::collections::HashMap<String, serde_json::Value>,
) -> Result<DeltaTable> {
    let wanted: HashSet<&str> = paths.iter().map(String::as_str).collect();
    let actions: Vec<Action> = t
        .snapshot()?
        .log_data()
        .iter()
        .filter(|f| wanted.contains(f.path().as_ref()))
        .map(|f| Action::Remove(f.remove_action(true)))
        .collect();
    if actions.len() != paths.len() {
        return Err(Error::Conflict(format!(
            "{name} changed while its expired files were listed; run `medallion maintain` again"
        )));
    }
    let op = DeltaOperation::Delete {
        predicate: Some(predicate),
    };
    let done = CommitBuilder::from(CommitProperties::default().with_metadata(metadata))
        .with_actions(actions)
        .build(Some(t.snapshot()?), t.log_store(), op)
        .await
        .map_err(|e| Error::table(name, e))?;
    let mut t = t.clone();
    t.state = Some(done.snapshot);
    Ok(t)
}

/// Deletes the rows matching `predicate` (a Delta DELETE); returns the table and rows deleted.
pub async fn delete_rows(
    t: DeltaTable,
    name: &str,
    predicate: &str,
    metadata: std::collections::HashMap<String, serde_json::Value>,
) -> Result<(DeltaTable, u64)> {
    let (t, metrics) = t
        .delete()
        .with_predicate(predicate.to_string())
        .with_commit_properties(CommitProperties::default().with_metadata(metadata))
        .await
        .map_err(|e| Error::table(name, e))?;
    Ok((t, metrics.num_deleted_rows.unwrap_or(0) as u64))
}

/// The table's version as a version number of the log.
pub fn version(t: &DeltaTable) -> i64 {
    table::version(t)
}
