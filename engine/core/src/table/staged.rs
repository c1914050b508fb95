//! Files written to a table but not committed yet, and their atomic commit.

use std::collections::HashMap;

use arrow::datatypes::SchemaRef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use object_store::ObjectStoreExt as _;
use url::Url;

use super::properties::updated_metadata;
use super::Location;
use crate::error::{Error, Result};

/// Files written to a table folder but not yet committed.
pub struct StagedWrite {
    pub name: String,
    pub location: Location,
    pub schema: SchemaRef,
    writer: RecordBatchWriter,
    pub rows: u64,
    /// Table properties set when the table is created (e.g. `medallion.layer`).
    pub properties: HashMap<String, String>,
}

impl StagedWrite {
    pub fn new(name: &str, location: &Location, schema: SchemaRef) -> Result<Self> {
        crate::direct_io::register_store();
        location.ensure_local_dir()?;
        let writer = RecordBatchWriter::try_new(
            location.url.as_str(),
            schema.clone(),
            None,
            Some(location.options.clone()),
        )
        .map_err(|e| Error::table(name, e))?;
        Ok(Self {
            name: name.to_string(),
            location: location.clone(),
            schema,
            writer,
            rows: 0,
            properties: HashMap::new(),
        })
    }

    /// Bronze's raw text: Parquet dictionaries only for the `dictionary` (repetitive) columns,
    /// and column statistics (min/max, null counts: the Delta file statistics) only for the
    /// `statistics` columns (Bronze's metadata, [`crate::plan::BRONZE_META`]). The data
    /// columns are near-unique text: a dictionary is built only to be abandoned, and min/max
    /// of long strings cost CPU that no reader of Bronze uses (Silver reads Bronze by version
    /// and file, retention by `_ingest_time`) and put raw values (personal data) into the
    /// Delta log; every file keeps its row count. Pages are compressed with zstd at level 1
    /// (parquet's default zstd level, its fastest): raw text is 42% smaller than with Snappy
    /// (SF 1 lineitem: 239 against 410 MiB), and on the benchmark VM the bytes not written
    /// save more system time than zstd costs in user time (engine/ARCHITECTURE.md,
    /// "Performance decisions" 3).
    /// The statistics are not truncated (Parquet truncates to 64 bytes by default): Bronze's
    /// file bookmark (`pipeline/bookmark.rs`) reads a data file's one `_source_file` from its
    /// minimum and maximum, and an S3 source's name (`s3://bucket/key#<ETag>`) is longer.
    pub fn raw_text(mut self, dictionary: &[&str], statistics: &[&str]) -> Self {
        use parquet::file::properties::EnabledStatistics;
        use parquet::schema::types::ColumnPath;
        let mut props = parquet::file::properties::WriterProperties::builder()
            .set_created_by(format!("medallion {}", env!("CARGO_PKG_VERSION")))
            .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_statistics_truncate_length(None);
        for c in dictionary {
            props = props.set_column_dictionary_enabled(ColumnPath::from(*c), true);
        }
        for c in statistics {
            props =
                props.set_column_statistics_enabled(ColumnPath::from(*c), EnabledStatistics::Chunk);
        }
        self.writer = self.writer.with_writer_properties(props.build());
        self
    }

    /// Table properties to set if the commit creates the table.
    pub fn with_properties(mut self, properties: HashMap<String, String>) -> Self {
        self.properties = properties;
        self
    }

    pub async fn write(&mut self, batch: arrow::array::RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .await
            .map_err(|e| Error::table(&self.name, e))
    }

    /// Closes the files; returns their add actions (to commit, or to [`discard`]).
    pub async fn finish(mut self) -> Result<Staged> {
        let adds = self
            .writer
            .flush()
            .await
            .map_err(|e| Error::table(&self.name, e))?;
        Ok(Staged {
            name: self.name,
            location: self.location,
            schema: self.schema,
            adds,
            rows: self.rows,
            properties: self.properties,
        })
    }
}

/// Closed, uncommitted files of one table.
#[derive(Clone)]
pub struct Staged {
    pub name: String,
    pub location: Location,
    pub schema: SchemaRef,
    pub adds: Vec<Add>,
    pub rows: u64,
    /// Table properties set if the commit creates the table.
    pub properties: HashMap<String, String>,
}

impl Staged {
    /// URLs of the staged files.
    pub fn file_urls(&self) -> Vec<Url> {
        self.adds
            .iter()
            .map(|a| {
                // A staged path is one we wrote: it always joins onto the table URL.
                self.location
                    .url
                    .join(&a.path)
                    .unwrap_or_else(|e| panic!("staged file {} of {}: {e}", a.path, self.name))
            })
            .collect()
    }

    /// Deletes the staged files (a run that failed before its commits).
    pub async fn discard(&self) {
        let Ok((store, root)) = self.location.object_store() else {
            return;
        };
        for a in &self.adds {
            let path = object_store::path::Path::from(
                format!(
                    "{}/{}",
                    root.as_ref().trim_end_matches('/'),
                    percent_decode(&a.path)
                )
                .trim_start_matches('/'),
            );
            let _ = store.delete(&path).await;
        }
    }

    /// Commits the staged files as one new table version (creating the table on first
    /// commit, and evolving its schema when the staged schema adds columns), together with
    /// application transactions (bookmarks, e.g. Kafka offsets) in the same atomic commit. Returns the
    /// table at the new version, or the unchanged table when nothing was staged.
    pub async fn commit(
        self,
        existing: Option<DeltaTable>,
        app_metadata: HashMap<String, serde_json::Value>,
        txns: Vec<Transaction>,
    ) -> Result<Option<DeltaTable>> {
        self.commit_with(existing, app_metadata, txns, None).await
    }

