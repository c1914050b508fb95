//! Reading a local source file as it was listed: exactly its listed size. A file that
//! changes between its listing and the end of its reading (appended to, truncated) is an
//! error that fails the run — nothing is committed and the next run reads the file whole.
//! What this cannot see: a writer that paused for that whole time (its file is complete as
//! far as the run can tell). Landing files must appear complete: written elsewhere (or under
//! a `_` folder) and moved in, as docs/spec.md says.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// A local file's bytes, checked against the size it was listed with.
pub struct ListedFile {
    file: File,
    shown: String,
    size: u64,
    read: u64,
}

impl ListedFile {
    /// Opens `path`, refusing it when its size is no longer the listed one.
    pub fn open(path: &Path, size: u64) -> Result<Self> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(shown.clone(), e))?;
        Self::of(file, shown, size)
    }

    /// `file` (positioned at its start) as a listed file of `size` bytes.
    pub fn of(file: File, shown: String, size: u64) -> Result<Self> {
        let now = file
            .metadata()
            .map_err(|e| Error::io(shown.clone(), e))?
            .len();
        if now != size {
            return Err(Error::io(shown.clone(), changed(&shown, size, now)));
        }
        Ok(Self {
            file,
            shown,
            size,
            read: 0,
        })
    }
}

fn changed(shown: &str, listed: u64, now: u64) -> io::Error {
    io::Error::other(format!(
        "{shown} changed while the run read it (listed with {listed} bytes, now {now}): a landing \
         file must be complete when it appears — write it elsewhere (or under a `_` folder) and \
         move it in; the next run reads it again"
    ))
}

impl Read for ListedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self.size - self.read;
        if left == 0 {
            // One byte more than listed means the file grew while it was read.
            let mut probe = [0u8; 1];
            return match self.file.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(changed(&self.shown, self.size, self.size + 1)),
            };
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::other(format!(
                "{} changed while the run read it: it ended after {} of its listed {} bytes \
                 (truncated or replaced); the next run reads it again",
                self.shown, self.read, self.size
            )));
        }
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn listed(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn an_empty_read_is_not_an_error() {
        let (_d, path) = listed(b"x\n");
        let mut reader = ListedFile::open(&path, 2).unwrap();
        assert_eq!(reader.read(&mut []).unwrap(), 0);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"x\n");
    }

    #[test]
    fn a_file_as_listed_reads_whole() {
        let (_d, path) = listed(b"{\"a\":1}\n{\"a\":2}\n");
        let mut out = Vec::new();
        ListedFile::open(&path, 16)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"{\"a\":1}\n{\"a\":2}\n");
    }

    #[test]
    fn a_file_grown_since_the_listing_is_refused_at_open() {
        let (_d, path) = listed(b"{\"a\":1}\n{\"a\":2}\n");
        let err = ListedFile::open(&path, 8).err().unwrap().to_string();
        assert!(err.contains("changed while the run read it"), "{err}");
        assert!(err.contains("listed with 8 bytes, now 16"), "{err}");
    }

    #[test]
    fn a_file_appended_to_while_read_is_an_error_not_a_prefix() {
        let (_d, path) = listed(b"{\"a\":1}\n{\"a\":2");
        let mut reader = ListedFile::open(&path, 14).unwrap();
        let mut first = [0u8; 8];
        reader.read_exact(&mut first).unwrap();
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(b"3}\n").unwrap();
        let mut rest = Vec::new();
        let err = reader.read_to_end(&mut rest).unwrap_err().to_string();
        assert!(err.contains("changed while the run read it"), "{err}");
    }

    #[test]
    fn a_file_truncated_while_read_is_an_error() {
        let (_d, path) = listed(b"{\"a\":1}\n{\"a\":2}\n");
        let mut reader = ListedFile::open(&path, 16).unwrap();
        let mut first = [0u8; 4];
        reader.read_exact(&mut first).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(8)
            .unwrap();
        let mut rest = Vec::new();
        let err = reader.read_to_end(&mut rest).unwrap_err().to_string();
        assert!(
            err.contains("ended after 8 of its listed 16 bytes"),
            "{err}"
        );
    }
}
