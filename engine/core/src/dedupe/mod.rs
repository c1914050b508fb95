//! Silver's dedupe: one row per key, chosen while the typed rows stream past.
//!
//! The rows of a run are seen once, in the order they are written to the run's typed
//! temporary Parquet file. For every key the [`Deduper`] remembers only the current winner
//! (its position, its `latest_by` value and its arrival coordinates: [`table`]), so its
//! memory is one small entry per distinct key, never the rows themselves. At the end,
//! [`Deduper::finish`] gives the winners as a mask over the typed file's rows, and
//! [`KeptRows`] reads the file back with that mask as a Parquet row selection: rows that
//! lost are skipped, not decoded.
//!
//! With a memory budget ([`Deduper::with_budget`]), a table that outgrows it is spilled to
//! disk by key hash ([`spill`]) and the winners are chosen bucket by bucket, one bucket per
//! core at a time.
//!
//! The winner of a key is the row that sorts first by `latest_by DESC NULLS LAST`,
//! `_ingest_time DESC`, `_source_file DESC`, `_source_line DESC` (nulls of the last three
//! sort first, as SQL's `DESC` does); on a complete tie the later row wins.

use std::hash::BuildHasher;
use std::path::PathBuf;

use arrow::array::{Array, AsArray, BooleanArray, BooleanBufferBuilder, RecordBatch};
use arrow::compute::SortOptions;
use arrow::datatypes::{Int64Type, SchemaRef, TimestampMicrosecondType};
use arrow::row::{RowConverter, SortField};

use crate::error::{Error, Result};
use crate::plan::{INGEST_TIME, SOURCE_FILE, SOURCE_LINE};

mod choose;
mod kept;
mod spill;
mod table;

pub use kept::KeptRows;
use table::{Offered, Table};

