//! Choosing the winners of a spill: workers take the [`BUCKETS`] one at a time, each with a
//! table of its own (emptied, not freed, between its buckets), and mark the winners in one
//! shared bitmap over all rows. A key's rows are all in one bucket, in the order they were
//! seen, so each bucket's choice is the one a single table would have made.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use arrow::buffer::{BooleanBuffer, Buffer};

use super::spill::{Buckets, BUCKETS};
use super::table::Table;
use crate::error::{Error, Result};

/// What the workers share.
struct Shared<'a> {
    buckets: &'a Buckets,
    hasher: &'a foldhash::fast::FixedState,
    files: &'a [String],
    /// The next bucket to take (set past the last one to stop every worker).
    next: AtomicUsize,
    /// Buckets chosen completely.
    done: AtomicUsize,
    /// One bit per row seen: set for the winners.
    mask: Vec<AtomicU64>,
    rows: usize,
}

/// The winners of `buckets` as a mask over `rows` rows, chosen on up to `workers` threads.
/// Every bucket is read exactly once; an error (a bucket that does not read back as
/// written, a worker that panics) fails the whole choice.
pub(super) fn winners(
    mut buckets: Buckets,
    rows: usize,
    workers: usize,
    hasher: &foldhash::fast::FixedState,
    files: &[String],
) -> Result<BooleanBuffer> {
    buckets.flush()?;
    let started = Instant::now();
    let shared = Shared {
        buckets: &buckets,
        hasher,
        files,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        mask: (0..rows.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        rows,
    };
    let mut first = None;
    for result in run_workers(&shared, workers.max(1)) {
        match (result, &first) {
            (Err(e), None) => first = Some(e),
            // Reported too: only the first fails the run.
            (Err(e), Some(_)) => tracing::warn!(error = %e, "Another dedupe worker failed too."),
            (Ok(()), _) => {}
        }
    }
    if let Some(e) = first {
        return Err(e);
    }
    let done = shared.done.load(Ordering::Relaxed);
    if done != BUCKETS {
        return Err(Error::Internal(format!(
            "the dedupe chose the winners of {done} of its {BUCKETS} spill buckets"
        )));
    }
    let bytes: Vec<u8> = shared
        .mask
        .into_iter()
        .flat_map(|w| w.into_inner().to_le_bytes())
        .collect();
    let mask = BooleanBuffer::new(Buffer::from_vec(bytes), 0, rows);
    tracing::info!(
        keys = mask.count_set_bits(),
        seconds = started.elapsed().as_secs_f64(),
        "Dedupe: winners of the spilled rows chosen."
    );
    Ok(mask)
}

/// Runs `work` on `workers` threads (on this one if none can be started); each result.
fn run_workers(shared: &Shared<'_>, workers: usize) -> Vec<Result<()>> {
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for i in 0..workers {
            let spawned = std::thread::Builder::new()
                .name(format!("dedupe-{i}"))
                .spawn_scoped(s, || work(shared));
            match spawned {
                Ok(h) => handles.push(h),
                // The others take its buckets (they share one counter).
                Err(e) => {
                    tracing::warn!(error = %e, started = i, "Could not start another dedupe worker; choosing with fewer.");
                    break;
                }
            }
        }
        tracing::debug!(threads = handles.len(), "Dedupe workers started.");
        if handles.is_empty() {
            let inline = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(shared)));
            return vec![inline.unwrap_or_else(|p| Err(panicked(p.as_ref())))];
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| Err(panicked(p.as_ref()))))
            .collect()
    })
}

fn panicked(payload: &(dyn std::any::Any + Send)) -> Error {
    Error::Internal(format!(
        "a dedupe worker panicked: {}",
        crate::ingest::panic_message(payload)
    ))
}

/// One worker: takes buckets until none is left or another worker failed.
fn work(shared: &Shared<'_>) -> Result<()> {
    let stop = StopOthers(&shared.next);
    let mut table = Table::default();
    loop {
        let b = shared.next.fetch_add(1, Ordering::Relaxed);
        if b >= BUCKETS {
            std::mem::forget(stop);
            return Ok(());
        }
        shared.buckets.read_bucket(b, |rec| {
            let rehash = |k: &[u8]| shared.hasher.hash_one(k);
            table.offer(rec.hash, &rec.info(), rehash, shared.files);
        })?;
        for r in table.winners() {
            let row = r.row as usize;
            if row >= shared.rows {
                return Err(Error::Internal(format!(
                    "spill bucket {b} names row {row} of {}: the spill file was changed",
                    shared.rows
                )));
            }
            shared.mask[row / 64].fetch_or(1 << (row % 64), Ordering::Relaxed);
        }
        table.clear();
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stops the other workers at their next bucket when dropped: on an error or a panic.
struct StopOthers<'a>(&'a AtomicUsize);

impl Drop for StopOthers<'_> {
    fn drop(&mut self) {
        self.0.store(BUCKETS, Ordering::Relaxed);
    }
}
