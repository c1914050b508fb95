//! The suppression list: for `privacy.suppress_days` after an erasure, rows of the erased
//! person that arrive again (a source re-sends a message, a system re-exports its table) are
//! kept out of Silver (counted as dropped by `erased_subject`). Bronze, the raw landing
//! layer, still receives them; the next `erase` of the key, or retention, removes them there.
//!
//! Each erasure writes one object, `_medallion/privacy/suppressed/<erasure id>.json`, with
//! the key as SHA-256 of the environment's suppression salt (`_medallion/privacy/salt`,
//! created once) and the key: the list matches rows without holding keys in clear.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, BooleanArray, RecordBatch};
use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::env::Environment;
use crate::error::{Error, Result};

/// The name dropped rows are counted under.
pub const RULE: &str = "erased_subject";

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    subject: String,
    key_sha256: String,
    until: DateTime<Utc>,
}

/// The live entries of the list.
#[derive(Debug, Default)]
pub struct Suppression {
    salt: String,
    pii: Option<crate::pii::PiiKey>,
    keys: HashMap<String, HashSet<String>>,
}

fn store(env: &Environment) -> Result<(std::sync::Arc<dyn ObjectStore>, Path)> {
    env.lake_location()?
        .child("_medallion/privacy")?
        .object_store()
}

fn err(path: &Path, e: object_store::Error) -> Error {
    Error::io(path.as_ref(), std::io::Error::other(e))
}

/// The environment's salt, created by the first erasure (create-only: concurrent first
/// erasures agree on one).
async fn salt(store: &dyn ObjectStore, root: &Path, create: bool) -> Result<Option<String>> {
    let path = root.clone().join("salt");
    match store.get(&path).await {
        Ok(r) => {
            let b = r.bytes().await.map_err(|e| err(&path, e))?;
            return Ok(Some(String::from_utf8_lossy(&b).trim().to_string()));
        }
        Err(object_store::Error::NotFound { .. }) if !create => return Ok(None),
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(err(&path, e)),
    }
    let new = uuid::Uuid::new_v4().simple().to_string();
    let opts = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    match store
        .put_opts(&path, PutPayload::from(new.clone()), opts)
        .await
    {
        Ok(_) => Ok(Some(new)),
        Err(object_store::Error::AlreadyExists { .. }) => Box::pin(salt(store, root, false)).await,
        Err(e) => Err(err(&path, e)),
    }
}

/// With the environment's PII key, HMAC-SHA-256 (the list cannot be reversed without the
/// key); without one, SHA-256 of the lake's salt and the value (a short id can be guessed
/// by whoever reads the lake).
fn hash(salt: &str, key: Option<&crate::pii::PiiKey>, value: &str) -> String {
    match key {
        Some(k) => crate::pii::hash_value(Some(k), value),
        None => crate::schema::sha256_hex(format!("{salt}:{value}").as_bytes()),
    }
}

/// Adds the key of an erasure to the list until `until`.
pub async fn add(
    env: &Environment,
    subject: &str,
    key: &str,
    id: &str,
    until: DateTime<Utc>,
) -> Result<()> {
    let (store, root) = store(env)?;
    let salt = salt(&*store, &root, true).await?.expect("created");
    let pii = crate::pii::hash_key(env)?;
    let e = Entry {
        subject: subject.to_string(),
        key_sha256: hash(&salt, pii.as_ref(), key),
        until,
    };
    let path = root
        .clone()
        .join("suppressed")
        .join(format!("{id}.json").as_str());
    let body = serde_json::to_vec(&e).map_err(|e| Error::Internal(e.to_string()))?;
    store
        .put(&path, PutPayload::from(body))
        .await
        .map_err(|e| err(&path, e))?;
    Ok(())
}

/// The entries still in force at `now` (None when there are none).
pub async fn load(env: &Environment, now: DateTime<Utc>) -> Result<Option<Suppression>> {
    use futures::TryStreamExt as _;
    let (store, root) = store(env)?;
    let Some(salt) = salt(&*store, &root, false).await? else {
        return Ok(None);
    };
    let dir = root.clone().join("suppressed");
    let objects: Vec<_> = store
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(|e| err(&dir, e))?;
    let mut s = Suppression {
        salt,
        pii: crate::pii::hash_key(env)?,
        keys: HashMap::new(),
    };
    for o in objects {
        let bytes = store
            .get(&o.location)
            .await
            .map_err(|e| err(&o.location, e))?
            .bytes()
            .await
            .map_err(|e| err(&o.location, e))?;
        let e: Entry = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
            path: o.location.to_string(),
            message: format!("not a suppression entry: {e}"),
        })?;
        if e.until > now {
            s.keys.entry(e.subject).or_default().insert(e.key_sha256);
        }
    }
    Ok((!s.keys.is_empty()).then_some(s))
}

impl Suppression {
    /// The rows of `batch` whose value in one of `columns` (those of `subject`) is on the list.
    pub fn mask(&self, batch: &RecordBatch, columns: &[(String, String)]) -> Result<BooleanArray> {
        let mut hit = vec![false; batch.num_rows()];
        for (subject, column) in columns {
            let (Some(keys), Some(col)) = (self.keys.get(subject), batch.column_by_name(column))
            else {
                continue;
            };
            let text = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8)?;
            let text = arrow::array::cast::as_string_array(&text);
            for (i, h) in hit.iter_mut().enumerate() {
                if !*h && text.is_valid(i) {
                    *h = keys.contains(&hash(&self.salt, self.pii.as_ref(), text.value(i)));
                }
            }
        }
        Ok(BooleanArray::from(hit))
    }
}
