//! Writing a restore: objects copied back from the backup, each checked against its SHA-256,
//! never over an object with other content.

use futures::StreamExt as _;

use super::{Plan, Restored, TableRestored};
use crate::audit::sha256_hex;
use crate::backup::manifest::{FileEntry, Manifest};
use crate::backup::take::{audit_seq, log_version, PARALLEL};
use crate::backup::Store;
use crate::env::Environment;
use crate::error::{Error, Result};

/// One object of the backup, checked against the manifest.
async fn fetch(from: &Store, e: &FileEntry) -> Result<bytes::Bytes> {
    let bytes = from.get(&e.key).await?;
    let sha = sha256_hex(&bytes);
    if sha == e.sha256 && bytes.len() as u64 == e.size {
        return Ok(bytes);
    }
    Err(Error::Input {
        path: format!("{}/{} ({})", from.location, e.key, e.path),
        message: format!(
            "does not match the backup's manifest (SHA-256 {sha}, {} bytes; expected {}, {} bytes): \
             the backup is damaged; restore from another backup",
            bytes.len(),
            e.sha256,
            e.size
        ),
    })
}

/// Writes `e` unless the lake has it (looked at first: an object the environment has, e.g.
/// the configuration its platform rendered, is never written, so no write permission is
/// needed on it): the same content is fine (a restore run again), other content is refused
/// (`Some(path)` when the caller keeps it instead).
async fn write_new(from: &Store, to: &Store, e: &FileEntry, keep: bool) -> Result<Option<String>> {
    let exists = to.size(&e.path).await?.is_some();
    if !exists && to.put_new(&e.path, fetch(from, e).await?).await? {
        return Ok(None);
    }
    if sha256_hex(&to.get(&e.path).await?) == e.sha256 {
        return Ok(None);
    }
    if keep {
        return Ok(Some(e.path.clone()));
    }
    Err(Error::Conflict(format!(
        "{}/{} was written by someone else while the restore ran (its content is not the backup's); \
         nothing more was restored",
        to.location, e.path
    )))
}

/// The environment's metadata: objects it lacks are written back (audit records with the
/// trail's Object Lock); other objects it has are kept and named.
pub async fn metadata(
    env: &Environment,
    from: &Store,
    lake: &Store,
    m: &Manifest,
    out: &mut Restored,
) -> Result<()> {
    let locked = match (&env.audit.object_lock, lake.location.url.scheme()) {
        (Some(lock), "s3") => Some(lake.with_object_store(lock.store(&lake.location)?)),
        _ => None,
    };
    for e in &m.metadata {
        let record = audit_seq(&e.path).is_some();
        let to = match (&locked, record) {
            (Some(l), true) => l,
            _ => lake,
        };
        if lake.size(&e.path).await?.is_none() {
            out.metadata_restored += 1;
        }
        if let Some(kept) = write_new(from, to, e, !record).await? {
            out.metadata_kept.push(kept);
        }
    }
    Ok(())
}

/// One table: its data files, then its log newest first, so that a restore cut short leaves a
/// log without its start (no reader opens it; the same restore finishes it), never a readable
/// older version of the table.
pub async fn table(from: &Store, lake: &Store, p: &Plan) -> Result<TableRestored> {
    let mut out = TableRestored {
        table: p.name.to_string(),
        version: p.version,
        ..Default::default()
    };
    let copied: Vec<Result<u64>> = futures::stream::iter(&p.files)
        .map(|e| async move {
            if lake.size(&e.path).await? != Some(e.size) {
                lake.put(&e.path, fetch(from, e).await?).await?;
            }
            Ok(e.size)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for c in copied {
        out.bytes += c?;
        out.files += 1;
    }
    crate::pipeline::fault_point("restore_before_log");
    let mut log = p.log.clone();
    log.sort_by_key(|e| std::cmp::Reverse(log_version(&e.path)));
    for e in &log {
        write_new(from, lake, e, false).await?;
        out.bytes += e.size;
        out.files += 1;
        crate::pipeline::fault_point("restore_in_log");
    }
    Ok(out)
}
