//! The partial aggregates of an incrementally refreshed Gold table (see [`super::decompose`]),
//! kept in the lake under `_medallion/gold_state/<db>.<table>/`: one Parquet file of partials
//! per group (`<id>.parquet`, never rewritten) and `state.json`, which names the file, its
//! row count and the input commit it covers.
//!
//! The state is a cache: a refresh that cannot use it (missing, unreadable, made by another
//! query or engine version, or its input changed other than by appends since) recomputes the
//! table in full and writes a new one. It is never trusted beyond what `state.json` proves:
//! the input's table id, version, and that commit's time and content digest. A refresh reads
//! a copy of the file taken at its start, counted against the pointer: a state file replaced
//! or cut meanwhile fails the copy or the count, never reads as fewer groups.

use std::path::Path;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backup::store::Store;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::spec::TableName;

/// Bumped when the partial columns of a query change meaning: older states are not merged.
const FORMAT: u32 = 1;
const POINTER: &str = "state.json";
/// Every Gold table's state, relative to the lake.
pub const ROOT: &str = "_medallion/gold_state";

/// What a state file holds: the partials of `source` at `version`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pointer {
    pub format: u32,
    /// A digest of the split query, the SQL and the engine's and DataFusion's versions.
    pub query: String,
    /// The input table, its Delta table id, the version covered, and that commit's time and
    /// digest (of its log entry's bytes).
    pub source: String,
    pub table_id: String,
    pub version: i64,
    pub commit_time: i64,
    pub commit_digest: String,
    /// The Parquet file of partials, in the state's folder; its row count (groups).
    pub file: String,
    pub groups: u64,
}

/// The input commit a state covers: version, time, digest.
pub struct Covered {
    pub version: i64,
    pub time: i64,
    pub digest: String,
}

impl Pointer {
    pub fn new(query: String, source: String, table_id: String, at: Covered) -> Self {
        Self {
            format: FORMAT,
            query,
            source,
            table_id,
            version: at.version,
            commit_time: at.time,
            commit_digest: at.digest,
            file: format!("{}.parquet", uuid::Uuid::new_v4().simple()),
            groups: 0,
        }
    }
}

/// The state folder of one Gold table.
pub struct StateStore {
    /// The lake, and the state's folder in it.
    store: Store,
    folder: String,
}

impl StateStore {
    pub fn open(env: &Environment, gold: &TableName) -> Result<Self> {
        Ok(Self {
            store: Store::open(&env.lake_location()?)?,
            folder: format!("{ROOT}/{gold}"),
        })
    }

    fn rel(&self, file: &str) -> String {
        format!("{}/{file}", self.folder)
    }

    /// The current pointer: Ok(None) when there is none; Err(why) when it cannot be used (a
    /// newer format, or unparsable).
    pub async fn pointer(&self) -> Result<Option<std::result::Result<Pointer, String>>> {
        if self.store.size(&self.rel(POINTER)).await?.is_none() {
            return Ok(None);
        }
        let bytes = self.store.get(&self.rel(POINTER)).await?;
        let p: Pointer = match serde_json::from_slice(&bytes) {
            Ok(p) => p,
            Err(e) => return Ok(Some(Err(format!("{POINTER} is unreadable ({e})")))),
        };
        if p.format != FORMAT {
            return Ok(Some(Err(format!(
                "{POINTER} is of format {}, not {FORMAT}",
                p.format
            ))));
        }
        Ok(Some(Ok(p)))
    }

    /// Copies the pointer's file to `local`, and checks it holds the pointer's row count.
    pub async fn fetch(&self, p: &Pointer, local: &Path) -> std::result::Result<(), String> {
        if self
            .store
            .size(&self.rel(&p.file))
            .await
            .ok()
            .flatten()
            .is_none()
        {
            return Err(format!(
                "kept partials unusable: its file {} is gone",
                p.file
            ));
        }
        self.store
            .get_file(&self.rel(&p.file), local)
            .await
            .map_err(|e| format!("kept partials unreadable: {e}"))?;
        match parquet_rows(local) {
            Ok(n) if n == p.groups => Ok(()),
            Ok(n) => Err(format!(
                "kept partials unusable: {} holds {n} groups, its pointer says {}",
                p.file, p.groups
            )),
            Err(e) => Err(format!("kept partials unreadable: {} ({e})", p.file)),
        }
    }

    /// Publishes a new state: its file (from `local`), then the pointer to it; then deletes
    /// the files no pointer names (a concurrent refresh's newer pointer is left alone). A
    /// reader sees the old state or the new one.
    pub async fn publish(&self, pointer: &Pointer, local: &Path) -> Result<()> {
        self.store.put_file(&self.rel(&pointer.file), local).await?;
        let json = serde_json::to_vec_pretty(pointer)
            .map_err(|e| Error::Internal(format!("state pointer: {e}")))?;
        self.store
            .put(&self.rel(POINTER), Bytes::from(json))
            .await?;
        let current = match self.pointer().await? {
            Some(Ok(p)) => p.file,
            _ => pointer.file.clone(),
        };
        for o in self.store.list(&self.folder).await? {
            let name = o.rel.rsplit('/').next().unwrap_or(&o.rel);
            if name.ends_with(".parquet") && name != pointer.file && name != current {
                self.store.delete(&o.rel).await?;
            }
        }
        Ok(())
    }
}

/// Deletes every Gold table's kept partials in the environment (an erasure: they may hold the
/// subject's key as a group; each Gold table's next refresh recomputes in full). A local lake
/// loses the whole folder, unfinished uploads included.
pub async fn clear_all(env: &Environment) -> Result<()> {
    let lake = env.lake_location()?;
    if let Some(dir) = lake.local_path().map(|p| p.join(ROOT)) {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        }
        return Ok(());
    }
    let store = Store::open(&lake)?;
    for o in store.list(ROOT).await? {
        store.delete(&o.rel).await?;
    }
    Ok(())
}

/// The row count in a Parquet file's footer.
pub fn parquet_rows(path: &Path) -> std::result::Result<u64, String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let r = SerializedFileReader::new(file).map_err(|e| e.to_string())?;
    Ok(r.metadata().file_metadata().num_rows().max(0) as u64)
}
