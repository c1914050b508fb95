//! Bronze file ingestion: discover files, decode NDJSON / CSV / Parquet into Arrow record
//! batches of the schema's raw form, and isolate records that cannot be parsed.
//!
//! Decoding uses arrow's JSON and CSV decoders on chunks of records (default 8192). When a
//! chunk fails, it is split in halves until each bad record stands alone, so a bad record
//! costs O(log n) extra decodes and never takes good records with it. Memory is bounded by
//! the chunk size and the channel depth, whatever the file size.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, Int64Array, RecordBatch, StructArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use tokio::sync::mpsc;

use crate::env::Environment;
use crate::error::{Error, Result};
use crate::spec::{CsvOptions, FileFormat, FilesSource, UnknownFields};

/// Records per decode chunk.
pub const CHUNK_RECORDS: usize = 8192;
/// Bytes per decode chunk (whichever limit is reached first).
pub const CHUNK_BYTES: usize = 8 << 20;

/// A file to ingest.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The name recorded in `_source_file` (relative to the project root when inside it);
    /// this is the bookmark key.
    pub name: String,
    pub size: u64,
}

/// Finds the files a source names, sorted by name, refusing any inside another
/// environment's lake.
pub fn discover(env: &Environment, source: &FilesSource) -> Result<Vec<SourceFile>> {
    let resolved = env.resolve_source(&source.path)?;
    let shown = source.path.clone();
    let mut paths = Vec::new();
    let pattern = resolved.to_string_lossy().to_string();
    if resolved.is_dir() {
        walk(&resolved, &mut paths).map_err(|e| Error::io(resolved.display().to_string(), e))?;
    } else if pattern.contains(['*', '?', '[']) {
        let entries = glob::glob(&pattern).map_err(|e| Error::Source {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        for entry in entries {
            let p = entry.map_err(|e| Error::Source {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            if p.is_file() {
                paths.push(p);
            }
        }
    } else if resolved.is_file() {
        paths.push(resolved.clone());
    } else {
        return Err(Error::Source {
            path: shown,
            message: format!(
                "{} does not exist; check `bronze.source.files.path` (relative paths start at {})",
                resolved.display(),
                env.project_root.display()
            ),
        });
    }
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.starts_with('.') || name.starts_with('_') {
            continue; // hidden and marker files (`_SUCCESS`, `.crc`)
        }
        env.check_readable(&path)?;
        let size = std::fs::metadata(&path)
            .map_err(|e| Error::io(path.display().to_string(), e))?
            .len();
        let name = path
            .strip_prefix(&env.project_root)
            .unwrap_or(&path)
            .to_string_lossy()
            .to_string();
        out.push(SourceFile { path, name, size });
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

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

/// Decodes `files` on a blocking thread, sending results through a bounded channel.
pub fn spawn_decoder(
    files: Vec<SourceFile>,
    source: FilesSource,
    raw_schema: SchemaRef,
) -> (mpsc::Receiver<Result<Decoded>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4);
    let handle = tokio::task::spawn_blocking(move || {
        for (i, f) in files.iter().enumerate() {
            let res = decode_file(i, f, &source, &raw_schema, &tx);
            if let Err(e) = res {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            if tx
                .blocking_send(Ok(Decoded::FileDone {
                    file: i,
                    bytes: f.size,
                }))
                .is_err()
            {
                return;
            }
        }
    });
    (rx, handle)
}

type Tx = mpsc::Sender<Result<Decoded>>;

fn send(tx: &Tx, d: Decoded) -> Result<()> {
    tx.blocking_send(Ok(d))
        .map_err(|_| Error::Internal("the ingest consumer stopped".into()))
}

fn decode_file(
    idx: usize,
    f: &SourceFile,
    source: &FilesSource,
    raw: &SchemaRef,
    tx: &Tx,
) -> Result<()> {
    match source.format {
        FileFormat::Ndjson => {
            let file =
                File::open(&f.path).map_err(|e| Error::io(f.path.display().to_string(), e))?;
            let mut reader = BufReader::with_capacity(1 << 20, file);
            let json = JsonChunkDecoder {
                schema: raw.clone(),
                strict: source.unknown_fields == UnknownFields::Quarantine,
            };
            decode_parallel(&mut reader, false, 0, idx, &json, tx).map_err(|e| map_io(e, f))
        }
        FileFormat::Csv => {
            let opts = source.csv.clone().unwrap_or_default();
            let file =
                File::open(&f.path).map_err(|e| Error::io(f.path.display().to_string(), e))?;
            let mut reader = BufReader::with_capacity(1 << 20, file);
            let delimiter = opts.delimiter as u8;
            let (layout, first_line) =
                csv_layout(&mut reader, &opts, raw, source.unknown_fields, f)?;
            let csv = CsvChunkDecoder {
                layout,
                raw: raw.clone(),
                delimiter,
            };
            decode_parallel(&mut reader, true, first_line, idx, &csv, tx).map_err(|e| map_io(e, f))
        }
        FileFormat::Parquet => decode_parquet(idx, f, source, raw, tx),
    }
}

fn map_io(e: ChunkError, f: &SourceFile) -> Error {
    match e {
        ChunkError::Io(e) => Error::io(f.path.display().to_string(), e),
        ChunkError::Engine(e) => e,
    }
}

enum ChunkError {
    Io(std::io::Error),
    Engine(Error),
}

impl From<Error> for ChunkError {
    fn from(e: Error) -> Self {
        ChunkError::Engine(e)
    }
}

/// Threads decoding the chunks of one file (the reading thread only splits records).
fn decode_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Splits a file's records into chunks on this thread and decodes the chunks on
/// [`decode_threads`] threads. Rows of different chunks may reach the consumer in any order
/// (each row keeps its line number); `first_line` shifts the chunks' line numbers.
fn decode_parallel<R: BufRead>(
    reader: &mut R,
    quoted: bool,
    first_line: i64,
    idx: usize,
    decoder: &(dyn ChunkDecoder + Sync),
    tx: &Tx,
) -> std::result::Result<(), ChunkError> {
    let shift = move |mut chunk: Chunk| {
        if first_line != 0 {
            for r in chunk.records.iter_mut() {
                r.line += first_line;
            }
        }
        chunk
    };
    let threads = decode_threads();
    if threads <= 1 {
        return read_chunks(reader, quoted, |chunk| {
            decode_chunk(idx, shift(chunk), decoder, tx)
        });
    }
    std::thread::scope(|scope| {
        let (chunks_tx, chunks_rx) = std::sync::mpsc::sync_channel::<Chunk>(threads);
        let chunks_rx = Arc::new(std::sync::Mutex::new(chunks_rx));
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = chunks_rx.clone();
                scope.spawn(move || -> Result<()> {
                    loop {
                        let next = rx.lock().expect("chunk queue").recv();
                        let Ok(chunk) = next else { return Ok(()) };
                        decode_chunk(idx, shift(chunk), decoder, tx)?;
                    }
                })
            })
            .collect();
        drop(chunks_rx);
        let read = read_chunks(reader, quoted, |chunk| {
            chunks_tx
                .send(chunk)
                .map_err(|_| Error::Internal("the ingest consumer stopped".into()))
        });
        drop(chunks_tx);
        let mut failed = None;
        for w in workers {
            if let Err(e) = w.join().expect("decode thread") {
                failed.get_or_insert(e);
            }
        }
        match (failed, read) {
            (Some(e), _) => Err(ChunkError::Engine(e)),
            (None, r) => r,
        }
    })
}

/// A chunk of records: their bytes back to back, each ending in `\n`.
struct Chunk {
    buf: Vec<u8>,
    records: Vec<RecordPos>,
}

#[derive(Clone, Copy)]
struct RecordPos {
    start: usize,
    end: usize,
    line: i64,
}

/// Reads records (lines; with `quoted`, CSV records whose quoted fields may span lines),
/// skipping blank ones, and calls `f` per chunk.
fn read_chunks<R: BufRead>(
    reader: &mut R,
    quoted: bool,
    mut f: impl FnMut(Chunk) -> Result<()>,
) -> std::result::Result<(), ChunkError> {
    let mut chunk = Chunk {
        buf: Vec::with_capacity(CHUNK_BYTES / 4),
        records: Vec::with_capacity(CHUNK_RECORDS),
    };
    let mut line_no: i64 = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(ChunkError::Io)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let first_line = line_no;
        if quoted {
            // Keep reading while a quoted field is open.
            while line.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
                let more = reader
                    .read_until(b'\n', &mut line)
                    .map_err(ChunkError::Io)?;
                if more == 0 {
                    break;
                }
                line_no += 1;
            }
        }
        let mut end = line.len();
        while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        if line[..end].iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let start = chunk.buf.len();
        chunk.buf.extend_from_slice(&line[..end]);
        chunk.buf.push(b'\n');
        chunk.records.push(RecordPos {
            start,
            end: chunk.buf.len(),
            line: first_line,
        });
        if chunk.records.len() >= CHUNK_RECORDS || chunk.buf.len() >= CHUNK_BYTES {
            let full = std::mem::replace(
                &mut chunk,
                Chunk {
                    buf: Vec::with_capacity(CHUNK_BYTES / 4),
                    records: Vec::with_capacity(CHUNK_RECORDS),
                },
            );
            f(full)?;
        }
    }
    if !chunk.records.is_empty() {
        f(chunk)?;
    }
    Ok(())
}

trait ChunkDecoder {
    /// Decodes `bytes` holding exactly `n` records into a batch of the raw schema.
    fn decode(&self, bytes: &[u8], n: usize) -> std::result::Result<RecordBatch, String>;
}

fn decode_chunk(file: usize, chunk: Chunk, decoder: &dyn ChunkDecoder, tx: &Tx) -> Result<()> {
    decode_chunk_with(file, chunk, decoder, &mut |d| send(tx, d))
}

fn decode_chunk_with(
    file: usize,
    chunk: Chunk,
    decoder: &dyn ChunkDecoder,
    emit: &mut dyn FnMut(Decoded) -> Result<()>,
) -> Result<()> {
    let mut bad = Vec::new();
    // Depth-first, left half first, so rows keep file order.
    let mut pending: Vec<(usize, usize)> = vec![(0, chunk.records.len())];
    {
        while let Some((lo, hi)) = pending.pop() {
            let bytes = &chunk.buf[chunk.records[lo].start..chunk.records[hi - 1].end];
            match decoder.decode(bytes, hi - lo) {
                Ok(batch) => {
                    let lines =
                        Int64Array::from_iter_values(chunk.records[lo..hi].iter().map(|r| r.line));
                    emit(Decoded::Rows { file, batch, lines })?;
                }
                Err(reason) if hi - lo == 1 => {
                    let r = chunk.records[lo];
                    let text = String::from_utf8_lossy(&chunk.buf[r.start..r.end - 1]).to_string();
                    let column = column_in_reason(&reason);
                    bad.push(BadRecord {
                        line: r.line,
                        record: text,
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
    }
    if !bad.is_empty() {
        emit(Decoded::Bad { file, records: bad })?;
    }
    Ok(())
}

/// Payload formats of independent records (e.g. Kafka messages), see [`decode_records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// One JSON object per record.
    Json,
    /// One CSV record per record, columns in the raw schema's order, no header.
    CsvLine,
}

/// Decodes independent records (one value each, e.g. Kafka message payloads) into batches of
/// the raw schema, with the same bisection as file ingestion: a bad record is isolated and
/// reported without taking good records with it. Rows come back in input order with their
/// 0-based record indexes (in `lines`); bad records carry their index in `line`.
/// `strict`: a JSON field the schema does not declare makes the record bad.
pub fn decode_records(
    format: RecordFormat,
    raw: &SchemaRef,
    strict: bool,
    records: &[&[u8]],
) -> Result<(Vec<(RecordBatch, Int64Array)>, Vec<BadRecord>)> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let json;
    let csv;
    let decoder: &dyn ChunkDecoder = match format {
        RecordFormat::Json => {
            json = JsonChunkDecoder {
                schema: raw.clone(),
                strict,
            };
            &json
        }
        RecordFormat::CsvLine => {
            csv = CsvChunkDecoder {
                layout: CsvLayout {
                    file_schema: raw.clone(),
                    mapping: (0..raw.fields().len()).map(Some).collect(),
                    reject: None,
                },
                raw: raw.clone(),
                delimiter: b',',
            };
            &csv
        }
    };
    for (start, part) in records.chunks(CHUNK_RECORDS).enumerate() {
        let base = (start * CHUNK_RECORDS) as i64;
        let mut chunk = Chunk {
            buf: Vec::with_capacity(part.iter().map(|r| r.len() + 1).sum()),
            records: Vec::with_capacity(part.len()),
        };
        for (i, r) in part.iter().enumerate() {
            let mut end = r.len();
            while end > 0 && matches!(r[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            let s = chunk.buf.len();
            chunk.buf.extend_from_slice(&r[..end]);
            chunk.buf.push(b'\n');
            chunk.records.push(RecordPos {
                start: s,
                end: chunk.buf.len(),
                line: base + i as i64,
            });
        }
        decode_chunk_with(0, chunk, decoder, &mut |d| {
            match d {
                Decoded::Rows { batch, lines, .. } => good.push((batch, lines)),
                Decoded::Bad { records, .. } => bad.extend(records),
                Decoded::FileDone { .. } => {}
            }
            Ok(())
        })?;
    }
    Ok((good, bad))
}

/// Pulls a column name out of arrow's messages ("whilst decoding field 'x'", "column 'x'").
fn column_in_reason(reason: &str) -> Option<String> {
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

struct JsonChunkDecoder {
    schema: SchemaRef,
    strict: bool,
}

impl ChunkDecoder for JsonChunkDecoder {
    fn decode(&self, bytes: &[u8], n: usize) -> std::result::Result<RecordBatch, String> {
        let mut decoder = arrow::json::ReaderBuilder::new(self.schema.clone())
            .with_batch_size(n + 1)
            .with_coerce_primitive(true)
            .with_strict_mode(self.strict)
            .build_decoder()
            .map_err(|e| e.to_string())?;
        let mut off = 0;
        while off < bytes.len() {
            let read = decoder
                .decode(&bytes[off..])
                .map_err(|e| json_reason(&e.to_string()))?;
            if read == 0 {
                break;
            }
            off += read;
        }
        let batch = decoder
            .flush()
            .map_err(|e| json_reason(&e.to_string()))?
            .unwrap_or_else(|| RecordBatch::new_empty(self.schema.clone()));
        if batch.num_rows() != n {
            return Err(format!(
                "expected one JSON object per line, found {} value(s) on this line",
                batch.num_rows()
            ));
        }
        Ok(batch)
    }
}

fn json_reason(msg: &str) -> String {
    let msg = msg
        .trim_start_matches("Json error: ")
        .trim_start_matches("Parser error: ");
    if msg.contains("missing from schema") || msg.contains("not present in the schema") {
        let field = column_in_reason(msg).unwrap_or_default();
        format!("field `{field}` is not in the pinned schema (add it in a new schema version, or set `unknown_fields: ignore`)")
    } else {
        format!("invalid JSON record: {msg}")
    }
}

/// How a CSV file's columns map to the raw schema.
struct CsvLayout {
    /// The schema the CSV decoder reads (all text).
    file_schema: SchemaRef,
    /// For each raw-schema field, the file column index.
    mapping: Vec<Option<usize>>,
    /// Set when every record must go to quarantine (unknown columns under `quarantine`).
    reject: Option<String>,
}

fn csv_layout<R: BufRead>(
    reader: &mut R,
    opts: &CsvOptions,
    raw: &SchemaRef,
    unknown: UnknownFields,
    f: &SourceFile,
) -> Result<(CsvLayout, i64)> {
    let names: Vec<String> = if opts.header {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| Error::io(f.path.display().to_string(), e))?;
        let header = header.trim_end_matches(['\n', '\r']);
        let mut rdr = csv_header_split(header, opts.delimiter);
        rdr.iter_mut().for_each(|s| *s = s.trim().to_string());
        rdr
    } else {
        raw.fields().iter().map(|f| f.name().clone()).collect()
    };
    let file_schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let mapping = raw
        .fields()
        .iter()
        .map(|field| names.iter().position(|n| n == field.name()))
        .collect();
    let unknown_cols: Vec<&String> = names
        .iter()
        .filter(|n| raw.field_with_name(n).is_err())
        .collect();
    let reject = (!unknown_cols.is_empty() && unknown == UnknownFields::Quarantine).then(|| {
        format!(
            "the file has column(s) {} that the pinned schema does not declare (add them in a new schema version, or set `unknown_fields: ignore`)",
            unknown_cols.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        )
    });
    Ok((
        CsvLayout {
            file_schema,
            mapping,
            reject,
        },
        if opts.header { 1 } else { 0 },
    ))
}

fn csv_header_split(header: &str, delimiter: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = header.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == delimiter && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

struct CsvChunkDecoder {
    layout: CsvLayout,
    raw: SchemaRef,
    delimiter: u8,
}

impl ChunkDecoder for CsvChunkDecoder {
    fn decode(&self, bytes: &[u8], n: usize) -> std::result::Result<RecordBatch, String> {
        if let Some(reason) = &self.layout.reject {
            return Err(reason.clone());
        }
        let mut decoder = arrow::csv::ReaderBuilder::new(self.layout.file_schema.clone())
            .with_header(false)
            .with_delimiter(self.delimiter)
            .with_batch_size(n + 1)
            .build_decoder();
        let mut off = 0;
        while off < bytes.len() {
            let read = decoder
                .decode(&bytes[off..])
                .map_err(|e| csv_reason(&e.to_string()))?;
            if read == 0 {
                break;
            }
            off += read;
        }
        let batch = decoder.flush().map_err(|e| csv_reason(&e.to_string()))?;
        let batch =
            batch.unwrap_or_else(|| RecordBatch::new_empty(self.layout.file_schema.clone()));
        if batch.num_rows() != n {
            return Err(format!("expected 1 CSV record, found {}", batch.num_rows()));
        }
        let columns: Vec<ArrayRef> = self
            .raw
            .fields()
            .iter()
            .zip(&self.layout.mapping)
            .map(|(field, idx)| match (idx, field.data_type()) {
                (Some(i), DataType::Utf8) => batch.column(*i).clone(),
                _ => new_null_array(field.data_type(), batch.num_rows()),
            })
            .collect();
        RecordBatch::try_new(self.raw.clone(), columns).map_err(|e| e.to_string())
    }
}

fn csv_reason(msg: &str) -> String {
    let msg = msg
        .trim_start_matches("Csv error: ")
        .trim_start_matches("Parser error: ");
    // arrow counts lines within the decoded chunk; the quarantine row has the file line.
    let msg = regex::Regex::new(r" for line \d+, ")
        .expect("regex")
        .replace(msg, ": ");
    format!("invalid CSV record: {msg}")
}

fn decode_parquet(
    idx: usize,
    f: &SourceFile,
    source: &FilesSource,
    raw: &SchemaRef,
    tx: &Tx,
) -> Result<()> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = File::open(&f.path).map_err(|e| Error::io(f.path.display().to_string(), e))?;
    let bad_file = |m: String| Error::Source {
        path: f.name.clone(),
        message: m,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad_file(format!("not a readable Parquet file: {e}")))?;
    let file_schema = builder.schema().clone();
    let unknown: Vec<String> = file_schema
        .fields()
        .iter()
        .filter(|c| raw.field_with_name(c.name()).is_err())
        .map(|c| format!("`{}`", c.name()))
        .collect();
    let reject = (!unknown.is_empty() && source.unknown_fields == UnknownFields::Quarantine).then(|| {
        format!(
            "the file has column(s) {} that the pinned schema does not declare (add them in a new schema version, or set `unknown_fields: ignore`)",
            unknown.join(", ")
        )
    });
    let reader = builder
        .with_batch_size(CHUNK_RECORDS)
        .build()
        .map_err(|e| bad_file(e.to_string()))?;
    let mut row: i64 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| bad_file(format!("cannot decode: {e}")))?;
        let n = batch.num_rows();
        let lines = Int64Array::from_iter_values((row + 1)..=(row + n as i64));
        row += n as i64;
        if let Some(reason) = &reject {
            let records = crate::typing::rows_as_json(&batch)?;
            let bad = records
                .into_iter()
                .zip(lines.values().iter())
                .map(|(record, line)| BadRecord {
                    line: *line,
                    record,
                    reason: reason.clone(),
                    column: None,
                })
                .collect();
            send(
                tx,
                Decoded::Bad {
                    file: idx,
                    records: bad,
                },
            )?;
            continue;
        }
        let columns = raw
            .fields()
            .iter()
            .map(|field| match batch.column_by_name(field.name()) {
                Some(col) => to_raw(col, field.data_type()).map_err(|e| {
                    bad_file(format!(
                        "column `{}` ({}) cannot be read as {}: {e}",
                        field.name(),
                        col.data_type(),
                        field.data_type()
                    ))
                }),
                None => Ok(new_null_array(field.data_type(), n)),
            })
            .collect::<Result<Vec<_>>>()?;
        let out = RecordBatch::try_new(raw.clone(), columns)?;
        send(
            tx,
            Decoded::Rows {
                file: idx,
                batch: out,
                lines,
            },
        )?;
    }
    Ok(())
}

/// Casts a typed column to its raw (text-leaf) form.
fn to_raw(
    col: &ArrayRef,
    raw_type: &DataType,
) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
    if let (DataType::Struct(raw_fields), Some(s)) =
        (raw_type, col.as_any().downcast_ref::<StructArray>())
    {
        let children = raw_fields
            .iter()
            .map(|rf| match s.column_by_name(rf.name()) {
                Some(c) => to_raw(c, rf.data_type()),
                None => Ok(new_null_array(rf.data_type(), s.len())),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        return Ok(Arc::new(StructArray::try_new(
            raw_fields.clone(),
            children,
            s.nulls().cloned(),
        )?));
    }
    cast_with_options(
        col,
        raw_type,
        &CastOptions {
            safe: false,
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, StringArray};

    fn raw_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("amount", DataType::Utf8, true),
        ]))
    }

    fn run(
        decoder: &dyn ChunkDecoder,
        text: &str,
        quoted: bool,
    ) -> (Vec<(RecordBatch, Vec<i64>)>, Vec<BadRecord>) {
        let (tx, mut rx) = mpsc::channel(1024);
        let mut reader = std::io::Cursor::new(text.as_bytes().to_vec());
        let res = read_chunks(&mut reader, quoted, |c| decode_chunk(0, c, decoder, &tx));
        assert!(res.is_ok());
        drop(tx);
        let (mut good, mut bad) = (vec![], vec![]);
        while let Ok(d) = rx.try_recv() {
            match d.unwrap() {
                Decoded::Rows { batch, lines, .. } => good.push((batch, lines.values().to_vec())),
                Decoded::Bad { records, .. } => bad.extend(records),
                Decoded::FileDone { .. } => {}
            }
        }
        (good, bad)
    }

    #[test]
    fn json_bad_lines_are_isolated_and_good_lines_keep_order() {
        let dec = JsonChunkDecoder {
            schema: raw_schema(),
            strict: true,
        };
        let text = "{\"id\": \"a\", \"amount\": 1.5}\n\n{\"id\": \"b\", \"amount\": \nnot json\n{\"id\": \"c\", \"amount\": 3, \"extra\": 1}\n{\"id\": 4, \"amount\": \"x\"}\n";
        let (good, bad) = run(&dec, text, false);
        let ids: Vec<String> = good
            .iter()
            .flat_map(|(b, _)| {
                b.column(0)
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(ids, vec!["a", "4"], "numbers are kept as text in Bronze");
        let lines: Vec<i64> = good.iter().flat_map(|(_, l)| l.clone()).collect();
        assert_eq!(lines, vec![1, 6]);
        let bad_lines: Vec<i64> = bad.iter().map(|b| b.line).collect();
        assert_eq!(bad_lines, vec![3, 4, 5]);
        assert!(bad[2].reason.contains("extra"), "{}", bad[2].reason);
        assert_eq!(bad[1].record, "not json");
    }

    #[test]
    fn csv_quoted_newlines_and_wrong_field_counts() {
        let raw = raw_schema();
        let layout = CsvLayout {
            file_schema: Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, true),
                Field::new("amount", DataType::Utf8, true),
            ])),
            mapping: vec![Some(0), Some(1)],
            reject: None,
        };
        let dec = CsvChunkDecoder {
            layout,
            raw,
            delimiter: b',',
        };
        let (good, bad) = run(&dec, "a,1\n\"b\nb\",2\nc,3,extra\nd,4\n", true);
        let ids: Vec<String> = good
            .iter()
            .flat_map(|(b, _)| {
                b.column(0)
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(ids, vec!["a", "b\nb", "d"]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 4);
        assert_eq!(bad[0].record, "c,3,extra");
        let _ = StringArray::from(vec!["x"]);
    }
}
