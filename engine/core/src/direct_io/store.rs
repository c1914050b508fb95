//! The local file system as an object store whose large reads and uploads bypass the page
//! cache: deltalake's store of the lake's local Delta tables (registered for `file://` by
//! [`register`]).
//!
//! A table's data files are written once; through the page cache every byte of them costs a
//! newly allocated page, which on the benchmark VM was the largest share of the kernel's
//! time (engine/ARCHITECTURE.md, "Performance decisions" 3b). Here:
//! - uploads in parts (deltalake writes every data file of 5 MiB or more so) are written
//!   past the cache ([`super::upload`]); a single `put` (smaller files, the Delta log's
//!   commits with their atomic create-if-absent) goes to the local store as is;
//! - reads of [`MIN_DIRECT`] bytes or more are read past the cache, smaller ones through it.
//!   deltalake reads through this store what it reads itself (the log, checkpoints); the
//!   data files a DataFusion scan of a table reads go through the session's own `file://`
//!   store (DataFusion registers a plain local one in every session, and deltalake uses it),
//!   so they are read through the page cache.
//!
//! Everything else (listing, deleting, copying, renaming, preconditions, metadata) is the
//! local store's own. A long read opens the file again (past the cache) while the local
//! store's handle still holds it, and refuses another file (the path replaced since); every
//! range of one request is read through one handle. Where the file system refuses `O_DIRECT`, the same bytes go
//! through the page cache.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

use super::read::Source;
use super::upload::DirectUpload;

/// Reads smaller than this go through the page cache: 64 KiB.
pub const MIN_DIRECT: u64 = 64 * 1024;

/// Gaps up to this between ranges asked together are read along rather than apart.
const COALESCE: u64 = 64 * 1024;

/// A whole-file or long read is streamed in pieces of this size: 8 MiB.
const PIECE: u64 = 8 * 1024 * 1024;

/// The local file system with its large reads and uploads past the page cache.
#[derive(Debug)]
pub struct DirectStore {
    inner: Arc<LocalFileSystem>,
}

impl DirectStore {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(LocalFileSystem::new()),
        }
    }
}

impl Default for DirectStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for DirectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (large reads and uploads past the page cache)",
            self.inner
        )
    }
}

#[async_trait::async_trait]
impl ObjectStore for DirectStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        if !opts.attributes.is_empty() {
            // The local store's own answer (it keeps no attributes).
            return self.inner.put_multipart_opts(location, opts).await;
        }
        Ok(Box::new(
            DirectUpload::start(self.inner.clone(), location).await?,
        ))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let got = self.inner.get_opts(location, options).await?;
        Ok(past_the_cache(got))
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if ranges
            .iter()
            .all(|r| r.end.saturating_sub(r.start) < MIN_DIRECT)
        {
            return self.inner.get_ranges(location, ranges).await;
        }
        // One handle for every range: all of them are of the same file.
        let opened = Opened::open(self.inner.path_to_filesystem(location)?, None).await?;
        let read = |r: Range<u64>| opened.clone().read(r);
        object_store::coalesce_ranges(ranges, read, COALESCE).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// The local store's answer with its bytes read past the cache, in [`PIECE`]s, when it is
/// a file and long enough; else as it is. The pieces are read through one handle, opened at
/// the first piece while the answer's own handle still holds its file: a handle of any
/// other file (the path replaced since) is refused, not read under this answer's metadata.
fn past_the_cache(got: GetResult) -> GetResult {
    let GetResult {
        payload,
        meta,
        range,
        attributes,
    } = got;
    let payload = match payload {
        GetResultPayload::File(file, path) if range.end - range.start >= MIN_DIRECT => {
            let pieces: Vec<_> = (range.start..range.end)
                .step_by(PIECE as usize)
                .map(|at| at..(at + PIECE).min(range.end))
                .collect();
            let opened = futures::stream::once(Opened::open(path, Some((file, meta.size))));
            let stream = opened
                .map_ok(move |o| {
                    futures::stream::iter(pieces.clone()).then(move |r| o.clone().read(r))
                })
                .try_flatten();
            GetResultPayload::Stream(stream.boxed())
        }
        other => other,
    };
    GetResult {
        payload,
        meta,
        range,
        attributes,
    }
}

/// A file opened past the cache for the reads of one request.
struct Opened {
    source: std::sync::Mutex<Source>,
    path: PathBuf,
    size: u64,
}

impl Opened {
    /// Opens `path`; with `same`, it must be the file that handle holds (its size is then
    /// the answer's), else its size is the file's own.
    async fn open(path: PathBuf, same: Option<(std::fs::File, u64)>) -> Result<Arc<Self>> {
        let at = path.clone();
        let opened = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::MetadataExt;
            let source = Source::open(&at)?;
            let size = match same {
                Some((held, size)) => {
                    let m = held.metadata()?;
                    if source.id()? != (m.dev(), m.ino()) {
                        let e = "the file was replaced since it was opened (its metadata is of the file before)";
                        return Err(std::io::Error::other(e));
                    }
                    size
                }
                None => source.len()?,
            };
            Ok((source, size))
        })
        .await;
        let (source, size) = opened
            .map_err(|e| generic(std::io::Error::other(e)))?
            .map_err(|e| error(e, &path))?;
        Ok(Arc::new(Self {
            source: std::sync::Mutex::new(source),
            path,
            size,
        }))
    }

    /// `range` of the file, on a thread that may block.
    async fn read(self: Arc<Self>, range: Range<u64>) -> Result<Bytes> {
        let this = self.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut source = this.source.lock().unwrap_or_else(|p| p.into_inner());
            source.range(range, this.size)
        })
        .await;
        read.map_err(|e| generic(std::io::Error::other(e)))?
            .map_err(|e| error(e, &self.path))
    }
}

/// An IO error of the file at `path` as the local store would give it.
fn error(e: std::io::Error, path: &std::path::Path) -> object_store::Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => object_store::Error::NotFound {
            path: path.display().to_string(),
            source: Box::new(e),
        },
        _ => generic(super::read::with_path(e, path)),
    }
}

/// An IO error as this store's own.
pub(super) fn generic(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem (past the page cache)",
        source: Box::new(e),
    }
}

/// deltalake's store for `file://` tables: a [`DirectStore`] at the file system's root.
struct Factory;

impl deltalake::logstore::ObjectStoreFactory for Factory {
    fn parse_url_opts(
        &self,
        url: &url::Url,
        config: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<(deltalake::logstore::ObjectStoreRef, Path)> {
        // The path exactly as deltalake's default for `file://` makes it.
        let (_, path) = object_store::parse_url_opts(url, &config.raw)?;
        let mut store: deltalake::logstore::ObjectStoreRef = Arc::new(DirectStore::new());
        if let Some(runtime) = &config.runtime {
            store = Arc::new(deltalake::logstore::DeltaIOStorageBackend::new(
                store,
                runtime.clone(),
            ));
        }
        Ok((store, path))
    }
}

/// Makes deltalake open every `file://` table on a [`DirectStore`] (once per process; before
/// any table is opened or written).
pub fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let scheme = url::Url::parse("file://").expect("a URL");
        deltalake::logstore::object_store_factories().insert(scheme, Arc::new(Factory));
    });
}
