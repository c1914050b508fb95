//! Bronze compaction: Delta `OPTIMIZE` (bin-packing small files). Its commit only removes and
//! re-adds existing rows (`dataChange=false`) and carries no application transaction, so
//! offsets recorded in `txn` actions are untouched.
//!
//! Only one process of a consumer group compacts at a time (the owner of partition 0 of the
//! first topic; see `stream::follow`): deltalake 1.1's OPTIMIZE commits with its own retry
//! count and rebases over a concurrent OPTIMIZE of the same files, so two compactions at once
//! were seen to add the same rows twice.

use medallion_core::env::Environment;
use medallion_core::events::{Events, RunEvent};
use medallion_core::plan::JobPlan;
use medallion_core::table;

use crate::Result;

/// Compacts the pipeline's Bronze table; returns (files removed, files added) when it did.
/// The commit carries the stream's run id and is reported (durably) to `events`.
pub async fn compact(
    env: &Environment,
    plan: &JobPlan,
    events: &Events,
) -> Result<Option<(u64, u64)>> {
    let name = plan.job.bronze_table();
    let loc = env.location(&name)?;
    let Some(t) = table::open_if_exists(&name.to_string(), &loc).await? else {
        return Ok(None);
    };
    let before = table::version(&t);
    let metadata = table::commit_metadata(
        events.run_id(),
        &plan.job.spec.pipeline,
        &env.name,
        vec![("medallion.source", "kafka".into())],
    );
    let (after, metrics) = t
        .optimize()
        .with_commit_properties(
            deltalake::kernel::transaction::CommitProperties::default()
                .with_metadata(metadata)
                .with_max_retries(0),
        )
        .await
        .map_err(|e| crate::table_error(&name.to_string(), e))?;
    if table::version(&after) != before {
        events
            .record(RunEvent::TableCommitted {
                table: name.to_string(),
                table_id: table::table_id(&after),
                layer: "bronze".into(),
                version: table::version(&after),
                operation: "optimize".into(),
                rows: 0,
                files: metrics.num_files_added,
                bytes: 0,
            })
            .await?;
    }
    if metrics.num_files_removed == 0 {
        return Ok(None);
    }
    Ok(Some((metrics.num_files_removed, metrics.num_files_added)))
}
