//! Chunks of records and their decoding: a file's records are grouped in chunks (at most
//! [`CHUNK_RECORDS`] records or [`CHUNK_BYTES`] bytes) on the reading thread, and decoded on
//! [`decode_threads`] threads by a [`RecordDecoder`].
//!
//! When a chunk fails to decode, it is split in halves until each bad record stands alone,
//! so a bad record costs O(log n) extra decodes and never takes good records with it. Every
//! record of a chunk ends up exactly once in `Decoded::Rows` or `Decoded::Bad`. A decoding
//! thread that panics or fails makes the whole file fail: never a silently shorter file.

use std::io::BufRead;
use std::sync::{Arc, Mutex};

use arrow::array::Int64Array;

use super::frame::{Framed, Framing, Records};
use super::{BadRecord, Decoded, RecordDecoder, CHUNK_BYTES, CHUNK_RECORDS};
use crate::error::{Error, Result};

/// A chunk of records: their bytes back to back (without line ends), and the records the
/// framing already found bad.
pub(super) struct Chunk {
    buf: Vec<u8>,
    records: Vec<RecordPos>,
    bad: Vec<BadRecord>,
}

#[derive(Clone, Copy)]
struct RecordPos {
    start: usize,
    end: usize,
    line: i64,
}

impl Chunk {
    pub fn with_capacity(bytes: usize, records: usize) -> Self {
        Chunk {
            buf: Vec::with_capacity(bytes),
            records: Vec::with_capacity(records),
            bad: Vec::new(),
        }
    }

    pub fn push(&mut self, record: &[u8], line: i64) {
        let start = self.buf.len();
        self.buf.extend_from_slice(record);
        self.records.push(RecordPos {
            start,
            end: self.buf.len(),
            line,
        });
    }

    fn is_full(&self) -> bool {
        self.records.len() + self.bad.len() >= CHUNK_RECORDS || self.buf.len() >= CHUNK_BYTES
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.bad.is_empty()
    }

    /// Adds `by` to every line number.
    fn shift(mut self, by: i64) -> Self {
        if by != 0 {
            self.records.iter_mut().for_each(|r| r.line += by);
            self.bad.iter_mut().for_each(|r| r.line += by);
        }
        self
    }
}

/// Reads the records of a text stream and calls `f` per chunk.
pub(super) fn read_chunks<R: BufRead>(
    reader: R,
    framing: Framing,
    mut f: impl FnMut(Chunk) -> Result<()>,
) -> std::result::Result<(), ChunkError> {
    let new = || Chunk::with_capacity(CHUNK_BYTES / 4, CHUNK_RECORDS);
    let mut chunk = new();
    let mut records = Records::new(reader, framing);
    loop {
        match records.next() {
            Ok(Framed::Record(line)) => chunk.push(records.record(), line),
            Ok(Framed::Bad(b)) => chunk.bad.push(b),
            Ok(Framed::End) => break,
            Err(e) => match super::source::corrupt(&e) {
                Some(c) => {
                    chunk.bad.push(corrupt_tail(records.unread_from(), c));
                    break;
                }
                None => return Err(ChunkError::Io(e)),
            },
        }
        if chunk.is_full() {
            f(std::mem::replace(&mut chunk, new()))?;
        }
    }
    if !chunk.is_empty() {
        f(chunk)?;
    }
    Ok(())
}

/// The bad record standing for the rest of a file whose compressed data is corrupt.
pub(super) fn corrupt_tail(line: i64, c: &super::source::Corrupt) -> BadRecord {
    BadRecord {
        line,
        record: String::new(),
        reason: format!(
            "{c}: the file cannot be read from this line on (the lines before it, in members or \
             frames that passed their checksums, were ingested); re-send the rest as a new file"
        ),
        column: None,
    }
}

