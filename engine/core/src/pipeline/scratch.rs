//! The run's scratch space: temporary Parquet under `<lake>/_medallion/tmp/<run>` (or the
//! system temp folder for object-store lakes), and the staged files of tables not committed
//! yet. A failed run deletes both; committed files are no longer the run's to delete.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{new_null_array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::{Error, Result};
use crate::table::{self, Staged};

/// Temporary files and staged table files of one run.
pub struct Scratch {
    /// Folder of the run's temporary Parquet.
    pub tmp: PathBuf,
    staged: Vec<Staged>,
    /// Temporary Parquet shared with the cluster (uploaded copies under an S3 lake).
    shared: Vec<crate::cluster::Shared>,
}

impl Scratch {
    pub fn new(tmp: PathBuf) -> Self {
        Self {
            tmp,
            staged: Vec::new(),
            shared: Vec::new(),
        }
    }

    /// Remembers staged files to delete if the run fails before committing them.
    pub fn track(&mut self, staged: &Staged) {
        self.staged.push(staged.clone());
    }

    /// The table's staged files were committed (or consumed): no longer delete them.
    pub fn committed(&mut self, table: &str) {
        self.staged.retain(|s| s.name != table);
    }

    /// Remembers temporary files shared with the cluster, to delete at the end of the run.
    pub fn track_shared(&mut self, shared: crate::cluster::Shared) {
        self.shared.push(shared);
    }

    /// Fails when a file shared with the cluster is gone ([`crate::cluster::Shared::verify`]).
    pub async fn verify_shared(&self) -> Result<()> {
        for s in &self.shared {
            s.verify().await?;
        }
        Ok(())
    }

    /// Deletes what is left: staged files never committed, files shared with the cluster
    /// and the temporary folder.
    pub async fn discard(&mut self) {
        for s in self.staged.drain(..) {
            s.discard().await;
        }
        for mut s in self.shared.drain(..) {
            s.discard().await;
        }
        if self.tmp.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.tmp) {
                tracing::warn!(path = %self.tmp.display(), error = %e, "Could not delete the run's temporary files.");
            }
        }
    }
}

/// Projects a batch onto `schema` by column name: missing columns become null, types are cast.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().as_ref() == schema.as_ref() {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => Ok(cast(c, f.data_type())?),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// A Parquet file written by one of the run's temporary stages.
///
/// Read back once or twice on this machine: no compression, no min/max statistics (nothing
/// prunes on them), plain pages — but a dictionary for the columns whose values repeat
/// ([`repetitive_columns`], judged on the first batch), where it is far smaller than plain
/// values: the run's metadata (source file name and run id, one value per file or run, ~80
/// bytes a row as plain text), flags, codes, small quantities. Fewer bytes written is
/// fewer pages for the kernel to allocate and copy into, the larger cost of this file.
pub struct TempParquet {
    /// Created at the first batch, which decides the dictionaries (or at `close`).
    writer: Option<ArrowWriter<File>>,
    file: Option<File>,
    schema: SchemaRef,
    path: PathBuf,
    rows: u64,
}

impl TempParquet {
    /// The file's name in its folder.
    pub const FILE: &'static str = "part-0.parquet";

    pub fn create(dir: &Path, schema: &SchemaRef) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        let path = dir.join(Self::FILE);
        let file = File::create(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        Ok(Self {
            writer: None,
            file: Some(file),
            schema: schema.clone(),
            path,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        let path = self.path.display().to_string();
        self.writer(Some(batch))?
            .write(batch)
            .map_err(|e| Error::io(path, std::io::Error::other(e)))
    }

    /// The writer, created at the first call with dictionaries for `first`'s repetitive columns.
    fn writer(&mut self, first: Option<&RecordBatch>) -> Result<&mut ArrowWriter<File>> {
        if let Some(file) = self.file.take() {
            let mut dictionary = vec![
                crate::plan::SOURCE_FILE.to_string(),
                crate::plan::RUN_ID.to_string(),
            ];
            dictionary.extend(first.map(repetitive_columns).unwrap_or_default());
            let mut props = WriterProperties::builder()
                .set_max_row_group_row_count(Some(64 * 1024))
                .set_dictionary_enabled(false)
                .set_statistics_enabled(EnabledStatistics::None);
            for c in dictionary {
                let path = parquet::schema::types::ColumnPath::from(c);
                props = props.set_column_dictionary_enabled(path, true);
            }
            let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(props.build()))
                .map_err(|e| Error::Internal(e.to_string()))?;
            self.writer = Some(writer);
        }
        Ok(self.writer.as_mut().expect("the writer was just created"))
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn close(mut self) -> Result<u64> {
        let path = self.path.display().to_string();
        self.writer(None)?;
        let writer = self.writer.take().expect("the writer exists");
        writer
            .close()
            .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        Ok(self.rows)
    }
}

/// Fewest rows of a first batch to judge its columns by.
const JUDGED_ROWS: usize = 256;

/// The top-level columns of `batch` (of at least [`JUDGED_ROWS`] rows) with at most one
/// distinct value in 16 rows: a Parquet dictionary stores them in a few bits a value. A
/// column judged wrongly costs little: Parquet falls back to plain pages when a column's
/// dictionary outgrows its page (1 MiB).
pub fn repetitive_columns(batch: &RecordBatch) -> Vec<String> {
    let rows = batch.num_rows();
    if rows < JUDGED_ROWS {
        return Vec::new();
    }
    let limit = rows / 16;
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, c)| !f.data_type().is_nested() && distinct_at_most(c, limit))
        .map(|(f, _)| f.name().clone())
        .collect()
}

