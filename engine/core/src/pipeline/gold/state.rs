//! The partial aggregates of an incrementally refreshed Gold table (see [`super::decompose`]),
//! kept in the lake under `_medallion/gold_state/<db>.<table>/`: one Parquet file of partials
//! per group (`<id>.parquet`, never rewritten) and `state.json`, which names the file and the
//! input version it covers.
//!
//! The state is a cache: a refresh that cannot use it (missing, unreadable, made by another
//! query, or its input changed other than by appends since) recomputes the table in full and
//! writes a new one. It is never trusted beyond what `state.json` proves: the input's table
//! id, version and that version's commit time.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backup::store::Store;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::spec::TableName;

/// Bumped when the partial columns of a query change meaning: older states are not merged.
const FORMAT: u32 = 1;
const POINTER: &str = "state.json";

/// What a state file holds: the partials of `source` at `version`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pointer {
    pub format: u32,
    /// A digest of the split query ([`super::decompose::Decomposed::describe`] and the SQL).
    pub query: String,
    /// The input table, its Delta table id, the version covered and that commit's time.
    pub source: String,
    pub table_id: String,
    pub version: i64,
    pub commit_time: i64,
    /// The Parquet file of partials, in the state's folder; its row count (groups).
    pub file: String,
    pub groups: u64,
}

impl Pointer {
    pub fn new(query: String, source: String, table_id: String, at: (i64, i64)) -> Self {
        Self {
            format: FORMAT,
            query,
            source,
            table_id,
            version: at.0,
            commit_time: at.1,
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

/// The state folder of Gold table `gold`, relative to the lake.
pub fn folder(gold: &TableName) -> String {
    format!("_medallion/gold_state/{gold}")
}

impl StateStore {
    pub fn open(env: &Environment, gold: &TableName) -> Result<Self> {
        Ok(Self {
            store: Store::open(&env.lake_location()?)?,
            folder: folder(gold),
        })
    }

    fn rel(&self, file: &str) -> String {
        format!("{}/{file}", self.folder)
    }

    /// The URL of a file of the state, for DataFusion (whose session has the lake's store).
    pub fn url(&self, file: &str) -> Result<String> {
        self.store
            .location
            .url
            .join(&self.rel(file))
            .map(|u| u.to_string())
            .map_err(|e| Error::Internal(format!("state file {file}: {e}")))
    }

    /// The current pointer: Ok(None) when there is none; Err(why) when it cannot be used (a
    /// newer format, unparsable, or its file is gone).
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
        if self.store.size(&self.rel(&p.file)).await?.is_none() {
            return Ok(Some(Err(format!("its file {} is gone", p.file))));
        }
        Ok(Some(Ok(p)))
    }

    /// Publishes a new state: its file (`bytes`), then the pointer to it; then deletes the
    /// files no pointer names any more. A reader sees the old state or the new one.
    pub async fn publish(&self, pointer: &Pointer, bytes: Bytes) -> Result<()> {
        self.store.put(&self.rel(&pointer.file), bytes).await?;
        let json = serde_json::to_vec_pretty(pointer)
            .map_err(|e| Error::Internal(format!("state pointer: {e}")))?;
        self.store
            .put(&self.rel(POINTER), Bytes::from(json))
            .await?;
        for o in self.store.list(&self.folder).await? {
            let name = o.rel.rsplit('/').next().unwrap_or(&o.rel);
            if name.ends_with(".parquet") && name != pointer.file {
                self.store.delete(&o.rel).await?;
            }
        }
        Ok(())
    }

    /// Deletes the state (the next refresh recomputes in full).
    pub async fn clear(&self) -> Result<()> {
        for o in self.store.list(&self.folder).await? {
            self.store.delete(&o.rel).await?;
        }
        Ok(())
    }
}
