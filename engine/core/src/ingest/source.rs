//! Opening a source file for reading: a local file, or an S3 object streamed from its store,
//! and decompressed as it is read (gzip, zstd, bzip2).
//!
//! Errors of the compressed data itself ([`corrupt`]) are told apart from errors of reading
//! it: the framing turns the first into a quarantined record for the rest of the file, while
//! the second fails the run (it committed nothing; the next run reads the file again).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use object_store::{GetOptions, ObjectStore};
use tokio::sync::mpsc;

use super::local::ListedFile;
use crate::error::{Error, Result};
use crate::spec::Compression;

/// Where a source file is.
#[derive(Debug, Clone)]
pub enum Origin {
    Local(PathBuf),
    Object(ObjectRef),
}

/// An S3 object as listed: read exactly this version (`If-Match` on the ETag).
#[derive(Debug, Clone)]
pub struct ObjectRef {
    pub store: Arc<dyn ObjectStore>,
    pub path: object_store::path::Path,
    /// `s3://bucket/key`, for messages.
    pub url: String,
    pub e_tag: Option<String>,
}

impl Origin {
    /// The file as people name it: its path or `s3://` URL.
    pub fn shown(&self) -> String {
        match self {
            Origin::Local(p) => p.display().to_string(),
            Origin::Object(o) => o.url.clone(),
        }
    }
}

/// Bytes read from a compressed file that are not valid compressed data.
#[derive(Debug)]
pub struct Corrupt(pub String);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Corrupt {}

/// The corruption an I/O error reports, if it is one.
pub fn corrupt(e: &io::Error) -> Option<&Corrupt> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Corrupt>())
}

/// An error of reading the underlying bytes (passed through the decompressor unchanged).
#[derive(Debug)]
struct Transport(io::Error);

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
impl std::error::Error for Transport {}

/// Marks the errors of the raw bytes as [`Transport`].
struct Raw<R>(R);

impl<R: Read> Read for Raw<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), Transport(e)))
    }
}

/// A decompressor whose own errors become [`Corrupt`]; transport errors are unwrapped.
struct Decompressed<D> {
    inner: D,
    kind: Compression,
}

impl<D: Read> Read for Decompressed<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.get_ref().is_some_and(|i| i.is::<Transport>()) {
                let kind = e.kind();
                let inner = e.into_inner().expect("checked above");
                let Transport(original) = *inner.downcast::<Transport>().expect("checked above");
                io::Error::new(kind, original)
            } else {
                let what = match self.kind {
                    Compression::Gzip => "gzip",
                    Compression::Zstd => "zstd",
                    Compression::Bzip2 => "bzip2",
                    _ => "compressed",
                };
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    Corrupt(format!("corrupt {what} data: {e}")),
                )
            }
        })
    }
}

/// The raw bytes of a file: a local file, or an object's GET (started now).
fn raw(origin: &Origin, size: u64) -> Result<Box<dyn Read + Send>> {
    Ok(match origin {
        Origin::Local(p) => Box::new(ListedFile::open(p, size)?),
        Origin::Object(o) => Box::new(ObjectReader::start(o, size)?),
    })
}

/// The largest zstd window accepted (2 GiB, zstd's maximum: `--long=31`).
const ZSTD_WINDOW_LOG_MAX: u32 = 31;

/// `raw`, the bytes of `origin`, buffered and decompressed as `kind`.
fn decompressed(
    origin: &Origin,
    raw: Box<dyn Read + Send>,
    kind: Compression,
) -> Result<Box<dyn Read + Send>> {
    let raw = BufReader::with_capacity(1 << 20, Raw(raw));
    Ok(match kind {
        Compression::Gzip => Box::new(Decompressed {
            inner: flate2::bufread::MultiGzDecoder::new(raw),
            kind,
        }),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(raw)
                .map_err(|e| Error::io(origin.shown(), e))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| Error::io(origin.shown(), e))?;
            Box::new(Decompressed { inner: d, kind })
        }
        Compression::Bzip2 => Box::new(Decompressed {
            inner: bzip2::bufread::MultiBzDecoder::new(raw),
            kind,
        }),
        Compression::None | Compression::Auto => Box::new(raw),
    })
}

/// What of a compressed file can be trusted: the decompressed bytes of the members (gzip),
/// frames (zstd) or streams (bzip2) that passed their checksums, up to the last line end in
/// them; and the corruption after them, if any.
struct Verified {
    usable: u64,
    corrupt: Option<Corrupt>,
}

