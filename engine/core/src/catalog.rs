//! The catalog: databases and tables, the same model for the embedded catalog (default,
//! a JSON file under the environment's lake root) and for AWS Glue.
//!
//! The trait is small on purpose: create/list databases, upsert/get/list tables.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use async_trait::async_trait;
use object_store::{PutMode, UpdateVersion};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::{Error, Result};

/// A database (one per layer, e.g. `bronze`, `silver`, `gold`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Database {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Where its tables live.
    pub location: String,
}

/// A column as the catalog records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// Hive type string (`bigint`, `decimal(12,2)`, `struct<a:string>`, `array<double>` …),
    /// the form Athena, Spark and Glue read.
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// Data classification (e.g. `pii`).
    #[serde(default)]
    pub classification: Option<String>,
}

/// A table entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    pub database: String,
    pub name: String,
    /// Table root (a Delta table).
    pub location: String,
    /// Always `delta`.
    pub format: String,
    /// `bronze`, `silver`, `quarantine` or `gold`.
    pub layer: String,
    pub columns: Vec<Column>,
    /// The Delta version the entry describes.
    pub delta_version: i64,
    /// The pipeline that writes the table.
    pub owner_pipeline: String,
    /// The pinned schema (`dataset@N`), for Bronze and Silver.
    #[serde(default)]
    pub schema_ref: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Free-form parameters (environment, owner team, …).
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
}

impl TableEntry {
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.database, self.name)
    }
}

/// A table catalog.
#[async_trait]
pub trait Catalog: Send + Sync + std::fmt::Debug {
    /// Creates the database if it does not exist (idempotent).
    async fn create_database(&self, database: &Database) -> Result<()>;
    /// All databases, by name.
    async fn list_databases(&self) -> Result<Vec<Database>>;
    /// Creates or replaces a table entry (keeps `created_at` of an existing one).
    async fn upsert_table(&self, table: &TableEntry) -> Result<()>;
    /// One table, if registered.
    async fn get_table(&self, database: &str, name: &str) -> Result<Option<TableEntry>>;
    /// All tables (of one database, or of all), ordered by database and name.
    async fn list_tables(&self, database: Option<&str>) -> Result<Vec<TableEntry>>;
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CatalogDocument {
    /// Format version of the file.
    version: u32,
    databases: BTreeMap<String, Database>,
    tables: BTreeMap<String, TableEntry>,
}

/// The embedded catalog: `<lake>/_catalog/catalog.json` in the lake's own storage (a local
/// folder or S3), replaced as a whole on each change (an atomic put). Concurrent updates from
/// several processes are serialised, none is lost (see [`EmbeddedCatalog::update`]).
#[derive(Debug, Clone)]
pub struct EmbeddedCatalog {
    location: crate::table::Location,
    lock: Arc<Mutex<()>>,
    /// A store to use instead of the location's (tests).
    store: Option<Arc<dyn object_store::ObjectStore>>,
}

impl EmbeddedCatalog {
    /// The catalog of a local lake root.
    pub fn for_lake(lake: &Path) -> Self {
        Self::for_location(crate::table::Location::local(lake).expect("absolute lake path"))
    }

    /// The catalog of a lake root anywhere.
    pub fn for_location(lake: crate::table::Location) -> Self {
        Self {
            location: lake,
            lock: Arc::new(Mutex::new(())),
            store: None,
        }
    }

    /// Where the catalog file is.
    pub fn path(&self) -> String {
        format!("{}/_catalog/catalog.json", self.location)
    }

    fn object(&self) -> Result<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)> {
        let (store, root) = match &self.store {
            Some(s) => (s.clone(), object_store::path::Path::from("lake")),
            None => self.location.object_store()?,
        };
        let path = object_store::path::Path::from(
            format!(
                "{}/_catalog/catalog.json",
                root.as_ref().trim_end_matches('/')
            )
            .trim_start_matches('/'),
        );
        Ok((store, path))
    }

