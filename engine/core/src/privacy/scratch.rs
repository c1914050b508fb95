//! Temporary Parquet of runs below `<lake>/_medallion/tmp/<run>/`: a local lake's scratch,
//! and under an S3 lake the rows a run shared with the cluster (docs/cluster.md). A run
//! killed before its clean-up leaves typed rows there in clear (before `silver.pii`).
//! Erasure deletes such leftovers holding the key unless their run is still alive (its
//! open-run marker in the audit trail, refreshed while it runs: named instead, to erase
//! again later); verify reads them too. A run writes its marker before its first
//! temporary file, so a leftover without a live marker belongs to no running run.

use std::sync::Arc;

use object_store::ObjectStore;

use super::erase::TableErased;
use super::scan::{self, StoredFile};
use super::Needles;
use crate::audit::{Actor, AuditLog};
use crate::env::Environment;
use crate::error::Result;

const TMP: &str = "_medallion/tmp";

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
    let live = crate::audit::live_runs(&AuditLog::for_env(env, Actor::default())?).await?;
    for f in &files {
        if !scan::file_holds(&*store, f, needles).await? {
            continue;
        }
        if live.contains(run_of(f)) {
            out.notes.push(format!(
                "{TMP}/{} holds the key and belongs to run {}, still running: not deleted; erase again when it has finished",
                f.rel,
                run_of(f)
            ));
            continue;
        }
        out.files_deleted += 1;
        out.bytes_deleted += f.size;
        if !dry_run {
            scan::delete(&*store, f).await?;
        }
    }
    Ok(out)
}

/// The leftovers holding the key (for `--verify`).
pub async fn holding(env: &Environment, needles: &Needles) -> Result<Vec<String>> {
    let Some((store, files)) = leftovers(env).await? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for f in &files {
        if scan::file_holds(&*store, f, needles).await? {
            found.push(format!("{TMP}/{}", f.rel));
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
