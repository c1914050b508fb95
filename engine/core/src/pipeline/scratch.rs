//! The run's scratch space: temporary Parquet under `<lake>/_medallion/tmp/<run>` (or the
//! system temp folder for object-store lakes), and the staged files of tables not committed
//! yet. A failed run deletes both; committed files are no longer the run's to delete.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{new_null_array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::table::{self, Staged};

pub use super::temp_parquet::TempParquet;

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
