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
pub struct TempParquet {
    writer: ArrowWriter<File>,
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
        // Read back once or twice on this machine: plain pages, no dictionary to build, no
        // min/max statistics to compute (nothing prunes on them). But the run's repeated
        // metadata (source file name, run id: one value per file or run, ~80 bytes a row as
        // plain text) is a dictionary.
        let repeated = |c: &str| parquet::schema::types::ColumnPath::from(c);
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(64 * 1024))
            .set_dictionary_enabled(false)
            .set_column_dictionary_enabled(repeated(crate::plan::SOURCE_FILE), true)
            .set_column_dictionary_enabled(repeated(crate::plan::RUN_ID), true)
            .set_statistics_enabled(EnabledStatistics::None)
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Self {
            writer,
            path,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() > 0 {
            self.rows += batch.num_rows() as u64;
            let path = self.path.display().to_string();
            self.writer
                .write(batch)
                .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn close(self) -> Result<u64> {
        let path = self.path.display().to_string();
        self.writer
            .close()
            .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        Ok(self.rows)
    }
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
