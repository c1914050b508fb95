//! The Bronze sink of a stream: buffers messages per partition and commits them to the Bronze
//! Delta table together with one application transaction per topic-partition
//! (`medallion.kafka.<topic>.<partition>`, version = the next offset to read).
//!
//! Exactly-once rules:
//! - A partition's rows are committed only if the table's txn version for it still equals the
//!   version this process started from (its *base*). The check reads the same snapshot the
//!   commit is built on, and the commit is made with no automatic retry: it lands exactly on
//!   the next version after that snapshot or fails (a conditional put), so no other commit can
//!   slip in between the check and the commit; a failed attempt re-checks and retries. Two
//!   owners can therefore never both commit the same offsets.
//! - A commit that fails is retried after re-checking; if the first attempt had in fact
//!   landed, the re-check sees the moved txn version and drops the (already committed) rows.
//! - Bad messages go to the quarantine table first, with their own txns
//!   (`medallion.kafka.quarantine.<topic>.<partition>`); when the Bronze commit is then lost
//!   (crash) the replay skips messages the quarantine already holds.
//! - Staged files of a failed commit attempt are left as unreferenced files (no reader sees
//!   them; `VACUUM` removes them); deleting them is unsafe when the outcome is unknown.

use medallion_core::table::Location;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use deltalake::kernel::Transaction;
use deltalake::DeltaTable;
use medallion_core::plan::quarantine_schema;
use medallion_core::table::{self, Staged, StagedWrite};
use tokio::runtime::Handle;
use tracing::{debug, info, warn};

use medallion_core::events::{Events, RunEvent, Stage};

use crate::decode::{quarantine_batch, BadMsg, Decoder, Msg};
use crate::metrics::Metrics;
use crate::Result;

/// Partition key.
pub type Tp = (String, i32);

/// The Delta app id holding a partition's next offset in Bronze.
pub fn app_id(topic: &str, partition: i32) -> String {
    format!("medallion.kafka.{topic}.{partition}")
}

/// The Delta app id holding a partition's next offset covered in the quarantine table.
pub fn quarantine_app_id(topic: &str, partition: i32) -> String {
    format!("medallion.kafka.quarantine.{topic}.{partition}")
}

#[derive(Default)]
pub struct PartState {
    /// The table's txn version this process builds on (`None`: the table has none).
    pub base: Option<i64>,
    /// The quarantine table's txn version (bad messages below it are already quarantined).
    pub q_base: Option<i64>,
    pub msgs: Vec<Msg>,
}

impl PartState {
    fn next_expected(&self) -> Option<i64> {
        self.msgs.last().map(|m| m.offset + 1).or(self.base)
    }
}

/// Limits that close a Bronze file.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_rows: u64,
    pub max_bytes: u64,
    pub max_age: Duration,
}

/// What a flush did.
#[derive(Debug, Default)]
pub struct Flushed {
    pub rows: u64,
    pub quarantined: u64,
    /// Next offsets committed, for Kafka's own offset store (lag tools).
    pub offsets: Vec<(Tp, i64)>,
    /// Partitions to re-seek: another consumer had committed past our buffer.
    pub reseek: Vec<(Tp, Option<i64>)>,
    /// The commits landed but their events could not be made durable (the audit trail):
    /// the caller applies `reseek` and offsets, then stops.
    pub events_error: Option<crate::Error>,
}

pub struct Sink {
    pub rt: Handle,
    pub decoder: Decoder,
    pub limits: Limits,
    pub bronze_name: String,
    pub bronze_loc: Location,
    pub q_name: String,
    pub q_loc: Location,
    pub metadata: HashMap<String, serde_json::Value>,
    pub metrics: Arc<Metrics>,
    /// The stream's events (commits, quarantines, retries): the metrics and the audit trail
    /// are sinks of them. By default only the metrics.
    pub events: Events,
    pub parts: BTreeMap<Tp, PartState>,
    rows: u64,
    bytes: u64,
    oldest: Option<Instant>,
    last_ingest: i64,
    bronze: Option<DeltaTable>,
    quarantine: Option<DeltaTable>,
    /// Table properties recorded when the Bronze / quarantine tables are created.
    pub properties: HashMap<String, String>,
    pub q_properties: HashMap<String, String>,
    /// The partition whose owner compacts Bronze (partition 0 of the first topic), so that
    /// one process of the group compacts at a time.
    pub compactor_key: Option<Tp>,
    /// [`Sink::push`]'s lookup key, reused.
    key_buf: Tp,
}

