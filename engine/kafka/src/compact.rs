//! Bronze compaction: Delta `OPTIMIZE` (bin-packing small files). Its commit only removes and
//! re-adds existing rows (`dataChange=false`) and carries no application transaction, so it
//! never conflicts with the stream's blind appends (Delta's conflict checker lets an append
//! and a compaction of other files both commit), and offsets recorded in `txn` actions are
//! untouched.

use medallion_core::env::Environment;
use medallion_core::plan::JobPlan;
use medallion_core::table;

use crate::Result;

/// Compacts the pipeline's Bronze table; returns (files removed, files added) when it did.
pub async fn compact(env: &Environment, plan: &JobPlan) -> Result<Option<(u64, u64)>> {
    let name = plan.job.bronze_table();
    let loc = env.location(&name)?;
    let Some(t) = table::open_if_exists(&name.to_string(), &loc).await? else {
        return Ok(None);
    };
    let (_, metrics) = t
        .optimize()
        .await
        .map_err(|e| crate::table_error(&name.to_string(), e))?;
    if metrics.num_files_removed == 0 {
        return Ok(None);
    }
    Ok(Some((metrics.num_files_removed, metrics.num_files_added)))
}
