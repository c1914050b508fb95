//! The committing half of a stream's Bronze sink: the Bronze and quarantine tables, the
//! decoder, and the commit of one roll of buffered messages (see [`crate::sink`] for the
//! exactly-once rules). A [`Writer`] is owned by the sink, or by the thread that commits a
//! roll while the consumer keeps buffering the next one.

use medallion_core::table::Location;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deltalake::kernel::Transaction;
use deltalake::DeltaTable;
use medallion_core::events::{Events, RunEvent, Stage};
use medallion_core::plan::quarantine_schema;
use medallion_core::table::{self, Staged, StagedWrite};
use tokio::runtime::Handle;
use tracing::{debug, info, warn};

use crate::decode::{quarantine_batch, BadMsg, Decoder};
use crate::metrics::Metrics;
use crate::sink::{app_id, quarantine_app_id, Buffer, Flushed, Tp};
use crate::Result;

pub struct Writer {
    pub rt: Handle,
    pub decoder: Decoder,
    pub bronze_name: String,
    pub bronze_loc: Location,
    pub q_name: String,
    pub q_loc: Location,
    pub metadata: HashMap<String, serde_json::Value>,
    pub metrics: Arc<Metrics>,
    /// The stream's events (commits, quarantines, retries): the metrics and the audit trail
    /// are sinks of them. By default only the metrics.
    pub events: Events,
    last_ingest: i64,
    bronze: Option<DeltaTable>,
    quarantine: Option<DeltaTable>,
    /// Table properties recorded when the Bronze / quarantine tables are created.
    pub properties: HashMap<String, String>,
    pub q_properties: HashMap<String, String>,
}

impl Writer {
    pub fn new(
        rt: Handle,
        decoder: Decoder,
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
            bronze_name: bronze.0,
            bronze_loc: bronze.1,
            q_name: quarantine.0,
            q_loc: quarantine.1,
            metadata,
            metrics,
            properties: HashMap::new(),
            q_properties: HashMap::new(),
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

    /// The offsets the tables record for `tps` (the source of truth): for each, the next
    /// offset Bronze expects and the next one the quarantine covers (`None`: none recorded).
    pub fn offsets(&mut self, tps: &[Tp]) -> Result<Vec<(Option<i64>, Option<i64>)>> {
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
                out.push((base, q_base));
            }
            Ok(out)
        })
    }

    /// Commits every message of `roll` (retrying conflicts). On success the roll's
    /// partitions hold no messages and their `base` is the table's next offset.
    pub fn flush(&mut self, roll: &mut Buffer) -> Result<Flushed> {
        if roll.rows == 0 {
            return Ok(Flushed::default());
        }
        let rt = self.rt.clone();
        let mut last_err = None;
        let mut reseek = Vec::new();
        let (mut attempt, mut conflicts) = (0u32, 0u32);
        while attempt < 6 {
            match rt.block_on(self.try_flush(roll, &mut reseek)) {
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

    async fn try_flush(
        &mut self,
        roll: &mut Buffer,
        reseek: &mut Vec<(Tp, Option<i64>)>,
    ) -> Result<Flushed> {
        let started = Instant::now();
        self.refresh().await?;
        let held = self.drop_stale(roll, reseek).await?;
        if roll.rows == 0 {
            roll.oldest = None;
            return Ok(Flushed {
                offsets: held,
                ..Flushed::default()
            });
        }
        let now_us = chrono::Utc::now().timestamp_micros();
        let ingest_time = now_us.max(self.last_ingest + 1);
        let checked_at = Instant::now();

        // Decode (all partitions, on every core).
        let decoded = crate::encode::decode_all(&self.decoder, &roll.parts, ingest_time)?;
        let decoded_at = Instant::now();
        let mut txns = Vec::new();
        let mut offsets = held;
        for (tp, s) in &roll.parts {
            let Some(last) = s.msgs.last() else { continue };
            txns.push(Transaction::new(&app_id(&tp.0, tp.1), last.offset + 1));
            offsets.push((tp.clone(), last.offset + 1));
        }

        // Quarantine first (its own txns make a replay skip what it already holds).
        let quarantined = self
            .quarantine_bad(roll, &decoded.bad_by_part, ingest_time)
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
            if let Some(s) = roll.parts.get_mut(tp) {
                s.base = Some(*next);
                s.msgs.clear();
            }
            self.metrics.set_committed(&tp.0, tp.1, Some(*next));
        }
        roll.rows = 0;
        roll.bytes = 0;
        roll.oldest = None;
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

    /// Guard: drops the roll's messages of partitions whose offsets another consumer has
    /// committed meanwhile (the table's txn version is not the roll's base), and records
    /// where to re-read them from, unless the table's offset is the roll's end (the table
    /// holds exactly these messages, so reading goes on). Returns those held partitions
    /// with their offsets (committed to Kafka and signalled like a commit of ours).
    async fn drop_stale(
        &mut self,
        roll: &mut Buffer,
        reseek: &mut Vec<(Tp, Option<i64>)>,
    ) -> Result<Vec<(Tp, i64)>> {
        let mut held = Vec::new();
        let keys: Vec<Tp> = roll.parts.keys().cloned().collect();
        for tp in &keys {
            let base = roll.parts[tp].base;
            if roll.parts[tp].msgs.is_empty() {
                continue;
            }
            let now = match &self.bronze {
                Some(b) => table::txn_version(b, &app_id(&tp.0, tp.1)).await?,
                None => None,
            };
            if now == base {
                continue;
            }
            let end = roll.parts[tp].msgs.last().map(|m| m.offset + 1);
            let n = roll.discard(tp);
            roll.parts.get_mut(tp).expect("present").base = now;
            self.metrics.set_committed(&tp.0, tp.1, now);
            if now == end {
                // The table holds exactly this roll (an attempt that reported an error had
                // landed): nothing to write, and reading goes on from here.
                info!(topic = %tp.0, partition = tp.1, table = ?now, messages = n, "The table already holds these messages; not writing them again.");
                held.extend(now.map(|v| (tp.clone(), v)));
            } else {
                warn!(topic = %tp.0, partition = tp.1, ours = ?base, table = ?now, dropped = n, "Another consumer committed this partition; dropping our copy and re-reading from the table's offset.");
                self.metrics.stale_dropped.fetch_add(n, Relaxed);
                reseek.push((tp.clone(), now));
            }
        }
        Ok(held)
    }

    /// Commits the undecodable messages the quarantine table does not hold yet, with each
    /// partition's quarantine txn in the same commit (a replay skips what it already holds).
    /// Returns how many it quarantined.
    async fn quarantine_bad(
        &mut self,
        roll: &mut Buffer,
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
                if let Some(s) = roll.parts.get_mut(tp) {
                    s.q_base = Some(*next);
                }
            }
        }
        Ok(quarantined)
    }

    /// Emits the commit of `table` (made durable by [`Writer::flush`] once the whole flush landed).
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
