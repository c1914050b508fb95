//! A file written sequentially past the page cache, from an aligned buffer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{align_up, open, refused, through_cache, Aligned, ALIGN};

/// Bytes collected before a write: 1 MiB, 256 pages.
const BUFFER: usize = 256 * ALIGN;

/// A new file written sequentially past the page cache where the file system allows it.
/// Bytes are written a full buffer at a time; [`DirectWriter::finish`] writes the rest and
/// must be called: `flush` writes nothing (a partial block cannot be written past the
/// cache, and Parquet's writer flushes after every column chunk), so a file dropped before
/// `finish` misses its last bytes, and a warning names it (where bytes were waiting).
pub struct DirectWriter {
    file: File,
    path: PathBuf,
    direct: bool,
    buf: Aligned,
    filled: usize,
    /// Bytes on disk.
    written: u64,
    /// `finish` was called (dropped before, the file misses its buffered bytes).
    finished: bool,
}

impl DirectWriter {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let (file, direct) = open(path, &options)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            direct,
            buf: Aligned::new(BUFFER),
            filled: 0,
            written: 0,
            finished: false,
        })
    }

    /// Whether the file is written past the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Writes what the buffer holds and sets the file's length; returns it.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.finished = true;
        let len = self.written + self.filled as u64;
        let padded = match self.direct {
            // Past the cache only whole blocks are written: zeros up to the next one, cut
            // off again by `set_len`.
            true => align_up(self.filled as u64) as usize,
            false => self.filled,
        };
        self.buf.as_mut()[self.filled..padded].fill(0);
        self.write_at(padded)?;
        self.file.set_len(len)?;
        Ok(len)
    }

    /// Drops the writer without writing what it holds, and without a warning: its file is
    /// given up (and deleted by the caller).
    pub fn abandon(mut self) {
        self.finished = true;
    }

    /// Writes the buffer's first `n` bytes at the end of what is on disk.
    fn write_at(&mut self, n: usize) -> std::io::Result<()> {
        let bytes = &self.buf.as_ref()[..n];
        match self.file.write_all_at(bytes, self.written) {
            Err(e) if self.direct && refused(&e) => {
                // Opened past the cache, but the file system refuses the write (it takes
                // only larger blocks, or not at all): the rest goes through the cache, on
                // the same handle.
                through_cache(&self.file)?;
                self.direct = false;
                self.file.write_all_at(bytes, self.written)?;
            }
            written => written?,
        }
        self.written += n as u64;
        self.filled = 0;
        Ok(())
    }
}

impl Write for DirectWriter {
    /// Takes bytes into the buffer, first writing it out if full: an error means that none
    /// of `bytes` was taken.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.filled == BUFFER {
            self.write_at(BUFFER)?;
        }
        let n = bytes.len().min(BUFFER - self.filled);
        self.buf.as_mut()[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
        self.filled += n;
        Ok(n)
    }

    /// Nothing: the buffer is written when full, and its rest by [`DirectWriter::finish`]
    /// (a partial block cannot be written past the cache).
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for DirectWriter {
    fn drop(&mut self) {
        if !self.finished && self.filled > 0 {
            tracing::warn!(
                path = %self.path.display(),
                unwritten = self.filled,
                "A temporary file was closed unfinished: it misses its last bytes (the run \
                 stopped at an earlier error, or a bug)."
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write the kernel refuses past the cache (here: at an offset off the block) is made
    /// through the cache, and so is every later one.
    #[test]
    fn a_refused_write_goes_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = DirectWriter::create(&path).unwrap();
        if !w.is_direct() {
            eprintln!("this file system does not take O_DIRECT: nothing to refuse");
            return;
        }
        w.written = 1;
        let bytes: Vec<u8> = (0..BUFFER * 2 + 10).map(|i| (i % 251) as u8).collect();
        w.write_all(&bytes).unwrap();
        // ext4 and xfs refuse a write off the block; tmpfs (Linux 6.6 on) and btrfs take it.
        let kind = super::super::tests::fs_type(dir.path());
        if matches!(kind.as_str(), "ext4" | "xfs") {
            assert!(!w.is_direct(), "{kind} took a write off the block");
        }
        assert_eq!(w.finish().unwrap(), bytes.len() as u64 + 1);
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got[0], 0);
        assert_eq!(&got[1..], &bytes[..]);
    }

    /// A write that fails takes none of its bytes (nothing is written twice on a retry).
    #[test]
    fn a_failed_write_takes_no_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = DirectWriter::create(&path).unwrap();
        w.write_all(&vec![7u8; BUFFER]).unwrap();
        assert_eq!((w.filled, w.written), (BUFFER, 0));
        // The buffer goes out at the next write: make that fail (a read-only handle).
        w.file = File::open(&path).unwrap();
        w.direct = false;
        assert!(w.write(b"x").is_err());
        assert_eq!((w.filled, w.written), (BUFFER, 0));
        // Retried on a writable handle: every byte once.
        w.file = OpenOptions::new().write(true).open(&path).unwrap();
        w.write_all(b"xyz").unwrap();
        assert_eq!(w.finish().unwrap(), BUFFER as u64 + 3);
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), BUFFER + 3);
        assert!(got[..BUFFER].iter().all(|&b| b == 7));
        assert_eq!(&got[BUFFER..], b"xyz");
    }
}