/// Chooses one row per key over a stream of batches.
pub struct Deduper {
    key_columns: Vec<String>,
    latest_by: Option<String>,
    keys: RowConverter,
    latest: Option<RowConverter>,
    hasher: foldhash::fast::FixedState,
    table: Table,
    file_ids: hashbrown::HashMap<String, u32>,
    file_names: Vec<String>,
    last_file: Option<u32>,
    keep: BooleanBufferBuilder,
    /// Spill above this many bytes of table, into a new folder at this path.
    budget: Option<(usize, PathBuf)>,
    spill: Option<spill::Buckets>,
    /// Threads that choose the winners of a spill (one bucket each at a time).
    workers: usize,
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
            table: Table::with_capacity(capacity),
            file_ids: hashbrown::HashMap::new(),
            file_names: Vec::new(),
            last_file: None,
            keep: BooleanBufferBuilder::new(capacity),
            budget: None,
            spill: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        })
    }

    /// Keeps the table of winners under `bytes` (about): above it, rows are spilled to
    /// bucket files in a new folder `dir` (removed when done). Choosing the winners of a
    /// spill then holds, per worker (one per core, at most 8), the table of the largest
    /// bucket it took (about 1/64 of the table all keys would need), plus one bit per row.
    pub fn with_budget(mut self, bytes: usize, dir: PathBuf) -> Self {
        self.budget = Some((bytes, dir));
        self
    }

    /// Whether the dedupe spilled to disk.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Moves the table of winners to bucket files; later rows go there too.
    fn start_spill(&mut self, dir: &std::path::Path) -> Result<()> {
        let mut buckets = spill::Buckets::create(dir)?;
        for r in self.table.winners() {
            buckets.write(self.hasher.hash_one(r.key), &r)?;
        }
        tracing::info!(
            keys = buckets.records(),
            bytes = self.table.bytes(),
            "Dedupe table over its memory budget: spilling to disk."
        );
        // The buckets take over: the table's memory is given back.
        self.table = Table::default();
        self.spill = Some(buckets);
        Ok(())
    }

    /// Offers row `r` to the table, and marks the winners in `keep`.
    fn offer(&mut self, hash: u64, r: &RowInfo<'_>) {
        let hasher = &self.hasher;
        match self
            .table
            .offer(hash, r, |k| hasher.hash_one(k), &self.file_names)
        {
            Offered::New => self.keep.set_bit(r.row as usize, true),
            Offered::Replaced(old) => {
                self.keep.set_bit(old as usize, false);
                self.keep.set_bit(r.row as usize, true);
            }
            Offered::Lost => {}
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
                Some(a) => self.file_id(a.value(i)),
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
            if self.spill.is_none() && self.table.bytes() > *bytes {
                let dir = dir.clone();
                self.start_spill(&dir)?;
            }
        }
        Ok(())
    }

    /// The id of a `_source_file` name (rows of one file come in runs: the last one is
    /// checked first).
    fn file_id(&mut self, name: &str) -> u32 {
        if let Some(id) = self
            .last_file
            .filter(|&id| self.file_names[id as usize] == name)
        {
            return id;
        }
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

    /// The winners, as a mask over all rows seen (one per distinct key).
    pub fn finish(mut self) -> Result<BooleanArray> {
        let Some(buckets) = self.spill.take() else {
            return Ok(BooleanArray::new(self.keep.finish(), None));
        };
        tracing::info!(
            rows = buckets.records(),
            buckets = spill::BUCKETS,
            workers = self.workers.max(1),
            "Dedupe: choosing the winners of the spilled rows, bucket by bucket."
        );
        // Every row that can still win is in a bucket: the winners at the spill and every
        // row after it (a row that had lost before the spill lost to one of those). So the
        // mask is the buckets' winners and nothing else.
        let rows = self.keep.len();
        self.keep = BooleanBufferBuilder::new(0);
        let mask = choose::winners(buckets, rows, self.workers, &self.hasher, &self.file_names)?;
        Ok(BooleanArray::new(mask, None))
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::stats::Precision;

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
        let run = |budget: Option<usize>, workers: usize| {
            let dir = tempfile::tempdir().unwrap();
            let mut d = Deduper::new(&schema, &["k".into()], Some("v")).unwrap();
            d.workers = workers;
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
        let in_memory = run(None, 1);
        let keys: std::collections::HashSet<i64> = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(in_memory.iter().filter(|k| **k).count(), keys.len());
        // Spilled after the first batch (both budgets are below one batch of keys); the
        // buckets' winners chosen on one thread and on several.
        // 0 workers counts as one.
        for workers in [0, 1, 2, 5] {
            assert_eq!(run(Some(20_000), workers), in_memory, "{workers} workers");
            assert_eq!(run(Some(0), workers), in_memory, "{workers} workers");
        }
    }

    #[test]
    fn a_bucket_read_back_short_fails_the_dedupe_and_names_the_file() {
        // A record here is 63 bytes (16 of lengths and hash, 9 + 9 of key and `latest_by`
        // row bytes, 29 of tie-breakers): cutting exactly one leaves whole records (only the
        // count check sees it); cutting 10 bytes breaks the last record (the read fails).
        for (cut, says) in [(63, "read back"), (10, "failed to fill whole buffer")] {
            let batches = mixed_batches(4);
            let dir = tempfile::tempdir().unwrap();
            let spill = dir.path().join("spill");
            let mut d = Deduper::new(&batches[0].schema(), &["k".into()], Some("v"))
                .unwrap()
                .with_budget(0, spill.clone());
            d.workers = 2;
            for b in &batches {
                d.push(b).unwrap();
            }
            // The buckets are flushed when the winners are chosen: flush, then cut one.
            d.spill.as_mut().unwrap().flush().unwrap();
            let victim = (0..spill::BUCKETS)
                .map(|b| spill.join(format!("bucket-{b:02}")))
                .find(|p| std::fs::metadata(p).unwrap().len() > 200)
                .unwrap();
            let len = std::fs::metadata(&victim).unwrap().len();
            assert_eq!(len % 63, 0, "whole 63-byte records");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&victim)
                .unwrap()
                .set_len(len - cut)
                .unwrap();
            let err = d.finish().unwrap_err().to_string();
            assert!(
                err.contains(&victim.display().to_string())
                    && err.contains("dedupe's spill")
                    && err.contains(says),
                "cut {cut}: {err}"
            );
            assert!(
                !spill.exists(),
                "the spill folder is removed on failure too"
            );
        }
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
        let table =
            KeptRows::new(path, b.schema(), &keep, b.get_array_memory_size() as u64).unwrap();
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
