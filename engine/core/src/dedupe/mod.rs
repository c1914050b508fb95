//! Silver's dedupe: one row per key, chosen while the typed rows stream past.
//!
//! The rows of a run are seen once, in the order they are written to the run's typed
//! temporary Parquet file. For every key the [`Deduper`] remembers only the current winner
//! (its position, its `latest_by` value and its arrival coordinates), so its memory is one
//! small entry per distinct key, never the rows themselves. At the end, [`Deduper::finish`]
//! gives the winners as a mask over the typed file's rows, and [`KeptRows`] reads the file
//! back with that mask as a Parquet row selection: rows that lost are skipped, not decoded.
//!
//! With a memory budget ([`Deduper::with_budget`]), a table that outgrows it is spilled to
//! disk by key hash and the winners are chosen bucket by bucket ([`spill`]).
//!
//! The winner of a key is the row that sorts first by `latest_by DESC NULLS LAST`,
//! `_ingest_time DESC`, `_source_file DESC`, `_source_line DESC` (nulls of the last three
//! sort first, as SQL's `DESC` does); on a complete tie the later row wins.

use std::cmp::Ordering;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, BooleanBufferBuilder, RecordBatch};
use arrow::compute::SortOptions;
use arrow::datatypes::{Int64Type, SchemaRef, TimestampMicrosecondType};
use arrow::row::{RowConverter, SortField};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::Statistics;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use hashbrown::HashTable;
use parquet::arrow::arrow_reader::RowSelection;

use crate::error::{Error, Result};
use crate::plan::{INGEST_TIME, SOURCE_FILE, SOURCE_LINE};

mod spill;

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

/// Chooses one row per key over a stream of batches.
pub struct Deduper {
    key_columns: Vec<String>,
    latest_by: Option<String>,
    keys: RowConverter,
    latest: Option<RowConverter>,
    hasher: foldhash::fast::FixedState,
    table: HashTable<u32>,
    entries: Vec<Entry>,
    arena: Vec<u8>,
    file_ids: hashbrown::HashMap<String, u32>,
    file_names: Vec<String>,
    last_file: Option<u32>,
    keep: BooleanBufferBuilder,
    /// Spill above this many bytes of table, into a new folder at this path.
    budget: Option<(usize, PathBuf)>,
    spill: Option<spill::Buckets>,
}

impl Deduper {
    /// `schema` is the schema of the batches that will be pushed.
    pub fn new(schema: &SchemaRef, keys: &[String], latest_by: Option<&str>) -> Result<Self> {
        Self::with_capacity(schema, keys, latest_by, 0)
    }

    /// Like [`Deduper::new`], with room for `keys` distinct keys (no regrowth up to there).
    pub fn with_capacity(
        schema: &SchemaRef,
        keys: &[String],
        latest_by: Option<&str>,
        capacity: usize,
    ) -> Result<Self> {
        let field = |name: &str| {
            schema
                .field_with_name(name)
                .map(|f| f.data_type().clone())
                .map_err(|_| Error::Internal(format!("dedupe column `{name}` is not in the rows")))
        };
        let key_fields = keys
            .iter()
            .map(|k| field(k).map(SortField::new))
            .collect::<Result<Vec<_>>>()?;
        let latest = match latest_by {
            Some(l) => Some(RowConverter::new(vec![SortField::new_with_options(
                field(l)?,
                SortOptions {
                    descending: true,
                    nulls_first: false,
                },
            )])?),
            None => None,
        };
        Ok(Self {
            key_columns: keys.to_vec(),
            latest_by: latest_by.map(str::to_string),
            keys: RowConverter::new(key_fields)?,
            latest,
            hasher: foldhash::fast::FixedState::with_seed(0x6d65_6461_6c6c_696f),
            table: HashTable::with_capacity(capacity),
            entries: Vec::with_capacity(capacity),
            arena: Vec::with_capacity(capacity * 16),
            file_ids: hashbrown::HashMap::new(),
            file_names: Vec::new(),
            last_file: None,
            keep: BooleanBufferBuilder::new(capacity),
            budget: None,
            spill: None,
        })
    }