impl Sink {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rt: Handle,
        decoder: Decoder,
        limits: Limits,
        bronze: (String, Location),
        quarantine: (String, Location),
        metadata: HashMap<String, serde_json::Value>,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics.set_stream_run(&decoder.run_id);
        let events = Events::new(&decoder.run_id, vec![metrics.clone()]);
        Self {
            rt,
            events,
            decoder,
            limits,
            bronze_name: bronze.0,
            bronze_loc: bronze.1,
            q_name: quarantine.0,
            q_loc: quarantine.1,
            metadata,
            metrics,
            parts: BTreeMap::new(),
            properties: HashMap::new(),
            q_properties: HashMap::new(),
            compactor_key: None,
            key_buf: (String::new(), 0),
            rows: 0,
            bytes: 0,
            oldest: None,
            last_ingest: 0,
            bronze: None,
            quarantine: None,
        }
    }

    /// Creates the Bronze table (with the Kafka schema) when it does not exist yet.
    pub async fn ensure_table(&mut self) -> Result<()> {
        for _ in 0..5 {
            if let Some(t) = table::open_if_exists(&self.bronze_name, &self.bronze_loc).await? {
                self.bronze = Some(t);
                return Ok(());
            }
            let empty = Staged {
                name: self.bronze_name.clone(),
                location: self.bronze_loc.clone(),
                schema: self.decoder.bronze.clone(),
                adds: vec![],
                rows: 0,
                properties: self.properties.clone(),
            };
            match empty.commit(None, self.metadata.clone(), vec![]).await {
                Ok(t) => {
                    if let Some(t) = &t {
                        self.committed(&self.bronze_name.clone(), "bronze", t, "create", (0, 0, 0));
                        self.events.flush().await?;
                    }
                    self.bronze = t;
                    return Ok(());
                }
                // Another process created it first.
                Err(e) => debug!(error = %e, "Bronze table creation raced; reopening."),
            }
        }
        Err(crate::Error::Config(format!(
            "cannot create or open the Bronze table {}",
            self.bronze_name
        )))
    }

    async fn refresh(&mut self) -> Result<()> {
        match self.bronze.as_mut() {
            Some(t) => t
                .update_state()
                .await
                .map_err(|e| crate::table_error(&self.bronze_name, e))?,
            None => {
                self.bronze = table::open_if_exists(&self.bronze_name, &self.bronze_loc).await?
            }
        }
        Ok(())
    }

    async fn refresh_quarantine(&mut self) -> Result<()> {
        match self.quarantine.as_mut() {
            Some(t) => t
                .update_state()
                .await
                .map_err(|e| crate::table_error(&self.q_name, e))?,
            None => self.quarantine = table::open_if_exists(&self.q_name, &self.q_loc).await?,
        }
        Ok(())
    }

    /// Takes partitions on assignment: reads their offsets from the tables (the source of
    /// truth) and returns where to start reading each (`None`: from the beginning).
    pub fn assign(&mut self, tps: &[Tp]) -> Result<Vec<(Tp, Option<i64>)>> {
        let rt = self.rt.clone();
        rt.block_on(async {
            self.refresh().await?;
            self.refresh_quarantine().await?;
            let mut out = Vec::new();
            for (t, p) in tps {
                let base = match &self.bronze {
                    Some(b) => table::txn_version(b, &app_id(t, *p)).await?,
                    None => None,
                };
                let q_base = match &self.quarantine {
                    Some(q) => table::txn_version(q, &quarantine_app_id(t, *p)).await?,
                    None => None,
                };
                info!(topic = %t, partition = p, offset = ?base, "Partition assigned; reading from the offset recorded in Bronze.");
                self.metrics.set_committed(t, *p, base);
                self.parts.insert(
                    (t.clone(), *p),
                    PartState {
                        base,
                        q_base,
                        msgs: Vec::new(),
                    },
                );
                out.push(((t.clone(), *p), base));
            }
            self.update_compactor();
            Ok(out)
        })
    }

    /// Records whether this process owns the compaction partition.
    fn update_compactor(&self) {
        let owns = self
            .compactor_key
            .as_ref()
            .is_some_and(|k| self.parts.contains_key(k));
        self.metrics
            .compactor
            .store(owns, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forgets partitions (after their pending rows were flushed, or to discard them).
    pub fn release(&mut self, tps: &[Tp]) {
        for tp in tps {
            if let Some(s) = self.parts.remove(tp) {
                if !s.msgs.is_empty() {
                    warn!(topic = %tp.0, partition = tp.1, messages = s.msgs.len(), "Discarding uncommitted messages of a revoked partition; its next owner re-reads them.");
                }
                self.rows -= s.msgs.len() as u64;
                self.bytes -= s
                    .msgs
                    .iter()
                    .map(|m| m.payload.as_ref().map_or(0, |p| p.len()) as u64)
                    .sum::<u64>();
            }
            self.metrics.forget_partition(&tp.0, tp.1);
        }
        self.update_compactor();
        if self.rows == 0 {
            self.oldest = None;
        }
    }

    /// Buffers a message. Messages of partitions not assigned, or below the next expected
    /// offset (already committed or already buffered), are ignored.
    pub fn push(&mut self, topic: &str, partition: i32, msg: Msg) {
        // The key is built in a reused buffer (this runs per message on the consumer thread).
        let mut key = std::mem::take(&mut self.key_buf);
        key.0.clear();
        key.0.push_str(topic);
        key.1 = partition;
        let state = self.parts.get_mut(&key);
        self.key_buf = key;
        let Some(state) = state else {
            return;
        };
        if let Some(next) = state.next_expected() {
            if msg.offset < next {
                return;
            }
        }
        self.rows += 1;
        self.bytes += msg.payload.as_ref().map_or(0, |p| p.len()) as u64;
        if self.oldest.is_none() {
            self.oldest = Some(msg.received);
        }
        state.msgs.push(msg);
    }

    pub fn pending_rows(&self) -> u64 {
        self.rows
    }

    /// Whether a file should be closed and committed now.
    pub fn due(&self) -> bool {
        self.rows >= self.limits.max_rows
            || self.bytes >= self.limits.max_bytes
            || self
                .oldest
                .is_some_and(|o| o.elapsed() >= self.limits.max_age)
    }

    /// Commits every buffered message (retrying conflicts).
    pub fn flush(&mut self) -> Result<Flushed> {
        if self.rows == 0 {
            return Ok(Flushed::default());
        }
        let rt = self.rt.clone();
        let mut last_err = None;
        let mut reseek = Vec::new();
        let (mut attempt, mut conflicts) = (0u32, 0u32);
        while attempt < 6 {
            match rt.block_on(self.try_flush(&mut reseek)) {
                Ok(mut f) => {
                    f.reseek = reseek;
                    // The commits' records (audit trail): an error is returned with the
                    // flush, whose commits and re-seeks stand.
                    f.events_error = rt.block_on(self.events.flush()).err().map(Into::into);
                    return Ok(f);
                }
                // Another commit landed on the version ours was built on (commits are made
                // without automatic retry so the offset check holds): re-check and retry.
                Err(e) if is_version_conflict(&e) && conflicts < 100 => {
                    conflicts += 1;
                    self.retried(true, &e);
                    debug!(error = %e, conflicts, "Concurrent commit; re-checking offsets and retrying.");
                }
                Err(e) => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(50 << attempt.min(4)));
                    self.retried(false, &e);
                    warn!(error = %e, attempt, "Bronze commit failed; re-checking offsets and retrying.");
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.expect("an attempt failed"))
    }

    async fn try_flush(&mut self, reseek: &mut Vec<(Tp, Option<i64>)>) -> Result<Flushed> {
        use std::sync::atomic::Ordering::Relaxed;
        let started = Instant::now();
        self.refresh().await?;
        // Guard: drop partitions whose offsets another consumer has committed meanwhile.
        let keys: Vec<Tp> = self.parts.keys().cloned().collect();
        for tp in &keys {
            let (has, base) = {
                let s = &self.parts[tp];
                (!s.msgs.is_empty(), s.base)
            };
            if !has {
                continue;
            }
            let now = match &self.bronze {
                Some(b) => table::txn_version(b, &app_id(&tp.0, tp.1)).await?,
                None => None,
            };
            if now != base {
                let s = self.parts.get_mut(tp).expect("present");
                let n = s.msgs.len() as u64;
                warn!(topic = %tp.0, partition = tp.1, ours = ?base, table = ?now, dropped = n, "Another consumer committed this partition; dropping our copy and re-reading from the table's offset.");
                self.metrics.stale_dropped.fetch_add(n, Relaxed);
                self.rows -= n;
                self.bytes -= s
                    .msgs
                    .iter()
                    .map(|m| m.payload.as_ref().map_or(0, |p| p.len()) as u64)
                    .sum::<u64>();
                s.msgs.clear();
                s.base = now;
                self.metrics.set_committed(&tp.0, tp.1, now);
                reseek.push((tp.clone(), now));
            }
        }
        if self.rows == 0 {
            self.oldest = None;
            return Ok(Flushed::default());
        }
        let now_us = chrono::Utc::now().timestamp_micros();
        let ingest_time = now_us.max(self.last_ingest + 1);
        let checked_at = Instant::now();

        // Decode (all partitions, on every core).
        let decoded = crate::encode::decode_all(&self.decoder, &self.parts, ingest_time)?;
        let decoded_at = Instant::now();
        let mut txns = Vec::new();
        let mut offsets = Vec::new();
        for (tp, s) in &self.parts {
            let Some(last) = s.msgs.last() else { continue };
            txns.push(Transaction::new(&app_id(&tp.0, tp.1), last.offset + 1));
            offsets.push((tp.clone(), last.offset + 1));
        }

        // Quarantine first (its own txns make a replay skip what it already holds).
        let quarantined = self
            .quarantine_bad(&decoded.bad_by_part, ingest_time)
            .await?;

        // Bronze: the rows (a file per worker) and every partition's next offset, in one commit.
        let staged = crate::encode::write_all(
            &self.rt,
            &self.bronze_name,
            &self.bronze_loc,
            &self.decoder,
            decoded.groups,
        )
        .await?;
        let written_at = Instant::now();
        let counts = counts(&staged);
        let rows = staged.rows;
        let existing = self.bronze.take();
        let after = staged
            .commit_with(existing, self.metadata.clone(), txns, Some(0))
            .await?;
        if let Some(t) = &after {
            self.committed(&self.bronze_name.clone(), "bronze", t, "append", counts);
        }
        self.bronze = after;
        self.last_ingest = ingest_time;
        for (tp, next) in &offsets {
            if let Some(s) = self.parts.get_mut(tp) {
                s.base = Some(*next);
                s.msgs.clear();
            }
            self.metrics.set_committed(&tp.0, tp.1, Some(*next));
        }
        self.rows = 0;
        self.bytes = 0;
        self.oldest = None;
        let took = started.elapsed();
        self.metrics.observe_commit(took);
        info!(
            table = %self.bronze_name,
            version = self.bronze.as_ref().map(table::version).unwrap_or(-1),
            rows,
            quarantined,
            partitions = offsets.len(),
            took_ms = took.as_millis() as u64,
            check_ms = (checked_at - started).as_millis() as u64,
            decode_ms = (decoded_at - checked_at).as_millis() as u64,
            write_ms = (written_at - decoded_at).as_millis() as u64,
            commit_ms = written_at.elapsed().as_millis() as u64,
            "Committed Bronze rows with their offsets."
        );
        Ok(Flushed {
            rows,
            quarantined,
            offsets,
            reseek: vec![],
            events_error: None,
        })
    }

    /// Commits the undecodable messages the quarantine table does not hold yet, with each
    /// partition's quarantine txn in the same commit (a replay skips what it already holds).
    /// Returns how many it quarantined.
    async fn quarantine_bad(
        &mut self,
        bad_by_part: &[(Tp, Vec<BadMsg>, i64)],
        ingest_time: i64,
    ) -> Result<u64> {
        let mut quarantined = 0u64;
        let mut rules: BTreeMap<&'static str, u64> = BTreeMap::new();
        if bad_by_part.is_empty() {
            return Ok(0);
        }
        self.refresh_quarantine().await?;
        let mut w = StagedWrite::new(&self.q_name, &self.q_loc, quarantine_schema())?
            .with_properties(self.q_properties.clone());
        let mut q_txns = Vec::new();
        for (tp, bad, next) in bad_by_part {
            let covered = match &self.quarantine {
                Some(q) => table::txn_version(q, &quarantine_app_id(&tp.0, tp.1)).await?,
                None => None,
            };
            let fresh: Vec<_> = bad
                .iter()
                .filter(|b| covered.is_none_or(|c| b.offset >= c))
                .cloned()
                .collect();
            if fresh.is_empty() {
                continue;
            }
            quarantined += fresh.len() as u64;
            for b in &fresh {
                *rules.entry(b.rule).or_insert(0u64) += 1;
            }
            w.write(quarantine_batch(
                &tp.0,
                tp.1,
                &fresh,
                &self.decoder.run_id,
                ingest_time,
            )?)
            .await?;
            q_txns.push(Transaction::new(&quarantine_app_id(&tp.0, tp.1), *next));
        }
        let staged = w.finish().await?;
        if !q_txns.is_empty() {
            let q = self.quarantine.take();
            let before = q.as_ref().map(table::version);
            let counts = counts(&staged);
            let after = staged
                .commit_with(q, self.metadata.clone(), q_txns, Some(0))
                .await;
            self.quarantine = None; // reopened on next use
            let after = after?;
            if let Some(t) = &after {
                let op = if before.is_some() { "append" } else { "create" };
                self.committed(&self.q_name.clone(), "quarantine", t, op, counts);
                for (rule, rows) in &rules {
                    self.events.emit(RunEvent::RowsQuarantined {
                        table: self.bronze_name.clone(),
                        stage: Stage::Bronze,
                        rule: rule.to_string(),
                        rows: *rows,
                    });
                }
            }
            self.quarantine = after;
            for (tp, _, next) in bad_by_part {
                if let Some(s) = self.parts.get_mut(tp) {
                    s.q_base = Some(*next);
                }
            }
        }
        Ok(quarantined)
    }

    /// Emits the commit of `table` (flushed by [`Sink::flush`] once the whole flush landed).
    fn committed(
        &self,
        table: &str,
        layer: &str,
        t: &DeltaTable,
        op: &str,
        (rows, files, bytes): (u64, u64, u64),
    ) {
        self.events.emit(RunEvent::TableCommitted {
            table: table.to_string(),
            table_id: table::table_id(t),
            layer: layer.to_string(),
            version: table::version(t),
            operation: op.to_string(),
            rows,
            files,
            bytes,
        });
    }

    fn retried(&self, conflict: bool, e: &crate::Error) {
        self.events.emit(RunEvent::CommitRetried {
            table: self.bronze_name.clone(),
            conflict,
            error: e.to_string(),
        });
    }

    /// The Bronze schema written by the stream.
    pub fn schema(&self) -> SchemaRef {
        self.decoder.bronze.clone()
    }
}

/// Rows, files and bytes a staged write adds.
fn counts(s: &Staged) -> (u64, u64, u64) {
    (
        s.rows,
        s.adds.len() as u64,
        s.adds.iter().map(|a| a.size as u64).sum(),
    )
}

/// Whether a commit failed only because another commit took the version it was built on.
fn is_version_conflict(e: &crate::Error) -> bool {
    matches!(e, crate::Error::Core(e) if medallion_core::table::error_is_commit_race(e))
}