    async fn read(&self) -> Result<CatalogDocument> {
        Ok(self.read_versioned().await?.0)
    }

    /// The document and the version it was read at (`None`: there is no catalog file yet).
    async fn read_versioned(&self) -> Result<(CatalogDocument, Option<UpdateVersion>)> {
        use object_store::ObjectStoreExt as _;
        let (store, path) = self.object()?;
        match store.get(&path).await {
            Ok(r) => {
                let version = UpdateVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let bytes = r
                    .bytes()
                    .await
                    .map_err(|e| Error::Catalog(format!("reading {}: {e}", self.path())))?;
                let doc = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Catalog(format!(
                        "{} is not a valid catalog file ({e}); restore it, or delete it and run `medallion catalog sync` to re-register the tables from the lake",
                        self.path()
                    ))
                })?;
                Ok((doc, Some(version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok((
                CatalogDocument {
                    version: 1,
                    ..Default::default()
                },
                None,
            )),
            Err(e) => Err(Error::Catalog(format!("reading {}: {e}", self.path()))),
        }
    }

    /// Applies `change` to the current document and writes it, without losing a change made
    /// at the same time by another process: on a local lake under an exclusive lock on
    /// `_catalog/catalog.lock` (released by the OS if the process dies); on object stores with
    /// a conditional put (create-if-absent / replace-if-unchanged), re-reading and re-applying
    /// the change when another writer got there first. `change` returns whether it changed
    /// anything.
    async fn update<F>(&self, change: F) -> Result<()>
    where
        F: Fn(&mut CatalogDocument) -> Result<bool>,
    {
        let _in_process = self.lock.lock().await;
        if let Some(lake) = self.location.local_path().filter(|_| self.store.is_none()) {
            let _lock = lock_local(&lake.join("_catalog")).await?;
            let mut doc = self.read().await?;
            if change(&mut doc)? {
                match self.write(&doc, PutMode::Overwrite).await {
                    Ok(()) => {}
                    Err(Conflict::Failed(e)) => return Err(e),
                    Err(Conflict::Lost) => {
                        return Err(Error::Internal(format!(
                            "an unconditional write of {} reported a conflict",
                            self.path()
                        )))
                    }
                }
            }
            return Ok(());
        }
        for attempt in 0..MAX_ATTEMPTS {
            let (mut doc, version) = self.read_versioned().await?;
            if !change(&mut doc)? {
                return Ok(());
            }
            let mode = match version {
                Some(v) => PutMode::Update(v),
                None => PutMode::Create,
            };
            match self.write(&doc, mode).await {
                Err(Conflict::Lost) => {
                    let jitter = uuid::Uuid::new_v4().as_u128() % 50;
                    let wait = (20u64 << attempt.min(5)) + jitter as u64;
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                Err(Conflict::Failed(e)) => return Err(e),
                Ok(()) => return Ok(()),
            }
        }
        Err(Error::Catalog(format!(
            "{} kept changing while this process tried to update it ({MAX_ATTEMPTS} attempts); \
             other processes are updating the catalog at the same time: run again",
            self.path()
        )))
    }

    async fn write(&self, doc: &CatalogDocument, mode: PutMode) -> Result<(), Conflict> {
        let (store, path) = self.object()?;
        let bytes = serde_json::to_vec_pretty(doc).map_err(|e| Error::Internal(e.to_string()))?;
        let opts = object_store::PutOptions {
            mode,
            ..Default::default()
        };
        match store.put_opts(&path, bytes.into(), opts).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::AlreadyExists { .. }) => Err(Conflict::Lost),
            Err(e) => Err(Conflict::Failed(Error::Catalog(format!(
                "writing {}: {e}",
                self.path()
            )))),
        }
    }
}

/// How many times an update is retried after losing a race to another writer.
const MAX_ATTEMPTS: u32 = 12;

/// Why a conditional write did not happen.
enum Conflict {
    /// Another writer changed the document since it was read.
    Lost,
    Failed(Error),
}

impl From<Error> for Conflict {
    fn from(e: Error) -> Self {
        Conflict::Failed(e)
    }
}

/// Takes the exclusive lock of a local catalog folder (blocking in a worker thread); the
/// lock is held until the returned file is dropped or the process ends.
async fn lock_local(folder: &Path) -> Result<std::fs::File> {
    lock_file(folder, "catalog.lock").await
}

/// Takes the exclusive OS lock of `folder/name` (created if missing), blocking in a worker
/// thread; held until the returned file is dropped or the process ends.
pub(crate) async fn lock_file(folder: &Path, name: &str) -> Result<std::fs::File> {
    let folder = folder.to_path_buf();
    let name = name.to_string();
    let shown = folder.join(&name).display().to_string();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&folder)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(folder.join(&name))?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(|e| Error::Internal(format!("lock task for {shown}: {e}")))?
    .map_err(|e: std::io::Error| Error::io(shown.clone(), e))
}

