//! Delta Lake tables: open, stage files without committing, commit atomically, read with
//! DataFusion. Every table write of a run is staged first and committed only when the whole
//! run has been computed, so a failed run leaves no partial table version.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, MetadataExt, StructType, Transaction};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use url::Url;

use crate::error::{Error, Result};

/// The URL of a local table folder (created if missing).
pub fn table_url(location: &Path) -> Result<Url> {
    std::fs::create_dir_all(location).map_err(|e| Error::io(location.display().to_string(), e))?;
    Url::from_directory_path(location)
        .map_err(|_| Error::Internal(format!("cannot make a URL of {}", location.display())))
}

/// Opens the Delta table at `location`, or `None` if there is none yet.
pub async fn open_if_exists(name: &str, location: &Path) -> Result<Option<DeltaTable>> {
    if !location.join("_delta_log").is_dir() {
        return Ok(None);
    }
    let url = table_url(location)?;
    let table = deltalake::open_table(url)
        .await
        .map_err(|e| Error::table(name, e))?;
    Ok(Some(table))
}

/// A handle on a table location that has no Delta log yet (to create it by a write).
pub fn uninitialized(
    location: &Path,
) -> std::result::Result<DeltaTable, deltalake::DeltaTableError> {
    let url =
        table_url(location).map_err(|e| deltalake::DeltaTableError::Generic(e.to_string()))?;
    deltalake::DeltaTableBuilder::from_url(url)?.build()
}

/// The Arrow schema of a table.
pub fn arrow_schema(table: &DeltaTable) -> Result<SchemaRef> {
    let schema: Schema = table.snapshot()?.schema().as_ref().try_into_arrow()?;
    Ok(Arc::new(schema))
}

/// A DataFusion provider reading the table's current version.
pub async fn provider(table: &DeltaTable) -> Result<Arc<dyn TableProvider>> {
    Ok(table.table_provider().await?)
}

/// Makes every field nullable (Delta tables written by medallion never reject a null at
/// write time: rules and schema checks decide, and quarantine the rows instead).
pub fn nullable(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<Field>>(),
    ))
}

/// Files written to a table folder but not yet committed.
pub struct StagedWrite {
    pub name: String,
    pub location: PathBuf,
    pub schema: SchemaRef,
    writer: RecordBatchWriter,
    pub rows: u64,
}

impl StagedWrite {
    pub fn new(name: &str, location: &Path, schema: SchemaRef) -> Result<Self> {
        let url = table_url(location)?;
        let writer = RecordBatchWriter::try_new(url.as_str(), schema.clone(), None, None)
            .map_err(|e| Error::table(name, e))?;
        Ok(Self {
            name: name.to_string(),
            location: location.to_path_buf(),
            schema,
            writer,
            rows: 0,
        })
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
        })
    }
}

/// Closed, uncommitted files of one table.
pub struct Staged {
    pub name: String,
    pub location: PathBuf,
    pub schema: SchemaRef,
    pub adds: Vec<Add>,
    pub rows: u64,
}

impl Staged {
    /// Absolute paths of the staged files.
    pub fn file_paths(&self) -> Vec<PathBuf> {
        self.adds
            .iter()
            .map(|a| self.location.join(percent_decode(&a.path)))
            .collect()
    }

    /// Deletes the staged files (a run that failed before its commits).
    pub fn discard(&self) {
        for p in self.file_paths() {
            let _ = std::fs::remove_file(p);
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
        let name = self.name.clone();
        if self.adds.is_empty() && txns.is_empty() && existing.is_some() {
            return Ok(existing);
        }
        let props = CommitProperties::default()
            .with_metadata(app_metadata)
            .with_application_transactions(txns);
        let actions: Vec<Action> = self.adds.into_iter().map(Action::Add).collect();
        let kernel_schema: StructType = self
            .schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| Error::table(&name, e.into()))?;
        match existing {
            None => {
                let url = table_url(&self.location)?;
                let table = CreateBuilder::new()
                    .with_location(url.as_str())
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
                let current = table.snapshot()?.schema();
                if current.as_ref() != &kernel_schema {
                    let metadata = MetadataExt::with_schema(
                        table.snapshot()?.metadata().clone(),
                        &kernel_schema,
                    )
                    .map_err(|e| Error::Internal(format!("schema evolution of {name}: {e}")))?;
                    actions.push(Action::Metadata(metadata));
                }
                let op = DeltaOperation::Write {
                    mode: SaveMode::Append,
                    partition_by: None,
                    predicate: None,
                };
                CommitBuilder::from(props)
                    .with_actions(actions)
                    .build(Some(table.snapshot()?), table.log_store(), op)
                    .await
                    .map_err(|e| Error::table(&name, e))?;
                table
                    .update_state()
                    .await
                    .map_err(|e| Error::table(&name, e))?;
                Ok(Some(table))
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 0 && i + 2 <= bytes.len() - 1 {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// The version of an application transaction recorded in the table (a bookmark).
pub async fn txn_version(table: &DeltaTable, app_id: &str) -> Result<Option<i64>> {
    Ok(table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), app_id)
        .await?)
}

/// The current version of a table.
pub fn version(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |v| v as i64)
}
