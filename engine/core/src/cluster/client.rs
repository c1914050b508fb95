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

/// Registers (or replaces) a Delta table as the data files of its current snapshot.
pub fn register_delta(ctx: &SessionContext, tref: TableReference, t: &DeltaTable) -> Result<()> {
    let files = t
        .get_file_uris()
        .map_err(|e| Error::table(tref.to_string(), e))?
        .map(|u| ListingTableUrl::parse(&u))
        .collect::<datafusion::common::Result<Vec<_>>>()?;
    register_listing(ctx, tref, files, table::arrow_schema(t)?)
}

/// Registers (or replaces) `name` as the Parquet files under the folder `dir` (a URL the
/// cluster can read, see [`super::Shared`]).
pub fn register_files(
    ctx: &SessionContext,
    name: &str,
    dir: &url::Url,
    schema: SchemaRef,
) -> Result<()> {
    let url = ListingTableUrl::parse(dir.as_str())?;
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
