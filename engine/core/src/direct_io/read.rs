//! A Parquet file read past the page cache, for DataFusion's Parquet scan.

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::future::BoxFuture;
use futures::FutureExt;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::{align_up, open, refused, through_cache, Aligned, ALIGN};

/// Opens one known local file for every part of a scan that reads it: the factory belongs
/// to the scan of this one file, and refuses a part of any other (or of another length).
#[derive(Debug)]
pub struct DirectReaderFactory {
    path: PathBuf,
    size: u64,
}

impl DirectReaderFactory {
    pub fn new(path: PathBuf, size: u64) -> Self {
        Self { path, size }
    }
}

impl ParquetFileReaderFactory for DirectReaderFactory {
    fn create_reader(
        &self,
        _partition_index: usize,
        file: PartitionedFile,
        _metadata_size_hint: Option<usize>,
        _metrics: &ExecutionPlanMetricsSet,
    ) -> datafusion::error::Result<Box<dyn AsyncFileReader + Send>> {
        let meta = &file.object_meta;
        // The local store's own encoding of the path (it resolves the file: a missing one
        // fails here, with its own error).
        let ours = object_store::path::Path::from_filesystem_path(&self.path)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        if ours != meta.location || meta.size != self.size {
            return Err(datafusion::error::DataFusionError::Internal(format!(
                "a reader of {} ({} bytes) was asked for {} ({} bytes)",
                self.path.display(),
                self.size,
                meta.location,
                meta.size
            )));
        }
        let reader = DirectReader::open(&self.path, self.size)
            .map_err(|e| datafusion::error::DataFusionError::IoError(with_path(e, &self.path)))?;
        Ok(Box::new(reader))
    }
}

/// Byte ranges of a local file read past the page cache where its file system allows it.
pub struct DirectReader {
    file: Arc<File>,
    path: PathBuf,
    size: u64,
    direct: bool,
}

impl DirectReader {
    /// `size`: the file's length (past the cache, reads are whole blocks; the last one
    /// ends at the file's end).
    pub fn open(path: &Path, size: u64) -> std::io::Result<Self> {
        let Source { file, direct } = Source::open(path)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            size,
            direct,
        })
    }

    /// Reads `ranges` on a thread that may block.
    fn read(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        let (file, size, direct) = (self.file.clone(), self.size, self.direct);
        async move {
            let task = tokio::task::spawn_blocking(move || {
                let mut file = Source { file, direct };
                let read = ranges
                    .into_iter()
                    .map(|r| file.range(r, size))
                    .collect::<std::io::Result<Vec<_>>>();
                (read, file)
            });
            let (read, source) = task.await.map_err(|e| {
                let e = std::io::Error::other(e);
                ParquetError::External(Box::new(with_path(e, &self.path)))
            })?;
            // A file system that refused a read past the cache is read through it from now.
            self.file = source.file;
            self.direct = source.direct;
            read.map_err(|e| ParquetError::External(Box::new(with_path(e, &self.path))))
        }
        .boxed()
    }
}

impl AsyncFileReader for DirectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move { Ok(self.read(vec![range]).await?.remove(0)) }.boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.read(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let mut reader = ParquetMetaDataReader::new().with_prefetch_hint(Some(64 << 10));
            if let Some(o) = options {
                reader = reader
                    .with_metadata_options(Some(o.metadata_options().clone()))
                    .with_column_index_policy(o.column_index_policy())
                    .with_offset_index_policy(o.offset_index_policy());
            }
            let (size, path) = (self.size, self.path.clone());
            let metadata = reader.load_and_finish(self, size).await.map_err(|e| {
                ParquetError::General(format!("the footer of {}: {e}", path.display()))
            })?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// The file as the blocking thread reads it.
pub(super) struct Source {
    file: Arc<File>,
    direct: bool,
}

impl Source {
    /// Opens `path` to read, past the page cache where its file system allows it.
    pub(super) fn open(path: &Path) -> std::io::Result<Self> {
        let (file, direct) = open(path, OpenOptions::new().read(true))?;
        Ok(Self {
            file: Arc::new(file),
            direct,
        })
    }

    /// The file's length.
    pub(super) fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// The file's device and inode (which file a path named when it was opened).
    pub(super) fn id(&self) -> std::io::Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let m = self.file.metadata()?;
        Ok((m.dev(), m.ino()))
    }

    /// The bytes of `range`, which must lie within the file's `size` bytes.
    pub(super) fn range(&mut self, range: Range<u64>, size: u64) -> std::io::Result<Bytes> {
        if range.start > range.end || range.end > size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bytes {range:?} asked of a file of {size} bytes"),
            ));
        }
        if self.direct {
            match self.aligned(&range, size) {
                Err(e) if refused(&e) => {
                    // The same handle through the cache: the path opened again might name
                    // another file by now.
                    through_cache(&self.file)?;
                    self.direct = false;
                }
                read => return read,
            }
        }
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        self.file.read_exact_at(&mut buf, range.start)?;
        Ok(Bytes::from(buf))
    }

    /// `range` read in whole blocks past the page cache, then cut to it (no copy).
    fn aligned(&self, range: &Range<u64>, size: u64) -> std::io::Result<Bytes> {
        let start = range.start / ALIGN as u64 * ALIGN as u64;
        let end = align_up(range.end).min(align_up(size));
        let mut buf = Aligned::new((end - start) as usize);
        let mut done = 0;
        let want = (range.end - start) as usize;
        // The file's last block is read short (it ends within it).
        while done < want {
            let at = start + done as u64;
            let n = match self.file.read_at(&mut buf.as_mut()[done..], at) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                n => n?,
            };
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the file ended at byte {} of {size}", start + done as u64),
                ));
            }
            done += n;
        }
        let from = (range.start - start) as usize;
        Ok(Bytes::from_owner(buf).slice(from..from + (range.end - range.start) as usize))
    }
}

/// An IO error that names the file.
pub(super) fn with_path(e: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
