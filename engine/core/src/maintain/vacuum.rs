//! VACUUM within the window, a checkpoint, and log cleanup that keeps what readers need.

use deltalake::kernel::transaction::CommitProperties;
use deltalake::table::config::TablePropertiesExt as _;
use deltalake::DeltaTable;
use object_store::ObjectStoreExt;

use crate::error::{Error, Result};

#[derive(Debug, Default)]
pub struct Vacuumed {
    pub files: u64,
    pub bytes: u64,
}

/// Deletes files that no version newer than `hours` ago references, keeping those of
/// `keep_versions` (Bronze versions Silver has not processed). With `dry_run`, only counts.
pub async fn vacuum(
    t: DeltaTable,
    name: &str,
    hours: u64,
    keep_versions: &[u64],
    dry_run: bool,
    metadata: std::collections::HashMap<String, serde_json::Value>,
) -> Result<(DeltaTable, Vacuumed)> {
    let store = t.object_store();
    let (t, metrics) = t
        .vacuum()
        .with_retention_period(chrono::Duration::hours(hours as i64))
        .with_enforce_retention_duration(false)
        .with_keep_versions(keep_versions)
        .with_dry_run(dry_run)
        .with_commit_properties(CommitProperties::default().with_metadata(metadata))
        .await
        .map_err(|e| Error::table(name, e))?;
    let mut out = Vacuumed {
        files: metrics.files_deleted.len() as u64,
        bytes: 0,
    };
    if dry_run {
        for f in &metrics.files_deleted {
            let path = object_store::path::Path::from(f.as_str());
            if let Ok(meta) = store.head(&path).await {
                out.bytes += meta.size;
            }
        }
    }
    Ok((t, out))
}

/// Writes a checkpoint of the current version, then deletes log entries older than the
/// table's log retention and before `keep_from` (never an entry a reader still needs).
pub async fn checkpoint_and_clean(t: &DeltaTable, name: &str, keep_from: i64) -> Result<usize> {
    deltalake::checkpoints::create_checkpoint(t, None)
        .await
        .map_err(|e| Error::table(name, e))?;
    let snapshot = t.snapshot()?;
    let cutoff = chrono::Utc::now().timestamp_millis()
        - snapshot.table_config().log_retention_duration().as_millis() as i64;
    let keep = keep_from.clamp(0, snapshot.version() as i64) as u64;
    deltalake::checkpoints::cleanup_expired_logs_for(keep, t.log_store().as_ref(), cutoff, None)
        .await
        .map_err(|e| Error::table(name, e))
}
