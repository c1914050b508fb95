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
//!
//! Pipelining: a full roll is handed to a thread that commits it ([`Sink::start_flush`])
//! while the consumer buffers the next roll; at most one roll is in flight. Each partition's
//! `base` in the buffer is then the offset the table will hold once the roll lands, so the
//! next roll's guard holds as before. When the roll is settled ([`Sink::settle`]):
//! - it landed: a partition another consumer had taken is re-read from the table's offset,
//!   and what was buffered of it since is dropped too;
//! - it failed: its messages go back in front of the buffer with the roll's bases (nothing of
//!   it is known to be committed; the next flush re-checks, so a commit that did land in fact
//!   is dropped then, not written twice); a partition its guard found taken is dropped from
//!   the buffer and re-read, one whose table offset is the roll's end (the table holds the
//!   roll) goes on from there.
//! - The callers that settle a roll before a rebalance or on stop ([`Sink::flush`],
//!   `settle_before_rebalance`) drop its re-seeks: the partitions are released or nothing
//!   more is read.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::decode::Msg;
use crate::metrics::Metrics;
use crate::writer::Writer;
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

    fn payload_bytes(&self) -> u64 {
        self.msgs
            .iter()
            .map(|m| m.payload.as_ref().map_or(0, |p| p.len()) as u64)
            .sum()
    }
}

/// Buffered messages per partition, with their totals: the roll being filled, or one taken
/// out of it to be committed.
#[derive(Default)]
pub struct Buffer {
    pub parts: BTreeMap<Tp, PartState>,
    pub rows: u64,
    pub bytes: u64,
    pub oldest: Option<Instant>,
}

