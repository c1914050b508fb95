//! Bronze's file bookmark: the source files already in the table (each row's `_source_file`)
//! and the largest `_ingest_time` stamped. Read from the Delta log's per-file statistics
//! where they settle it — a data file whose `_source_file` minimum equals its maximum (tight
//! bounds, no deletion vector) holds rows of that one source — and from the rows of the
//! other data files only. A run that ingested one source per data file (one file per run,
//! or large files) is then never read again for its names; a data file holding several
//! sources is read each time. Whenever the statistics cannot be used (no file listed, a
//! file selection the reader refuses), the whole table is read as before.

use std::collections::HashSet;

use arrow::array::AsArray as _;
use arrow::datatypes::TimestampMicrosecondType;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use crate::error::{Error, Result};
use crate::plan::{INGEST_TIME, SOURCE_FILE};
use crate::table;

/// What one data file's statistics say.
#[derive(Debug, PartialEq)]
pub(crate) struct FileStats {
    /// Its one source file, when the minimum and maximum name agree.
    pub source: Option<String>,
    /// An upper bound of its largest `_ingest_time` in microseconds (the log keeps
    /// milliseconds, truncated).
    pub ingest_bound: Option<i64>,
}

/// Parses an add action's statistics (JSON). Loose bounds (`tightBounds: false`, written
/// with deletion vectors) settle nothing.
pub(crate) fn file_stats(stats: Option<&str>) -> FileStats {
    let v: Option<serde_json::Value> = stats
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .filter(|v| v.get("tightBounds").and_then(|t| t.as_bool()) != Some(false));
    let field = |kind: &str, col: &str| {
        v.as_ref()
            .and_then(|v| v.get(kind))
            .and_then(|m| m.get(col))
            .and_then(|x| x.as_str())
            .map(str::to_string)
    };
    let source = match (
        field("minValues", SOURCE_FILE),
        field("maxValues", SOURCE_FILE),
    ) {
        (Some(a), Some(b)) if a == b => Some(a),
        _ => None,
    };
    let ingest_bound = field("maxValues", INGEST_TIME)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.timestamp_micros() + 999);
    FileStats {
        source,
        ingest_bound,
    }
}

/// The source files in Bronze, and (an upper bound of) the largest `_ingest_time`. `__bronze`
/// is registered in `ctx` as the whole table.
pub async fn read(
    ctx: &SessionContext,
    t: &DeltaTable,
    name: &str,
) -> Result<(HashSet<String>, Option<i64>)> {
    ctx.register_table("__bronze", table::provider(t, ctx).await?)?;
    let context = format!("reading the file bookmark of {name}");
    let (settled, unread, last) = from_statistics(t)?;
    let read = unread.len();
    let files = if settled.is_empty() && unread.is_empty() {
        // No file listed: the statistics prove nothing (an empty table costs nothing to read).
        names(ctx.table("__bronze").await?, &context).await?
    } else if unread.is_empty() {
        settled
    } else {
        let limited = async { names(some_files(ctx, t, unread).await?, &context).await };
        match limited.await {
            Ok(mut all) => {
                all.extend(settled);
                all
            }
            Err(e) => {
                tracing::debug!(table = name, error = %e, "File bookmark: the data files without one source could not be read alone; reading the whole table.");
                names(ctx.table("__bronze").await?, &context).await?
            }
        }
    };
    tracing::debug!(
        table = name,
        files_read = read,
        sources = files.len(),
        "File bookmark read."
    );
    let last = match last {
        Some(l) => Some(l),
        None => max_ingest(ctx, &context).await?,
    };
    Ok((files, last))
}

/// From the log's statistics: the sources settled, the data files to read for their names,
/// and the bound of `_ingest_time` (None unless every file has one).
fn from_statistics(t: &DeltaTable) -> Result<(HashSet<String>, Vec<String>, Option<i64>)> {
    let mut settled = HashSet::new();
    let mut unread = Vec::new();
    let mut last: Option<i64> = None;
    let mut every_bound = true;
    for f in t.snapshot()?.log_data().into_iter() {
        let s = match f.deletion_vector_descriptor() {
            Some(_) => file_stats(None),
            None => file_stats(f.stats().as_deref()),
        };
        match s.source {
            Some(source) => {
                settled.insert(source);
            }
            None => unread.push(f.object_store_path().as_ref().to_string()),
        }
        match s.ingest_bound {
            Some(b) => last = Some(last.map_or(b, |l| l.max(b))),
            None => every_bound = false,
        }
    }
    Ok((settled, unread, last.filter(|_| every_bound)))
}

/// The table's reader limited to `paths` (fails on a path it does not list).
async fn some_files(
    ctx: &SessionContext,
    t: &DeltaTable,
    paths: Vec<String>,
) -> Result<datafusion::dataframe::DataFrame> {
    t.update_datafusion_session(&ctx.state())?;
    let p = t.table_provider().with_file_paths(paths).await?;
    Ok(ctx.read_table(p)?)
}

async fn names(rows: datafusion::dataframe::DataFrame, context: &str) -> Result<HashSet<String>> {
    let batches = rows
        .select_columns(&[SOURCE_FILE])?
        .distinct()?
        .collect()
        .await
        .map_err(|e| Error::query(context, e))?;
    text_values(&batches)
}

async fn max_ingest(ctx: &SessionContext, context: &str) -> Result<Option<i64>> {
    let max = ctx
        .sql(&format!("SELECT max({INGEST_TIME}) AS m FROM __bronze"))
        .await?
        .collect()
        .await
        .map_err(|e| Error::query(context, e))?;
    Ok(max.first().and_then(|b| {
        b.column(0)
            .as_primitive_opt::<TimestampMicrosecondType>()
            .and_then(|a| a.iter().next().flatten())
    }))
}

pub fn text_values(batches: &[arrow::array::RecordBatch]) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for b in batches {
        let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
        out.extend(c.as_string::<i32>().iter().flatten().map(str::to_string));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_settle_a_file_of_one_source_only() {
        let one = r#"{"numRecords":3,"minValues":{"_source_file":"in/a.csv","_ingest_time":"2026-12-03T18:10:15.689Z"},"maxValues":{"_source_file":"in/a.csv","_ingest_time":"2026-12-03T18:10:15.689Z"}}"#;
        let s = file_stats(Some(one));
        assert_eq!(s.source.as_deref(), Some("in/a.csv"));
        // 18:10:15.689 truncated: the true maximum is below .690.
        let ms = chrono::DateTime::parse_from_rfc3339("2026-12-03T18:10:15.690Z")
            .unwrap()
            .timestamp_micros();
        assert_eq!(s.ingest_bound, Some(ms - 1));
        let two =
            r#"{"minValues":{"_source_file":"in/a.csv"},"maxValues":{"_source_file":"in/b.csv"}}"#;
        assert_eq!(file_stats(Some(two)).source, None);
        assert_eq!(file_stats(Some(two)).ingest_bound, None);
        assert_eq!(file_stats(Some("not json")).source, None);
        assert_eq!(file_stats(None).source, None);
        let nulls = r#"{"minValues":{},"maxValues":{},"nullCount":{"_source_file":3}}"#;
        assert_eq!(file_stats(Some(nulls)).source, None);
        // Loose bounds (rows deleted by a deletion vector may be the only ones of a source).
        let loose = one.replace(
            r#"{"numRecords":3,"#,
            r#"{"numRecords":3,"tightBounds":false,"#,
        );
        assert_ne!(loose, one);
        assert_eq!(file_stats(Some(&loose)).source, None);
        assert_eq!(file_stats(Some(&loose)).ingest_bound, None);
    }
}
