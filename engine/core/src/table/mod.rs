//! Delta Lake tables: open, stage files without committing, commit atomically, read with
//! DataFusion. Every table write of a run is staged first and committed only when the whole
//! run has been computed, so a failed run leaves no partial table version.

mod log;
mod properties;
mod staged;

pub use log::*;
pub use properties::*;
pub use staged::*;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
use deltalake::DeltaTable;
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
        crate::direct_io::register_store();
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
    crate::direct_io::register_store();
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

/// Opens the Delta table at `location` as of `version` (time travel).
pub async fn open_version(name: &str, location: &Location, version: i64) -> Result<DeltaTable> {
    let mut t = uninitialized(location).map_err(|e| Error::table(name, e))?;
    t.load_version(version as u64)
        .await
        .map_err(|e| Error::table(name, e))?;
    Ok(t)
}

/// A handle on a table location that has no Delta log yet (to create it by a write).
pub fn uninitialized(
    location: &Location,
) -> std::result::Result<DeltaTable, deltalake::DeltaTableError> {
    crate::direct_io::register_store();
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
