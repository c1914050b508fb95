//! The dedupe's spill: once its table of winners outgrows the memory budget, every key's
//! current winner and every later row go to one of [`BUCKETS`] files on disk by the hash of
//! the key, and [`Deduper::finish`](super::Deduper::finish) chooses the winners bucket by
//! bucket (`choose`: one bucket per worker at a time). A key's rows all land in one bucket,
//! in the order they were seen, so the choice is the one the table would have made; memory
//! is then one bucket's table per worker, each about 1/[`BUCKETS`] of what one table of all
//! the keys would hold.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::RowInfo;
use crate::error::{Error, Result};

/// Buckets of a spill.
pub const BUCKETS: usize = 64;

/// One spilled row, as read back.
#[derive(Default)]
pub struct Record {
    pub hash: u64,
    pub key: Vec<u8>,
    pub latest: Vec<u8>,
    pub ingest: Option<i64>,
    pub line: Option<i64>,
    pub file: u32,
    pub row: u64,
}

impl Record {
    pub fn info(&self) -> RowInfo<'_> {
        RowInfo {
            key: &self.key,
            latest: &self.latest,
            ingest: self.ingest,
            line: self.line,
            file: self.file,
            row: self.row,
        }
    }
}

/// The bucket files being written.
pub struct Buckets {
    dir: PathBuf,
    writers: Vec<BufWriter<File>>,
    /// Records written per bucket (checked when read back: never a silently shorter bucket).
    counts: Vec<u64>,
}

impl Buckets {
    /// Creates the bucket files in a new folder `dir` (removed when dropped).
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        let writers = (0..BUCKETS)
            .map(|b| {
                let path = dir.join(format!("bucket-{b:02}"));
                File::create(&path)
                    .map(|f| BufWriter::with_capacity(64 << 10, f))
                    .map_err(|e| Error::io(path.display().to_string(), e))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            writers,
            counts: vec![0; BUCKETS],
        })
    }

    /// Appends row `r` (key hash `hash`) to its bucket.
    pub fn write(&mut self, hash: u64, r: &RowInfo<'_>) -> Result<()> {
        // Middle bits: a bucket's table takes its slots from the low bits and its 7-bit tags
        // from the top ones (a bucket chosen by the top bits would leave its tags one bit).
        let b = (hash >> 32) as usize % BUCKETS;
        let w = &mut self.writers[b];
        let nulls = u8::from(r.ingest.is_none()) | (u8::from(r.line.is_none()) << 1);
        let res = (|| -> io::Result<()> {
            w.write_all(&hash.to_le_bytes())?;
            w.write_all(&(r.key.len() as u32).to_le_bytes())?;
            w.write_all(&(r.latest.len() as u32).to_le_bytes())?;
            w.write_all(r.key)?;
            w.write_all(r.latest)?;
            w.write_all(&r.ingest.unwrap_or(0).to_le_bytes())?;
            w.write_all(&r.line.unwrap_or(0).to_le_bytes())?;
            w.write_all(&r.file.to_le_bytes())?;
            w.write_all(&r.row.to_le_bytes())?;
            w.write_all(&[nulls])
        })();
        self.counts[b] += 1;
        res.map_err(|e| self.error(b, e))
    }

    /// Records written to all buckets.
    pub fn records(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn error(&self, bucket: usize, e: io::Error) -> Error {
        let path = self.dir.join(format!("bucket-{bucket:02}"));
        Error::io(format!("{} (the dedupe's spill)", path.display()), e)
    }

    /// Writes out what the buckets' buffers still hold (before any bucket is read).
    pub fn flush(&mut self) -> Result<()> {
        for b in 0..BUCKETS {
            self.writers[b].flush().map_err(|e| self.error(b, e))?;
        }
        Ok(())
    }

    /// Reads bucket `b` back (after [`Buckets::flush`]): `row` with each record in the order
    /// it was written; an error if the bucket holds fewer or more records than were written.
    /// The bucket's file is then removed (its disk space given back at once). Buckets can be
    /// read on several threads at a time, each bucket once.
    pub fn read_bucket(&self, b: usize, mut row: impl FnMut(&Record)) -> Result<()> {
        let path = self.dir.join(format!("bucket-{b:02}"));
        let mut r = File::open(&path)
            .map(|f| BufReader::with_capacity(64 << 10, f))
            .map_err(|e| self.error(b, e))?;
        let mut read = 0u64;
        // One record's buffers, reused for every record of the bucket.
        let mut rec = Record::default();
        while next_record(&mut r, &mut rec).map_err(|e| self.error(b, e))? {
            row(&rec);
            read += 1;
        }
        if read != self.counts[b] {
            let e = io::Error::other(format!("read back {read} of {} records", self.counts[b]));
            return Err(self.error(b, e));
        }
        std::fs::remove_file(&path).map_err(|e| self.error(b, e))
    }
}

