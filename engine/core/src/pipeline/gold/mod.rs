//! Gold: each Gold table of the job is refreshed when its SQL or the Delta version of any
//! table it reads changed since its last refresh (a fingerprint kept as a Delta application
//! transaction in the Gold table's own commit). The versions are read from the tables
//! themselves, never from the catalog, which can lag. An aggregate over one table is
//! refreshed from kept partial aggregates when its input was only appended to
//! ([`incremental`]); any other query is recomputed in full.

mod decompose;
mod incremental;
pub(crate) mod state;

use std::path::Path;

use datafusion::prelude::ParquetReadOptions;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use std::time::Instant;

use super::register::register;
use super::scratch::{conform, dir_url, materialize};
use super::session::register_table;
use super::Run;
use crate::error::{Error, Result};
use crate::events::RunEvent;
use crate::plan::GoldPlan;
use crate::spec::TableName;
use crate::table::{self, StagedWrite};

const APP_ID: &str = "medallion.gold.inputs";

pub async fn refresh(run: &Run<'_>, tmp: &Path) -> Result<()> {
    if run.plan.gold.is_empty() {
        return Ok(());
    }
    for g in &run.plan.gold {
        refresh_one(run, g, tmp).await?;
    }
    Ok(())
}

async fn refresh_one(run: &Run<'_>, g: &GoldPlan, tmp: &Path) -> Result<()> {
    let started = Instant::now();
    let name = g.table.to_string();
    let location = run.env().location(&g.table)?;
    let hash = fingerprint(run, g).await?;
    let existing = table::open_if_exists(&name, &location).await?;
    if let Some(t) = &existing {
        if table::txn_version(t, APP_ID).await? == Some(hash) {
            run.emit(RunEvent::GoldSkipped {
                table: name,
                reason: "neither its SQL nor any input table changed".into(),
            });
            return Ok(());
        }
    }
    // Opened after the fingerprint: the data read is at least as new as the versions it
    // records (a commit in between makes the next run refresh again, never skip).
    let ctx = run.engine.session().await?;
    let ctx = &ctx;
    // The query on the environment's cluster when it has one; its rows stream back here,
    // where they are written and committed.
    let cluster = run.engine.cluster_session().await?;
    run.emit(RunEvent::StageStarted {
        stage: crate::events::Stage::Gold,
        table: name.clone(),
        total_bytes: None,
    });
    let query = cluster
        .as_ref()
        .map_or(ctx, |c| &c.ctx)
        .sql(&g.sql)
        .await
        .map_err(|e| Error::query(format!("{}: gold table {name}", run.spec_file()), e))?;
    let refresh = match &cluster {
        Some(_) => incremental::Refresh::plain(query, "the query runs on the cluster".into()),
        None => incremental::prepare(run, g, ctx, query, tmp)
            .await
            .map_err(|e| e.in_query(format!("{}: gold table {name}", run.spec_file())))?,
    };
    let dir = tmp.join("gold").join(&g.table.table);
    let rows = materialize(refresh.rows.clone(), &dir)
        .await
        .map_err(|e| e.in_query(format!("{}: gold table {name}", run.spec_file())))?;
    if let Some(c) = &cluster {
        c.verify().await?;
    }
    let source = ctx
        .read_parquet(dir_url(&dir)?, ParquetReadOptions::default())
        .await?;
    let txn = Transaction::new(APP_ID, hash);
    let metadata = table::commit_metadata(
        &run.id,
        &run.plan.job.spec.pipeline,
        &run.env().name,
        vec![],
    );
    let description = gold_description(run, &name);
    let before = existing.as_ref().map(table::version);
    let written = match existing {
        Some(t) => {
            let props = CommitProperties::default()
                .with_metadata(metadata)
                .with_application_transaction(txn);
            t.write(vec![])
                .with_input_plan(source.logical_plan().clone())
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(SchemaMode::Overwrite)
                .with_commit_properties(props)
                .await
                .map_err(|e| Error::table(&name, e))?
        }
        None => {
            let properties = super::table_properties(run.plan, "gold", description.clone());
            create(&name, &location, source, properties, metadata, txn).await?
        }
    };
    let operation = if before.is_some() {
        "overwrite"
    } else {
        "create"
    };
    run.committed(&name, "gold", before, &written, operation, (rows, 0, 0))
        .await?;
    register(run, &g.table, "gold", &written, description).await?;
    register_table(ctx, &g.table.database, &g.table.table, &written).await?;
    let (mode, reason) = (refresh.mode.to_string(), refresh.reason.clone());
    refresh.publish(&name).await;
    run.emit(RunEvent::GoldRefreshed {
        table: name,
        rows,
        version: table::version(&written),
        duration_ms: started.elapsed().as_millis() as u64,
        mode,
        reason,
    });
    Ok(())
}

/// The SQL and, for every table the SQL reads, its current Delta version and that commit's
/// time: a table restored from a backup starts again at an older version and reuses version
/// numbers for other content, which the time tells apart.
async fn fingerprint(run: &Run<'_>, g: &GoldPlan) -> Result<i64> {
    let mut text = g.sql.clone();
    for r in &g.reads {
        let (version, at) = match TableName::parse(r) {
            Ok(t) => {
                let location = run.env().location(&t)?;
                match table::open_if_exists(r, &location).await? {
                    Some(dt) => {
                        let v = table::version(&dt);
                        let info = table::commit_entry(&dt, v).await?.flatten();
                        (v, info.and_then(|i| i.timestamp).unwrap_or(-1))
                    }
                    None => (-1, -1),
                }
            }
            Err(_) => (-1, -1),
        };
        text.push_str(&format!("|{r}@{version}@{at}"));
    }
    Ok(fnv(&text))
}

/// A stable 64-bit hash (FNV-1a) for change detection.
pub(super) fn fnv(text: &str) -> i64 {
    (fnv_bytes(text.as_bytes()) >> 1) as i64
}

pub(super) fn fnv_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn gold_description(run: &Run<'_>, name: &str) -> Option<String> {
    run.plan
        .job
        .spec
        .gold
        .iter()
        .find(|s| s.table == name)
        .and_then(|s| s.description.clone())
}

/// Creates a table from a DataFrame in one commit (data, table properties and bookmark).
pub(crate) async fn create(
    name: &str,
    location: &table::Location,
    df: datafusion::dataframe::DataFrame,
    properties: std::collections::HashMap<String, String>,
    metadata: std::collections::HashMap<String, serde_json::Value>,
    txn: Transaction,
) -> Result<DeltaTable> {
    use futures::StreamExt;
    let schema = table::nullable(&std::sync::Arc::new(df.schema().as_arrow().clone()));
    let mut w = StagedWrite::new(name, location, schema.clone())?.with_properties(properties);
    let mut stream = df.execute_stream().await?;
    while let Some(b) = stream.next().await {
        w.write(conform(&b?, &schema)?).await?;
    }
    let staged = w.finish().await?;
    staged
        .commit(None, metadata, vec![txn])
        .await?
        .ok_or_else(|| Error::Internal(format!("creating {name} returned no table")))
}