/// Reads a compressed file once, member by member, to find what can be trusted: a gzip
/// member, zstd frame or bzip2 stream hands out its bytes before its checksum is checked,
/// so bytes are only used once the unit they belong to is known to be intact.
fn verify(origin: &Origin, raw: Box<dyn Read + Send>, kind: Compression) -> Result<Verified> {
    let mut input = BufReader::with_capacity(1 << 20, Raw(raw));
    let mut sink = LineEnds::default();
    loop {
        let done = input
            .fill_buf()
            .map(<[u8]>::is_empty)
            .map_err(|e| transport(origin, e))?;
        if done {
            return Ok(Verified {
                usable: sink.usable(false),
                corrupt: None,
            });
        }
        let unit = match kind {
            Compression::Gzip => {
                let mut d = flate2::bufread::GzDecoder::new(input);
                let r = io::copy(&mut d, &mut sink);
                input = d.into_inner();
                r
            }
            Compression::Zstd => {
                let mut d = zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|e| Error::io(origin.shown(), e))?
                    .single_frame();
                d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(|e| Error::io(origin.shown(), e))?;
                let r = io::copy(&mut d, &mut sink);
                input = d.finish();
                r
            }
            Compression::Bzip2 => {
                let mut d = bzip2::bufread::BzDecoder::new(input);
                let r = io::copy(&mut d, &mut sink);
                input = d.into_inner();
                r
            }
            Compression::None | Compression::Auto => {
                unreachable!("only compressed files are verified")
            }
        };
        match unit {
            Ok(_) => sink.unit_intact(),
            Err(e) if e.get_ref().is_some_and(|i| i.is::<Transport>()) => {
                return Err(transport(origin, e))
            }
            Err(e) => {
                let what = match kind {
                    Compression::Gzip => "gzip",
                    Compression::Zstd => "zstd",
                    _ => "bzip2",
                };
                let corrupt = Corrupt(format!("corrupt {what} data: {e}"));
                return Ok(Verified {
                    usable: sink.usable(true),
                    corrupt: Some(corrupt),
                });
            }
        }
    }
}

fn transport(origin: &Origin, e: io::Error) -> Error {
    Error::io(origin.shown(), e)
}

/// Counts decompressed bytes and where the last line end of the intact units is.
#[derive(Default)]
struct LineEnds {
    /// Bytes of every unit so far, the current one included.
    total: u64,
    /// One past the last `\n` of the current unit, if it has one.
    unit_last_end: Option<u64>,
    /// Bytes of the intact units, and one past their last `\n`.
    intact: u64,
    intact_last_end: u64,
}

impl LineEnds {
    fn unit_intact(&mut self) {
        self.intact = self.total;
        if let Some(e) = self.unit_last_end.take() {
            self.intact_last_end = e;
        }
    }

    /// All of the intact bytes (the file ended cleanly), else up to their last line end.
    fn usable(&self, corrupt: bool) -> u64 {
        match corrupt {
            false => self.intact,
            true => self.intact_last_end,
        }
    }
}

impl io::Write for LineEnds {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(p) = buf.iter().rposition(|b| *b == b'\n') {
            self.unit_last_end = Some(self.total + p as u64 + 1);
        }
        self.total += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The verified part of a decompressed file; then the corruption after it as an error (the
/// framing turns it into one quarantined record for the rest of the file).
struct Trusted {
    inner: io::Take<Box<dyn Read + Send>>,
    corrupt: Option<Corrupt>,
}

impl Read for Trusted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf)? {
            0 if self.inner.limit() == 0 => match self.corrupt.take() {
                Some(c) => Err(io::Error::new(io::ErrorKind::InvalidData, c)),
                None => Ok(0),
            },
            0 => Err(io::Error::other(format!(
                "the file ended {} bytes before what its first reading decompressed",
                self.inner.limit()
            ))),
            n => Ok(n),
        }
    }
}

/// Small objects fetched ahead of the one being decoded (their GETs overlap; a landing
/// folder of many small objects is bound by request latency, not bytes).
const PREFETCH: usize = 16;
/// Only objects up to this size are fetched ahead (memory: `PREFETCH` × this at most).
const PREFETCH_MAX_BYTES: u64 = 1 << 20;

/// Opens the files of a run in order, with the GETs of the small objects after the current
/// one already started.
pub struct Opener {
    files: Vec<(Origin, u64)>,
    started: std::collections::HashMap<usize, ObjectReader>,
    /// Every small object before this index was started (or is past).
    ahead: usize,
}

impl Opener {
    /// `prefetch`: whether to fetch ahead (not for Parquet, which is read from a local copy).
    pub fn new(files: &[super::SourceFile], prefetch: bool) -> Self {
        Self {
            files: files.iter().map(|f| (f.origin.clone(), f.size)).collect(),
            started: std::collections::HashMap::new(),
            ahead: if prefetch { 0 } else { files.len() },
        }
    }

