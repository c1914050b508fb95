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
use object_store::ObjectStoreExt as _;
use url::Url;

use crate::error::{Error, Result};

/// Where a table (or a lake) lives: a URL (`file://` or `s3://`) and the storage options
/// (endpoint, region, SSE-KMS key, ...) to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub url: Url,
    pub options: HashMap<String, String>,
}

impl Location {
    /// A local folder.
    pub fn local(path: &Path) -> Result<Self> {
        let url = Url::from_directory_path(path)
            .map_err(|_| Error::Internal(format!("cannot make a URL of {}", path.display())))?;
        Ok(Self {
            url,
            options: HashMap::new(),
        })
    }

    /// An `s3://` URL with its options.
    pub fn s3(url: Url, options: HashMap<String, String>) -> Self {
        ensure_handlers();
        Self { url, options }
    }

    /// The local folder, for `file://` locations.
    pub fn local_path(&self) -> Option<PathBuf> {
        (self.url.scheme() == "file")
            .then(|| self.url.to_file_path().ok())
            .flatten()
    }

    /// A location below this one (`child("silver/orders")`).
    pub fn child(&self, rel: &str) -> Result<Self> {
        let mut base = self.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let url = base
            .join(&format!("{}/", rel.trim_matches('/')))
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Self {
            url,
            options: self.options.clone(),
        })
    }

    /// The object store holding this location, rooted at the bucket (or file system root),
    /// and the path of the location in it.
    pub fn object_store(
        &self,
    ) -> Result<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)> {
        let err =
            |e: object_store::Error| Error::Config(format!("object store for {}: {e}", self.url));
        if self.url.scheme() == "s3" {
            let store = self.s3_builder().build().map_err(err)?;
            let path = object_store::path::Path::from_url_path(self.url.path())
                .map_err(|e| Error::Internal(e.to_string()))?;
            return Ok((Arc::new(store), path));
        }
        let (store, path) =
            object_store::parse_url_opts(&self.url, self.options.iter()).map_err(err)?;
        Ok((Arc::from(store), path))
    }

    /// The S3 store of an `s3://` location: the standard AWS configuration (credentials,
    /// region, endpoint) from the environment, then the lake's own options (endpoint,
    /// SSE-KMS key).
    pub(crate) fn s3_builder(&self) -> object_store::aws::AmazonS3Builder {
        self.s3_builder_with(object_store::ClientOptions::new())
    }

    /// [`Location::s3_builder`] on top of `client` (e.g. default headers): the client options
    /// come first so that the environment's and the lake's (`aws_allow_http`...) apply on them.
    pub(crate) fn s3_builder_with(
        &self,
        client: object_store::ClientOptions,
    ) -> object_store::aws::AmazonS3Builder {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        let mut b = AmazonS3Builder::new().with_client_options(client);
        // What `AmazonS3Builder::from_env` reads.
        for (k, v) in std::env::vars_os() {
            let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
                continue;
            };
            if let (true, Ok(key)) = (
                k.starts_with("AWS_"),
                k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>(),
            ) {
                b = b.with_config(key, v);
            }
        }
        let mut b = b.with_url(self.url.as_str());
        for (k, v) in &self.options {
            if let Ok(key) = k.parse::<object_store::aws::AmazonS3ConfigKey>() {
                b = b.with_config(key, v);
            }
        }
        b
    }

    /// The URL of the store root (`s3://bucket`, `file:///`), for registering with DataFusion.
    pub fn store_url(&self) -> Url {
        let mut u = self.url.clone();
        u.set_path("/");
        u
    }

    fn ensure_local_dir(&self) -> Result<()> {
        if let Some(p) = self.local_path() {
            std::fs::create_dir_all(&p).map_err(|e| Error::io(p.display().to_string(), e))?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.local_path() {
            Some(p) => write!(f, "{}", p.display().to_string().trim_end_matches('/')),
            None => write!(f, "{}", self.url.as_str().trim_end_matches('/')),
        }
    }
}

/// Registers the S3 storage handlers of deltalake (once per process).
pub fn ensure_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// Opens the Delta table at `location`, or `None` if there is none yet.
pub async fn open_if_exists(name: &str, location: &Location) -> Result<Option<DeltaTable>> {
    if let Some(p) = location.local_path() {
        if !p.join("_delta_log").is_dir() {
            return Ok(None);
        }
    } else {
        let probe = deltalake::DeltaTableBuilder::from_url(location.url.clone())
            .and_then(|b| b.with_storage_options(location.options.clone()).build())
            .map_err(|e| Error::table(name, e))?;
        if !probe
            .verify_deltatable_existence()
            .await
            .map_err(|e| Error::table(name, e))?
        {
            return Ok(None);
        }
    }
    let table = deltalake::DeltaTableBuilder::from_url(location.url.clone())
        .map_err(|e| Error::table(name, e))?
        .with_storage_options(location.options.clone())
        .load()
        .await
        .map_err(|e| Error::table(name, e))?;
    Ok(Some(table))
}