    /// Keeps the table of winners under `bytes` (about): above it, rows are spilled to
    /// bucket files in a new folder `dir` (removed when done).
    pub fn with_budget(mut self, bytes: usize, dir: PathBuf) -> Self {
        self.budget = Some((bytes, dir));
        self
    }

    /// Whether the dedupe spilled to disk.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// The bytes held by the table of winners.
    fn table_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.arena.capacity()
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    /// Moves the table of winners to bucket files; later rows go there too.
    fn start_spill(&mut self, dir: &std::path::Path) -> Result<()> {
        let mut buckets = spill::Buckets::create(dir)?;
        for e in &self.entries {
            let key = &self.arena[e.off..e.off + e.key_len as usize];
            let latest = &self.arena
                [e.off + e.key_len as usize..e.off + (e.key_len + e.latest_len) as usize];
            let r = RowInfo {
                key,
                latest,
                ingest: e.ingest(),
                line: e.line(),
                file: e.file,
                row: e.row,
            };
            buckets.write(self.hasher.hash_one(key), &r)?;
        }
        tracing::info!(
            keys = self.entries.len(),
            bytes = self.table_bytes(),
            "Dedupe table over its memory budget: spilling to disk."
        );
        self.clear_table();
        self.spill = Some(buckets);
        Ok(())
    }

    /// Gives the table's memory back (at the spill: the buckets take over).
    fn clear_table(&mut self) {
        self.table = HashTable::new();
        self.entries = Vec::new();
        self.arena = Vec::new();
    }

    /// Empties the table between two buckets, keeping its memory for the next one (a bucket
    /// holds about 1/64 of the keys: regrowing from nothing would rehash every key again).
    fn empty_table(&mut self) {
        self.table.clear();
        self.entries.clear();
        self.arena.clear();
    }

    /// Offers row `r` to the table: the key's first row, or a newer version of it, wins.
    /// One probe of the table finds the key's entry or the slot of a new one.
    fn offer(&mut self, hash: u64, r: &RowInfo<'_>) {
        let (entries, arena, hasher) = (&self.entries, &self.arena, &self.hasher);
        let key_of = |e: &Entry| &arena[e.off..e.off + e.key_len as usize];
        let slot = self.table.entry(
            hash,
            |&e| key_of(&entries[e as usize]) == r.key,
            |&e| hasher.hash_one(key_of(&entries[e as usize])),
        );
        match slot {
            hashbrown::hash_table::Entry::Occupied(o) => {
                let idx = *o.get();
                if self.newer(idx, r) {
                    self.replace(idx, r);
                }
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(self.entries.len() as u32);
                self.insert(r);
            }
        }
    }

    /// Rows seen so far.
    pub fn rows(&self) -> u64 {
        self.keep.len() as u64
    }

