//! Where OpenLineage events go.
//!
//! - [`FileTransport`] (always on): NDJSON under the lake's `_medallion/lineage/<date>/`, one
//!   object per run holding its events in order, rewritten as events arrive.
//! - [`HttpTransport`] (when `lineage.http.url` is set): POST `<url>/api/v1/lineage` (the
//!   Marquez-compatible endpoint), from a background task with a bounded buffer. An
//!   unreachable endpoint never fails or blocks a run: the event waits in the buffer and is
//!   retried with backoff; when the buffer is full the oldest event is dropped and counted.
//!   Every event is in the file anyway.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;

use crate::env::Environment;
use crate::error::{Error, Result};

/// The NDJSON files of an environment's lake: each write is a new object
/// `<YYYY-MM-DD>/<run id>/<part>.ndjson` holding the events given to it, so memory and the
/// size of a write stay bounded however long a run (a stream) lives. Parts of a run are
/// numbered in the order they were written.
pub struct FileTransport {
    store: Arc<dyn ObjectStore>,
    root: Path,
    shown: String,
    /// Per run: its folder and the next part number.
    runs: tokio::sync::Mutex<HashMap<String, (Path, u64)>>,
}

impl FileTransport {
    pub fn for_env(env: &Environment) -> Result<Self> {
        let loc = env.lake_location()?.child("_medallion/lineage")?;
        let (store, root) = loc.object_store()?;
        Ok(Self {
            store,
            root,
            shown: loc.to_string(),
            runs: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Writes `events` of `run_id` as its next part.
    pub async fn send(&self, run_id: &str, events: &[Value]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        for e in events {
            serde_json::to_writer(&mut bytes, e)
                .map_err(|e| Error::Internal(format!("lineage event: {e}")))?;
            bytes.push(b'\n');
        }
        // One writer per run at a time: parts keep their order.
        let mut runs = self.runs.lock().await;
        let (folder, part) = runs.entry(run_id.to_string()).or_insert_with(|| {
            let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
            (self.root.clone().join(day).join(run_id), 0)
        });
        let path = folder.clone().join(format!("{part:06}.ndjson"));
        self.store.put(&path, bytes.into()).await.map_err(|e| {
            Error::io(
                format!("{}/{path}", self.shown),
                std::io::Error::other(e.to_string()),
            )
        })?;
        *part += 1;
        Ok(())
    }

    /// Forgets a finished run.
    pub async fn close(&self, run_id: &str) {
        self.runs.lock().await.remove(run_id);
    }
}

/// Counters of the HTTP transport.
#[derive(Debug, Default)]
pub struct HttpStats {
    pub sent: AtomicU64,
    /// Attempts that failed (each is retried).
    pub failed_attempts: AtomicU64,
    /// Events dropped from a full buffer.
    pub dropped: AtomicU64,
    /// Events the endpoint refused (HTTP 4xx other than 408 and 429): not retried.
    pub rejected: AtomicU64,
}

/// POSTs events to an OpenLineage HTTP endpoint from a background task.
pub struct HttpTransport {
    pub url: String,
    buffer: Arc<Mutex<VecDeque<Value>>>,
    capacity: usize,
    wake: Arc<tokio::sync::Notify>,
    pub stats: Arc<HttpStats>,
}

impl HttpTransport {
    /// Starts the sender task for `<base>/api/v1/lineage` (must run inside a tokio runtime).
    pub fn start(base: &str, capacity: usize) -> Self {
        let url = format!("{}/api/v1/lineage", base.trim_end_matches('/'));
        let t = Self {
            url: url.clone(),
            buffer: Arc::new(Mutex::new(VecDeque::new())),
            capacity,
            wake: Arc::new(tokio::sync::Notify::new()),
            stats: Arc::new(HttpStats::default()),
        };
        tokio::spawn(sender(
            url,
            t.buffer.clone(),
            t.wake.clone(),
            t.stats.clone(),
        ));
        t
    }

    /// Queues an event; never blocks.
    pub fn send(&self, event: Value) {
        let mut b = self.buffer.lock().expect("lineage buffer lock");
        if b.len() >= self.capacity {
            b.pop_front();
            self.stats.dropped.fetch_add(1, Relaxed);
            tracing::warn!(url = %self.url, capacity = self.capacity, "Lineage buffer full: dropped the oldest event (the lineage file has it unless its write failed too).");
        }
        b.push_back(event);
        drop(b);
        self.wake.notify_one();
    }

    /// Events not sent yet.
    pub fn pending(&self) -> usize {
        self.buffer.lock().expect("lineage buffer lock").len()
    }

    /// Waits up to `limit` for the buffer to empty (at the end of a command).
    pub async fn drain(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.pending();
        if left > 0 {
            tracing::warn!(url = %self.url, left, "Lineage endpoint did not take every event before exit; they are in the lineage file (unless its write failed, logged above).");
        }
    }
}

/// Sends the oldest buffered event until the buffer is empty; on failure waits (0.2 s,
/// doubling up to 30 s) and tries the same event again.
async fn sender(
    url: String,
    buffer: Arc<Mutex<VecDeque<Value>>>,
    wake: Arc<tokio::sync::Notify>,
    stats: Arc<HttpStats>,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(url = %url, error = %e, "Cannot start the lineage HTTP client; events go to the lineage file only.");
            buffer.lock().expect("lineage buffer lock").clear();
            return;
        }
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        let next = buffer.lock().expect("lineage buffer lock").front().cloned();
        let Some(event) = next else {
            wake.notified().await;
            continue;
        };
        let body = serde_json::to_vec(&event).expect("an event serializes");
        let result = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {
                let mut b = buffer.lock().expect("lineage buffer lock");
                // The event may have been dropped meanwhile by a full buffer.
                if b.front() == Some(&event) {
                    b.pop_front();
                }
                stats.sent.fetch_add(1, Relaxed);
                backoff = Duration::from_millis(200);
            }
            // Refused for good (bad request, auth, too large): retrying cannot help and would
            // hold up every later event.
            Ok(r) if r.status().is_client_error() && !matches!(r.status().as_u16(), 408 | 429) => {
                let mut b = buffer.lock().expect("lineage buffer lock");
                if b.front() == Some(&event) {
                    b.pop_front();
                }
                stats.rejected.fetch_add(1, Relaxed);
                tracing::error!(url = %url, status = %r.status(), "Lineage endpoint refused an event; not retrying it (it is in the lineage file).");
            }
            other => {
                stats.failed_attempts.fetch_add(1, Relaxed);
                let why = match other {
                    Ok(r) => format!("HTTP {}", r.status()),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(url = %url, error = %why, retry_in_ms = backoff.as_millis() as u64, "Lineage endpoint failed; retrying.");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