impl Drop for Buckets {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(path = %self.dir.display(), error = %e, "Could not remove the dedupe's spill folder.");
        }
    }
}

/// Reads the next record into `rec` (its buffers reused); false at the end of the bucket.
fn next_record(r: &mut impl Read, rec: &mut Record) -> io::Result<bool> {
    let mut head = [0u8; 16];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        // A short last record is caught by the count check of `read_bucket`.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    rec.hash = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    let key_len = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
    let latest_len = u32::from_le_bytes(head[12..16].try_into().expect("4 bytes")) as usize;
    rec.key.resize(key_len, 0);
    r.read_exact(&mut rec.key)?;
    rec.latest.resize(latest_len, 0);
    r.read_exact(&mut rec.latest)?;
    let mut tail = [0u8; 8 + 8 + 4 + 8 + 1];
    r.read_exact(&mut tail)?;
    let i64_at = |o: usize| i64::from_le_bytes(tail[o..o + 8].try_into().expect("8 bytes"));
    let nulls = tail[28];
    rec.ingest = (nulls & 1 == 0).then(|| i64_at(0));
    rec.line = (nulls & 2 == 0).then(|| i64_at(8));
    rec.file = u32::from_le_bytes(tail[16..20].try_into().expect("4 bytes"));
    rec.row = u64::from_le_bytes(tail[20..28].try_into().expect("8 bytes"));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_every_length_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Buckets::create(&dir.path().join("spill")).unwrap();
        // Long then short keys and `latest_by` values in one bucket (hashes 0 to 3):
        // a reused buffer must never carry bytes of the record before.
        let rows: Vec<(Vec<u8>, Vec<u8>, Option<i64>, Option<i64>)> = vec![
            (vec![7; 300], vec![1; 40], Some(5), None),
            (vec![8; 3], vec![], None, Some(-2)),
            (vec![], vec![2; 9], Some(i64::MIN), Some(i64::MAX)),
            (vec![9; 64], vec![3], None, None),
        ];
        for (i, (key, latest, ingest, line)) in rows.iter().enumerate() {
            let r = RowInfo {
                key,
                latest,
                ingest: *ingest,
                line: *line,
                file: i as u32,
                row: 10 * i as u64,
            };
            b.write(i as u64, &r).unwrap();
        }
        assert_eq!(b.records(), 4);
        b.flush().unwrap();
        let mut got = Vec::new();
        // Backwards: buckets are read in any order (by several workers).
        for bucket in (0..BUCKETS).rev() {
            b.read_bucket(bucket, |r| {
                got.push((
                    r.hash,
                    r.key.clone(),
                    r.latest.clone(),
                    r.ingest,
                    r.line,
                    r.file,
                    r.row,
                ))
            })
            .unwrap();
        }
        drop(b);
        let want: Vec<_> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (k, l, ing, line))| (i as u64, k, l, ing, line, i as u32, 10 * i as u64))
            .collect();
        assert_eq!(got, want);
        assert!(
            !dir.path().join("spill").exists(),
            "the spill folder is removed"
        );
    }
}
