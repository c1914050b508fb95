//! Silver's inputs: the Bronze rows it has not processed yet.
//!
//! Silver's bookmark is the Bronze version it has processed up to (a Delta application
//! transaction in Silver's own commits). The rows still to process are those of the data
//! files added by later Bronze commits — whoever wrote them and whenever their rows were
//! stamped — then the run's staged Bronze files. Tables written before this bookmark
//! existed carry the largest `_ingest_time` processed instead; it is read once and replaced.

use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{col, lit, ParquetReadOptions, SessionContext};
use deltalake::DeltaTable;

use super::super::bronze::BronzeOut;
use super::super::Run;
use crate::error::{Error, Result};
use crate::plan::INGEST_TIME;
use crate::table;

/// Silver's bookmark of a Bronze table.
pub fn bookmark_app_id(bronze: &str) -> String {
    format!("medallion.silver.bronze_version<{bronze}")
}

fn legacy_app_id(bronze: &str) -> String {
    format!("medallion.silver<{bronze}")
}

/// One input of Silver: `replayed` when the quarantine already holds the Silver rejects of
/// its rows (a previous run committed the quarantine but not Silver).
pub struct Input {
    pub rows: DataFrame,
    pub replayed: bool,
}

/// The inputs and the bookmark they start from.
pub struct Inputs {
    pub parts: Vec<Input>,
    pub bookmark: Option<i64>,
    /// About how many rows the parts hold, from the Bronze files' row counts (an upper bound
    /// when Silver reads the whole table through a legacy bookmark; a table with a file
    /// without a row count adds none): only sizes the dedupe's table, which grows past it.
    pub rows: u64,
}

/// `covered`: the Bronze version up to which the quarantine holds Silver's rejects.
pub async fn read(
    run: &Run<'_>,
    ctx: &SessionContext,
    bronze: &BronzeOut,
    covered: Option<i64>,
    silver: Option<&DeltaTable>,
    silver_name: &str,
) -> Result<Inputs> {
    let app = bookmark_app_id(&bronze.name);
    let (bookmark, legacy) = match silver {
        Some(t) => match table::txn_version(t, &app).await? {
            Some(v) => (Some(v), None),
            None => (
                None,
                table::txn_version(t, &legacy_app_id(&bronze.name)).await?,
            ),
        },
        None => (None, None),
    };
    check_bookmark(bookmark, bronze, silver_name)?;
    let mut parts = Vec::new();
    let mut estimate = bronze.staged.rows;
    if let Some(bt) = &bronze.table {
        let current = table::version(bt);
        let whole = || table::file_stats(bt).map(|s| s.rows.unwrap_or(0));
        match (bookmark, legacy) {
            (None, Some(t)) => {
                estimate = estimate.saturating_add(whole()?);
                parts.push(Input {
                    rows: after_time(ctx, t).await?,
                    replayed: false,
                })
            }
            (None, None) if covered.is_none() => {
                estimate = estimate.saturating_add(whole()?);
                parts.push(Input {
                    rows: ctx.table("__bronze").await?,
                    replayed: false,
                })
            }
            (from, _) => {
                let from = from.unwrap_or(-1);
                let split = covered.unwrap_or(from).clamp(from, current);
                let (replay, n) = files(bronze, bt, from, split).await?;
                estimate = estimate.saturating_add(n);
                parts.extend(read_files(run, ctx, replay).await?.map(|rows| Input {
                    rows,
                    replayed: true,
                }));
                let (fresh, n) = files(bronze, bt, split, current).await?;
                estimate = estimate.saturating_add(n);
                parts.extend(read_files(run, ctx, fresh).await?.map(|rows| Input {
                    rows,
                    replayed: false,
                }));
            }
        }
    }
    let staged = bronze
        .staged
        .file_urls()
        .iter()
        .map(|u| u.to_string())
        .collect();
    parts.extend(read_files(run, ctx, staged).await?.map(|rows| Input {
        rows,
        replayed: false,
    }));
    Ok(Inputs {
        parts,
        bookmark,
        rows: estimate,
    })
}

/// A bookmark ahead of Bronze means Bronze was recreated or restored: Silver would skip
/// its rows in silence and move the bookmark backwards. Refuse, and say how to reprocess.
fn check_bookmark(bookmark: Option<i64>, bronze: &BronzeOut, silver: &str) -> Result<()> {
    let Some(b) = bookmark else { return Ok(()) };
    let bronze_version = bronze.read_version.unwrap_or(-1);
    if b <= bronze_version {
        return Ok(());
    }
    let state = match bronze.read_version {
        Some(v) => format!("is at version {v}"),
        None => "does not exist".to_string(),
    };
    Err(Error::Source {
        path: bronze.name.clone(),
        message: format!(
            "{silver} has processed {bronze_name} up to version {b}, but {bronze_name} {state}: \
             the Bronze table was recreated or restored, and its rows would be skipped. \
             To reprocess everything, delete {silver} (its folder in the lake) and run again; \
             nothing was committed",
            bronze_name = bronze.name
        ),
    })
}

/// Rows stamped after the legacy `_ingest_time` bookmark.
async fn after_time(ctx: &SessionContext, t: i64) -> Result<DataFrame> {
    let after = lit(ScalarValue::TimestampMicrosecond(
        Some(t),
        Some("UTC".into()),
    ));
    Ok(ctx
        .table("__bronze")
        .await?
        .filter(col(INGEST_TIME).gt(after))?)
}

/// URLs of the data files added by Bronze versions in (`after`, `upto`], and their rows
/// (as their statistics count them; a file without a count adds none).
async fn files(
    bronze: &BronzeOut,
    bt: &DeltaTable,
    after: i64,
    upto: i64,
) -> Result<(Vec<String>, u64)> {
    if after >= upto {
        return Ok((Vec::new(), 0));
    }
    let added = table::added_files(bt, after, upto).await?;
    let rows = rows_of(&added);
    let urls = added
        .iter()
        .map(|a| {
            bronze.location.url.join(&a.path).map(|u| u.to_string()).map_err(|e| {
                Error::Source { path: bronze.name.clone(), message: format!("data file `{}` of a Bronze commit has no readable URL ({e}); nothing was committed", a.path) }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((urls, rows))
}

/// The rows of data files by their statistics (only an estimate: a file without a row
/// count, or with statistics that do not parse, counts none).
fn rows_of(files: &[deltalake::kernel::Add]) -> u64 {
    files
        .iter()
        .filter_map(|a| a.get_stats().ok().flatten())
        .map(|s| s.num_records.max(0) as u64)
        .fold(0, u64::saturating_add)
}

async fn read_files(
    run: &Run<'_>,
    ctx: &SessionContext,
    paths: Vec<String>,
) -> Result<Option<DataFrame>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let options = ParquetReadOptions::default().schema(&run.plan.bronze_schema);
    Ok(Some(ctx.read_parquet(paths, options).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(stats: Option<&str>) -> deltalake::kernel::Add {
        deltalake::kernel::Add {
            path: "part-0.parquet".into(),
            stats: stats.map(str::to_string),
            data_change: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_rows_of_added_files_are_summed_from_their_statistics() {
        let files = [
            add(Some(
                r#"{"numRecords":3,"minValues":{},"maxValues":{},"nullCount":{}}"#,
            )),
            add(Some(r#"{"numRecords":1000000}"#)),
            add(None),
            add(Some("not json")),
        ];
        assert_eq!(rows_of(&files), 1_000_003);
        assert_eq!(rows_of(&[]), 0);
    }
}