/// Whether `column` holds at most `limit` distinct values (nulls count as one).
fn distinct_at_most(column: &arrow::array::ArrayRef, limit: usize) -> bool {
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

/// A local folder as the URL DataFusion reads it by: a path string with `%` or non-ASCII
/// letters (a lake under `/home/josé/`) would be looked for at an encoded name.
pub fn dir_url(dir: &Path) -> Result<String> {
    url::Url::from_directory_path(dir)
        .map(|u| u.to_string())
        .map_err(|_| Error::Internal(format!("cannot make a URL of {}", dir.display())))
}

/// Streams a DataFrame into a temporary Parquet folder; returns the row count.
pub async fn materialize(df: DataFrame, dir: &Path) -> Result<u64> {
    let schema: SchemaRef = table::nullable(&Arc::new(df.schema().as_arrow().clone()));
    let mut out = TempParquet::create(dir, &schema)?;
    let mut stream = df.execute_stream().await?;
    while let Some(b) = stream.next().await {
        out.write(&conform(&b?, &schema)?)?;
    }
    out.close()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, ArrayRef, Int64Array, ListArray, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn batch(rows: usize, offset: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("flag", DataType::Utf8, true),
            Field::new("note", DataType::Utf8, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                true,
            ),
        ]));
        let id: ArrayRef = Arc::new(Int64Array::from_iter(
            (offset..offset + rows).map(|i| (i % 97 != 0).then_some(i as i64)),
        ));
        // Three values and nulls: repetitive. In a later batch `note` stops repeating.
        let flag: ArrayRef = Arc::new(StringArray::from_iter(
            (0..rows).map(|i| ["A", "N", "R"].get(i % 4).copied()),
        ));
        let note: ArrayRef = Arc::new(StringArray::from_iter_values((0..rows).map(
            |i| match offset {
                0 => format!("note {}", i % 5),
                _ => format!("a longer note that does not repeat, row {}", offset + i),
            },
        )));
        let tags: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
            (0..rows).map(|i| Some(vec![Some((i % 2) as i64)])),
        ));
        RecordBatch::try_new(schema, vec![id, flag, note, tags]).unwrap()
    }

    #[test]
    fn repeating_flat_columns_are_judged_repetitive_and_unique_or_nested_ones_are_not() {
        assert_eq!(repetitive_columns(&batch(4096, 0)), vec!["flag", "note"]);
        assert_eq!(
            repetitive_columns(&batch(4096, 1)),
            vec!["flag"],
            "`note` is unique here"
        );
        assert!(
            repetitive_columns(&batch(JUDGED_ROWS - 1, 0)).is_empty(),
            "too few rows to judge by"
        );
        // One distinct value in 16 rows is the limit.
        let limit = Arc::new(StringArray::from_iter_values(
            (0..1600).map(|i| (i % 100).to_string()),
        )) as ArrayRef;
        assert!(distinct_at_most(&limit, 100));
        assert!(!distinct_at_most(&limit, 99));
    }

    /// The first batch decides the dictionaries; later batches whose values no longer repeat
    /// (and nulls, lists) come back exactly as written, across row groups.
    #[test]
    fn a_temporary_file_reads_back_every_row_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let first = batch(4096, 0);
        let schema = first.schema();
        let mut file = TempParquet::create(dir.path(), &schema).unwrap();
        let mut written = vec![first];
        written.extend((1..40).map(|i| batch(4096, i * 4096)));
        for b in &written {
            file.write(b).unwrap();
        }
        file.write(&batch(0, 0)).unwrap();
        assert_eq!(file.close().unwrap(), 40 * 4096);
        let path = dir.path().join(TempParquet::FILE);
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata().clone();
        assert!(meta.num_row_groups() > 1, "several row groups");
        let encodings = |c: usize| meta.row_group(0).column(c).encodings().collect::<Vec<_>>();
        assert!(
            encodings(1).contains(&parquet::basic::Encoding::RLE_DICTIONARY),
            "`flag` has a dictionary: {:?}",
            encodings(1)
        );
        assert!(
            !encodings(0).contains(&parquet::basic::Encoding::RLE_DICTIONARY),
            "`id` is plain: {:?}",
            encodings(0)
        );
        let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let all = arrow::compute::concat_batches(&schema, &read).unwrap();
        let expected = arrow::compute::concat_batches(&schema, &written).unwrap();
        assert_eq!(all, expected);
        assert!(all.column(0).null_count() > 0);
    }

    #[test]
    fn a_temporary_file_without_rows_has_the_schema_and_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        let schema = batch(1, 0).schema();
        let file = TempParquet::create(dir.path(), &schema).unwrap();
        assert_eq!(file.close().unwrap(), 0);
        let path = dir.path().join(TempParquet::FILE);
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
        assert_eq!(reader.schema().fields().len(), 4);
    }
}
