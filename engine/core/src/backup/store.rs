//! Objects of a lake or a backup, by path relative to its root.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt as _;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

use crate::error::{Error, Result};
use crate::table::Location;

/// A lake root or a backup root.
#[derive(Debug, Clone)]
pub struct Store {
    pub location: Location,
    store: Arc<dyn ObjectStore>,
    root: String,
}

/// One object: its path relative to the root, and its size.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub rel: String,
    pub size: u64,
}

impl Store {
    pub fn open(location: &Location) -> Result<Self> {
        let (store, root) = location.object_store()?;
        Ok(Self {
            location: location.clone(),
            store,
            root: root.as_ref().trim_end_matches('/').to_string(),
        })
    }

    /// `rel` as object stores and Delta's add actions name it (already encoded).
    /// The same root, written through `store` (e.g. one that puts Object Lock on each object).
    pub fn with_object_store(&self, store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            ..self.clone()
        }
    }

    fn path(&self, rel: &str) -> Path {
        let full = if self.root.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.root)
        };
        Path::parse(&full).unwrap_or_else(|_| Path::from(full))
    }

    fn err(&self, rel: &str, e: impl std::fmt::Display) -> Error {
        Error::io(
            format!("{}/{rel}", self.location),
            std::io::Error::other(e.to_string()),
        )
    }

    /// Every object under `prefix` (relative, e.g. `silver/orders/_delta_log/`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Object>> {
        let base = self.path(prefix.trim_end_matches('/'));
        let objects: Vec<_> = self
            .store
            .list(Some(&base))
            .try_collect()
            .await
            .map_err(|e| self.err(prefix, format!("listing: {e}")))?;
        let strip = if self.root.is_empty() {
            String::new()
        } else {
            format!("{}/", self.root)
        };
        Ok(objects
            .into_iter()
            .map(|o| Object {
                rel: o
                    .location
                    .as_ref()
                    .strip_prefix(&strip)
                    .unwrap_or(o.location.as_ref())
                    .to_string(),
                size: o.size,
            })
            .collect())
    }

    pub async fn get(&self, rel: &str) -> Result<Bytes> {
        let r = self.store.get(&self.path(rel)).await;
        let r = r.map_err(|e| self.err(rel, e))?;
        r.bytes().await.map_err(|e| self.err(rel, e))
    }

    /// The object's size, or None when it does not exist.
    pub async fn size(&self, rel: &str) -> Result<Option<u64>> {
        match self.store.head(&self.path(rel)).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    pub async fn put(&self, rel: &str, bytes: Bytes) -> Result<()> {
        self.store
            .put(&self.path(rel), PutPayload::from(bytes))
            .await
            .map_err(|e| self.err(rel, e))?;
        Ok(())
    }

    /// Writes the object unless one exists there: false when one does (it is left as it is).
    pub async fn put_new(&self, rel: &str, bytes: Bytes) -> Result<bool> {
        let opts = object_store::PutOptions::from(object_store::PutMode::Create);
        match self
            .store
            .put_opts(&self.path(rel), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    /// Uploads a local file, streamed (multipart above the writer's buffer).
    pub async fn put_file(&self, rel: &str, local: &std::path::Path) -> Result<()> {
        use tokio::io::AsyncWriteExt as _;
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| Error::io(local.display().to_string(), e))?;
        let mut w = object_store::buffered::BufWriter::new(self.store.clone(), self.path(rel));
        tokio::io::copy(&mut file, &mut w)
            .await
            .map_err(|e| self.err(rel, e))?;
        w.shutdown().await.map_err(|e| self.err(rel, e))?;
        Ok(())
    }

    /// Downloads an object into a local file; an object that is not there is an error.
    pub async fn get_file(&self, rel: &str, local: &std::path::Path) -> Result<()> {
        let bytes = self.get(rel).await?;
        if let Some(dir) = local.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        }
        std::fs::write(local, &bytes).map_err(|e| Error::io(local.display().to_string(), e))
    }

    pub async fn delete(&self, rel: &str) -> Result<()> {
        self.store
            .delete(&self.path(rel))
            .await
            .map_err(|e| self.err(rel, e))
    }
}
