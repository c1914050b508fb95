//! Files written and read past the kernel's page cache (`O_DIRECT` on Linux): the run's
//! temporary files and the local lake's data files.
//!
//! A run's temporary Parquet (`TempParquet`, `pipeline/temp_parquet.rs`) is written once
//! and read back once or twice, on this machine, within the run, then deleted. Through the
//! page cache, every page of it is a page the kernel allocates and copies into; on a VM
//! whose free memory is handed back to the host (free-page reporting), a newly allocated
//! page costs a fault on the host, and writing a new file cost 6.2–6.7 s of system time a
//! GB — against 0.07 s a GB past the cache (engine/ARCHITECTURE.md, "Performance
//! decisions" 3b). Reads past the cache go to the disk: on a slow volume they are bound by
//! its bandwidth.
//!
//! The local lake's Delta data files are written past the cache too: deltalake opens every
//! `file://` table on [`DirectStore`] (uploads in parts past the cache; the Delta log and
//! small files through it; DataFusion's scans of the tables read through the page cache).
//!
//! Every temporary Parquet file is written past the cache ([`DirectWriter`]). Silver's
//! typed file is read back past it ([`DirectReader`], for [`crate::dedupe::KeptRows`]: the
//! dedupe's winners, or every row); the other readers of temporary files (DataFusion's
//! listing tables: set rules, incremental Gold's state; the upload to a cluster) read
//! through the page cache, which then allocates its pages at the read.
//!
//! Where the file system refuses `O_DIRECT` (EINVAL: some network and FUSE file systems,
//! tmpfs before Linux 6.6, a block larger than [`ALIGN`]), the file is written and read
//! through the page cache as any other: same bytes, same results.

mod read;
mod store;
mod upload;
mod write;

pub use read::{DirectReader, DirectReaderFactory};
pub use store::{register as register_store, DirectStore, MIN_DIRECT};
pub use write::DirectWriter;

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Alignment of buffers, offsets and lengths past the page cache: 4 KiB, the largest logical
/// block of the disks and file systems in use on x86-64; one that asks for more refuses
/// with EINVAL, and the file goes through the page cache.
pub const ALIGN: usize = 4096;

/// Opens `path` past the page cache where its file system allows it; `true` if it does.
fn open(path: &Path, options: &OpenOptions) -> std::io::Result<(File, bool)> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut direct = options.clone();
        direct.custom_flags(libc::O_DIRECT);
        let tried = match refuses_for_test(path) {
            // As Linux does where the file system has no `O_DIRECT`: the file is created
            // (if asked), then the open is refused.
            true => options
                .open(path)
                .and_then(|_| Err(std::io::Error::from_raw_os_error(libc::EINVAL))),
            false => direct.open(path),
        };
        match tried {
            Ok(f) => return Ok((f, true)),
            Err(e) if refused(&e) => {}
            Err(e) => return Err(e),
        }
    }
    options.open(path).map(|f| (f, false))
}

/// Tests stand for a file system without `O_DIRECT` with a folder of this name.
#[cfg(test)]
const REFUSES: &str = "refuses-o-direct";

#[cfg(test)]
fn refuses_for_test(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == REFUSES)
}

#[cfg(not(test))]
fn refuses_for_test(_: &Path) -> bool {
    false
}

/// Turns `O_DIRECT` off on an open file: later reads and writes of the same handle go
/// through the page cache. The same handle, not the path opened again, which by then may
/// name another file (a staging file deleted and its name claimed by another upload).
fn through_cache(file: &File) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a file descriptor this `File` owns and keeps open.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: as above; only the O_DIRECT status flag changes.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    Ok(())
}

/// Whether an error is the file system refusing `O_DIRECT` (rather than a failure to report).
fn refused(e: &std::io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        e.raw_os_error() == Some(libc::EINVAL)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        false
    }
}

/// `n` rounded up to a multiple of [`ALIGN`].
fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN as u64) * ALIGN as u64
}

/// A zeroed buffer of `len` bytes starting at an [`ALIGN`]-aligned address.
struct Aligned {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Self {
        let raw = vec![0u8; len + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN);
        Self { raw, start, len }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

impl AsRef<[u8]> for Aligned {
    fn as_ref(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;