    /// Like [`Staged::commit`], but commits exactly on top of the version `existing` was read
    /// at: with `max_retries = Some(0)` the commit fails if any other commit landed since, so
    /// that a check made on that version (e.g. of a bookmark) still holds when it commits.
    pub async fn commit_with(
        self,
        existing: Option<DeltaTable>,
        app_metadata: HashMap<String, serde_json::Value>,
        txns: Vec<Transaction>,
        max_retries: Option<usize>,
    ) -> Result<Option<DeltaTable>> {
        let name = self.name.clone();
        if self.adds.is_empty() && txns.is_empty() && existing.is_some() {
            return Ok(existing);
        }
        let mut props = CommitProperties::default()
            .with_metadata(app_metadata)
            .with_application_transactions(txns);
        if let Some(n) = max_retries {
            props = props.with_max_retries(n);
        }
        let actions: Vec<Action> = self.adds.into_iter().map(Action::Add).collect();
        let kernel_schema: StructType = self
            .schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| Error::table(&name, e.into()))?;
        match existing {
            None => {
                self.location.ensure_local_dir()?;
                let table = CreateBuilder::new()
                    .with_location(self.location.url.as_str())
                    .with_storage_options(self.location.options.clone())
                    .with_configuration(
                        self.properties
                            .clone()
                            .into_iter()
                            .map(|(k, v)| (k, Some(v))),
                    )
                    .with_raise_if_key_not_exists(false)
                    .with_table_name(name.clone())
                    .with_columns(kernel_schema.fields().cloned())
                    .with_actions(actions)
                    .with_commit_properties(props)
                    .await
                    .map_err(|e| Error::table(&name, e))?;
                Ok(Some(table))
            }
            Some(mut table) => {
                let mut actions = actions;
                if let Some(metadata) =
                    updated_metadata(&table, &kernel_schema, &self.properties, &name)?
                {
                    actions.push(Action::Metadata(metadata));
                }
                let op = DeltaOperation::Write {
                    mode: SaveMode::Append,
                    partition_by: None,
                    predicate: None,
                };
                let done = CommitBuilder::from(props)
                    .with_actions(actions)
                    .build(Some(table.snapshot()?), table.log_store(), op)
                    .await
                    .map_err(|e| Error::table(&name, e))?;
                // Exactly the version this commit made (not the latest: another writer may
                // have committed since), so that what is reported about it is about it.
                table.state = Some(done.snapshot);
                Ok(Some(table))
            }
        }
    }
}

/// A Delta add path (percent-encoded) as a path on storage; a `%` not followed by two hex
/// digits stays as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: Option<&u8>| b.and_then(|c| (*c as char).to_digit(16));
        if let (b'%', Some(hi), Some(lo)) = (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2)))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;
    use super::StagedWrite;

    /// Raw text keeps Delta statistics (min/max, null counts) of the metadata columns only,
    /// and the row count of every file.
    #[tokio::test]
    async fn raw_text_has_statistics_of_the_metadata_columns_only() {
        use arrow::array::{Int64Array, RecordBatch, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        let dir = tempfile::tempdir().unwrap();
        let loc = super::Location::local(&dir.path().join("t")).unwrap();
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("_source_file", DataType::Utf8, true),
            Field::new("_source_line", DataType::Int64, true),
            Field::new("_private", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                std::sync::Arc::new(StringArray::from(vec![Some("zed"), None, Some("amy")])),
                std::sync::Arc::new(StringArray::from(vec!["a.ndjson"; 3])),
                std::sync::Arc::new(Int64Array::from(vec![1, 2, 3])),
                std::sync::Arc::new(StringArray::from(vec!["x"; 3])),
            ],
        )
        .unwrap();
        let mut w = StagedWrite::new("t", &loc, schema)
            .unwrap()
            .raw_text(&["_source_file"], &["_source_file", "_source_line"]);
        w.write(batch).await.unwrap();
        let staged = w.finish().await.unwrap();
        let stats: serde_json::Value =
            serde_json::from_str(staged.adds[0].stats.as_deref().unwrap()).unwrap();
        assert_eq!(stats["numRecords"], 3, "{stats}");
        assert_eq!(stats["minValues"]["_source_line"], 1, "{stats}");
        assert_eq!(stats["maxValues"]["_source_file"], "a.ndjson", "{stats}");
        assert!(stats["minValues"].get("name").is_none(), "{stats}");
        assert!(stats["nullCount"].get("name").is_none(), "{stats}");
        assert!(stats["maxValues"].get("_private").is_none(), "{stats}");
        // Every column chunk is zstd-compressed (level 1).
        let path = dir
            .path()
            .join("t")
            .join(super::percent_decode(&staged.adds[0].path));
        let file = std::fs::File::open(&path).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(
            &parquet::file::reader::SerializedFileReader::new(file).unwrap(),
        )
        .clone();
        for c in meta.row_group(0).columns() {
            let zstd = parquet::basic::Compression::ZSTD(Default::default());
            assert_eq!(c.compression(), zstd, "{}", c.column_path());
        }
    }

    #[test]
    fn add_paths_are_decoded_and_stray_percents_kept() {
        assert_eq!(
            percent_decode("day=2026-11-01/part%201.parquet"),
            "day=2026-11-01/part 1.parquet"
        );
        assert_eq!(percent_decode("a%3Db"), "a=b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("x%+1y"), "x%+1y");
        assert_eq!(percent_decode("é%zz"), "é%zz");
    }
}
