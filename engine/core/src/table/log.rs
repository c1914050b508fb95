//! Reading a table's Delta log: versions, commits, bookmarks, commit races.

use std::collections::HashMap;

use deltalake::kernel::{Action, Add};
use deltalake::DeltaTable;

use crate::error::{Error, Result};

/// The version of an application transaction recorded in the table (a bookmark).
pub async fn txn_version(table: &DeltaTable, app_id: &str) -> Result<Option<i64>> {
    Ok(table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), app_id)
        .await?)
}

/// The table's Delta id (`metaData.id`), empty if it has no state.
pub fn table_id(table: &DeltaTable) -> String {
    table
        .snapshot()
        .map(|s| s.metadata().id().to_string())
        .unwrap_or_default()
}

/// What a table's current version holds: its active data files, their bytes, and their
/// rows (from the add actions' statistics; None when a file has no row count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileStats {
    pub files: u64,
    pub bytes: u64,
    pub rows: Option<u64>,
}

pub fn file_stats(table: &DeltaTable) -> Result<FileStats> {
    let snapshot = table.snapshot()?;
    let mut stats = FileStats {
        rows: Some(0),
        ..Default::default()
    };
    for f in snapshot.log_data().iter() {
        stats.files += 1;
        stats.bytes += f.size().max(0) as u64;
        stats.rows = match (stats.rows, f.num_records()) {
            (Some(total), Some(n)) => Some(total + n as u64),
            _ => None,
        };
    }
    Ok(stats)
}

/// The current version of a table (-1 when it has no state).
pub fn version(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |v| v as i64)
}

/// The data files added by the commits after version `after` up to and including `upto`
/// (add actions with `dataChange`; files rewritten by OPTIMIZE are left out, their rows
/// were added before). This is what an incremental reader of the table has not seen yet
/// when its bookmark is `after`, however many writers committed and in whatever order
/// their rows were stamped. The files are read from the commits themselves, so they must
/// not have been vacuumed, and the commits must still be in the log.
pub async fn added_files(table: &DeltaTable, after: i64, upto: i64) -> Result<Vec<Add>> {
    let store = table.log_store();
    let mut out = Vec::new();
    for v in (after + 1).max(0)..=upto {
        let bytes = store.read_commit_entry(v as _).await?.ok_or_else(|| {
            Error::Config(format!(
                "commit {v} of {} is no longer in its Delta log (log retention removed it), \
                 so the rows added since version {after} cannot be listed; \
                 raise `delta.logRetentionDuration` or rebuild the downstream table",
                table.table_url()
            ))
        })?;
        for action in deltalake::logstore::get_actions(v as _, &bytes)? {
            if let Action::Add(add) = action {
                if add.data_change {
                    out.push(add);
                }
            }
        }
    }
    Ok(out)
}

/// Version `v`'s entry in the Delta log: None when log retention removed it; inside, its
/// commitInfo (None if the commit has none).
pub async fn commit_entry(
    table: &DeltaTable,
    v: i64,
) -> Result<Option<Option<deltalake::kernel::CommitInfo>>> {
    let Some(bytes) = table.log_store().read_commit_entry(v as _).await? else {
        return Ok(None);
    };
    Ok(Some(
        deltalake::logstore::get_actions(v as _, &bytes)?
            .into_iter()
            .find_map(|a| match a {
                Action::CommitInfo(i) => Some(i),
                _ => None,
            }),
    ))
}

/// The commit information (operation, medallion's metadata) of the commits after version
/// `after` up to and including `upto`, read from the Delta log.
pub async fn commit_infos(
    table: &DeltaTable,
    after: i64,
    upto: i64,
) -> Result<Vec<(i64, deltalake::kernel::CommitInfo)>> {
    let store = table.log_store();
    let mut out = Vec::new();
    for v in (after + 1).max(0)..=upto {
        let bytes = store.read_commit_entry(v as _).await?.ok_or_else(|| {
            Error::Internal(format!(
                "commit {v} of {} is no longer in its Delta log (log retention removed it); \
                 raise `delta.logRetentionDuration`",
                table.table_url()
            ))
        })?;
        for action in deltalake::logstore::get_actions(v as _, &bytes)? {
            if let Action::CommitInfo(info) = action {
                out.push((v, info));
            }
        }
    }
    Ok(out)
}

/// Whether a commit failed because another writer committed first (a race, not a fault).
pub fn is_commit_race(e: &deltalake::DeltaTableError) -> bool {
    use deltalake::kernel::transaction::TransactionError as T;
    matches!(
        e,
        deltalake::DeltaTableError::VersionAlreadyExists(_)
            | deltalake::DeltaTableError::Transaction {
                source: T::MaxCommitAttempts(_) | T::CommitConflict(_) | T::VersionAlreadyExists(_)
            }
    )
}

/// Application metadata recorded in every commit medallion makes (the commit's
/// `commitInfo`): run id, pipeline and environment, plus `extra`.
pub fn commit_metadata(
    run_id: &str,
    pipeline: &str,
    environment: &str,
    extra: Vec<(&str, serde_json::Value)>,
) -> HashMap<String, serde_json::Value> {
    let mut m: HashMap<String, serde_json::Value> = HashMap::new();
    m.insert("medallion.run_id".into(), run_id.into());
    m.insert("medallion.pipeline".into(), pipeline.into());
    m.insert("medallion.environment".into(), environment.into());
    for (k, v) in extra {
        m.insert(k.into(), v);
    }
    m
}

/// Whether a medallion error is a lost commit race (see [`is_commit_race`]).
pub fn error_is_commit_race(e: &crate::Error) -> bool {
    match e {
        crate::Error::Table { source, .. } | crate::Error::Delta(source) => is_commit_race(source),
        _ => false,
    }
}

/// The data files some commit still in the log removed (tombstones: needed only to time
/// travel to versions before their removal).
pub async fn removed_files(table: &DeltaTable) -> Result<std::collections::HashSet<String>> {
    let store = table.log_store();
    let mut out = std::collections::HashSet::new();
    for v in 0..=version(table).max(0) {
        let Some(bytes) = store.read_commit_entry(v as _).await? else {
            continue;
        };
        for action in deltalake::logstore::get_actions(v as _, &bytes)? {
            if let Action::Remove(r) = action {
                out.insert(r.path);
            }
        }
    }
    Ok(out)
}
