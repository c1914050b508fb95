//! Temporary Parquet of runs below `<lake>/_medallion/tmp/<run>/`: a local lake's scratch,
//! and under an S3 lake the rows a run shared with the cluster (docs/cluster.md). A run
//! killed before its clean-up leaves typed rows there in clear (before `silver.pii`).
//!
//! Erasure decides whose a leftover is before reading it: a run whose open-run marker
//! (audit trail) is alive keeps its files, unread (named in the receipt: erase again when it
//! has finished); a file of no marked run younger than an hour is kept the same way (a run
//! of an engine without the audit trail writes no marker). The others belong to dead or
//! finished runs: those holding the key are deleted, and an unreadable one (cut off by the
//! kill) is deleted too. A file that vanished meanwhile (its run cleaned up) is skipped.
//! Verify reads them all.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::ObjectStore;

use super::erase::TableErased;
use super::scan::{self, StoredFile};
use super::Needles;
use crate::audit::{Actor, AuditLog};
use crate::env::Environment;
use crate::error::Result;

const TMP: &str = "_medallion/tmp";

/// How old a file of no marked run must be before erasure reads and deletes it.
const UNMARKED_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(1);

pub async fn erase_stale(
    env: &Environment,
    needles: &Needles,
    dry_run: bool,
) -> Result<TableErased> {
    let mut out = TableErased {
        table: TMP.into(),
        layer: "scratch".into(),
        ..Default::default()
    };
    let Some((store, files)) = leftovers(env).await? else {
        return Ok(out);
    };
    let states = match AuditLog::for_env(env, Actor::default()) {
        Ok(log) => crate::audit::run_states(&log).await,
        Err(e) => Err(e),
    };
    let states = match states {
        Ok(s) => s,
        Err(e) => {
            out.notes.push(format!(
                "{TMP}/: the open-run markers could not be read ({e}): no leftover was read or deleted; erase again"
            ));
            return Ok(out);
        }
    };
    for f in &files {
        if let Some(why) = kept(f, &states) {
            out.notes.push(format!(
                "{TMP}/{} {why}: not read, not deleted; erase again when it has finished",
                f.rel
            ));
            continue;
        }
        match scan::file_holds(&*store, f, needles).await {
            Ok(false) => continue,
            Ok(true) => {}
            Err(_) if !exists(&*store, f).await => continue, // its run cleaned up
            Err(e) => out.notes.push(format!(
                "{TMP}/{} of a run that is not running could not be read ({e}): deleted",
                f.rel
            )),
        }
        out.files_deleted += 1;
        out.bytes_deleted += f.size;
        if !dry_run {
            scan::delete(&*store, f).await?;
        }
    }
    Ok(out)
}

/// Why a leftover is kept unread, if it is: its run is alive, or it has no marker and is
/// younger than [`UNMARKED_AFTER`].
fn kept(f: &StoredFile, states: &HashMap<String, bool>) -> Option<String> {
    let run = run_of(f);
    match states.get(run) {
        Some(true) => Some(format!("belongs to run {run}, still running")),
        Some(false) => None,
        None if chrono::Utc::now() - f.modified < UNMARKED_AFTER => Some(format!(
            "belongs to run {run}, which has no open-run marker and wrote it less than an hour ago"
        )),
        None => None,
    }
}

async fn exists(store: &dyn ObjectStore, f: &StoredFile) -> bool {
    use object_store::ObjectStoreExt as _;
    !matches!(
        store.head(&f.path).await,
        Err(object_store::Error::NotFound { .. })
    )
}

/// The leftovers holding the key (for `--verify`); one that cannot be read is named too
/// (it may hold the key), one that vanished meanwhile is not.
pub async fn holding(env: &Environment, needles: &Needles) -> Result<Vec<String>> {
    let Some((store, files)) = leftovers(env).await? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for f in &files {
        match scan::file_holds(&*store, f, needles).await {
            Ok(true) => found.push(format!("{TMP}/{}", f.rel)),
            Ok(false) => {}
            Err(_) if !exists(&*store, f).await => {}
            Err(e) => found.push(format!("{TMP}/{} (unreadable: {e})", f.rel)),
        }
    }
    Ok(found)
}

/// Every Parquet file below `_medallion/tmp/` (local folder or object store); `None` when a
/// local lake has no such folder.
async fn leftovers(env: &Environment) -> Result<Option<(Arc<dyn ObjectStore>, Vec<StoredFile>)>> {
    let loc = env.lake_location()?;
    if loc.local_path().is_some_and(|p| !p.join(TMP).is_dir()) {
        return Ok(None);
    }
    Ok(Some(scan::list(&loc.child(TMP)?, false).await?))
}

/// The run a leftover belongs to: the first folder below `_medallion/tmp/`.
fn run_of(f: &StoredFile) -> &str {
    f.rel.split('/').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, age_min: i64) -> StoredFile {
        StoredFile {
            rel: rel.into(),
            path: rel.into(),
            size: 1,
            modified: chrono::Utc::now() - chrono::TimeDelta::minutes(age_min),
        }
    }

    #[test]
    fn live_and_young_unmarked_leftovers_are_kept_unread() {
        let states = HashMap::from([("alive".to_string(), true), ("dead".to_string(), false)]);
        assert!(kept(&file("alive/deduped/p.parquet", 600), &states)
            .unwrap()
            .contains("still running"));
        assert!(kept(&file("dead/deduped/p.parquet", 0), &states).is_none());
        assert!(kept(&file("nomarker/p.parquet", 5), &states)
            .unwrap()
            .contains("no open-run marker"));
        assert!(kept(&file("nomarker/p.parquet", 61), &states).is_none());
    }
}
