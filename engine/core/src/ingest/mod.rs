//! Bronze ingestion: discover files ([`discover`]), decode NDJSON / CSV / Parquet into Arrow
//! record batches of the schema's raw form, and isolate records that cannot be parsed.
//!
//! - `discover`: which files a source names.
//! - `frame`: text files → records (lines, CSV quoting), bounded at [`MAX_RECORD_BYTES`].
//! - `chunk`: records → chunks → rows and bad records, on several threads, by bisection.
//! - `json` (with its fast path for flat records, `json_flat`), `csv`: the [`RecordDecoder`]s
//!   (the Kafka crate decodes payloads with the same ones, through [`decode_records`]);
//!   `parquet`: Parquet files.
//! - `records`: the decoder trait, what each format [`Carries`], the plan-time type check.
//!
//! Guarantees: every record of a file ends up exactly once in `Decoded::Rows` or
//! `Decoded::Bad`; memory is bounded by the chunk size, the record bound and the channel
//! depth, whatever the file size; a decoder that fails or panics makes
//! [`DecodeHandle::join`] return an error naming the file, so the run commits nothing and
//! the file is read again by the next run (never a silently shorter file).

mod chunk;
pub(crate) use chunk::panic_message;
#[cfg(test)]
mod conservation;
mod csv;
mod csv_flat;
mod discover;
mod frame;
mod json;
mod json_flat;
mod local;
mod object;
mod parquet;
mod records;
mod source;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::spec::{FileFormat, FilesSource, UnknownFields};

pub use self::csv::CsvDecoder;
pub use self::discover::{discover, SourceFile};
pub use self::json::JsonDecoder;
pub use self::records::{check_types, decode_records, Carries, RecordDecoder};
pub use self::source::{ObjectRef, Origin};

/// Records per decode chunk.
pub const CHUNK_RECORDS: usize = 8192;
/// Bytes per decode chunk (whichever limit is reached first).
pub const CHUNK_BYTES: usize = 8 << 20;
/// The largest record of a text file, in bytes (the chunk size: a record never spans more
/// than one chunk). A longer record is quarantined, and so is an unbalanced CSV quote that
/// is not closed within it; reading resumes at the next line.
pub const MAX_RECORD_BYTES: usize = CHUNK_BYTES;

/// A record that could not be parsed.
#[derive(Debug, Clone)]
pub struct BadRecord {
    /// 1-based line (text formats) or row (Parquet).
    pub line: i64,
    /// The record as delivered (text, lossily decoded as UTF-8), or as JSON for Parquet rows.
    pub record: String,
    pub reason: String,
    pub column: Option<String>,
}

/// What the decoder produces.
#[derive(Debug)]
pub enum Decoded {
    /// Good rows of the raw schema, with their 1-based line numbers.
    Rows {
        file: usize,
        batch: RecordBatch,
        lines: Int64Array,
    },
    /// Records that could not be parsed.
    Bad {
        file: usize,
        records: Vec<BadRecord>,
    },
    /// A file is done (bytes read, for progress).
    FileDone { file: usize, bytes: u64 },
}

/// The decoding task of [`spawn_decoder`].
#[must_use = "a decoder failure is only reported by `join`"]
pub struct DecodeHandle {
    task: tokio::task::JoinHandle<Result<usize>>,
    files: Vec<String>,
    /// The index of the file being decoded.
    current: Arc<AtomicUsize>,
}

impl DecodeHandle {
    /// Waits for the decoder; an error (naming the file, saying the run commits nothing) if
    /// a decoding thread failed or panicked, or if not every file was finished. Call it
    /// after the channel is drained (or dropped) and before committing anything.
    pub async fn join(self) -> Result<()> {
        let at = |i: usize| self.files.get(i).cloned().unwrap_or_default();
        match self.task.await {
            Ok(Ok(done)) if done == self.files.len() => Ok(()),
            Ok(Ok(done)) => Err(decode_failed(
                &at(done),
                Error::Internal(format!(
                    "the decoder stopped after {done} of {} files",
                    self.files.len()
                )),
            )),
            Ok(Err(e)) => Err(e),
            Err(e) => {
                let what = if e.is_panic() {
                    format!(
                        "the decoder panicked: {}",
                        chunk::panic_message(e.into_panic().as_ref())
                    )
                } else {
                    "the decoder was cancelled".to_string()
                };
                let file = at(self.current.load(Ordering::SeqCst));
                Err(decode_failed(&file, Error::Internal(what)))
            }
        }
    }
}

