//! The driver's side: a session whose queries run on the cluster, and the tables it reads
//! registered as plain Parquet file lists the cluster can plan and read.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use ballista::prelude::SessionContextExt;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::DeltaTable;

use crate::error::{Error, Result};
use crate::table;

/// A session whose queries the scheduler at `scheduler` plans and its executors run;
/// results stream back to this process.
pub async fn session(scheduler: &str, config: SessionConfig) -> Result<SessionContext> {
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .build();
    let ctx = SessionContext::remote_with_state(scheduler, state)
        .await
        .map_err(|e| Error::Config(format!("Ballista scheduler {scheduler}: {e}")))?;
    for f in super::functions() {
        ctx.register_udf(f.as_ref().clone());
    }
    Ok(ctx)
}

/// Registers (or replaces) a Delta table as the data files of its current snapshot. Refuses
/// tables whose rows are not just their files' rows (partition values in paths, column
/// mapping, deletion vectors: any reader feature), which a plain Parquet scan would misread.
pub fn register_delta(ctx: &SessionContext, tref: TableReference, t: &DeltaTable) -> Result<()> {
    let name = tref.to_string();
    let snapshot = t.snapshot().map_err(|e| Error::table(name.clone(), e))?;
    let partitions = snapshot.metadata().partition_columns();
    let reader = snapshot.protocol().min_reader_version();
    if !partitions.is_empty() || reader > 1 {
        return Err(Error::Config(format!(
            "{name} cannot be read on the Ballista cluster: its Delta log has {} (reader \
             version {reader}), which a scan of its Parquet files would misread; medallion \
             writes neither. Run this environment without `engine.ballista`, or rewrite the \
             table without them",
            if partitions.is_empty() {
                "reader features".to_string()
            } else {
                format!("partition columns {partitions:?}")
            }
        )));
    }
    let root = t.log_store().root_url().clone();
    let files = snapshot
        .log_data()
        .into_iter()
        .map(|add| file_url(&root, &add.object_store_path()))
        .collect::<Result<Vec<_>>>()?;
    register_listing(ctx, tref, files, table::arrow_schema(t)?)
}

/// The URL of a data file: under a local root, the file's real path (its name decoded once:
/// a lake under `/home/josé/my lake` is read where it is, not at an encoded name).
fn file_url(root: &url::Url, path: &object_store::path::Path) -> Result<ListingTableUrl> {
    if root.scheme() == "file" {
        let base = root
            .to_file_path()
            .map_err(|_| Error::Internal(format!("{root} is not a local path")))?;
        let rel = percent_encoding::percent_decode_str(path.as_ref())
            .decode_utf8()
            .map_err(|e| Error::Internal(format!("{path}: {e}")))?;
        let full = base.join(rel.as_ref());
        let url = url::Url::from_file_path(&full)
            .map_err(|_| Error::Internal(format!("cannot make a URL of {}", full.display())))?;
        return Ok(ListingTableUrl::try_new(url, None)?);
    }
    let mut url = root.clone();
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    let url = url
        .join(path.as_ref())
        .map_err(|e| Error::Internal(format!("{root} + {path}: {e}")))?;
    Ok(ListingTableUrl::try_new(url, None)?)
}

/// Registers (or replaces) `name` as the Parquet files under the folder `dir` (a URL the
/// cluster can read, see [`super::Shared`]).
pub fn register_files(
    ctx: &SessionContext,
    name: &str,
    dir: &url::Url,
    schema: SchemaRef,
) -> Result<()> {
    let url = ListingTableUrl::try_new(dir.clone(), None)?;
    register_listing(ctx, TableReference::bare(name), vec![url], schema)
}

fn register_listing(
    ctx: &SessionContext,
    tref: TableReference,
    files: Vec<ListingTableUrl>,
    schema: SchemaRef,
) -> Result<()> {
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(files)
        .with_listing_options(options)
        .with_schema(schema);
    let provider = ListingTable::try_new(config)?;
    if let Some(schema) = tref.schema() {
        let catalog = ctx.catalog("datafusion").expect("default catalog");
        if catalog.schema(schema).is_none() {
            let s = Arc::new(datafusion::catalog::memory::MemorySchemaProvider::new());
            catalog.register_schema(schema, s)?;
        }
    }
    ctx.deregister_table(tref.clone())?;
    ctx.register_table(tref, Arc::new(provider))?;
    Ok(())
}
