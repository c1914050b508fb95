//! Temporary Parquet of runs (`<lake>/_medallion/tmp/<run>/`, local lakes): a run killed
//! before its clean-up leaves typed rows there in clear (before `silver.pii`). Erasure deletes
//! such leftovers holding the key once they are an hour old (younger ones may be a running
//! run's: named instead); verify reads them too.

use super::erase::TableErased;
use super::scan;
use super::Needles;
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
    let loc = env.lake_location()?;
    if loc.local_path().is_none_or(|p| !p.join(TMP).is_dir()) {
        return Ok(out);
    }
    let (store, files) = scan::list(&loc.child(TMP)?, false).await?;
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    for f in &files {
        if !scan::file_holds(&*store, f, needles).await? {
            continue;
        }
        if f.modified > hour_ago {
            out.notes.push(format!(
                "{TMP}/{} holds the key and may be a running run's: not deleted; erase again later",
                f.rel
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
    let loc = env.lake_location()?;
    if loc.local_path().is_none_or(|p| !p.join(TMP).is_dir()) {
        return Ok(Vec::new());
    }
    let (store, files) = scan::list(&loc.child(TMP)?, false).await?;
    let mut found = Vec::new();
    for f in &files {
        if scan::file_holds(&*store, f, needles).await? {
            found.push(format!("{TMP}/{}", f.rel));
        }
    }
    Ok(found)
}
