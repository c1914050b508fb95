//! Where the trail lives: one object per record under `<lake>/_medallion/audit/`, named by
//! its position (`00000000000000000042.json`), plus `HEAD.json`, a hint of the last position
//! and its hash (never trusted: the objects after it are listed, and `audit verify` checks it).
//!
//! Appending is serialized: on a local lake by an OS lock on `audit.lock` (released by the OS
//! if the process dies); on S3 each record is created with `If-None-Match: *`, so of two
//! processes appending at once one wins the position and the other re-reads the tail and
//! takes the next. On S3 with `audit.object_lock` set, record objects carry an Object Lock
//! retention (and a SHA-256 checksum, which S3 requires for such writes).

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::record::{sha256_hex, Actor, Entry, Record};
use crate::env::Environment;
use crate::error::{Error, Result};

/// The last record of the trail, as far as this process knows.
#[derive(Debug, Clone)]
struct Tail {
    seq: u64,
    digest: String,
    at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Head {
    pub seq: u64,
    pub digest: String,
}

/// An environment's audit trail.
pub struct AuditLog {
    pub(super) environment: String,
    pub(super) store: Arc<dyn ObjectStore>,
    /// Object Lock of record objects (S3): a store with the lock headers is built for each
    /// append, so that the retain-until date counts from the write.
    lock: Option<(super::ObjectLockSpec, crate::table::Location)>,
    pub(super) root: Path,
    /// Where it is, for messages (`/lake/dev/_medallion/audit`, `s3://b/_medallion/audit`).
    pub shown: String,
    local: Option<std::path::PathBuf>,
    actor: Actor,
    /// Tells the AWS caller identity, once, when the first record is written.
    identity: Option<IdentityResolver>,
    resolved: tokio::sync::OnceCell<Actor>,
    tail: tokio::sync::Mutex<Option<Tail>>,
}

/// Finds the AWS caller identity (an ARN, or why it is unknown).
pub type IdentityResolver = std::sync::Arc<
    dyn Fn() -> futures::future::BoxFuture<'static, std::result::Result<String, String>>
        + Send
        + Sync,
>;

impl AuditLog {
    /// The trail of `env`, written as `actor`.
    pub fn for_env(env: &Environment, actor: Actor) -> Result<Self> {
        let lake = env.lake_location()?;
        let loc = lake.child("_medallion/audit")?;
        let (store, root) = loc.object_store()?;
        let lock = match (&env.audit.object_lock, lake.url.scheme()) {
            (Some(l), "s3") => Some((l.clone(), loc.clone())),
            _ => None,
        };
        Ok(Self {
            environment: env.name.clone(),
            store,
            lock,
            root,
            shown: loc.to_string(),
            local: loc.local_path(),
            actor,
            identity: None,
            resolved: tokio::sync::OnceCell::new(),
            tail: tokio::sync::Mutex::new(None),
        })
    }

    /// Records `who.aws_arn` from `resolve`, called once before the first append (so that
    /// commands that write nothing never call it).
    pub fn with_identity(mut self, resolve: IdentityResolver) -> Self {
        self.identity = Some(resolve);
        self
    }

    /// The actor with its AWS identity resolved.
    async fn writer_actor(&self) -> &Actor {
        self.resolved
            .get_or_init(|| async {
                let Some(resolve) = &self.identity else {
                    return self.actor.clone();
                };
                let arn = match resolve().await {
                    Ok(arn) => arn,
                    Err(e) => {
                        tracing::warn!(error = %e, "Could not tell the AWS caller identity for the audit trail.");
                        format!("unknown (STS GetCallerIdentity failed: {e})")
                    }
                };
                self.actor.clone().with_aws_arn(Some(arn))
            })
            .await
    }

    pub(super) fn key(&self, seq: u64) -> Path {
        self.root.clone().join(format!("{seq:020}.json"))
    }

    fn head_key(&self) -> Path {
        self.root.clone().join("HEAD.json")
    }

    pub(super) fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Appends `entries` in order; returns the records as written.
    pub async fn append(&self, entries: Vec<Entry>) -> Result<Vec<Record>> {
        let (written, error) = self.append_partial(entries).await;
        error.map_or(Ok(written), Err)
    }