/// Decodes a chunk, isolating bad records by bisection; emits rows in file order, then the
/// bad records (the framing's and the decoder's) in line order.
pub(super) fn decode_chunk_with(
    file: usize,
    chunk: Chunk,
    decoder: &dyn RecordDecoder,
    emit: &mut dyn FnMut(Decoded) -> Result<()>,
) -> Result<()> {
    let Chunk {
        buf,
        records,
        mut bad,
    } = chunk;
    let slice = |r: &RecordPos| &buf[r.start..r.end];
    // Depth-first, left half first, so rows keep file order.
    let mut pending: Vec<(usize, usize)> = Vec::new();
    if !records.is_empty() {
        pending.push((0, records.len()));
    }
    while let Some((lo, hi)) = pending.pop() {
        let part: Vec<&[u8]> = records[lo..hi].iter().map(slice).collect();
        match decoder.decode(&part) {
            Ok(batch) if batch.num_rows() == hi - lo => {
                let lines = Int64Array::from_iter_values(records[lo..hi].iter().map(|r| r.line));
                emit(Decoded::Rows { file, batch, lines })?;
            }
            Ok(batch) => {
                return Err(Error::Internal(format!(
                    "a record decoder returned {} rows for {} records",
                    batch.num_rows(),
                    hi - lo
                )))
            }
            Err(reason) if hi - lo == 1 => {
                let r = &records[lo];
                let column = column_in_reason(&reason);
                bad.push(BadRecord {
                    line: r.line,
                    record: String::from_utf8_lossy(slice(r)).to_string(),
                    reason,
                    column,
                });
            }
            Err(_) => {
                let mid = lo + (hi - lo) / 2;
                pending.push((mid, hi));
                pending.push((lo, mid));
            }
        }
    }
    if !bad.is_empty() {
        bad.sort_by_key(|b| b.line);
        emit(Decoded::Bad { file, records: bad })?;
    }
    Ok(())
}

/// Pulls a column name out of arrow's messages ("whilst decoding field 'x'", "column 'x'").
pub(super) fn column_in_reason(reason: &str) -> Option<String> {
    for marker in ["field '", "column '", "field `"] {
        if let Some(i) = reason.find(marker) {
            let rest = &reason[i + marker.len()..];
            if let Some(j) = rest.find(['\'', '`']) {
                return Some(rest[..j].to_string());
            }
        }
    }
    None
}

/// Why decoding a file stopped.
pub(super) enum ChunkError {
    Io(std::io::Error),
    Engine(Error),
}

impl From<Error> for ChunkError {
    fn from(e: Error) -> Self {
        ChunkError::Engine(e)
    }
}

/// Threads decoding the chunks of one file (the reading thread only frames records).
pub(super) fn decode_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Frames a file's records into chunks on this thread and decodes the chunks on
/// `threads` threads (see [`decode_threads`]). Rows of different chunks may reach `emit` in any order (each
/// row keeps its line number); `first_line` shifts the line numbers. A decoding thread that
/// panics or fails makes this return an error (after every thread has stopped).
pub(super) fn decode_parallel<R: BufRead>(
    reader: R,
    framing: Framing,
    first_line: i64,
    file: usize,
    decoder: &dyn RecordDecoder,
    emit: &(dyn Fn(Decoded) -> Result<()> + Sync),
    threads: usize,
) -> std::result::Result<(), ChunkError> {
    let decode = |chunk: Chunk| -> Result<()> {
        decode_chunk_with(file, chunk.shift(first_line), decoder, &mut |d| emit(d))
    };
    if threads <= 1 {
        return read_chunks(reader, framing, decode);
    }
    std::thread::scope(|scope| {
        let (chunks_tx, chunks_rx) = std::sync::mpsc::sync_channel::<Chunk>(threads);
        let chunks_rx = Arc::new(Mutex::new(chunks_rx));
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = chunks_rx.clone();
                let decode = &decode;
                scope.spawn(move || -> Result<()> {
                    loop {
                        let next = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => {
                                return Err(Error::Internal("a decode thread panicked".into()))
                            }
                        };
                        let Ok(chunk) = next else { return Ok(()) };
                        decode(chunk)?;
                    }
                })
            })
            .collect();
        drop(chunks_rx);
        let read = read_chunks(reader, framing, |chunk| {
            chunks_tx
                .send(chunk)
                .map_err(|_| Error::Internal("every decode thread stopped".into()))
        });
        drop(chunks_tx);
        let mut failed = None;
        for w in workers {
            let res = w.join().unwrap_or_else(|panic| {
                Err(Error::Internal(format!(
                    "a decode thread panicked: {}",
                    panic_message(panic.as_ref())
                )))
            });
            if let Err(e) = res {
                failed.get_or_insert(e);
            }
        }
        match (failed, read) {
            (Some(e), _) => Err(ChunkError::Engine(e)),
            (None, r) => r,
        }
    })
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
