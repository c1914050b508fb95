//! A Parquet file written by one of the run's temporary stages (Silver's typed rows, rows a
//! set rule kept, incremental Gold's state), read back once or twice on this machine.
//!
//! No compression, no min/max statistics (nothing prunes on them), plain pages — but a
//! dictionary for the columns whose values repeat ([`repetitive_columns`], judged on the
//! first [`JUDGED_ROWS`] rows), where it is far smaller than plain values: the run's metadata
//! (source file name and run id, one value per file or run, ~80 bytes a row as plain text),
//! flags, codes, small quantities. Fewer bytes written is fewer pages for the kernel to
//! allocate and copy into, which on a VM can cost more than encoding the file
//! (engine/ARCHITECTURE.md, "Performance decisions").

use std::path::{Path, PathBuf};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::direct_io::DirectWriter;
use crate::error::{Error, Result};

/// Rows a column is judged by: the first ones written (all of them in a smaller file).
pub const JUDGED_ROWS: usize = 4096;

/// Fewest rows to judge by: fewer, and no column gets a dictionary but the metadata's.
const FEWEST_JUDGED: usize = 256;

/// Rows of a row group.
const ROW_GROUP: usize = 64 * 1024;

/// A dictionary's largest page: past it the column's chunk continues in plain pages. A
/// repetitive column (at most one distinct value in 16 rows: 4,096 in a row group) of
/// values up to 12 bytes (a string's length takes 4 more) fits a row group's dictionary in
/// it. A column judged repetitive wrongly (it repeats only at first) falls back after 8 Ki
/// values of 8 bytes or 16 Ki of 4: at most 5% (tested) and 11% (measured) more room than
/// plain pages.
const DICTIONARY_PAGE: usize = ROW_GROUP / 16 * 16;

pub struct TempParquet {
    /// Created once [`JUDGED_ROWS`] rows have come (or at `close`).
    writer: Option<ArrowWriter<DirectWriter>>,
    /// Past the page cache where the file system allows it ([`crate::direct_io`]).
    file: Option<DirectWriter>,
    /// Batches waiting for the judgement.
    pending: Vec<RecordBatch>,
    schema: SchemaRef,
    path: PathBuf,
    rows: u64,
    arrow_bytes: u64,
    /// A write failed: the file misses rows, nothing more goes in.
    failed: bool,
}

impl TempParquet {
    /// The file's name in its folder.
    pub const FILE: &'static str = "part-0.parquet";

    pub fn create(dir: &Path, schema: &SchemaRef) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        let path = dir.join(Self::FILE);
        let file =
            DirectWriter::create(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        Ok(Self {
            writer: None,
            file: Some(file),
            pending: Vec::new(),
            schema: schema.clone(),
            path,
            rows: 0,
            arrow_bytes: 0,
            failed: false,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.usable()?;
        self.rows += batch.num_rows() as u64;
        self.arrow_bytes += batch.get_array_memory_size() as u64;
        let written = match self.writer.is_some() {
            true => self.append(batch),
            false => {
                self.pending.push(batch.clone());
                match self.rows as usize >= JUDGED_ROWS {
                    true => self.open(),
                    false => Ok(()),
                }
            }
        };
        self.failed = written.is_err();
        written
    }

    /// An error once a write has failed (the file would miss rows).
    fn usable(&self) -> Result<()> {
        match self.failed {
            true => Err(Error::Internal(format!(
                "the temporary file {} stopped at an earlier error; it takes no more rows",
                self.path.display()
            ))),
            false => Ok(()),
        }
    }

    /// Rows taken so far (written, or waiting for the judgement until `close` at the latest).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The rows' size in memory as Arrow arrays (what a scan of the file gives back, which
    /// the file's own size, with its dictionaries, understates).
    pub fn arrow_bytes(&self) -> u64 {
        self.arrow_bytes
    }

    pub fn close(mut self) -> Result<u64> {
        self.usable()?;
        if self.writer.is_none() {
            self.open()?;
        }
        let path = self.path.display().to_string();
        let Some(writer) = self.writer.take() else {
            return Err(Error::Internal(format!("{path} has no writer")));
        };
        // The footer, then the buffer's rest (the writer's own close would drop it).
        let file = writer
            .into_inner()
            .map_err(|e| Error::io(path.clone(), std::io::Error::other(e)))?;
        file.finish().map_err(|e| Error::io(path, e))?;
        Ok(self.rows)
    }

    /// Judges the columns on the pending rows, creates the writer and writes them.
    fn open(&mut self) -> Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let pending = std::mem::take(&mut self.pending);
        // Rows the writer takes but `concat` refuses (a list's item named otherwise): judged
        // on the first batch alone.
        let repetitive = match first_rows(&self.schema, &pending, JUDGED_ROWS) {
            Ok(first) => repetitive_columns(&first),
            Err(_) => pending.first().map(repetitive_columns).unwrap_or_default(),
        };
        let column = parquet::schema::types::ColumnPath::from;
        let mut props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_dictionary_enabled(false)
            .set_dictionary_page_size_limit(DICTIONARY_PAGE)
            .set_statistics_enabled(EnabledStatistics::None);
        // The metadata's names are long and there may be many files in a row group: a
        // dictionary as large as Parquet's default page.
        for c in [crate::plan::SOURCE_FILE, crate::plan::RUN_ID] {
            props = props
                .set_column_dictionary_enabled(column(c.to_string()), true)
                .set_column_dictionary_page_size_limit(column(c.to_string()), 1 << 20);
        }
        for c in repetitive {
            props = props.set_column_dictionary_enabled(column(c), true);
        }
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(props.build()))
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.writer = Some(writer);
        pending.iter().try_for_each(|b| self.append(b))
    }

    fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let path = &self.path;
        let Some(writer) = self.writer.as_mut() else {
            return Err(Error::Internal(format!("{} has no writer", path.display())));
        };
        writer
            .write(batch)
            .map_err(|e| Error::io(path.display().to_string(), std::io::Error::other(e)))
    }
}

/// The first `n` rows of `batches` (copied: at most `n` rows).
fn first_rows(schema: &SchemaRef, batches: &[RecordBatch], n: usize) -> Result<RecordBatch> {
    let mut left = n;
    let mut parts = Vec::new();
    for b in batches {
        if left == 0 {
            break;
        }
        let take = b.num_rows().min(left);
        parts.push(b.slice(0, take));
        left -= take;
    }
    Ok(arrow::compute::concat_batches(schema, &parts)?)
}

/// The top-level columns with at most one distinct value in 16 of the first [`JUDGED_ROWS`]
/// rows of `batch` (none when it has fewer than 256 rows): a Parquet dictionary stores them
/// in a few bits a value.
pub fn repetitive_columns(batch: &RecordBatch) -> Vec<String> {
    let rows = batch.num_rows().min(JUDGED_ROWS);
    if rows < FEWEST_JUDGED {
        return Vec::new();
    }
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, c)| {
            !f.data_type().is_nested() && distinct_at_most(&c.slice(0, rows), rows / 16)
        })
        .map(|(f, _)| f.name().clone())
        .collect()
}

