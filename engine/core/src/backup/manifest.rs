//! What a backup holds: `manifests/<id>.json`, written last.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{Error, Result};

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    pub environment: String,
    /// The lake it was taken from.
    pub lake: String,
    pub started_at: String,
    pub finished_at: String,
    /// The KMS key the backup's objects were written with (S3), if any.
    pub kms_key: Option<String>,
    /// Taken with `--tables`: not every table of the lake.
    pub partial: bool,
    /// `catalogs/<id>.json`.
    pub catalog: String,
    pub tables: Vec<TableBackup>,
    /// `_medallion/` objects (audit trail, ledgers, suppression list, lineage, promotions).
    pub metadata: Vec<FileEntry>,
    /// Objects this backup copied, and their bytes (the rest an earlier backup holds).
    pub copied_files: u64,
    pub copied_bytes: u64,
}

/// One table at one version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableBackup {
    /// `database.table`.
    pub table: String,
    pub version: i64,
    /// The Delta table id (`metaData.id`).
    pub table_id: String,
    /// Its Delta log up to `version` (commits, checkpoints).
    pub log: Vec<FileEntry>,
    /// The data files `version` reads.
    pub files: Vec<FileEntry>,
}

/// One object: its path relative to the lake root, and where the backup keeps it (data files
/// under their table's Delta id, log entries and metadata by content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

fn manifest_path(id: &str) -> String {
    format!("manifests/{id}.json")
}

impl Manifest {
    pub async fn write(&self, backup: &Store) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Internal(e.to_string()))?;
        backup.put(&manifest_path(&self.id), json.into()).await
    }

    /// Backup `id`, or the newest one that holds every table (by its finishing time), or
    /// else the newest.
    pub async fn read(backup: &Store, id: Option<&str>) -> Result<Self> {
        if let Some(id) = id {
            return read_one(backup, id).await;
        }
        let mut all = all(backup).await?;
        if let Some(i) = all.iter().rposition(|m| !m.partial) {
            return Ok(all.swap_remove(i));
        }
        all.pop().ok_or_else(|| {
            Error::Config(format!(
                "{} holds no finished backup (no manifests/*.json): nothing to restore from",
                backup.location
            ))
        })
    }

    pub fn table(&self, name: &str) -> Option<&TableBackup> {
        self.tables.iter().find(|t| t.table == name)
    }
}

async fn read_one(backup: &Store, id: &str) -> Result<Manifest> {
    let bytes = backup.get(&manifest_path(id)).await?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
        path: format!("{}/{}", backup.location, manifest_path(id)),
        message: format!("not a backup manifest: {e}"),
    })?;
    if m.format != FORMAT {
        return Err(Error::Config(format!(
            "backup {id} has manifest format {}; this medallion reads format {FORMAT}",
            m.format
        )));
    }
    Ok(m)
}

/// The finished backups, oldest first.
pub async fn all(backup: &Store) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for o in backup.list("manifests/").await? {
        let id = o
            .rel
            .strip_prefix("manifests/")
            .and_then(|n| n.strip_suffix(".json"));
        if let Some(id) = id {
            out.push(read_one(backup, id).await?);
        }
    }
    out.sort_by(|a, b| (&a.finished_at, &a.id).cmp(&(&b.finished_at, &b.id)));
    Ok(out)
}

/// What the finished backups hold: data files by key, and the SHA-256 of every object kept by
/// content.
#[derive(Debug, Default)]
pub struct Known {
    pub data: BTreeMap<String, FileEntry>,
    pub contents: std::collections::HashSet<String>,
    /// Every data file a backup took, per Delta table id (older versions' files).
    pub by_table: BTreeMap<String, Vec<FileEntry>>,
}

/// What the backups hold; with `key`, only backups written under that KMS key (objects
/// under another key, or none, are not reused by a backup that claims this one).
pub async fn known(backup: &Store, key: Option<&Option<String>>) -> Result<Known> {
    let mut k = Known::default();
    for m in all(backup).await? {
        if key.is_some_and(|key| *key != m.kms_key) {
            continue;
        }
        for t in &m.tables {
            for e in &t.files {
                k.data.insert(e.key.clone(), e.clone());
                k.by_table
                    .entry(t.table_id.clone())
                    .or_default()
                    .push(e.clone());
            }
            k.contents.extend(t.log.iter().map(|e| e.sha256.clone()));
        }
        k.contents
            .extend(m.metadata.iter().map(|e| e.sha256.clone()));
    }
    Ok(k)
}

/// Refuses a location holding another environment's backups: one location, one environment.
pub async fn check_environment(backup: &Store, env: &str) -> Result<()> {
    if let Some(m) = all(backup)
        .await?
        .into_iter()
        .find(|m| m.environment != env)
    {
        return Err(Error::Isolation(format!(
            "{} holds backups of environment `{}` (backup {}); back up `{env}` to a location of its own",
            backup.location, m.environment, m.id
        )));
    }
    Ok(())
}