    /// File `i`, buffered and decompressed (call in order, on a thread of the runtime). A
    /// compressed file is read twice: once to verify it ([`verify`]), then its trusted part.
    pub fn open(&mut self, i: usize, compression: Compression) -> Result<Box<dyn BufRead + Send>> {
        let (origin, size) = self.files[i].clone();
        let kind = compression.of(&origin.shown());
        let reader: Box<dyn Read + Send> = match (kind, &origin) {
            (Compression::None | Compression::Auto, _) => {
                let raw: Box<dyn Read + Send> = match self.started.remove(&i) {
                    Some(reader) => Box::new(reader),
                    None => raw(&origin, size)?,
                };
                decompressed(&origin, raw, kind)?
            }
            // One open file for both readings: a file replaced in between is not mixed in.
            (_, Origin::Local(p)) => {
                let shown = || p.display().to_string();
                let mut file = File::open(p).map_err(|e| Error::io(shown(), e))?;
                let first = file.try_clone().map_err(|e| Error::io(shown(), e))?;
                let first = ListedFile::of(first, shown(), size)?;
                let Verified { usable, corrupt } = verify(&origin, Box::new(first), kind)?;
                io::Seek::seek(&mut file, io::SeekFrom::Start(0))
                    .map_err(|e| Error::io(shown(), e))?;
                let again = ListedFile::of(file, shown(), size)?;
                let again = decompressed(&origin, Box::new(again), kind)?;
                Box::new(Trusted {
                    inner: again.take(usable),
                    corrupt,
                })
            }
            // Both readings carry `If-Match` on the listed ETag: the same object version.
            (_, Origin::Object(_)) => {
                let first: Box<dyn Read + Send> = match self.started.remove(&i) {
                    Some(reader) => Box::new(reader),
                    None => raw(&origin, size)?,
                };
                let Verified { usable, corrupt } = verify(&origin, first, kind)?;
                let again = decompressed(&origin, raw(&origin, size)?, kind)?;
                Box::new(Trusted {
                    inner: again.take(usable),
                    corrupt,
                })
            }
        };
        self.ahead = self.ahead.max(i + 1);
        while self.ahead < self.files.len() && self.ahead <= i + PREFETCH {
            if let (Origin::Object(o), size) = &self.files[self.ahead] {
                if *size <= PREFETCH_MAX_BYTES {
                    self.started
                        .insert(self.ahead, ObjectReader::start(o, *size)?);
                }
            }
            self.ahead += 1;
        }
        Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
    }
}

/// The bytes of one ranged GET: a request per range keeps each request short (a slow
/// decoder never stalls an open response body into the client's timeouts).
const RANGE_BYTES: u64 = 16 << 20;
/// Ranges fetched ahead of the reader (memory: this many ranges at most, per open object).
const IN_FLIGHT: usize = 2;

/// A blocking reader of an object's bytes, fetched range by range by a task on the runtime
/// (each with `If-Match` on the listed ETag). It checks that it received the listed size: a
/// fetch that ends early is an error, never a shorter file.
struct ObjectReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    url: String,
    received: u64,
    size: u64,
}

impl ObjectReader {
    /// Starts fetching (must be called on a thread of the Tokio runtime, e.g. a blocking one).
    fn start(o: &ObjectRef, size: u64) -> Result<Self> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::Internal(format!("reading {} outside the runtime: {e}", o.url)))?;
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let (store, path, e_tag, url) = (
            o.store.clone(),
            o.path.clone(),
            o.e_tag.clone(),
            o.url.clone(),
        );
        handle.spawn(async move {
            let mut at = 0;
            while at < size {
                let end = (at + RANGE_BYTES).min(size);
                let options = GetOptions {
                    if_match: e_tag.clone(),
                    range: Some((at..end).into()),
                    ..Default::default()
                };
                let bytes = match store.get_opts(&path, options).await {
                    Ok(r) => r
                        .bytes()
                        .await
                        .map_err(|e| io::Error::other(format!("reading {url}: {e}"))),
                    Err(e) => Err(get_error(&url, e)),
                };
                let stop = bytes.is_err();
                if tx.send(bytes).await.is_err() || stop {
                    return; // the reader is gone (it stopped reading), or it has the error
                }
                at = end;
            }
        });
        Ok(Self {
            rx,
            current: Bytes::new(),
            url: o.url.clone(),
            received: 0,
            size,
        })
    }
}

/// What a failed GET means, in one line.
fn get_error(url: &str, e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::Precondition { .. } => io::Error::other(format!(
            "{url} changed since it was listed (its ETag is not the listed one); the next run lists it again"
        )),
        object_store::Error::NotFound { .. } => {
            io::Error::other(format!("{url} was deleted since it was listed"))
        }
        other => io::Error::other(format!("reading {url}: {other}")),
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => {
                    self.received += b.len() as u64;
                    self.current = b;
                }
                Some(Err(e)) => return Err(e),
                None if self.received == self.size => return Ok(0),
                None => {
                    return Err(io::Error::other(format!(
                        "{} ended after {} of its {} bytes",
                        self.url, self.received, self.size
                    )))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// Copies `origin` to a temporary local file (Parquet needs random access), removed when the
/// returned guard is dropped.
pub fn local_copy(origin: &Origin, size: u64) -> Result<(PathBuf, Option<TempFile>)> {
    match origin {
        Origin::Local(p) => Ok((p.clone(), None)),
        Origin::Object(o) => {
            let path =
                std::env::temp_dir().join(format!("medallion-source-{}", uuid::Uuid::new_v4()));
            let guard = TempFile(path.clone());
            let mut out =
                File::create(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
            let mut reader = ObjectReader::start(o, size)?;
            io::copy(&mut reader, &mut out).map_err(|e| Error::io(o.url.clone(), e))?;
            Ok((path, Some(guard)))
        }
    }
}

/// A temporary file, removed on drop.
pub struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "Could not remove a temporary copy of a source object.");
        }
    }
}
