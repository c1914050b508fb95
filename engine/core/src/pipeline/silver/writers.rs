//! Silver's output written by several writers at once: the output partitions of the Silver
//! SQL are dealt to writers (each a [`StagedWrite`] on its own task, so the Parquet encoding
//! of each runs on its own core) and their staged files are combined into one [`Staged`],
//! committed together. A failure anywhere stops every writer at its next batch; the files
//! every writer staged are then deleted.
//!
//! Not covered: a write that fails inside delta-rs (an I/O error of the store, or a writer
//! that panics) loses delta-rs's own list of the files it had finished, so those files can
//! stay in the table folder. They are not in the Delta log, so no reader ever sees them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::super::scratch::conform;
use crate::error::{Error, Result};
use crate::table::{Staged, StagedWrite};

/// Rows from which Silver's output is written by one writer per output partition of the
/// Silver SQL (on every core; each writer makes its own files); fewer rows are written by
/// one writer. `MEDALLION_WRITER_ROWS` overrides it.
pub fn rows_per_writer() -> u64 {
    const DEFAULT: u64 = 1_000_000;
    match std::env::var("MEDALLION_WRITER_ROWS") {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            tracing::warn!(value = %v, "MEDALLION_WRITER_ROWS is not a number of rows; using {DEFAULT}.");
            DEFAULT
        }),
        Err(_) => DEFAULT,
    }
}

/// Memory a writer may hold (its row group being encoded and its upload buffers): the
/// number of writers is at most the writers' share of the budget over this, at least one
/// (so below a 1 GiB budget the one writer may hold more than its quarter).
const WRITER_MEMORY: u64 = 256 * 1024 * 1024;

/// Writes `streams` with at most one writer per stream and per [`WRITER_MEMORY`] of the
/// writers' share of `memory_limit` ([`crate::memory::writers_bytes`]). A writer reads its
/// streams together, whichever has a batch first, so that no partition's output waits in
/// memory for its turn; `new_writer` makes each writer. Returns every writer's files as one set, or the first error (after the
/// staged files are deleted). `sql_file` names the query in errors.
pub async fn write_all(
    streams: Vec<SendableRecordBatchStream>,
    memory_limit: u64,
    new_writer: impl Fn() -> Result<StagedWrite>,
    target: &SchemaRef,
    sql_file: &str,
) -> Result<Staged> {
    // The rest of the budget is DataFusion's pool, busy with the query these writers drain.
    let share = crate::memory::writers_bytes(memory_limit);
    let n = streams
        .len()
        .min((share / WRITER_MEMORY).max(1) as usize)
        .max(1);
    let mut shares: Vec<Vec<SendableRecordBatchStream>> = (0..n).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        shares[i % n].push(s);
    }
    tracing::debug!(writers = n, "Silver writers.");
    // Every writer exists before any starts, so that each one's files are known to delete.
    let writers = shares
        .into_iter()
        .map(|share| Ok((share, new_writer()?)))
        .collect::<Result<Vec<_>>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|(share, w)| {
            let (target, file, stop) = (target.clone(), sql_file.to_string(), stop.clone());
            tokio::spawn(write_streams(share, w, target, file, stop))
        })
        .collect();
    // Every writer is waited for: its staged files are returned (to be deleted) even when
    // its query partition or another writer failed.
    let (mut parts, mut failed) = (Vec::new(), None);
    for task in tasks {
        match task.await {
            Ok(Ok((part, error))) => {
                parts.push(part);
                failed = failed.or(error);
            }
            Ok(Err(e)) => failed = failed.or(Some(e)),
            Err(e) => {
                let e = Error::Internal(format!("a Silver writer stopped: {e}"));
                failed = failed.or(Some(e));
            }
        }
    }
    let staged = combine(parts, &new_writer, failed.is_some()).await;
    match (failed, staged) {
        (Some(e), staged) => {
            if let Ok(s) = staged {
                s.discard().await;
            }
            Err(e)
        }
        (None, staged) => staged,
    }
}

/// The writers' files as one set (an empty set from a fresh writer when there is none, so
/// that the table still gets its schema; not needed when the write failed).
async fn combine(
    mut parts: Vec<Staged>,
    new_writer: &impl Fn() -> Result<StagedWrite>,
    failed: bool,
) -> Result<Staged> {
    let Some(mut all) = parts.pop() else {
        if failed {
            return Err(Error::Internal("no Silver writer finished".into()));
        }
        return new_writer()?.finish().await;
    };
    for part in parts {
        all.adds.extend(part.adds);
        all.rows += part.rows;
    }
    Ok(all)
}

/// Writes output streams (together, in whatever order their batches come) with one writer
/// until they end, one fails or `stop` is set (another writer failed); sets `stop` when it
/// fails. Returns the staged files and the error, if any (the files are staged all the same,
/// to be deleted).
async fn write_streams(
    streams: Vec<SendableRecordBatchStream>,
    mut w: StagedWrite,
    target: SchemaRef,
    file: String,
    stop: Arc<AtomicBool>,
) -> Result<(Staged, Option<Error>)> {
    let mut failed = None;
    let mut batches = futures::stream::select_all(streams);
    while let Some(b) = batches.next().await {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let written = match b {
            Ok(b) => match conform(&b, &target) {
                Ok(b) => w.write(b).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(Error::query(format!("{file}: silver.sql"), e)),
        };
        if let Err(e) = written {
            stop.store(true, Ordering::Relaxed);
            failed = Some(e);
            break;
        }
    }
    drop(batches);
    match (w.finish().await, failed) {
        (Ok(staged), failed) => Ok((staged, failed)),
        (Err(e), None) => {
            stop.store(true, Ordering::Relaxed);
            Err(e)
        }
        // The first error is the one to report; this one only loses the writer's file list.
        (Err(e), Some(first)) => {
            tracing::warn!(error = %e, "A Silver writer could not close its files after an error; files it wrote may stay in the table folder (they are not in its log).");
            Err(first)
        }
    }
}