    /// Takes the next batch of rows (in the order they are written to the typed file).
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("dedupe column `{name}` is missing")))
        };
        let key_arrays = self
            .key_columns
            .iter()
            .map(|k| col(k))
            .collect::<Result<Vec<_>>>()?;
        let keys = self.keys.convert_columns(&key_arrays)?;
        let latest = match (&self.latest, &self.latest_by) {
            (Some(conv), Some(name)) => Some(conv.convert_columns(&[col(name)?])?),
            _ => None,
        };
        let ingest = batch
            .column_by_name(INGEST_TIME)
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>().cloned());
        let lines = batch
            .column_by_name(SOURCE_LINE)
            .and_then(|c| c.as_primitive_opt::<Int64Type>().cloned());
        let files = batch
            .column_by_name(SOURCE_FILE)
            .and_then(|c| c.as_string_opt::<i32>().cloned());
        let base = self.keep.len() as u64;
        self.keep.append_n(batch.num_rows(), false);
        for i in 0..batch.num_rows() {
            let key = keys.row(i).data();
            let latest_bytes: &[u8] = match &latest {
                Some(l) => l.row(i).data(),
                None => &[],
            };
            let ingest_v = ingest
                .as_ref()
                .and_then(|a| a.is_valid(i).then(|| a.value(i)));
            let line_v = lines
                .as_ref()
                .and_then(|a| a.is_valid(i).then(|| a.value(i)));
            let file_v = match files.as_ref().filter(|a| a.is_valid(i)) {
                Some(a) => {
                    let name = a.value(i);
                    match self
                        .last_file
                        .filter(|&id| self.file_names[id as usize] == name)
                    {
                        Some(id) => id,
                        None => self.intern(name),
                    }
                }
                None => u32::MAX,
            };
            let r = RowInfo {
                key,
                latest: latest_bytes,
                ingest: ingest_v,
                line: line_v,
                file: file_v,
                row: base + i as u64,
            };
            let hash = self.hasher.hash_one(key);
            match &mut self.spill {
                Some(buckets) => buckets.write(hash, &r)?,
                None => self.offer(hash, &r),
            }
        }
        if let Some((bytes, dir)) = &self.budget {
            if self.spill.is_none() && self.table_bytes() > *bytes {
                let dir = dir.clone();
                self.start_spill(&dir)?;
            }
        }
        Ok(())
    }

    /// Whether row `r` is a newer version of the key than the stored entry `idx`: larger
    /// `latest_by`, then later `_ingest_time`, `_source_file`, `_source_line`; a complete tie
    /// goes to the later row.
    fn newer(&self, idx: u32, r: &RowInfo<'_>) -> bool {
        let e = &self.entries[idx as usize];
        let stored_latest = &self.arena
            [e.off + e.key_len as usize..e.off + e.key_len as usize + e.latest_len as usize];
        // Smaller `latest` bytes sort first (descending encoding).
        match r.latest.cmp(stored_latest) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => !matches!(
                desc_nulls_first(r.ingest, e.ingest())
                    .then_with(|| self.cmp_files(r.file, e.file))
                    .then_with(|| desc_nulls_first(r.line, e.line())),
                Ordering::Greater
            ),
        }
    }

    /// Row `r` replaces the kept row of entry `idx`.
    fn replace(&mut self, idx: u32, r: &RowInfo<'_>) {
        let e = &self.entries[idx as usize];
        self.keep.set_bit(e.row as usize, false);
        self.keep.set_bit(r.row as usize, true);
        let same_len = r.latest.len() == e.latest_len as usize;
        let (off, key_len) = (e.off, e.key_len as usize);
        let e = &mut self.entries[idx as usize];
        if same_len {
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
    }

    /// Row `r` is the first of its key (its slot in the table holds the next entry).
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
        self.keep.set_bit(r.row as usize, true);
    }

    /// The id of a `_source_file` name (rows of one file come in runs: the last one is
    /// checked first).
    fn intern(&mut self, name: &str) -> u32 {
        let id = match self.file_ids.get(name) {
            Some(&id) => id,
            None => {
                let id = self.file_names.len() as u32;
                self.file_names.push(name.to_string());
                self.file_ids.insert(name.to_string(), id);
                id
            }
        };
        self.last_file = Some(id);
        id
    }

    /// `DESC` order of file names, nulls first: `Less` when `a` sorts before `b`.
    fn cmp_files(&self, a: u32, b: u32) -> Ordering {
        match (a, b) {
            (a, b) if a == b => Ordering::Equal,
            (u32::MAX, _) => Ordering::Less,
            (_, u32::MAX) => Ordering::Greater,
            (a, b) => self.file_names[b as usize].cmp(&self.file_names[a as usize]),
        }
    }

    /// The winners, as a mask over all rows seen (one per distinct key).
    pub fn finish(mut self) -> Result<BooleanArray> {
        if let Some(buckets) = self.spill.take() {
            tracing::info!(
                rows = buckets.records(),
                buckets = spill::BUCKETS,
                "Dedupe: choosing the winners of the spilled rows, bucket by bucket."
            );
            // `keep` still marks the winners at the spill; each bucket's rows replay the
            // table's choice for its keys, then the table is emptied for the next bucket.
            let this = std::cell::RefCell::new(&mut self);
            buckets.read_each(
                |rec| {
                    this.borrow_mut().offer(rec.hash, &rec.info());
                    Ok(())
                },
                || this.borrow_mut().empty_table(),
            )?;
        }
        Ok(BooleanArray::new(self.keep.finish(), None))
    }
}