#[async_trait]
impl Catalog for EmbeddedCatalog {
    async fn create_database(&self, database: &Database) -> Result<()> {
        self.update(|doc| {
            if doc.databases.contains_key(&database.name) {
                return Ok(false);
            }
            doc.databases
                .insert(database.name.clone(), database.clone());
            Ok(true)
        })
        .await
    }

    async fn list_databases(&self) -> Result<Vec<Database>> {
        Ok(self.read().await?.databases.into_values().collect())
    }

    async fn upsert_table(&self, table: &TableEntry) -> Result<()> {
        self.update(|doc| {
            if !doc.databases.contains_key(&table.database) {
                return Err(Error::Catalog(format!(
                    "database `{}` does not exist; create it before registering `{}`",
                    table.database,
                    table.qualified_name()
                )));
            }
            let mut entry = table.clone();
            if let Some(old) = doc.tables.get(&table.qualified_name()) {
                entry.created_at = old.created_at.clone();
            }
            doc.tables.insert(table.qualified_name(), entry);
            Ok(true)
        })
        .await
    }

    async fn get_table(&self, database: &str, name: &str) -> Result<Option<TableEntry>> {
        Ok(self
            .read()
            .await?
            .tables
            .remove(&format!("{database}.{name}")))
    }

    async fn list_tables(&self, database: Option<&str>) -> Result<Vec<TableEntry>> {
        Ok(self
            .read()
            .await?
            .tables
            .into_values()
            .filter(|t| database.is_none_or(|d| t.database == d))
            .collect())
    }
}

/// The Hive type string of an Arrow type (what Glue/Athena expect).
pub fn hive_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 | DataType::UInt16 => "int".into(),
        DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(TimeUnit::Microsecond, None) => "timestamp_ntz".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => {
            format!("array<{}>", hive_type(f.data_type()))
        }
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::Map(f, _) => match f.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!(
                    "map<{},{}>",
                    hive_type(kv[0].data_type()),
                    hive_type(kv[1].data_type())
                )
            }
            other => format!("map<string,{}>", hive_type(other)),
        },
        DataType::Dictionary(_, v) => hive_type(v),
        other => other.to_string().to_lowercase(),
    }
}