impl Buffer {
    /// Drops a partition's buffered messages; returns how many.
    pub fn discard(&mut self, tp: &Tp) -> u64 {
        let Some(s) = self.parts.get_mut(tp) else {
            return 0;
        };
        let n = s.msgs.len() as u64;
        self.rows -= n;
        self.bytes -= s.payload_bytes();
        s.msgs.clear();
        if self.rows == 0 {
            self.oldest = None;
        }
        n
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

impl Flushed {
    /// This flush followed by `later`: counts add up, `later`'s offsets win.
    fn then(mut self, later: Flushed) -> Flushed {
        self.rows += later.rows;
        self.quarantined += later.quarantined;
        self.offsets
            .retain(|(tp, _)| !later.offsets.iter().any(|(t, _)| t == tp));
        self.offsets.extend(later.offsets);
        self.reseek.extend(later.reseek);
        self.events_error = self.events_error.or(later.events_error);
        self
    }
}

/// A roll that could not be committed: its messages are back in the buffer.
#[derive(Debug)]
pub struct Failed {
    pub error: crate::Error,
    /// Partitions the roll found taken by another consumer: re-read from the table's offset.
    pub reseek: Vec<(Tp, Option<i64>)>,
}

/// A roll being committed on its own thread; it gives back the writer, the roll and what
/// became of it.
type InFlight = JoinHandle<(Writer, Buffer, Result<Flushed>)>;

pub struct Sink {
    pub limits: Limits,
    metrics: Arc<Metrics>,
    /// The roll being filled.
    buf: Buffer,
    /// The writer, while no roll is in flight.
    writer: Option<Writer>,
    in_flight: Option<InFlight>,
    /// The partition whose owner compacts Bronze (partition 0 of the first topic), so that
    /// one process of the group compacts at a time.
    pub compactor_key: Option<Tp>,
    /// [`Sink::push`]'s lookup key, reused.
    key_buf: Tp,
}

impl Sink {
    pub fn new(writer: Writer, limits: Limits) -> Self {
        Self {
            limits,
            metrics: writer.metrics.clone(),
            buf: Buffer::default(),
            writer: Some(writer),
            in_flight: None,
            compactor_key: None,
            key_buf: (String::new(), 0),
        }
    }

    /// Takes partitions on assignment: reads their offsets from the tables (the source of
    /// truth) and returns where to start reading each (`None`: from the beginning).
    pub fn assign(&mut self, tps: &[Tp]) -> Result<Vec<(Tp, Option<i64>)>> {
        self.settle_before_rebalance();
        let offsets = self.writer.as_mut().expect("settled").offsets(tps)?;
        let mut out = Vec::new();
        for ((t, p), (base, q_base)) in tps.iter().zip(offsets) {
            info!(topic = %t, partition = p, offset = ?base, "Partition assigned; reading from the offset recorded in Bronze.");
            self.metrics.set_committed(t, *p, base);
            let state = PartState {
                base,
                q_base,
                msgs: Vec::new(),
            };
            self.buf.parts.insert((t.clone(), *p), state);
            out.push(((t.clone(), *p), base));
        }
        self.update_compactor();
        Ok(out)
    }

    /// Records whether this process owns the compaction partition.
    fn update_compactor(&self) {
        let owns = self
            .compactor_key
            .as_ref()
            .is_some_and(|k| self.buf.parts.contains_key(k));
        self.metrics.compactor.store(owns, Relaxed);
    }

    /// Forgets partitions (after their pending rows were flushed, or to discard them).
    pub fn release(&mut self, tps: &[Tp]) {
        self.settle_before_rebalance();
        for tp in tps {
            let n = self.buf.discard(tp);
            if n > 0 {
                warn!(topic = %tp.0, partition = tp.1, messages = n, "Discarding uncommitted messages of a revoked partition; its next owner re-reads them.");
            }
            self.buf.parts.remove(tp);
            self.metrics.forget_partition(&tp.0, tp.1);
        }
        self.update_compactor();
    }

    /// Partitions change only with no roll in flight. A roll still in flight here (a
    /// rebalance that did not flush first) is waited for; what became of it is logged.
    fn settle_before_rebalance(&mut self) {
        match self.settle(true) {
            Some(Ok(f)) if f.events_error.is_some() => {
                error!(error = ?f.events_error, "A roll committed before a rebalance, but its audit record is not written yet.")
            }
            Some(Err(failed)) => {
                warn!(error = %failed.error, "A roll in flight at a rebalance was not committed; its messages are buffered again.")
            }
            _ => {}
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
        let state = self.buf.parts.get_mut(&key);
        self.key_buf = key;
        let Some(state) = state else {
            return;
        };
        if let Some(next) = state.next_expected() {
            if msg.offset < next {
                return;
            }
        }
        self.buf.rows += 1;
        self.buf.bytes += msg.payload.as_ref().map_or(0, |p| p.len()) as u64;
        if self.buf.oldest.is_none() {
            self.buf.oldest = Some(msg.received);
        }
        state.msgs.push(msg);
    }

    pub fn pending_rows(&self) -> u64 {
        self.buf.rows
    }

    /// Whether a file should be closed and committed now.
    pub fn due(&self) -> bool {
        let b = &self.buf;
        b.rows >= self.limits.max_rows
            || b.bytes >= self.limits.max_bytes
            || b.oldest.is_some_and(|o| o.elapsed() >= self.limits.max_age)
    }

    /// Hands the buffered messages to a thread that commits them while the consumer keeps
    /// buffering. The roll in flight, if any, must be settled first ([`Sink::settle`]).
    pub fn start_flush(&mut self) {
        assert!(self.in_flight.is_none(), "one roll in flight at a time");
        if self.buf.rows == 0 {
            return;
        }
        let mut roll = self.take_roll();
        let mut writer = self.writer.take().expect("no roll in flight");
        let thread = std::thread::Builder::new()
            .name("bronze-commit".into())
            .spawn(move || {
                let res = writer.flush(&mut roll);
                (writer, roll, res)
            })
            // Nothing is lost: the roll's offsets are not in the table, so it is re-read.
            .expect("cannot start the Bronze commit thread");
        self.in_flight = Some(thread);
    }

    /// Settles the roll in flight: waits for it (`wait`) or only looks whether it is done.
    /// `None`: no roll was in flight, or it is not done yet.
    pub fn settle(&mut self, wait: bool) -> Option<std::result::Result<Flushed, Failed>> {
        let thread = self.in_flight.take()?;
        if !wait && !thread.is_finished() {
            self.in_flight = Some(thread);
            return None;
        }
        let (writer, roll, res) = thread
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        self.writer = Some(writer);
        Some(self.absorb(roll, res))
    }

    /// Commits everything buffered, the roll in flight first, and waits for it (before a
    /// revocation and on stop). If the roll in flight landed but its audit record could not
    /// be written, that is returned at once (the caller stops or releases the partitions,
    /// and the rest is re-read). If the rest fails, the error is returned; the roll in
    /// flight stays committed (its Kafka offsets, for lag tools only, are not).
    pub fn flush(&mut self) -> Result<Flushed> {
        let before = match self.settle(true) {
            Some(Ok(f)) if f.events_error.is_some() => return Ok(f),
            Some(Ok(f)) => f,
            Some(Err(failed)) => {
                warn!(error = %failed.error, "The roll in flight was not committed; committing it again with the rest.");
                Flushed::default()
            }
            None => Flushed::default(),
        };
        if self.buf.rows == 0 {
            return Ok(before);
        }
        let mut roll = self.take_roll();
        let res = self.writer.as_mut().expect("settled").flush(&mut roll);
        match self.absorb(roll, res) {
            Ok(f) => Ok(before.then(f)),
            Err(failed) => Err(failed.error),
        }
    }

    /// Takes the buffered messages out as a roll. Each partition's `base` becomes the offset
    /// the table holds once the roll lands, which the next roll's guard checks.
    fn take_roll(&mut self) -> Buffer {
        let mut roll = Buffer {
            parts: BTreeMap::new(),
            rows: std::mem::take(&mut self.buf.rows),
            bytes: std::mem::take(&mut self.buf.bytes),
            oldest: self.buf.oldest.take(),
        };
        for (tp, s) in self.buf.parts.iter_mut() {
            let Some(last) = s.msgs.last() else { continue };
            let next = last.offset + 1;
            let taken = PartState {
                base: s.base,
                q_base: s.q_base,
                msgs: std::mem::take(&mut s.msgs),
            };
            roll.parts.insert(tp.clone(), taken);
            s.base = Some(next);
        }
        roll
    }

    /// Folds what became of a roll into the buffer (see the module documentation).
    fn absorb(
        &mut self,
        roll: Buffer,
        res: Result<Flushed>,
    ) -> std::result::Result<Flushed, Failed> {
        match res {
            Ok(f) => {
                for (tp, rp) in roll.parts {
                    if f.reseek.iter().any(|(t, _)| *t == tp) {
                        self.drop_taken(&tp, rp.base);
                    }
                    if let Some(s) = self.buf.parts.get_mut(&tp) {
                        s.q_base = rp.q_base;
                    }
                }
                Ok(f)
            }
            Err(error) => Err(Failed {
                error,
                reseek: self.put_back(roll),
            }),
        }
    }

    /// A partition another consumer has committed up to `table`: what the buffer holds of it
    /// was read after the roll and is stale too; it is re-read from the table's offset.
    fn drop_taken(&mut self, tp: &Tp, table: Option<i64>) {
        let n = self.buf.discard(tp);
        if n > 0 {
            self.metrics.stale_dropped.fetch_add(n, Relaxed);
            warn!(topic = %tp.0, partition = tp.1, table = ?table, dropped = n, "Dropping what was buffered after a roll of a partition another consumer committed.");
        }
        if let Some(s) = self.buf.parts.get_mut(tp) {
            s.base = table;
        }
    }

    /// Puts a roll that was not committed back in front of the buffer, with the roll's
    /// bases. Returns the partitions it found taken by another consumer (their messages
    /// were dropped from the roll): those are dropped from the buffer too, to be re-read.
    fn put_back(&mut self, roll: Buffer) -> Vec<(Tp, Option<i64>)> {
        let mut reseek = Vec::new();
        for (tp, mut rp) in roll.parts {
            if rp.msgs.is_empty() {
                // Every partition of a roll has messages when it is taken; only the guard
                // empties one. At the roll's end (the buffer's base) the table holds exactly
                // the roll and the buffer goes on from there; elsewhere it was taken.
                let held = self.buf.parts.get(&tp).is_some_and(|s| s.base == rp.base);
                if !held {
                    self.drop_taken(&tp, rp.base);
                    reseek.push((tp, rp.base));
                }
                continue;
            }
            let Some(s) = self.buf.parts.get_mut(&tp) else {
                continue;
            };
            self.buf.rows += rp.msgs.len() as u64;
            self.buf.bytes += rp.payload_bytes();
            rp.msgs.append(&mut s.msgs);
            s.msgs = rp.msgs;
            s.base = rp.base;
            s.q_base = rp.q_base;
        }
        self.buf.oldest = match (roll.oldest, self.buf.oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        reseek
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::kernel::Transaction;
    use medallion_core::table::{self, Location, Staged};
    use std::collections::HashMap;

    const P0: (&str, i32) = ("t", 0);

    fn tp(p: i32) -> Tp {
        ("t".to_string(), p)
    }

    fn msg(offset: i64) -> Msg {
        Msg {
            offset,
            payload: Some(format!(r#"{{"id":"{offset}"}}"#).into_bytes()),
            key: None,
            timestamp_ms: Some(1_700_000_000_000),
            headers: Ok(None),
            received: Instant::now(),
        }
    }

    /// A sink on a Bronze table in `dir`, partitions 0 and 1 of topic `t` assigned.
    fn sink(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Sink {
        let decoder = crate::decode::test_decoder();
        let loc = |rel: &str| Location::local(&dir.join(rel)).unwrap();
        let mut w = Writer::new(
            rt.handle().clone(),
            decoder,
            ("bronze.clicks".into(), loc("bronze")),
            ("quarantine.clicks".into(), loc("quarantine")),
            HashMap::new(),
            Arc::new(Metrics::default()),
        );
        rt.block_on(w.ensure_table()).unwrap();
        let limits = Limits {
            max_rows: 1_000,
            max_bytes: 1 << 20,
            max_age: Duration::from_secs(60),
        };
        let mut s = Sink::new(w, limits);
        s.assign(&[tp(0), tp(1)]).unwrap();
        s
    }

    fn setup() -> (tokio::runtime::Runtime, tempfile::TempDir, Sink) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let s = sink(&rt, dir.path());
        (rt, dir, s)
    }

    /// `roll` fails after its guard found partition `p` at `table` in the table (and
    /// dropped the roll's messages of it).
    fn fail_after_guard(s: &mut Sink, mut roll: Buffer, p: i32, table: i64) -> Failed {
        roll.discard(&tp(p));
        roll.parts.get_mut(&tp(p)).unwrap().base = Some(table);
        let failed = s.absorb(roll, Err(crate::Error::Config("disk full".into())));
        failed.unwrap_err()
    }

    fn push(s: &mut Sink, p: i32, offsets: std::ops::Range<i64>) {
        for o in offsets {
            s.push(P0.0, p, msg(o));
        }
    }

    fn offsets(s: &Sink, p: i32) -> Vec<i64> {
        s.buf.parts[&tp(p)].msgs.iter().map(|m| m.offset).collect()
    }

    /// The Bronze table of a [`sink`] in `dir`.
    async fn bronze(dir: &std::path::Path) -> (Location, deltalake::DeltaTable) {
        let loc = Location::local(&dir.join("bronze")).unwrap();
        let t = table::open_if_exists("bronze.clicks", &loc).await.unwrap();
        (loc, t.unwrap())
    }

    fn table_state(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (u64, Vec<Option<i64>>) {
        rt.block_on(async {
            let (_, t) = bronze(dir).await;
            let rows = table::file_stats(&t).unwrap().rows.unwrap();
            let mut v = Vec::new();
            for p in 0..2 {
                v.push(table::txn_version(&t, &app_id("t", p)).await.unwrap());
            }
            (rows, v)
        })
    }

    /// Another writer records partition 0's next offset as `next` in the table.
    fn commit_offset(rt: &tokio::runtime::Runtime, dir: &std::path::Path, s: &Sink, next: i64) {
        rt.block_on(async {
            let (loc, t) = bronze(dir).await;
            let empty = Staged {
                name: "bronze.clicks".into(),
                location: loc,
                schema: s.writer.as_ref().unwrap().decoder.bronze.clone(),
                adds: vec![],
                rows: 0,
                properties: HashMap::new(),
            };
            let txn = Transaction::new(&app_id("t", 0), next);
            empty
                .commit_with(Some(t), HashMap::new(), vec![txn], Some(0))
                .await
                .unwrap();
        });
    }

    /// Pipelining: a roll commits on its own thread while the next one fills; messages of
    /// the roll in flight are not buffered twice, and both rolls land with their offsets.
    #[test]
    fn a_roll_in_flight_lands_while_the_next_one_fills() {
        let (rt, dir, mut s) = setup();
        push(&mut s, 0, 0..50);
        push(&mut s, 1, 0..50);
        s.start_flush();
        push(&mut s, 0, 40..80); // 40..49 are in the roll in flight: ignored
        assert_eq!(offsets(&s, 0), (50..80).collect::<Vec<_>>());
        let f = s.settle(true).expect("in flight").expect("landed");
        assert_eq!(f.rows, 100);
        assert_eq!(f.offsets, vec![(tp(0), 50), (tp(1), 50)]);
        assert_eq!(s.pending_rows(), 30);
        let f = s.flush().unwrap();
        assert_eq!((f.rows, f.offsets), (30, vec![(tp(0), 80)]));
        assert_eq!(
            table_state(&rt, dir.path()),
            (130, vec![Some(80), Some(50)])
        );
    }

    /// Another consumer committed partition 0 while we read it: the roll's copy and what was
    /// buffered after the roll are both dropped, and the partition is re-read from the
    /// table's offset.
    #[test]
    fn a_partition_taken_meanwhile_drops_the_roll_and_what_followed_it() {
        let (rt, dir, mut s) = setup();
        commit_offset(&rt, dir.path(), &s, 20);
        push(&mut s, 0, 0..10);
        push(&mut s, 1, 0..5);
        s.start_flush();
        push(&mut s, 0, 10..15);
        let f = s.settle(true).expect("in flight").expect("landed");
        assert_eq!((f.rows, f.reseek), (5, vec![(tp(0), Some(20))]));
        assert_eq!(s.pending_rows(), 0);
        push(&mut s, 0, 15..22); // below the table's offset: ignored
        assert_eq!(offsets(&s, 0), vec![20, 21]);
        assert_eq!(s.metrics.stale_dropped.load(Relaxed), 15);
    }

    /// A roll that fails goes back in front of what was buffered since, with its bases; a
    /// partition its guard found taken is dropped from the buffer too and re-read.
    #[test]
    fn a_failed_roll_goes_back_in_front_of_the_buffer() {
        let (rt, dir, mut s) = setup();
        push(&mut s, 0, 0..10);
        push(&mut s, 1, 0..10);
        let roll = s.take_roll();
        assert_eq!(s.buf.parts[&tp(0)].base, Some(10));
        push(&mut s, 0, 10..15);
        push(&mut s, 1, 10..13);
        // The guard found partition 1 taken by another consumer (committed up to 30).
        let failed = fail_after_guard(&mut s, roll, 1, 30);
        assert_eq!(failed.reseek, vec![(tp(1), Some(30))]);
        assert_eq!(offsets(&s, 0), (0..15).collect::<Vec<_>>());
        assert_eq!(s.buf.parts[&tp(0)].base, None);
        assert!(offsets(&s, 1).is_empty());
        assert_eq!(s.buf.parts[&tp(1)].base, Some(30));
        assert_eq!(s.pending_rows(), 15);
        assert_eq!(s.buf.bytes, s.buf.parts[&tp(0)].payload_bytes());
        // Committed again in one flush, in offset order.
        let f = s.flush().unwrap();
        assert_eq!((f.rows, f.offsets), (15, vec![(tp(0), 15)]));
        assert_eq!(table_state(&rt, dir.path()), (15, vec![Some(15), None]));
    }

    /// The table already holds exactly the roll (an attempt that reported an error had in
    /// fact landed): the roll is not written again, and what was buffered after it stays —
    /// when the roll succeeds and when it fails.
    #[test]
    fn a_roll_the_table_already_holds_is_not_written_again_and_reading_goes_on() {
        let (rt, dir, mut s) = setup();
        commit_offset(&rt, dir.path(), &s, 10);
        push(&mut s, 0, 0..10);
        s.start_flush();
        push(&mut s, 0, 10..15);
        let f = s.settle(true).expect("in flight").expect("settled");
        assert_eq!((f.rows, f.reseek.len()), (0, 0));
        assert_eq!(offsets(&s, 0), (10..15).collect::<Vec<_>>());
        assert_eq!(s.metrics.stale_dropped.load(Relaxed), 0);
        let f = s.flush().unwrap();
        assert_eq!((f.rows, f.offsets), (5, vec![(tp(0), 15)]));
        assert_eq!(table_state(&rt, dir.path()), (5, vec![Some(15), None]));
        // From a base the table had (15): the table moves to the roll's end (20).
        push(&mut s, 0, 15..20);
        commit_offset(&rt, dir.path(), &s, 20);
        s.start_flush();
        push(&mut s, 0, 20..22);
        let f = s.settle(true).expect("in flight").expect("settled");
        // Signalled like a commit (Kafka offsets, the follower), no re-seek.
        assert_eq!(
            (f.rows, f.offsets, f.reseek.len()),
            (0, vec![(tp(0), 20)], 0)
        );
        assert_eq!(offsets(&s, 0), vec![20, 21]);
        assert_eq!(s.pending_rows(), 2);
        // The same when the roll fails after its guard found the table at the roll's end.
        let roll = s.take_roll();
        push(&mut s, 0, 22..24);
        let failed = fail_after_guard(&mut s, roll, 0, 22);
        assert!(failed.reseek.is_empty());
        assert_eq!(offsets(&s, 0), vec![22, 23]);
        assert_eq!(s.buf.parts[&tp(0)].base, Some(22));
        assert_eq!(s.pending_rows(), 2);
        assert_eq!(s.buf.bytes, s.buf.parts[&tp(0)].payload_bytes());
        assert_eq!(table_state(&rt, dir.path()), (5, vec![Some(20), None]));
    }
}