/// One row's key, `latest_by` and tie-breakers, as `push` reads them.
pub(crate) struct RowInfo<'a> {
    key: &'a [u8],
    latest: &'a [u8],
    ingest: Option<i64>,
    line: Option<i64>,
    file: u32,
    row: u64,
}

fn desc_nulls_first(a: Option<i64>, b: Option<i64>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// The rows of a local Parquet file selected by a mask, as a DataFusion table: a Parquet
/// scan whose file carries the mask as a row selection (rows that lost are skipped, not
/// decoded; DataFusion still splits the file across cores), and whose statistics give the
/// exact number of kept rows, so that joins in the Silver SQL build their hash table on
/// the smaller side.
#[derive(Debug)]
pub struct KeptRows {
    path: PathBuf,
    size: u64,
    schema: SchemaRef,
    selection: RowSelection,
    kept: usize,
    bytes: usize,
}

impl KeptRows {
    pub fn new(path: PathBuf, schema: SchemaRef, keep: &BooleanArray) -> Result<Self> {
        let size = std::fs::metadata(&path)
            .map_err(|e| Error::io(path.display().to_string(), e))?
            .len();
        let kept = keep.true_count();
        // Uncompressed size estimate of what is kept (the file has no dictionaries).
        let bytes = (size as f64 * kept as f64 / keep.len().max(1) as f64) as usize;
        Ok(Self {
            path,
            size,
            schema,
            selection: RowSelection::from_filters(std::slice::from_ref(keep)),
            kept,
            bytes,
        })
    }
}

#[async_trait::async_trait]
impl TableProvider for KeptRows {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        // The local file system's own path encoding (a path string would be encoded again
        // where it holds `%` or non-ASCII letters, and not be found).
        let location = object_store::path::Path::from_filesystem_path(&self.path)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let file = PartitionedFile::new_from_meta(object_store::ObjectMeta {
            location,
            last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            size: self.size,
            e_tag: None,
            version: None,
        })
        .with_extension(ParquetRowSelection::new(self.selection.clone()));
        let stats = Statistics {
            num_rows: Precision::Exact(self.kept),
            total_byte_size: Precision::Inexact(self.bytes),
            column_statistics: Statistics::unknown_column(&self.schema),
        };
        let config = FileScanConfigBuilder::new(
            ObjectStoreUrl::local_filesystem(),
            Arc::new(ParquetSource::new(self.schema.clone())),
        )
        .with_file(file)
        .with_statistics(stats)
        .with_projection_indices(projection.cloned())?
        .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(keys: &[i64], latest: &[Option<i64>], files: &[&str], lines: &[i64]) -> RecordBatch {
        // Data columns, then Bronze's metadata columns but `_run_id`.
        let mut fields = vec![
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Int64, true),
        ];
        fields.extend(crate::plan::bronze_meta_fields().into_iter().take(3));
        let schema = Arc::new(Schema::new(fields));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(keys.to_vec())),
                Arc::new(Int64Array::from(latest.to_vec())),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![1_000_000; keys.len()])
                        .with_timezone("UTC"),
                ),
                Arc::new(StringArray::from(files.to_vec())),
                Arc::new(Int64Array::from(lines.to_vec())),
            ],
        )
        .unwrap()
    }

    fn kept(d: Deduper) -> Vec<bool> {
        d.finish().unwrap().iter().map(|v| v.unwrap()).collect()
    }

    /// Rows with few keys, many versions, ties and nulls, pushed in several batches.
    pub(crate) fn mixed_batches(n: usize) -> Vec<RecordBatch> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        (0..n)
            .map(|_| {
                let rows = 500;
                let keys: Vec<i64> = (0..rows).map(|_| next(700) as i64).collect();
                let latest: Vec<Option<i64>> = (0..rows)
                    .map(|_| (next(10) > 0).then(|| next(5) as i64))
                    .collect();
                let files: Vec<String> = (0..rows).map(|_| format!("f{}", next(3))).collect();
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                let lines: Vec<i64> = (0..rows).map(|_| next(4) as i64).collect();
                batch(&keys, &latest, &files, &lines)
            })
            .collect()
    }

    #[test]
    fn a_spilled_dedupe_keeps_the_rows_the_table_keeps() {
        let batches = mixed_batches(12);
        let schema = batches[0].schema();
        let run = |budget: Option<usize>| {
            let dir = tempfile::tempdir().unwrap();
            let mut d = Deduper::new(&schema, &["k".into()], Some("v")).unwrap();
            if let Some(b) = budget {
                d = d.with_budget(b, dir.path().join("spill"));
            }
            for b in &batches {
                d.push(b).unwrap();
            }
            assert_eq!(d.spilled(), budget.is_some());
            let mask = kept(d);
            assert!(
                !dir.path().join("spill").exists(),
                "the spill folder is removed"
            );
            mask
        };
        let in_memory = run(None);
        let keys: std::collections::HashSet<i64> = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(in_memory.iter().filter(|k| **k).count(), keys.len());
        // Spilled after the first batch (both budgets are below one batch of keys).
        assert_eq!(run(Some(20_000)), in_memory);
        assert_eq!(run(Some(0)), in_memory);
    }

    #[test]
    fn latest_by_wins_then_arrival_order() {
        let b1 = batch(
            &[1, 2, 1, 3],
            &[Some(5), None, Some(7), Some(1)],
            &["a", "a", "a", "a"],
            &[1, 2, 3, 4],
        );
        let b2 = batch(
            &[1, 2, 3, 3],
            &[Some(6), Some(0), None, Some(1)],
            &["b", "b", "b", "a"],
            &[1, 2, 3, 1],
        );
        let mut d = Deduper::new(&b1.schema(), &["k".into()], Some("v")).unwrap();
        d.push(&b1).unwrap();
        d.push(&b2).unwrap();
        // key 1: v=7 wins; key 2: v=0 beats null (NULLS LAST); key 3: v=1 twice, file
        // `a` line 4 vs file `a` line 1 -> line 4 (DESC); null v loses.
        assert_eq!(
            kept(d),
            vec![false, false, true, true, false, true, false, false]
        );
    }

    #[test]
    fn without_latest_by_the_last_file_and_line_win() {
        let b = batch(
            &[1, 1, 1, 2],
            &[None; 4],
            &["f-2", "f-10", "f-2", "x"],
            &[3, 9, 4, 1],
        );
        let mut d = Deduper::new(&b.schema(), &["k".into()], None).unwrap();
        d.push(&b).unwrap();
        // "f-2" > "f-10" as text; line 4 > line 3.
        assert_eq!(kept(d), vec![false, false, true, true]);
    }

    #[tokio::test]
    async fn kept_rows_reads_only_the_winners_and_reports_their_count() {
        let b = batch(
            &[1, 1, 2, 3, 3, 3],
            &[None; 6],
            &["f"; 6],
            &[1, 2, 3, 4, 5, 6],
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(4))
            .build();
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            b.schema(),
            Some(props),
        )
        .unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        let mut d = Deduper::new(&b.schema(), &["k".into()], None).unwrap();
        d.push(&b).unwrap();
        let keep = d.finish().unwrap();
        let ctx = crate::pipeline::new_session();
        let table = KeptRows::new(path, b.schema(), &keep).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let df = ctx
            .sql("SELECT k, _source_line FROM t ORDER BY k")
            .await
            .unwrap();
        let out = df.collect().await.unwrap();
        let lines: Vec<i64> = out
            .iter()
            .flat_map(|b| b.column(1).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        // Two row groups (4 + 2 rows); the last line of each key wins.
        assert_eq!(lines, vec![2, 3, 6]);
        let plan = ctx
            .table("t")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
        let stats = StatisticsContext::new()
            .compute(plan.as_ref(), &StatisticsArgs::new())
            .unwrap();
        assert_eq!(stats.num_rows, Precision::Exact(3));
    }
}
