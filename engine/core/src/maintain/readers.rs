//! What the readers of a Bronze table still need from it, found in the lake itself (not only
//! from the specs given): each Silver table's bookmark of it, and its quarantine's.

use crate::env::Environment;
use crate::error::Result;
use crate::plan::JobPlan;
use crate::spec::TableName;
use crate::table;

#[derive(Debug, Default)]
pub struct Readers {
    /// The oldest Bronze version a reader has not processed (None: all processed).
    pub first_unprocessed: Option<i64>,
    /// The first log entry a reader may still read (Silver's files, the quarantine's repair).
    pub keep_log_from: Option<i64>,
}

/// The readers of `bronze` (at version `latest`): every table of the lake holding Silver's
/// bookmark of it or the quarantine's, and a Silver table the specs declare that has not
/// processed anything yet.
pub async fn of_bronze(
    env: &Environment,
    lake_tables: &[TableName],
    plans: &[JobPlan],
    bronze: &str,
    latest: i64,
) -> Result<Readers> {
    let silver_app = crate::pipeline::silver_bookmark_app_id(bronze);
    let quarantine_app = crate::pipeline::quarantine_bronze_app_id(bronze);
    let mut silver: Vec<i64> = Vec::new();
    let mut quarantine: Option<i64> = None;
    for name in lake_tables.iter().filter(|n| n.to_string() != bronze) {
        let Some(t) = table::open_if_exists(&name.to_string(), &env.location(name)?).await? else {
            continue;
        };
        if let Some(v) = table::txn_version(&t, &silver_app).await? {
            silver.push(v);
        }
        if let Some(v) = table::txn_version(&t, &quarantine_app).await? {
            quarantine = Some(quarantine.map_or(v, |q: i64| q.min(v)));
        }
    }
    // A Silver table the specs declare that has no bookmark yet has processed nothing.
    let declared = plans
        .iter()
        .filter(|p| p.job.bronze_table().to_string() == bronze)
        .filter_map(|p| p.job.silver_table());
    for s in declared {
        let found = match table::open_if_exists(&s.to_string(), &env.location(&s)?).await? {
            Some(t) => table::txn_version(&t, &silver_app).await?.is_some(),
            None => false,
        };
        if !found {
            silver.push(-1);
        }
    }
    let processed = silver.iter().copied().min();
    let first_unprocessed = processed.filter(|p| *p < latest).map(|p| p + 1);
    let keep_log_from = [first_unprocessed, quarantine.map(|q| q + 1)]
        .into_iter()
        .flatten()
        .min();
    Ok(Readers {
        first_unprocessed,
        keep_log_from,
    })
}
