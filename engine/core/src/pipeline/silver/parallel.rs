//! Silver's typed pass on every core: Bronze batches are typed and judged by worker threads
//! while one thread reads the input and hands the results to the sinks (the typed file, the
//! deduper, the quarantine) in the batches' order, so the outcome is the same as batch after
//! batch: the same rows in the same order, the same quarantine records and events.
//!
//! The typed rows then go, in the same order, to two threads of their own: one writes the
//! run's typed file, one feeds the deduper (the reader only reports events and quarantine
//! records).
//!
//! Batch `i` goes to worker `i mod n` and its result is taken from that worker's queue, so
//! no reordering buffer is needed; at most [`IN_FLIGHT`] batches per worker are in flight
//! (memory stays bounded; neither queue ever blocks its sender). The sinks' queues hold at
//! most as many batches: a slower sink holds the reader back.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use tokio::runtime::{Handle, RuntimeFlavor};

use super::super::quarantine::QuarantineWriter;
use super::super::Run;
use super::rows::{self, Judged, RowSinks};
use crate::error::{Error, Result};
use crate::privacy::suppress::Suppression;

/// Batches in flight per worker (queued, being judged, or judged and not applied yet).
const IN_FLIGHT: usize = 2;

/// How many typing workers to run: one per core (at most 8), when the runtime can lend this
/// thread to blocking work (a multi-threaded runtime) and there is more than one core.
/// `MEDALLION_TYPING_THREADS` (1 to 64) overrides the count (1 = batch after batch).
pub fn workers() -> Option<usize> {
    let multi = Handle::try_current()
        .map(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    let cores = || {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8)
    };
    let n = match std::env::var("MEDALLION_TYPING_THREADS") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_WORKERS).contains(&n) => n,
            _ => {
                tracing::warn!(value = %v, "MEDALLION_TYPING_THREADS is not a number from 1 to {MAX_WORKERS}; using one thread per core.");
                cores()
            }
        },
        Err(_) => cores(),
    };
    let n = (multi && n > 1).then_some(n);
    tracing::debug!(workers = n.unwrap_or(1), "Silver typing threads.");
    n
}

/// The most typing workers `MEDALLION_TYPING_THREADS` may ask for.
const MAX_WORKERS: usize = 64;

/// Runs the typed pass with `n` workers; this thread reads the input and reports the
/// results, and two more threads take the typed rows in order: one writes the typed file,
/// one feeds the deduper. Must run inside `block_in_place` on a multi-threaded runtime.
pub fn process(
    run: &Run<'_>,
    table: &str,
    input: SendableRecordBatchStream,
    replayed: bool,
    out: &mut RowSinks<'_>,
    n: usize,
) -> Result<u64> {
    let suppress = out.suppress;
    let RowSinks {
        typed,
        deduper,
        quarantine,
        ..
    } = out;
    std::thread::scope(|scope| {
        let bound = n * IN_FLIGHT;
        let file = Ordered::spawn(scope, &mut **typed, bound, rows::write_typed);
        let dedupe = deduper
            .as_deref_mut()
            .map(|d| Ordered::spawn(scope, d, bound, rows::dedupe));
        let sinks = [Some(&file), dedupe.as_ref()];
        let read = judge_all(
            scope, run, table, input, replayed, suppress, quarantine, &sinks, n,
        );
        // A sink's own error first: the reader's error is then only its echo.
        let (file, dedupe) = (file.finish(), dedupe.map(Ordered::finish));
        file?;
        dedupe.transpose()?;
        read
    })
}

/// The reader's loop: deals the input's batches to `n` typing workers, takes their results
/// in the batches' order, reports them and sends the typed rows to `sinks`.
#[allow(clippy::too_many_arguments)]
fn judge_all<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    run: &'scope Run<'_>,
    table: &'scope str,
    mut input: SendableRecordBatchStream,
    replayed: bool,
    suppress: Option<(&'scope Suppression, &'scope [(String, String)])>,
    quarantine: &mut QuarantineWriter,
    sinks: &[Option<&Ordered<'scope>>],
    n: usize,
) -> Result<u64> {
    let handle = Handle::current();
    let mut to: Vec<SyncSender<RecordBatch>> = Vec::with_capacity(n);
    let mut from: Vec<Receiver<Judged>> = Vec::with_capacity(n);
    for _ in 0..n {
        let (batch_tx, batch_rx) = sync_channel::<RecordBatch>(IN_FLIGHT);
        let (judged_tx, judged_rx) = sync_channel::<Judged>(IN_FLIGHT);
        scope.spawn(move || {
            for raw in batch_rx {
                let judged = rows::judge(run, table, raw, replayed, suppress);
                // The reader stopped (it failed): nothing more to do.
                if judged_tx.send(judged).is_err() {
                    break;
                }
            }
        });
        to.push(batch_tx);
        from.push(judged_rx);
    }
    // Returning drops `to` and `from`: the workers finish their batch and stop.
    let (mut sent, mut applied, mut read, mut ended) = (0usize, 0usize, 0u64, false);
    loop {
        while !ended && sent - applied < n * IN_FLIGHT {
            match handle.block_on(input.next()) {
                Some(batch) => {
                    to[sent % n].send(batch?).map_err(|_| stopped())?;
                    sent += 1;
                }
                None => ended = true,
            }
        }
        if applied == sent {
            return Ok(read);
        }
        let judged = from[applied % n].recv().map_err(|_| stopped())?;
        applied += 1;
        read += judged.read;
        let batch = handle.block_on(rows::report(run, table, judged, quarantine))?;
        for sink in sinks.iter().flatten() {
            sink.send(batch.clone())?;
        }
    }
}

/// A sink fed on its own thread, batch after batch in the order sent; it stops at its
/// first error, which [`Ordered::finish`] returns.
struct Ordered<'scope> {
    tx: SyncSender<RecordBatch>,
    done: std::thread::ScopedJoinHandle<'scope, Result<()>>,
}

impl<'scope> Ordered<'scope> {
    fn spawn<T: Send>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        sink: &'scope mut T,
        bound: usize,
        mut take: impl FnMut(&mut T, &RecordBatch) -> Result<()> + Send + 'scope,
    ) -> Self {
        let (tx, rx) = sync_channel::<RecordBatch>(bound);
        let done = scope.spawn(move || {
            for batch in rx {
                take(sink, &batch)?;
            }
            Ok(())
        });
        Self { tx, done }
    }

    /// Hands over a batch; an error when the sink stopped (its own error is then the one
    /// [`Ordered::finish`] returns).
    fn send(&self, batch: RecordBatch) -> Result<()> {
        self.tx.send(batch).map_err(|_| stopped())
    }

    /// Waits until the sink has taken every batch sent; its error, if it stopped on one.
    fn finish(self) -> Result<()> {
        drop(self.tx);
        self.done.join().unwrap_or_else(|panic| {
            let what = crate::ingest::panic_message(panic.as_ref());
            Err(Error::Internal(format!(
                "a Silver sink thread panicked: {what}"
            )))
        })
    }
}

/// A worker ended without a result: it panicked (the panic is re-raised when the scope
/// ends; this error is what the run reports if it does not).
fn stopped() -> Error {
    Error::Internal("a Silver typing worker stopped unexpectedly".into())
}
