//! VACUUM within the window, a checkpoint, and log cleanup that keeps what readers need.

use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::table::config::TablePropertiesExt as _;
use deltalake::DeltaTable;
use object_store::ObjectStoreExt;

use crate::error::{Error, Result};

#[derive(Debug, Default)]
pub struct Vacuumed {
    pub files: u64,
    pub bytes: u64,
}

/// Deletes the files removed from the table more than `hours` ago (the log's tombstones:
/// never a file a running writer has staged and not committed yet), keeping those of
/// `keep_versions` (Bronze versions a reader has not processed). With `dry_run`, only counts.
///
/// A checkpoint drops tombstones older than the table's `delta.deletedFileRetentionDuration`
/// (7 days by default), after which VACUUM no longer sees them: `hours` longer than that is
/// refused.
pub async fn vacuum(
    t: DeltaTable,
    name: &str,
    hours: u64,
    keep_versions: &[u64],
    dry_run: bool,
    metadata: std::collections::HashMap<String, serde_json::Value>,
) -> Result<(DeltaTable, Vacuumed)> {
    let keep_tombstones = t
        .snapshot()?
        .table_config()
        .deleted_file_retention_duration();
    if std::time::Duration::from_secs(hours * 3600) > keep_tombstones {
        return Err(Error::Config(format!(
            "retention.vacuum_hours ({hours}) is longer than {name}'s delta.deletedFileRetentionDuration \
             ({} h): checkpoints drop the record of removed files before then, and they would never be \
             vacuumed; lower vacuum_hours or raise the table property",
            keep_tombstones.as_secs() / 3600
        )));
    }
    let store = t.object_store();
    let builder = |t: DeltaTable, dry: bool| {
        t.vacuum()
            .with_mode(VacuumMode::Lite)
            .with_retention_period(chrono::Duration::hours(hours as i64))
            .with_enforce_retention_duration(false)
            .with_keep_versions(keep_versions)
            .with_dry_run(dry)
            .with_commit_properties(CommitProperties::default().with_metadata(metadata.clone()))
    };
    // The files and their sizes first (a real VACUUM reports names only).
    let (t, planned) = builder(t, true).await.map_err(|e| Error::table(name, e))?;
    let mut out = Vacuumed::default();
    for f in &planned.files_deleted {
        out.files += 1;
        if let Ok(meta) = store
            .head(&object_store::path::Path::from(f.as_str()))
            .await
        {
            out.bytes += meta.size;
        }
    }
    if dry_run || planned.files_deleted.is_empty() {
        return Ok((t, out));
    }
    let (t, done) = builder(t, false).await.map_err(|e| Error::table(name, e))?;
    out.files = done.files_deleted.len() as u64;
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