    /// Appends `entries` in order until one fails: the records written (the first ones), and
    /// the error that stopped the rest.
    pub async fn append_partial(&self, entries: Vec<Entry>) -> (Vec<Record>, Option<Error>) {
        let mut written = Vec::with_capacity(entries.len());
        let error = self.append_into(entries, &mut written).await.err();
        if let Some(t) = self.tail.lock().await.as_ref() {
            if !written.is_empty() {
                self.write_head(t).await;
            }
        }
        (written, error)
    }

    async fn append_into(&self, entries: Vec<Entry>, written: &mut Vec<Record>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let actor = self.writer_actor().await.clone();
        let writer = match &self.lock {
            Some((spec, loc)) => spec.store(loc)?,
            None => self.store.clone(),
        };
        let mut cached = self.tail.lock().await;
        let _lock = match &self.local {
            Some(dir) => Some(crate::catalog::lock_file(dir, "audit.lock").await?),
            None => None,
        };
        for entry in entries {
            let mut attempts = 0;
            loop {
                let tail = self.find_tail(cached.clone()).await?;
                let (record, bytes) = self.build(&actor, &entry, tail.as_ref())?;
                if self.create(&writer, record.seq, bytes.clone()).await? {
                    *cached = Some(Tail {
                        seq: record.seq,
                        digest: sha256_hex(&bytes),
                        at: parse_at(&record.at)?,
                    });
                    written.push(record);
                    break;
                }
                // Another process took that position: read the tail again.
                attempts += 1;
                *cached = None;
                if attempts > 50 {
                    return Err(Error::Conflict(format!(
                        "audit trail {}: could not append after {attempts} attempts (other writers kept taking the next position)",
                        self.shown
                    )));
                }
            }
        }
        Ok(())
    }

    fn build(&self, actor: &Actor, entry: &Entry, tail: Option<&Tail>) -> Result<(Record, Bytes)> {
        let now = Utc::now();
        // Monotonic per environment: never earlier than the record before.
        let at = tail.map_or(now, |t| now.max(t.at));
        let mut what = entry.what.clone();
        what.command = actor.command.clone();
        what.git_commit = actor.git_commit.clone();
        let record = Record {
            seq: tail.map_or(0, |t| t.seq + 1),
            prev: tail.map_or_else(String::new, |t| t.digest.clone()),
            at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            environment: self.environment.clone(),
            action: entry.action.clone(),
            run_id: entry.run_id.clone(),
            table: entry.table.clone(),
            version: entry.version,
            who: actor.who.clone(),
            what,
            detail: entry.detail.clone(),
        };
        let mut bytes = serde_json::to_vec(&record)
            .map_err(|e| Error::Internal(format!("audit record: {e}")))?;
        bytes.push(b'\n');
        Ok((record, Bytes::from(bytes)))
    }

    /// Creates the record object at `seq`; false if it exists (another writer took it).
    async fn create(&self, writer: &Arc<dyn ObjectStore>, seq: u64, bytes: Bytes) -> Result<bool> {
        let key = self.key(seq);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match writer.put_opts(&key, PutPayload::from(bytes), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.io(&key, e)),
        }
    }

    /// The last record: from `known` (this process's last append) or the HEAD hint, then
    /// whatever was appended after it; a full listing when neither holds.
    async fn find_tail(&self, known: Option<Tail>) -> Result<Option<Tail>> {
        let start = match known {
            Some(t) => Some(t.seq),
            None => self.read_head().await.map(|h| h.seq),
        };
        if let Some(seq) = start {
            let Some(bytes) = self.get(seq).await? else {
                // HEAD is written only after its record: the record was removed.
                return Err(Error::Input {
                    path: self.shown.clone(),
                    message: format!(
                        "the audit trail's HEAD names record {seq}, which is missing: records were removed. \
                         Nothing is appended to a broken trail; run `medallion audit verify --env {}`",
                        self.environment
                    ),
                });
            };
            let last = self.last_position_after(Some(seq)).await?.unwrap_or(seq);
            return if last == seq {
                self.tail_of(seq, &bytes).map(Some)
            } else {
                self.tail_at(last).await
            };
        }
        match self.last_position_after(None).await? {
            Some(last) => self.tail_at(last).await,
            None => Ok(None),
        }
    }

