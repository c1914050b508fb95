//! DataFusion sessions of a run: the environment's catalog tables registered as
//! `<db>.<table>`, each checked to lie inside the environment's lake.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::memory::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::DeltaTable;

use super::Engine;
use crate::catalog::TableEntry;
use crate::error::{Error, Result};
use crate::table;

/// A fresh DataFusion session configured for medallion.
pub fn new_session() -> SessionContext {
    SessionContext::new_with_config(session_config())
}

/// A session whose operators (sorts, aggregates, joins) spill to the temp folder above
/// `pool_bytes` of memory.
pub fn new_session_with_pool(pool_bytes: u64) -> Result<SessionContext> {
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(
            datafusion::execution::memory_pool::FairSpillPool::new(pool_bytes as usize),
        ))
        .build_arc()?;
    let mut config = session_config();
    // What each sort holds back for merging its spills (10 MiB by default) must leave room
    // in a small pool for every partition's sort.
    let partitions = config.target_partitions().max(1) as u64;
    let reservation = (10u64 << 20).min(pool_bytes / (4 * partitions));
    config.options_mut().execution.sort_spill_reservation_bytes = reservation as usize;
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(true);
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    config.options_mut().sql_parser.map_string_types_to_utf8view = false;
    config
}

/// Registers (or replaces) a Delta table as `<db>.<table>` in a session.
pub async fn register_table(
    ctx: &SessionContext,
    database: &str,
    name: &str,
    t: &DeltaTable,
) -> Result<()> {
    let catalog = ctx.catalog("datafusion").expect("default catalog");
    if catalog.schema(database).is_none() {
        catalog.register_schema(database, Arc::new(MemorySchemaProvider::new()))?;
    }
    let provider = table::provider(t, ctx).await?;
    let tref = TableReference::partial(database, name);
    // Replacing: the previous registration, if any, is of an older version.
    ctx.deregister_table(tref.clone())?;
    ctx.register_table(tref, provider)?;
    Ok(())
}

impl Engine {
    /// A session with every catalog table of the environment registered as `<db>.<table>`.
    pub async fn session(&self) -> Result<SessionContext> {
        // The SQL runs after the dedupe is done (see `crate::memory`).
        let ctx = new_session_with_pool(crate::memory::sql_pool_bytes(self.memory_limit))?;
        for entry in self.catalog.list_tables(None).await? {
            let location = self.entry_location(&entry)?;
            if let Some(t) = table::open_if_exists(&entry.qualified_name(), &location).await? {
                register_table(&ctx, &entry.database, &entry.name, &t).await?;
            }
        }
        let lake = self.env.lake_location()?;
        let (store, _) = lake.object_store()?;
        ctx.register_object_store(&lake.store_url(), store);
        Ok(ctx)
    }

    /// The session whose queries run on the environment's Ballista cluster, with every
    /// catalog table registered as the data files of its current Delta version; `None` when
    /// the environment runs its SQL in-process (see [`crate::cluster`]).
    pub async fn cluster_session(&self) -> Result<Option<crate::cluster::ClusterSession>> {
        let Some(scheduler) = self.env.engine.scheduler() else {
            return Ok(None);
        };
        let mut session =
            crate::cluster::ClusterSession::new(cluster_context(&self.env.name, scheduler).await?);
        for entry in self.catalog.list_tables(None).await? {
            let location = self.entry_location(&entry)?;
            if let Some(t) = table::open_if_exists(&entry.qualified_name(), &location).await? {
                session.add(&entry.database, &entry.name, &location, &t)?;
            }
        }
        Ok(Some(session))
    }

    /// The location of a catalog entry; refuses any outside this environment's lake.
    pub(crate) fn entry_location(&self, entry: &TableEntry) -> Result<table::Location> {
        let lake = self.env.lake_location()?;
        let unreadable = || {
            Error::Catalog(format!(
                "table `{}` has an unreadable location `{}`",
                entry.qualified_name(),
                entry.location
            ))
        };
        let mut url = url::Url::parse(&entry.location)
            .or_else(|_| url::Url::from_directory_path(&entry.location).map_err(|_| unreadable()))
            .map_err(|_| unreadable())?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        if !self.env.contains(&url)? {
            return Err(Error::Isolation(format!(
                "catalog table `{}` points at {}, outside the lake of environment `{}` ({}); refusing to read it",
                entry.qualified_name(),
                entry.location,
                self.env.name,
                lake
            )));
        }
        Ok(table::Location {
            url,
            options: lake.options,
        })
    }

    /// Schemas of the tables in the environment's catalog (for planning).
    pub async fn known_schemas(&self) -> Result<HashMap<String, SchemaRef>> {
        let mut out = HashMap::new();
        for entry in self.catalog.list_tables(None).await? {
            let location = self.entry_location(&entry)?;
            if let Some(t) = table::open_if_exists(&entry.qualified_name(), &location).await? {
                out.insert(entry.qualified_name(), table::arrow_schema(&t)?);
            }
        }
        Ok(out)
    }
}

#[cfg(feature = "cluster")]
async fn cluster_context(_env: &str, scheduler: &str) -> Result<SessionContext> {
    crate::cluster::session(scheduler, session_config()).await
}

#[cfg(not(feature = "cluster"))]
async fn cluster_context(env: &str, scheduler: &str) -> Result<SessionContext> {
    Err(Error::Config(format!(
        "environment `{env}` runs its SQL on the Ballista cluster {scheduler} (engine.ballista), \
         but this medallion was built without cluster support: build it with the `cluster` \
         feature (the default), or remove `engine.ballista` from the environment"
    )))
}
