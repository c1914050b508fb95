//! The table of winners: one entry per key (the winning row's position, its `latest_by`
//! bytes and its arrival coordinates), found or placed in one probe. The dedupe holds one
//! while rows stream past, and one per worker while it chooses the winners of its spill.

use std::cmp::Ordering;

use hashbrown::HashTable;

use super::RowInfo;

/// The current winner of one key (48 bytes).
struct Entry {
    /// Offset in the arena of the key's row bytes, followed by the `latest_by` row bytes.
    off: usize,
    /// Position of the row among all rows seen.
    row: u64,
    ingest: i64,
    line: i64,
    key_len: u32,
    latest_len: u32,
    /// Interned `_source_file` (`u32::MAX` = null).
    file: u32,
    /// `NULL_INGEST` | `NULL_LINE`.
    nulls: u8,
}

const NULL_INGEST: u8 = 1;
const NULL_LINE: u8 = 2;

impl Entry {
    fn ingest(&self) -> Option<i64> {
        (self.nulls & NULL_INGEST == 0).then_some(self.ingest)
    }
    fn line(&self) -> Option<i64> {
        (self.nulls & NULL_LINE == 0).then_some(self.line)
    }
}

fn nulls_of(ingest: Option<i64>, line: Option<i64>) -> u8 {
    (if ingest.is_none() { NULL_INGEST } else { 0 }) | (if line.is_none() { NULL_LINE } else { 0 })
}

/// What offering a row did to the table.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Offered {
    /// The key's first row: it wins.
    New,
    /// A newer version: it wins over the row at this position.
    Replaced(u64),
    /// The stored row stays the winner.
    Lost,
}

/// One entry per key, in one arena of key and `latest_by` bytes.
#[derive(Default)]
pub(super) struct Table {
    index: HashTable<u32>,
    entries: Vec<Entry>,
    arena: Vec<u8>,
}

impl Table {
    /// Room for `keys` distinct keys without regrowth.
    pub fn with_capacity(keys: usize) -> Self {
        Self {
            index: HashTable::with_capacity(keys),
            entries: Vec::with_capacity(keys),
            arena: Vec::with_capacity(keys * 16),
        }
    }

    /// The bytes the table holds.
    pub fn bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.arena.capacity()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    /// Offers row `r` (key hash `hash`, which `rehash` computes for stored keys when the
    /// table grows): the key's first row, or a newer version of it, wins. `files` are the
    /// `_source_file` names the rows' ids point into.
    pub fn offer(
        &mut self,
        hash: u64,
        r: &RowInfo<'_>,
        rehash: impl Fn(&[u8]) -> u64,
        files: &[String],
    ) -> Offered {
        let (entries, arena) = (&self.entries, &self.arena);
        let key_of = |e: &Entry| &arena[e.off..e.off + e.key_len as usize];
        let slot = self.index.entry(
            hash,
            |&e| key_of(&entries[e as usize]) == r.key,
            |&e| rehash(key_of(&entries[e as usize])),
        );
        match slot {
            hashbrown::hash_table::Entry::Occupied(o) => {
                let idx = *o.get();
                if self.newer(idx, r, files) {
                    Offered::Replaced(self.replace(idx, r))
                } else {
                    Offered::Lost
                }
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(self.entries.len() as u32);
                self.insert(r);
                Offered::New
            }
        }
    }

    /// Each key's winner, in the order the keys were first seen.
    pub fn winners(&self) -> impl Iterator<Item = RowInfo<'_>> {
        self.entries.iter().map(|e| {
            let key_end = e.off + e.key_len as usize;
            RowInfo {
                key: &self.arena[e.off..key_end],
                latest: &self.arena[key_end..key_end + e.latest_len as usize],
                ingest: e.ingest(),
                line: e.line(),
                file: e.file,
                row: e.row,
            }
        })
    }

    /// Empties the table, keeping its memory (for the next bucket of a spill).
    pub fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.arena.clear();
    }

    /// Whether row `r` is a newer version of the key than the stored entry `idx`: larger
    /// `latest_by`, then later `_ingest_time`, `_source_file`, `_source_line`; a complete tie
    /// goes to the later row.
    fn newer(&self, idx: u32, r: &RowInfo<'_>, files: &[String]) -> bool {
        let e = &self.entries[idx as usize];
        let stored_latest = &self.arena
            [e.off + e.key_len as usize..e.off + e.key_len as usize + e.latest_len as usize];
        // Smaller `latest` bytes sort first (descending encoding).
        match r.latest.cmp(stored_latest) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => !matches!(
                desc_nulls_first(r.ingest, e.ingest())
                    .then_with(|| cmp_files(files, r.file, e.file))
                    .then_with(|| desc_nulls_first(r.line, e.line())),
                Ordering::Greater
            ),
        }
    }

    /// Row `r` replaces the winner of entry `idx`; the replaced row's position.
    fn replace(&mut self, idx: u32, r: &RowInfo<'_>) -> u64 {
        let e = &mut self.entries[idx as usize];
        let old = e.row;
        let (off, key_len) = (e.off, e.key_len as usize);
        if r.latest.len() == e.latest_len as usize {
            self.arena[off + key_len..off + key_len + r.latest.len()].copy_from_slice(r.latest);
        } else {
            e.off = self.arena.len();
            e.latest_len = r.latest.len() as u32;
            self.arena.extend_from_slice(r.key);
            self.arena.extend_from_slice(r.latest);
        }
        e.ingest = r.ingest.unwrap_or(0);
        e.line = r.line.unwrap_or(0);
        e.nulls = nulls_of(r.ingest, r.line);
        e.file = r.file;
        e.row = r.row;
        old
    }

    /// Row `r` is the first of its key (its slot in the index holds the next entry).
    fn insert(&mut self, r: &RowInfo<'_>) {
        self.entries.push(Entry {
            off: self.arena.len(),
            key_len: r.key.len() as u32,
            latest_len: r.latest.len() as u32,
            file: r.file,
            ingest: r.ingest.unwrap_or(0),
            line: r.line.unwrap_or(0),
            nulls: nulls_of(r.ingest, r.line),
            row: r.row,
        });
        self.arena.extend_from_slice(r.key);
        self.arena.extend_from_slice(r.latest);
    }
}

/// `DESC` order of file ids by their names, nulls first: `Less` when `a` sorts before `b`.
fn cmp_files(files: &[String], a: u32, b: u32) -> Ordering {
    match (a, b) {
        (a, b) if a == b => Ordering::Equal,
        (u32::MAX, _) => Ordering::Less,
        (_, u32::MAX) => Ordering::Greater,
        (a, b) => files[b as usize].cmp(&files[a as usize]),
    }
}

fn desc_nulls_first(a: Option<i64>, b: Option<i64>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}