/// Catalog columns of an Arrow schema; descriptions and classifications by column name.
pub fn columns_of(
    schema: &SchemaRef,
    described: &[(String, Option<String>, Option<String>)],
) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let info = described.iter().find(|(n, _, _)| n == f.name());
            Column {
                name: f.name().clone(),
                ty: hive_type(f.data_type()),
                nullable: f.is_nullable(),
                description: info.and_then(|i| i.1.clone()),
                classification: info.and_then(|i| i.2.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Fields};

    #[test]
    fn hive_types_of_nested_columns() {
        let t = DataType::Struct(Fields::from(vec![
            Field::new("lat", DataType::Float64, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
                true,
            ),
        ]));
        assert_eq!(hive_type(&t), "struct<lat:double,tags:array<string>>");
        assert_eq!(hive_type(&DataType::Decimal128(12, 2)), "decimal(12,2)");
    }

    fn database(name: &str) -> Database {
        Database {
            name: name.into(),
            description: None,
            location: "x".into(),
        }
    }

    /// A catalog on an in-memory object store (conditional puts, as on S3), and the store.
    fn in_memory() -> (EmbeddedCatalog, Arc<dyn object_store::ObjectStore>) {
        let store: Arc<dyn object_store::ObjectStore> =
            Arc::new(object_store::memory::InMemory::new());
        let mut cat = EmbeddedCatalog::for_lake(Path::new("/unused"));
        cat.store = Some(store.clone());
        (cat, store)
    }

    /// What another process does between this one's read and write: adds a database.
    fn other_writer(cat: &EmbeddedCatalog, name: &str) {
        let other = EmbeddedCatalog {
            lock: Arc::new(Mutex::new(())),
            ..cat.clone()
        };
        futures::executor::block_on(other.create_database(&database(name))).unwrap();
    }

    #[tokio::test]
    async fn a_conditional_update_that_lost_the_race_is_reapplied() {
        let (cat, _) = in_memory();
        cat.create_database(&database("bronze")).await.unwrap();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        cat.update(|doc| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                other_writer(&cat, "gold");
            }
            doc.databases.insert("silver".into(), database("silver"));
            Ok(true)
        })
        .await
        .unwrap();
        assert_eq!(calls.into_inner(), 2, "re-read and re-applied once");
        let names: Vec<String> = cat
            .list_databases()
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(
            names,
            ["bronze", "gold", "silver"],
            "neither update is lost"
        );
    }

    #[tokio::test]
    async fn a_first_write_racing_another_creation_is_reapplied() {
        let (cat, _) = in_memory();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        cat.update(|doc| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                other_writer(&cat, "gold");
            }
            doc.databases.insert("silver".into(), database("silver"));
            Ok(true)
        })
        .await
        .unwrap();
        assert_eq!(cat.list_databases().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn an_update_that_always_loses_gives_up_with_a_clear_error() {
        let (cat, _) = in_memory();
        cat.create_database(&database("bronze")).await.unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        let err = cat
            .update(|doc| {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                other_writer(&cat, &format!("db{i}"));
                doc.databases.insert("silver".into(), database("silver"));
                Ok(true)
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("kept changing while this process tried to update it (12 attempts)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn embedded_catalog_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cat = EmbeddedCatalog::for_lake(dir.path());
        let db = Database {
            name: "silver".into(),
            description: None,
            location: "x".into(),
        };
        cat.create_database(&db).await.unwrap();
        cat.create_database(&db).await.unwrap();
        assert_eq!(cat.list_databases().await.unwrap(), vec![db]);
        let mut t = TableEntry {
            database: "silver".into(),
            name: "orders".into(),
            location: "/lake/silver/orders".into(),
            format: "delta".into(),
            layer: "silver".into(),
            columns: vec![],
            delta_version: 0,
            owner_pipeline: "orders".into(),
            schema_ref: Some("orders@1".into()),
            description: None,
            parameters: BTreeMap::new(),
            created_at: "t0".into(),
            updated_at: "t0".into(),
        };
        cat.upsert_table(&t).await.unwrap();
        t.delta_version = 3;
        t.created_at = "t1".into();
        cat.upsert_table(&t).await.unwrap();
        let got = cat.get_table("silver", "orders").await.unwrap().unwrap();
        assert_eq!(got.delta_version, 3);
        assert_eq!(got.created_at, "t0", "created_at is kept across updates");
        let missing = TableEntry {
            database: "nope".into(),
            ..t
        };
        assert!(cat
            .upsert_table(&missing)
            .await
            .unwrap_err()
            .to_string()
            .contains("database `nope` does not exist"));
    }
}