/// Decodes `files` on a blocking thread, sending rows and bad records through a bounded
/// channel. The channel only closes early on failure; the failure itself comes from
/// [`DecodeHandle::join`], which must be awaited before anything is committed.
pub fn spawn_decoder(
    files: Vec<SourceFile>,
    source: FilesSource,
    raw_schema: SchemaRef,
) -> (mpsc::Receiver<Result<Decoded>>, DecodeHandle) {
    let opener = std::sync::Mutex::new(source::Opener::new(
        &files,
        source.format != FileFormat::Parquet,
    ));
    spawn_with(files, move |i, f, emit| {
        decode_file(i, f, &source, &raw_schema, &opener, emit)
    })
}

/// Where a decoder sends what it decodes.
type Emit<'a> = &'a (dyn Fn(Decoded) -> Result<()> + Sync);

/// [`spawn_decoder`] with any file decoder (tests inject failing ones).
fn spawn_with<F>(
    files: Vec<SourceFile>,
    decode: F,
) -> (mpsc::Receiver<Result<Decoded>>, DecodeHandle)
where
    F: Fn(usize, &SourceFile, Emit) -> Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    let current = Arc::new(AtomicUsize::new(0));
    let names = files.iter().map(|f| f.name.clone()).collect();
    let at = current.clone();
    let task = tokio::task::spawn_blocking(move || -> Result<usize> {
        let emit = |d: Decoded| {
            tx.blocking_send(Ok(d)).map_err(|_| {
                Error::Internal(
                    "the run stopped reading the decoded rows (after an earlier error)".into(),
                )
            })
        };
        for (i, f) in files.iter().enumerate() {
            at.store(i, Ordering::SeqCst);
            decode(i, f, &emit).map_err(|e| decode_failed(&f.name, e))?;
            emit(Decoded::FileDone {
                file: i,
                bytes: f.size,
            })
            .map_err(|e| decode_failed(&f.name, e))?;
        }
        Ok(files.len())
    });
    let handle = DecodeHandle {
        task,
        files: names,
        current,
    };
    (rx, handle)
}

/// A decoding failure of `file`, saying what it means for the run. A failure to *read* it
/// (I/O, network, a file that changed while read) stays an I/O error: running again is the
/// remedy, not a change of the input.
fn decode_failed(file: &str, e: Error) -> Error {
    let message = match e {
        Error::Io { path, source } => {
            return Error::Io {
                path,
                source: std::io::Error::new(
                    source.kind(),
                    format!("reading {file} failed: {source}. The run committed nothing: every table is as it was, and the next run reads this file again"),
                ),
            }
        }
        Error::Source { path, message } if path == file => message,
        Error::Internal(m) => format!("internal error: {m}. This is a bug, please report it"),
        other => other.to_string(),
    };
    Error::Source {
        path: file.to_string(),
        message: format!(
            "decoding failed: {message}. The run committed nothing: every table is as it was, and the next run reads this file again"
        ),
    }
}

/// Decodes one file of `source`'s format.
fn decode_file(
    idx: usize,
    f: &SourceFile,
    source: &FilesSource,
    raw: &SchemaRef,
    opener: &std::sync::Mutex<source::Opener>,
    emit: Emit,
) -> Result<()> {
    let open = || {
        let mut opener = opener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        opener.open(idx, source.compression)
    };
    let framing = |csv_delimiter| frame::Framing {
        csv_delimiter,
        max_record_bytes: MAX_RECORD_BYTES,
    };
    let threads = chunk::decode_threads();
    let res = match source.format {
        FileFormat::Ndjson => {
            let strict = source.unknown_fields == UnknownFields::Quarantine;
            let json = JsonDecoder::new(raw.clone(), strict);
            chunk::decode_parallel(open()?, framing(None), 0, idx, &json, emit, threads)
        }
        FileFormat::Csv => {
            let opts = source.csv.clone().unwrap_or_default();
            let mut reader = open()?;
            if let Err(e) = std::io::BufRead::fill_buf(&mut reader) {
                // Not even the header is intact: the whole file is one quarantined record.
                let Some(c) = source::corrupt(&e) else {
                    return Err(Error::io(f.origin.shown(), e));
                };
                let records = vec![chunk::corrupt_tail(1, c)];
                return emit(Decoded::Bad { file: idx, records });
            }
            let (layout, first_line) =
                csv::csv_layout(&mut reader, &opts, raw, source.unknown_fields, f)?;
            let delimiter = opts.delimiter as u8;
            let csv = CsvDecoder::for_file(layout, raw.clone(), delimiter);
            let framing = framing(Some(delimiter));
            chunk::decode_parallel(reader, framing, first_line, idx, &csv, emit, threads)
        }
        FileFormat::Parquet => return parquet::decode_parquet(idx, f, source, raw, emit),
    };
    res.map_err(|e| match e {
        chunk::ChunkError::Io(e) => Error::io(f.origin.shown(), e),
        chunk::ChunkError::Engine(e) => e,
    })
}
