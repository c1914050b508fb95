//! Silver's parts on the environment's Ballista cluster: the dedupe as a distributed
//! aggregate on the keys, and the relation `__clean` shared for the Silver SQL (which
//! `output` then runs on the cluster). The run keeps typing, row and set rules, the
//! quarantine and the commits.

use std::path::{Path, PathBuf};

use datafusion::prelude::{ParquetReadOptions, SessionContext};

use super::super::scratch::{dir_url, materialize, Scratch};
use super::super::Run;
use crate::cluster::Shared;
use crate::error::{Error, Result};
use crate::events::RunEvent;
use crate::plan::{INGEST_TIME, SOURCE_FILE, SOURCE_LINE};
use crate::spec::{sql_ident, DedupeSpec};

/// Shares the local Parquet folder `dir` (holding `rows` rows) with the cluster and
/// registers it there as `name`; then checks that the cluster counts the same rows. A
/// cluster that does not see the files (a local lake not mounted at the same path on the
/// scheduler and executors) would otherwise read them as no rows, silently.
pub async fn share(
    run: &Run<'_>,
    cluster: &SessionContext,
    scratch: &mut Scratch,
    dir: &Path,
    name: &str,
    rows: u64,
) -> Result<()> {
    let lake = run.env().lake_location()?;
    let shared = Shared::share(&lake, &run.id, dir, name).await?;
    let url = shared.url.clone();
    scratch.track_shared(shared);
    register(cluster, name, &url, run)?;
    let what = match name {
        "__typed" => "silver.dedupe",
        _ => "silver.sql",
    };
    check_seen(cluster, name, &url, rows)
        .await
        .map_err(|e| e.in_query(format!("{}: {what} on the cluster", run.spec_file())))
}

/// Fails unless the cluster counts `rows` rows in `name` (shared from `url`).
async fn check_seen(cluster: &SessionContext, name: &str, url: &url::Url, rows: u64) -> Result<()> {
    let seen = count(cluster, name).await?;
    if seen != rows {
        return Err(Error::io(
            url.to_string(),
            std::io::Error::other(format!(
                "the cluster reads {seen} of the run's {rows} rows in {url}: its scheduler and \
                 executors must see the lake at the same path as the run (a local lake: the \
                 same mounted folder); nothing was committed"
            )),
        ));
    }
    Ok(())
}

/// The rows of `name` as the cluster counts them.
async fn count(cluster: &SessionContext, name: &str) -> Result<u64> {
    let batches = cluster
        .sql(&format!("SELECT count(*) AS n FROM {}", sql_ident(name)))
        .await?
        .collect()
        .await?;
    let n = batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
        })
        .map(|a| a.value(0))
        .ok_or_else(|| Error::Internal(format!("count of {name} on the cluster: no result")))?;
    Ok(n as u64)
}

#[cfg(feature = "cluster")]
fn register(cluster: &SessionContext, name: &str, url: &url::Url, run: &Run<'_>) -> Result<()> {
    crate::cluster::register_files(cluster, name, url, run.plan.typed_out_schema.clone())
}

#[cfg(not(feature = "cluster"))]
fn register(_: &SessionContext, _: &str, _: &url::Url, _: &Run<'_>) -> Result<()> {
    Err(Error::Internal("no cluster support in this build".into()))
}

/// The dedupe on the cluster over the run's typed rows (the folder `typed`): the winners
/// come back into the local folder `deduped`, registered as `__deduped`. Returns the folder
/// and the number of winners.
pub async fn dedupe(
    run: &Run<'_>,
    ctx: &SessionContext,
    cluster: &SessionContext,
    scratch: &mut Scratch,
    table: &str,
    rows: u64,
) -> Result<(PathBuf, u64)> {
    let d = run
        .plan
        .job
        .spec
        .silver
        .as_ref()
        .and_then(|s| s.dedupe.as_ref())
        .ok_or_else(|| Error::Internal("cluster dedupe without a dedupe spec".into()))?;
    let typed = scratch.tmp.join("typed");
    share(run, cluster, scratch, &typed, "__typed", rows).await?;
    let sql = dedupe_sql(&run.plan.typed_out_schema, d, "__typed");
    let context = || format!("{}: silver.dedupe on the cluster", run.spec_file());
    let df = cluster
        .sql(&sql)
        .await
        .map_err(|e| Error::query(context(), e))?;
    let dir = scratch.tmp.join("deduped");
    let kept = materialize(df, &dir)
        .await
        .map_err(|e| e.in_query(context()))?;
    // The files the cluster read must still be there (an erasure meanwhile).
    scratch.verify_shared().await?;
    let options = ParquetReadOptions::default().schema(&run.plan.typed_out_schema);
    ctx.register_parquet("__deduped", dir_url(&dir)?, options)
        .await?;
    run.emit(RunEvent::RowsDeduplicated {
        table: table.to_string(),
        rows: rows.saturating_sub(kept),
    });
    Ok((dir, kept))
}