/// A handle on a table location that has no Delta log yet (to create it by a write).
pub fn uninitialized(
    location: &Location,
) -> std::result::Result<DeltaTable, deltalake::DeltaTableError> {
    location
        .ensure_local_dir()
        .map_err(|e| deltalake::DeltaTableError::Generic(e.to_string()))?;
    deltalake::DeltaTableBuilder::from_url(location.url.clone())?
        .with_storage_options(location.options.clone())
        .build()
}

/// The Arrow schema of a table.
pub fn arrow_schema(table: &DeltaTable) -> Result<SchemaRef> {
    let schema: Schema = table.snapshot()?.schema().as_ref().try_into_arrow()?;
    Ok(Arc::new(schema))
}

/// A DataFusion provider reading the table's current version; makes sure the session can
/// reach the table's object store.
pub async fn provider(
    table: &DeltaTable,
    ctx: &datafusion::prelude::SessionContext,
) -> Result<Arc<dyn TableProvider>> {
    table.update_datafusion_session(&ctx.state())?;
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
    pub location: Location,
    pub schema: SchemaRef,
    writer: RecordBatchWriter,
    pub rows: u64,
    /// Table properties set when the table is created (e.g. `medallion.layer`).
    pub properties: HashMap<String, String>,
}

impl StagedWrite {
    pub fn new(name: &str, location: &Location, schema: SchemaRef) -> Result<Self> {
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

    /// Writes without Parquet dictionaries, except for the given (repetitive) columns: for
    /// Bronze's raw text, where most columns are near-unique and building a dictionary only to
    /// abandon it costs more than it saves (Snappy still compresses the pages).
    pub fn without_dictionaries(mut self, except: &[&str]) -> Self {
        let mut props = parquet::file::properties::WriterProperties::builder()
            .set_created_by(format!("medallion {}", env!("CARGO_PKG_VERSION")))
            .set_compression(parquet::basic::Compression::SNAPPY)
            .set_dictionary_enabled(false);
        for c in except {
            props = props
                .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(*c), true);
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

/// Properties that follow the spec on every commit: the pinned schema and how PII was
/// protected (checked before a run writes, see `compat::check_release`, `pii::check_protection`).
fn tracked_property(key: &str) -> bool {
    key.starts_with("medallion.schema") || key == "medallion.pii"
}

/// Commits the tracked properties of `properties` alone (no data) when the table's differ;
/// for writes that do not go through [`Staged::commit`] (the merge).
pub async fn sync_properties(
    table: DeltaTable,
    properties: &HashMap<String, String>,
    name: &str,
    app_metadata: HashMap<String, serde_json::Value>,
) -> Result<DeltaTable> {
    let schema: StructType = table.snapshot()?.schema().as_ref().clone();
    let Some(metadata) = updated_metadata(&table, &schema, properties, name)? else {
        return Ok(table);
    };
    let mut table = table;
    let op = DeltaOperation::SetTableProperties {
        properties: properties
            .iter()
            .filter(|(k, _)| tracked_property(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let done = CommitBuilder::from(CommitProperties::default().with_metadata(app_metadata))
        .with_actions(vec![Action::Metadata(metadata)])
        .build(Some(table.snapshot()?), table.log_store(), op)
        .await
        .map_err(|e| Error::table(name, e))?;
    table.state = Some(done.snapshot);
    Ok(table)
}

/// The table's metadata with `schema` and the schema-tracking properties (`medallion.schema*`)
/// of `properties`, when either differs from what the table holds (schema evolution, a new
/// pinned schema version); None when nothing changes.
fn updated_metadata(
    table: &DeltaTable,
    schema: &StructType,
    properties: &HashMap<String, String>,
    name: &str,
) -> Result<Option<deltalake::kernel::Metadata>> {
    let snapshot = table.snapshot()?;
    let mut metadata = snapshot.metadata().clone();
    let mut changed = false;
    if snapshot.schema().as_ref() != schema {
        metadata = MetadataExt::with_schema(metadata, schema)
            .map_err(|e| Error::Internal(format!("schema evolution of {name}: {e}")))?;
        changed = true;
    }
    for (k, v) in properties.iter().filter(|(k, _)| tracked_property(k)) {
        if metadata.configuration().get(k) != Some(v) {
            metadata = MetadataExt::add_config_key(metadata, k.clone(), v.clone())
                .map_err(|e| Error::Internal(format!("table properties of {name}: {e}")))?;
            changed = true;
        }
    }
    Ok(changed.then_some(metadata))
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
/// The table's Delta id (`metaData.id`), empty if it has no state.
pub fn table_id(table: &DeltaTable) -> String {
    table
        .snapshot()
        .map(|s| s.metadata().id().to_string())
        .unwrap_or_default()
}

/// What a table's current version holds: its active data files, their bytes, and their
/// rows (from the add actions' statistics; None when a file has no row count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileStats {
    pub files: u64,
    pub bytes: u64,
    pub rows: Option<u64>,
}

pub fn file_stats(table: &DeltaTable) -> Result<FileStats> {
    let snapshot = table.snapshot()?;
    let mut stats = FileStats {
        rows: Some(0),
        ..Default::default()
    };
    for f in snapshot.log_data().iter() {
        stats.files += 1;
        stats.bytes += f.size().max(0) as u64;
        stats.rows = match (stats.rows, f.num_records()) {
            (Some(total), Some(n)) => Some(total + n as u64),
            _ => None,
        };
    }
    Ok(stats)
}

pub fn version(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |v| v as i64)
}

/// The data files added by the commits after version `after` up to and including `upto`
/// (add actions with `dataChange`; files rewritten by OPTIMIZE are left out, their rows
/// were added before). This is what an incremental reader of the table has not seen yet
/// when its bookmark is `after`, however many writers committed and in whatever order
/// their rows were stamped. The files are read from the commits themselves, so they must
/// not have been vacuumed, and the commits must still be in the log.
pub async fn added_files(table: &DeltaTable, after: i64, upto: i64) -> Result<Vec<Add>> {
    let store = table.log_store();
    let mut out = Vec::new();
    for v in (after + 1).max(0)..=upto {
        let bytes = store.read_commit_entry(v as _).await?.ok_or_else(|| {
            Error::Config(format!(
                "commit {v} of {} is no longer in its Delta log (log retention removed it), \
                 so the rows added since version {after} cannot be listed; \
                 raise `delta.logRetentionDuration` or rebuild the downstream table",
                table.table_url()
            ))
        })?;
        for action in deltalake::logstore::get_actions(v as _, &bytes)? {
            if let Action::Add(add) = action {
                if add.data_change {
                    out.push(add);
                }
            }
        }
    }
    Ok(out)
}

/// Version `v`'s entry in the Delta log: None when log retention removed it; inside, its
/// commitInfo (None if the commit has none).
pub async fn commit_entry(
    table: &DeltaTable,
    v: i64,
) -> Result<Option<Option<deltalake::kernel::CommitInfo>>> {
    let Some(bytes) = table.log_store().read_commit_entry(v as _).await? else {
        return Ok(None);
    };
    Ok(Some(
        deltalake::logstore::get_actions(v as _, &bytes)?
            .into_iter()
            .find_map(|a| match a {
                Action::CommitInfo(i) => Some(i),
                _ => None,
            }),
    ))
}

/// The commit information (operation, medallion's metadata) of the commits after version
/// `after` up to and including `upto`, read from the Delta log.
pub async fn commit_infos(
    table: &DeltaTable,
    after: i64,
    upto: i64,
) -> Result<Vec<(i64, deltalake::kernel::CommitInfo)>> {
    let store = table.log_store();
    let mut out = Vec::new();
    for v in (after + 1).max(0)..=upto {
        let bytes = store.read_commit_entry(v as _).await?.ok_or_else(|| {
            Error::Internal(format!(
                "commit {v} of {} is no longer in its Delta log (log retention removed it); \
                 raise `delta.logRetentionDuration`",
                table.table_url()
            ))
        })?;
        for action in deltalake::logstore::get_actions(v as _, &bytes)? {
            if let Action::CommitInfo(info) = action {
                out.push((v, info));
            }
        }
    }
    Ok(out)
}

/// Whether a commit failed because another writer committed first (a race, not a fault).
pub fn is_commit_race(e: &deltalake::DeltaTableError) -> bool {
    use deltalake::kernel::transaction::TransactionError as T;
    matches!(
        e,
        deltalake::DeltaTableError::VersionAlreadyExists(_)
            | deltalake::DeltaTableError::Transaction {
                source: T::MaxCommitAttempts(_) | T::CommitConflict(_) | T::VersionAlreadyExists(_)
            }
    )
}

/// Application metadata recorded in every commit medallion makes (the commit's
/// `commitInfo`): run id, pipeline and environment, plus `extra`.
pub fn commit_metadata(
    run_id: &str,
    pipeline: &str,
    environment: &str,
    extra: Vec<(&str, serde_json::Value)>,
) -> HashMap<String, serde_json::Value> {
    let mut m: HashMap<String, serde_json::Value> = HashMap::new();
    m.insert("medallion.run_id".into(), run_id.into());
    m.insert("medallion.pipeline".into(), pipeline.into());
    m.insert("medallion.environment".into(), environment.into());
    for (k, v) in extra {
        m.insert(k.into(), v);
    }
    m
}

/// Whether a medallion error is a lost commit race (see [`is_commit_race`]).
pub fn error_is_commit_race(e: &crate::Error) -> bool {
    match e {
        crate::Error::Table { source, .. } | crate::Error::Delta(source) => is_commit_race(source),
        _ => false,
    }
}

/// The table's properties (Delta `configuration`).
pub fn properties(table: &DeltaTable) -> Result<HashMap<String, String>> {
    Ok(table
        .snapshot()?
        .metadata()
        .configuration()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}