    async fn tail_at(&self, seq: u64) -> Result<Option<Tail>> {
        match self.get(seq).await? {
            Some(bytes) => self.tail_of(seq, &bytes).map(Some),
            None => Err(Error::Internal(format!(
                "audit trail {}: record {seq} was listed but cannot be read",
                self.shown
            ))),
        }
    }

    fn tail_of(&self, seq: u64, bytes: &[u8]) -> Result<Tail> {
        let record: Record = serde_json::from_slice(bytes).map_err(|e| Error::Input {
            path: format!("{}/{seq:020}.json", self.shown),
            message: format!("not a valid audit record ({e}); run `medallion audit verify`"),
        })?;
        Ok(Tail {
            seq,
            digest: sha256_hex(bytes),
            at: parse_at(&record.at)?,
        })
    }

    /// The highest record position listed after `after` (all when None).
    async fn last_position_after(&self, after: Option<u64>) -> Result<Option<u64>> {
        let positions = match after {
            Some(seq) => self.positions(Some(&self.key(seq))).await?,
            None => self.positions(None).await?,
        };
        Ok(positions.into_iter().map(|(s, _)| s).max())
    }

    /// Record positions and their keys, in order (after `offset` when given).
    pub(super) async fn positions(&self, offset: Option<&Path>) -> Result<Vec<(u64, Path)>> {
        let listing: Vec<_> = match offset {
            Some(o) => self.store.list_with_offset(Some(&self.root), o),
            None => self.store.list(Some(&self.root)),
        }
        .try_collect()
        .await
        .map_err(|e| self.io(&self.root, e))?;
        let mut out: Vec<(u64, Path)> = listing
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                let seq = name.strip_suffix(".json")?;
                (seq.len() == 20)
                    .then(|| seq.parse::<u64>().ok())
                    .flatten()
                    .map(|s| (s, m.location.clone()))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The bytes of the record at `seq`, None if there is none.
    pub(super) async fn get(&self, seq: u64) -> Result<Option<Bytes>> {
        let key = self.key(seq);
        match self.store.get(&key).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.io(&key, e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.io(&key, e)),
        }
    }

    /// Every record's bytes, in order of position (the positions are returned with them, so
    /// that holes are visible).
    pub async fn read_all(&self) -> Result<Vec<(u64, Bytes)>> {
        let positions = self.positions(None).await?;
        let store = self.store.clone();
        let reads = positions.into_iter().map(|(seq, key)| {
            let store = store.clone();
            async move {
                let bytes = store.get(&key).await?.bytes().await?;
                Ok::<_, object_store::Error>((seq, bytes))
            }
        });
        futures::stream::iter(reads)
            .buffered(16)
            .try_collect()
            .await
            .map_err(|e| self.io(&self.root, e))
    }

    /// Every record, parsed; a record that is not valid JSON of a record is an error naming
    /// it (the trail was damaged: `medallion audit verify` tells how).
    pub async fn records(&self) -> Result<Vec<super::Record>> {
        let mut out = Vec::new();
        for (seq, bytes) in self.read_all().await? {
            let r = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
                path: format!("{}/{seq:020}.json", self.shown),
                message: format!(
                    "not a valid audit record ({e}); run `medallion audit verify --env {}`",
                    self.environment
                ),
            })?;
            out.push(r);
        }
        Ok(out)
    }

    pub(super) async fn read_head(&self) -> Option<Head> {
        let bytes = self
            .store
            .get(&self.head_key())
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Overwrites the HEAD hint. Losing it costs a full listing next time, not a record, so
    /// a failure is logged, not raised.
    async fn write_head(&self, t: &Tail) {
        let head = Head {
            seq: t.seq,
            digest: t.digest.clone(),
        };
        let bytes = serde_json::to_vec(&head).expect("a head serializes");
        if let Err(e) = self.store.put(&self.head_key(), bytes.into()).await {
            tracing::warn!(error = %e, trail = %self.shown, "Could not update the audit trail's HEAD hint.");
        }
    }

    fn io(&self, key: &Path, e: object_store::Error) -> Error {
        Error::Io {
            path: format!("audit trail {} ({key})", self.shown),
            source: std::io::Error::other(e.to_string()),
        }
    }
}

fn parse_at(at: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| Error::Input {
            path: "audit trail".into(),
            message: format!("record time {at:?}: {e}"),
        })
}

use futures::StreamExt as _;
