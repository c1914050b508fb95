//! Bronze shards: `medallion run JOB --shard i/n` ingests only the new source files whose
//! bookmark name hashes to shard `i` of `n`, so that `n` processes (`0/n` … `n-1/n`) ingest
//! one landing folder at once, each file in exactly one shard.
//!
//! A shard run commits Bronze and then its unparseable records to the quarantine, both as
//! appends over the other shards' commits, refusing to commit if another run ingested any of
//! its files meanwhile (see `commit::racing_append`). It leaves Silver and Gold to the next
//! run without `--shard`, which must not overlap with shards (it would fail, committing
//! nothing). Jobs whose dedupe keeps the last row received need `latest_by` (each shard
//! stamps its own `_ingest_time`).

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Config(format!(
                "--shard `{s}`: expected `i/n` with 0 <= i < n, e.g. `0/4` … `3/4` for four processes"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the file with bookmark name `name` belongs to this shard: the first 8 bytes
    /// of its SHA-256, modulo the count (the same on every machine and release).
    pub fn owns(&self, name: &str) -> bool {
        let digest = Sha256::digest(name.as_bytes());
        let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        head % u64::from(self.count) == u64::from(self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_in_exactly_one_shard() {
        let shards: Vec<Shard> = (0..4).map(|i| format!("{i}/4").parse().unwrap()).collect();
        let mut sizes = [0usize; 4];
        for k in 0..4000 {
            let name = format!("landing/orders/part-{k}.ndjson");
            let owners: Vec<usize> = (0..4).filter(|&i| shards[i].owns(&name)).collect();
            assert_eq!(owners.len(), 1, "{name}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| n > 800), "balanced: {sizes:?}");
    }

    #[test]
    fn bad_shards_are_refused() {
        for bad in ["4/4", "1", "a/4", "0/0", "-1/4"] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains(&format!("--shard `{bad}`")), "{err}");
        }
        assert_eq!("3/4".parse::<Shard>().unwrap().to_string(), "3/4");
    }
}