/// One row per key as an aggregate: the row (as a struct) that sorts first by the dedupe
/// order of [`crate::dedupe`] — `latest_by DESC NULLS LAST`, then `_ingest_time`,
/// `_source_file`, `_source_line` `DESC NULLS FIRST` — then its fields as columns.
pub fn dedupe_sql(schema: &arrow::datatypes::SchemaRef, d: &DedupeSpec, from: &str) -> String {
    let fields = schema
        .fields()
        .iter()
        .map(|f| {
            format!(
                "'{}', {}",
                f.name().replace('\'', "''"),
                sql_ident(f.name())
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut order = Vec::new();
    if let Some(l) = &d.latest_by {
        order.push(format!("{} DESC NULLS LAST", sql_ident(l)));
    }
    for c in [INGEST_TIME, SOURCE_FILE, SOURCE_LINE] {
        order.push(format!("{} DESC NULLS FIRST", sql_ident(c)));
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let name = f.name().replace('\'', "''");
            format!("__w['{name}'] AS {}", sql_ident(f.name()))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let keys = d
        .keys
        .iter()
        .map(|k| sql_ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns} FROM (SELECT first_value(named_struct({fields}) ORDER BY {}) AS __w \
         FROM {from} GROUP BY {keys}) AS __winners",
        order.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::compute::{concat_batches, filter_record_batch};
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;

    use super::*;
    use crate::dedupe::Deduper;

    /// The rows of `batches` as sorted lines of text.
    fn lines(batches: &[arrow::array::RecordBatch]) -> Vec<String> {
        let text = pretty_format_batches(batches).unwrap().to_string();
        let mut rows: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with('|'))
            .skip(1)
            .map(str::to_string)
            .collect();
        rows.sort();
        rows
    }

    /// `v` made a function of `_source_file` and `_source_line`: rows that tie on every
    /// arrival column are then the same record, as they are in a real run (a file's line is
    /// read once per run), and which of them wins cannot change the result.
    fn v_of_arrival(b: &arrow::array::RecordBatch) -> arrow::array::RecordBatch {
        use arrow::array::{Array, AsArray, Int64Array};
        use arrow::datatypes::Int64Type;
        let files = b.column_by_name(SOURCE_FILE).unwrap().as_string::<i32>();
        let lines = b
            .column_by_name(SOURCE_LINE)
            .unwrap()
            .as_primitive::<Int64Type>();
        let v: Int64Array = (0..b.num_rows())
            .map(|i| {
                Some(
                    files.value(i).len() as i64 * 100
                        + files.value(i).as_bytes()[1] as i64 * 10
                        + lines.value(i),
                )
            })
            .collect();
        let mut columns = b.columns().to_vec();
        columns[1] = Arc::new(v) as Arc<dyn Array>;
        arrow::array::RecordBatch::try_new(b.schema(), columns).unwrap()
    }

    /// Key and `latest_by` columns named as SQL must quote them.
    const KEY: &str = "Ke y\"'";
    const LATEST: &str = "V'x\"";

    fn renamed(b: &arrow::array::RecordBatch) -> arrow::array::RecordBatch {
        let fields: Vec<_> = b
            .schema()
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "k" => f.as_ref().clone().with_name(KEY),
                "v" => f.as_ref().clone().with_name(LATEST),
                _ => f.as_ref().clone(),
            })
            .collect();
        let schema = Arc::new(arrow::datatypes::Schema::new(fields));
        arrow::array::RecordBatch::try_new(schema, b.columns().to_vec()).unwrap()
    }

    /// A shared folder the cluster cannot see (here: a session that reads an empty folder
    /// where the run wrote its rows) is an error, not an empty relation.
    #[tokio::test]
    async fn a_cluster_that_does_not_see_the_shared_rows_fails_the_stage() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SessionContext::new();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let schema = arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "id",
            arrow::datatypes::DataType::Int64,
            true,
        )]);
        let options = ParquetReadOptions::default().schema(&schema);
        ctx.register_parquet("__typed", url.as_str(), options)
            .await
            .unwrap();
        let err = check_seen(&ctx, "__typed", &url, 3)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the cluster reads 0 of the run's 3 rows"),
            "{err}"
        );
        check_seen(&ctx, "__typed", &url, 0).await.unwrap();
    }

    /// The aggregate keeps exactly the rows the in-process deduper keeps (rows of many
    /// versions, ties on `latest_by` across partitions, nulls; a complete tie is the same
    /// record twice), with column names that need quoting.
    #[tokio::test]
    async fn the_aggregate_keeps_the_rows_the_deduper_keeps() {
        let mixed = crate::dedupe::tests::mixed_batches(6);
        for latest_by in [Some(LATEST), None] {
            let batches: Vec<_> = match latest_by {
                Some(_) => mixed.iter().map(renamed).collect(),
                None => mixed
                    .iter()
                    .map(v_of_arrival)
                    .map(|b| renamed(&b))
                    .collect(),
            };
            let schema = batches[0].schema();
            let mut d = Deduper::new(&schema, &[KEY.into()], latest_by).unwrap();
            for b in &batches {
                d.push(b).unwrap();
            }
            let keep = d.finish().unwrap();
            let all = concat_batches(&schema, &batches).unwrap();
            let expected = filter_record_batch(&all, &keep).unwrap();

            let ctx = crate::pipeline::new_session();
            // One partition per batch: the aggregate merges partial winners.
            let parts = batches.iter().map(|b| vec![b.clone()]).collect();
            let table = MemTable::try_new(schema.clone(), parts).unwrap();
            ctx.register_table("t", Arc::new(table)).unwrap();
            let spec = DedupeSpec {
                keys: vec![KEY.into()],
                latest_by: latest_by.map(str::to_string),
            };
            let sql = dedupe_sql(&schema, &spec, "t");
            let got = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            assert_eq!(got[0].schema().fields().len(), schema.fields().len());
            assert_eq!(lines(&got), lines(&[expected]), "latest_by {latest_by:?}");
        }
    }
}