/// Whether `column` holds at most `limit` distinct values (nulls count as one).
fn distinct_at_most(column: &ArrayRef, limit: usize) -> bool {
    use arrow::row::{RowConverter, SortField};
    // A type the row format does not take is written plain, as every column was before.
    let Ok(converter) = RowConverter::new(vec![SortField::new(column.data_type().clone())]) else {
        return false;
    };
    let Ok(rows) = converter.convert_columns(std::slice::from_ref(column)) else {
        return false;
    };
    let mut seen = hashbrown::HashSet::with_capacity(limit + 1);
    for r in rows.iter() {
        seen.insert(r.data());
        if seen.len() > limit {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{
        Array, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
        LargeStringArray, ListArray, StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Encoding;
    use std::fs::File;

    /// `offset` 0: `note` and `k` repeat; later offsets: both unique.
    fn batch(rows: usize, offset: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("flag", DataType::Utf8, true),
            Field::new("note", DataType::Utf8, true),
            Field::new("k", DataType::Int64, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                true,
            ),
        ]));
        let unique = offset > 0;
        let id: ArrayRef = Arc::new(Int64Array::from_iter(
            (offset..offset + rows).map(|i| (i % 97 != 0).then_some(i as i64)),
        ));
        // Three values and nulls: repetitive everywhere.
        let flag: ArrayRef = Arc::new(StringArray::from_iter(
            (0..rows).map(|i| ["A", "N", "R"].get(i % 4).copied()),
        ));
        let note: ArrayRef = Arc::new(StringArray::from_iter_values((0..rows).map(
            |i| match unique {
                false => format!("note {}", i % 5),
                true => format!("a longer note that does not repeat, row {}", offset + i),
            },
        )));
        let k: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows).map(|i| {
            if unique {
                (offset + i) as i64 * 7919
            } else {
                (i % 9) as i64
            }
        })));
        let tags: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
            (0..rows).map(|i| Some(vec![Some((i % 2) as i64)])),
        ));
        RecordBatch::try_new(schema, vec![id, flag, note, k, tags]).unwrap()
    }

    fn write(dir: &Path, batches: &[RecordBatch]) -> PathBuf {
        let mut file = TempParquet::create(dir, &batches[0].schema()).unwrap();
        for b in batches {
            file.write(b).unwrap();
        }
        let bytes: usize = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| b.get_array_memory_size())
            .sum();
        assert_eq!(file.arrow_bytes(), bytes as u64);
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(file.close().unwrap(), rows as u64);
        dir.join(TempParquet::FILE)
    }

    fn read(path: &Path) -> (parquet::file::metadata::ParquetMetaData, Vec<RecordBatch>) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
        let meta = reader.metadata().as_ref().clone();
        (meta, reader.build().unwrap().map(|b| b.unwrap()).collect())
    }

    fn dictionary(meta: &parquet::file::metadata::ParquetMetaData, group: usize, c: usize) -> bool {
        let encodings: Vec<_> = meta.row_group(group).column(c).encodings().collect();
        encodings.contains(&Encoding::RLE_DICTIONARY)
    }

    #[test]
    fn repeating_flat_columns_are_judged_repetitive_and_unique_or_nested_ones_are_not() {
        assert_eq!(
            repetitive_columns(&batch(4096, 0)),
            vec!["flag", "note", "k"]
        );
        assert_eq!(
            repetitive_columns(&batch(4096, 1)),
            vec!["flag"],
            "unique here"
        );
        assert!(
            repetitive_columns(&batch(FEWEST_JUDGED - 1, 0)).is_empty(),
            "too few rows to judge by"
        );
        // Only the first JUDGED_ROWS rows are looked at.
        let long = arrow::compute::concat_batches(
            &batch(1, 0).schema(),
            &[batch(JUDGED_ROWS, 0), batch(JUDGED_ROWS, 1)],
        )
        .unwrap();
        assert_eq!(repetitive_columns(&long), vec!["flag", "note", "k"]);
        // One distinct value in 16 rows is the limit.
        let limit = Arc::new(StringArray::from_iter_values(
            (0..1600).map(|i| (i % 100).to_string()),
        )) as ArrayRef;
        assert!(distinct_at_most(&limit, 100));
        assert!(!distinct_at_most(&limit, 99));
    }

    /// The first rows decide the dictionaries; later batches whose values no longer repeat
    /// (and nulls, lists) come back exactly as written, across row groups.
    #[test]
    fn a_temporary_file_reads_back_every_row_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut written = vec![batch(4096, 0)];
        written.extend((1..40).map(|i| batch(4096, i * 4096)));
        written.push(batch(0, 0));
        let (meta, read) = read(&write(dir.path(), &written));
        assert!(meta.num_row_groups() > 1, "several row groups");
        assert!(dictionary(&meta, 0, 1), "`flag` has a dictionary");
        assert!(dictionary(&meta, 1, 1), "in every row group");
        assert!(!dictionary(&meta, 0, 0), "`id` is plain");
        let schema = written[0].schema();
        let all = arrow::compute::concat_batches(&schema, &read).unwrap();
        assert_eq!(
            all,
            arrow::compute::concat_batches(&schema, &written).unwrap()
        );
        assert!(all.column(0).null_count() > 0);
    }

    /// A first batch too small to judge by waits for the next ones.
    #[test]
    fn the_judgement_waits_for_enough_rows() {
        let dir = tempfile::tempdir().unwrap();
        let written = vec![batch(10, 0), batch(8192, 0), batch(8192, 0)];
        let (meta, read) = read(&write(dir.path(), &written));
        assert!(dictionary(&meta, 0, 1), "`flag` has a dictionary");
        let schema = written[0].schema();
        assert_eq!(
            arrow::compute::concat_batches(&schema, &read).unwrap(),
            arrow::compute::concat_batches(&schema, &written).unwrap()
        );
        // A file closed before enough rows came: judged on what came, every row written.
        let dir = tempfile::tempdir().unwrap();
        let written = vec![batch(300, 0), batch(300, 0), batch(10, 0)];
        let (meta, small) = super::tests::read(&write(dir.path(), &written));
        assert!(dictionary(&meta, 0, 1), "`flag` has a dictionary");
        assert_eq!(
            arrow::compute::concat_batches(&schema, &small).unwrap(),
            arrow::compute::concat_batches(&schema, &written).unwrap()
        );
    }

    /// `k` repeats in the first rows, then every value is new: its dictionary is given up
    /// early in each row group, so its chunks are hardly larger than plain ones.
    #[test]
    fn a_column_judged_repetitive_wrongly_costs_little_room() {
        let mut written = vec![batch(JUDGED_ROWS, 0)];
        written.extend((1..48).map(|i| batch(4096, i * 4096)));
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &written);
        let plain_dir = tempfile::tempdir().unwrap();
        let plain_path = plain_dir.path().join("plain.parquet");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .build();
        let mut plain = ArrowWriter::try_new(
            File::create(&plain_path).unwrap(),
            written[0].schema(),
            Some(props),
        )
        .unwrap();
        written.iter().for_each(|b| plain.write(b).unwrap());
        plain.close().unwrap();
        let (plain_meta, _) = read(&plain_path);
        let (meta, read) = read(&path);
        assert!(dictionary(&meta, 0, 3), "`k` was judged repetitive");
        for group in 1..meta.num_row_groups() {
            let size = meta.row_group(group).column(3).compressed_size();
            let plain_size = plain_meta.row_group(group).column(3).compressed_size();
            assert!(
                size as f64 <= plain_size as f64 * 1.05,
                "row group {group}: `k` takes {size} bytes against {plain_size} plain"
            );
        }
        let schema = written[0].schema();
        assert_eq!(
            arrow::compute::concat_batches(&schema, &read).unwrap(),
            arrow::compute::concat_batches(&schema, &written).unwrap()
        );
    }

    /// A write that fails leaves the file missing rows: every later call is refused.
    #[test]
    fn after_a_failed_write_the_file_takes_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let good = batch(JUDGED_ROWS, 0);
        let mut file = TempParquet::create(dir.path(), &good.schema()).unwrap();
        // `id` as text where the file holds integers.
        let bad_schema = Arc::new(Schema::new(
            good.schema()
                .fields()
                .iter()
                .map(|f| match f.name().as_str() {
                    "id" => Field::new("id", DataType::Utf8, true),
                    _ => f.as_ref().clone(),
                })
                .collect::<Vec<_>>(),
        ));
        let mut columns = good.columns().to_vec();
        columns[0] = Arc::new(StringArray::from_iter_values(
            (0..good.num_rows()).map(|i| i.to_string()),
        ));
        let bad = RecordBatch::try_new(bad_schema, columns).unwrap();
        assert!(file.write(&bad).is_err());
        let again = file.write(&good).unwrap_err().to_string();
        assert!(again.contains("earlier error"), "{again}");
        assert!(file.close().is_err());
    }

    #[test]
    fn a_temporary_file_without_rows_has_the_schema_and_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        let schema = batch(1, 0).schema();
        let file = TempParquet::create(dir.path(), &schema).unwrap();
        assert_eq!(file.close().unwrap(), 0);
        let (meta, read) = read(&dir.path().join(TempParquet::FILE));
        assert_eq!(meta.file_metadata().num_rows(), 0);
        assert!(read.is_empty());
    }

    /// Many types, repetitive first and unique after, read back through a row mask the way
    /// Silver reads its dedupe's winners ([`crate::dedupe::KeptRows`]): exactly the rows
    /// `filter` keeps.
    #[tokio::test]
    async fn kept_rows_of_a_temporary_file_are_the_masked_rows() {
        let typed = |rows: usize, offset: usize| -> RecordBatch {
            let unique = offset > 0;
            let v = |i: usize| if unique { offset + i } else { i % 7 };
            let schema = Arc::new(Schema::new(vec![
                Field::new("s", DataType::Utf8, true),
                Field::new("ls", DataType::LargeUtf8, true),
                Field::new("b", DataType::Binary, true),
                Field::new("i", DataType::Int64, true),
                Field::new("f", DataType::Float64, true),
                Field::new("d", DataType::Decimal128(38, 2), true),
                Field::new(
                    "t",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+02:00".into())),
                    true,
                ),
                Field::new("day", DataType::Date32, true),
                Field::new("ok", DataType::Boolean, true),
                Field::new("none", DataType::Utf8, true),
            ]));
            let floats = [f64::NAN, -0.0, 0.0, 1.5, f64::INFINITY];
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter(
                    (0..rows).map(|i| (i % 5 != 0).then(|| format!("s{}", v(i)))),
                )),
                Arc::new(LargeStringArray::from_iter_values(
                    (0..rows).map(|i| "x".repeat(v(i) % 300)),
                )),
                Arc::new(BinaryArray::from_iter_values(
                    (0..rows).map(|i| (v(i) as u32).to_le_bytes()),
                )),
                Arc::new(Int64Array::from_iter_values(
                    (0..rows).map(|i| v(i) as i64 - 3),
                )),
                Arc::new(Float64Array::from_iter_values((0..rows).map(
                    |i| match unique {
                        false => floats[i % floats.len()],
                        true => v(i) as f64 / 3.0,
                    },
                ))),
                Arc::new(
                    Decimal128Array::from_iter_values(
                        (0..rows).map(|i| v(i) as i128 * 10_i128.pow(30)),
                    )
                    .with_precision_and_scale(38, 2)
                    .unwrap(),
                ),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(
                        (0..rows).map(|i| v(i) as i64 * 1_000_003),
                    )
                    .with_timezone("+02:00"),
                ),
                Arc::new(Date32Array::from_iter_values(
                    (0..rows).map(|i| v(i) as i32),
                )),
                Arc::new(BooleanArray::from_iter(
                    (0..rows).map(|i| (i % 3 != 0).then_some(i % 2 == 0)),
                )),
                Arc::new(StringArray::new_null(rows)),
            ];
            RecordBatch::try_new(schema, columns).unwrap()
        };
        let mut written = vec![typed(JUDGED_ROWS, 0)];
        written.extend((1..24).map(|i| typed(5000, i * 5000)));
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &written);
        let schema = written[0].schema();
        let all = arrow::compute::concat_batches(&schema, &written).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let keep = BooleanArray::from_iter((0..all.num_rows()).map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Runs kept and runs skipped, and single rows of each.
            Some(match (i / 1500) % 3 {
                0 => seed % 3 != 0,
                1 => false,
                _ => true,
            })
        }));
        let expected = arrow::compute::filter_record_batch(&all, &keep).unwrap();
        let bytes = all.get_array_memory_size() as u64;
        let kept =
            crate::dedupe::KeptRows::new(path.clone(), schema.clone(), &keep, bytes).unwrap();
        let ctx = crate::pipeline::new_session();
        ctx.register_table("t", Arc::new(kept)).unwrap();
        let read = ctx.table("t").await.unwrap().collect().await.unwrap();
        let got = arrow::compute::concat_batches(&schema, &read).unwrap();
        // DataFusion may split the file across cores: compare as sets of rows, in order of `i`
        // (unique past the first batch) and then the rest.
        assert_eq!(got.num_rows(), expected.num_rows());
        let sorted = |b: &RecordBatch| {
            let order = arrow::compute::lexsort_to_indices(
                &b.columns()
                    .iter()
                    .take(9)
                    .map(|c| arrow::compute::SortColumn {
                        values: c.clone(),
                        options: None,
                    })
                    .collect::<Vec<_>>(),
                None,
            )
            .unwrap();
            arrow::compute::take_record_batch(b, &order).unwrap()
        };
        assert_eq!(sorted(&got), sorted(&expected));
        // Without a mask: every row (Silver's typed rows when it does not deduplicate).
        let rows = all.num_rows() as u64;
        let every = crate::dedupe::KeptRows::all(path, schema.clone(), rows, bytes).unwrap();
        ctx.register_table("every", Arc::new(every)).unwrap();
        let read = ctx.table("every").await.unwrap().collect().await.unwrap();
        let got = arrow::compute::concat_batches(&schema, &read).unwrap();
        assert_eq!(sorted(&got), sorted(&all));
    }
}
