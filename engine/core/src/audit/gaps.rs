//! Runs that stopped between a commit and its record (killed, power lost).
//!
//! A run keeps a marker `_medallion/audit/open/<run_id>.json` from its first record to its
//! last (refreshed at each commit). The next run that finds the marker of a dead run (same
//! host and its process is gone, or not refreshed for [`STALE_AFTER`]) reads the Delta log
//! of the dead run's tables, records every commit that run made without a record as
//! `commit_unrecorded`, then `run_interrupted`, and removes the marker.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::record::{Entry, Record};
use super::store::AuditLog;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::spec::TableName;
use crate::table;

/// A marker not refreshed for this long belongs to a dead run (runs on other hosts; a live
/// run refreshes its marker every [`REFRESH_EVERY`]).
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// How often a live process refreshes the markers of its runs.
pub const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The open-run marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    pub run_id: String,
    pub pipeline: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time (clock ticks since boot, `/proc/<pid>/stat`), so that a
    /// reused PID is not taken for the run's process.
    #[serde(default)]
    pub pid_start: Option<u64>,
    pub started_at: String,
    pub alive_at: String,
    /// Position of the run's `run_started` record.
    pub seq: u64,
    /// Tables the run may commit to: catalog name and location URL.
    pub tables: Vec<(String, String)>,
}

impl Marker {
    pub fn new(
        run_id: &str,
        pipeline: &str,
        started_at: &str,
        env: &Environment,
        tables: &[String],
    ) -> Self {
        Self {
            run_id: run_id.to_string(),
            pipeline: pipeline.to_string(),
            host: super::record::host_name(),
            pid: std::process::id(),
            pid_start: process_start(std::process::id()),
            started_at: started_at.to_string(),
            alive_at: now(),
            seq: 0,
            tables: tables
                .iter()
                .filter_map(|t| table_location(env, t).map(|l| (t.clone(), l)))
                .collect(),
        }
    }

    pub fn touch(&mut self) {
        self.alive_at = now();
    }

    /// Whether the run that wrote this marker is dead: on this host, its process is gone
    /// (or the PID now belongs to another process); anywhere, its marker was not refreshed
    /// for [`STALE_AFTER`].
    fn is_dead(&self, host: &str) -> bool {
        let stale = DateTime::parse_from_rfc3339(&self.alive_at)
            .map_or(true, |t| Utc::now() - t.with_timezone(&Utc) > STALE_AFTER);
        if self.host == host && std::path::Path::new("/proc/self").exists() {
            let gone = match (self.pid_start, process_start(self.pid)) {
                (_, None) => true,
                (Some(then), Some(now)) => then != now,
                (None, Some(_)) => false,
            };
            return gone || stale;
        }
        stale
    }
}

/// Start time of process `pid` (field 22 of `/proc/<pid>/stat`), None if there is none.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The location URL of a table of `env` named `db.table`.
pub fn table_location(env: &Environment, table: &str) -> Option<String> {
    let name = TableName::parse(table).ok()?;
    env.location(&name).ok().map(|l| l.url.to_string())
}

fn marker_key(log: &AuditLog, run_id: &str) -> Path {
    log.root.clone().join("open").join(format!("{run_id}.json"))
}

pub async fn write_marker(log: &AuditLog, m: &Marker) -> Result<()> {
    let bytes = serde_json::to_vec(m).expect("a marker serializes");
    let key = marker_key(log, &m.run_id);
    log.store
        .put(&key, bytes.into())
        .await
        .map(|_| ())
        .map_err(|e| marker_error(log, &key, e))
}

/// Removes a run's marker (and the claim of its recovery, if any).
pub async fn remove_marker(log: &AuditLog, run_id: &str) -> Result<()> {
    let claim = log
        .root
        .clone()
        .join("open")
        .join(format!("{run_id}.claim"));
    for key in [marker_key(log, run_id), claim] {
        match log.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(marker_error(log, &key, e)),
        }
    }
    Ok(())
}

/// The run's marker as stored now (None: removed).
async fn current_marker(log: &AuditLog, run_id: &str) -> Result<Option<Marker>> {
    let key = marker_key(log, run_id);
    let bytes = match log.store.get(&key).await {
        Ok(r) => r.bytes().await.map_err(|e| marker_error(log, &key, e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(marker_error(log, &key, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Input {
            path: format!("{}/{key}", log.shown),
            message: format!(
                "not a valid open-run marker ({e}); remove it if no run is in progress"
            ),
        })
}

fn marker_error(log: &AuditLog, key: &Path, e: object_store::Error) -> Error {
    Error::io(
        format!("audit trail {} ({key})", log.shown),
        std::io::Error::other(e.to_string()),
    )
}

/// Records the unrecorded commits of every dead run (not one of `ours`). A dead run's
/// marker is first claimed (created-only `open/<run>.claim`), so two processes never record
/// the same run twice.
pub async fn recover(log: &AuditLog, env: &Environment, ours: &[String]) -> Result<()> {
    let host = log.actor().who.host.clone();
    let mut first_err = None;
    for m in markers(log).await? {
        if !ours.contains(&m.run_id) && m.is_dead(&host) {
            // One dead run that cannot be recorded (say, a table that no longer resolves)
            // does not keep the others unrecorded; its error is returned after them.
            if let Err(e) = recover_one(log, env, &m).await {
                tracing::error!(run_id = %m.run_id, error = %e, "Could not record an interrupted run; the next run tries again.");
                first_err = first_err.or(Some(e));
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Records one dead run listed in `m`, unless another process holds or finished its recovery,
/// or the run turns out to be alive.
async fn recover_one(log: &AuditLog, env: &Environment, m: &Marker) -> Result<()> {
    let Some(ours) = claim(log, &m.run_id).await? else {
        return Ok(());
    };
    // Between our listing and our claim another process may have recorded the run and
    // removed marker and claim (the claim is ours but the run is done), or the run may have
    // refreshed its marker (it is alive after all: slow, not dead).
    match current_marker(log, &m.run_id).await? {
        None => return remove_marker(log, &m.run_id).await,
        Some(now) if now.alive_at != m.alive_at => return release_claim(log, &m.run_id).await,
        Some(_) => {}
    }
    let entries = unrecorded_entries(log, env, m, true).await?;
    // The walk of the Delta logs can be long: record only while the claim is still ours (a
    // claim older than STALE_AFTER may have been taken over).
    if !claim_is(log, &m.run_id, &ours).await? {
        return Ok(());
    }
    let unrecorded = entries
        .iter()
        .filter(|e| e.action == "commit_unrecorded")
        .count();
    log.append(entries).await?;
    remove_marker(log, &m.run_id).await?;
    tracing::warn!(run_id = %m.run_id, pipeline = %m.pipeline, unrecorded, "Recorded an interrupted run in the audit trail.");
    discard_scratch(env, &m.run_id).await;
    Ok(())
}

/// Deletes a dead run's temporary files below `<lake>/_medallion/tmp/<run>/` (typed rows in
/// clear, before `silver.pii`). A failure is logged: erasure and the bucket's lifecycle rule
/// on that prefix still find them.
async fn discard_scratch(env: &Environment, run_id: &str) {
    let result: Result<usize> = async {
        let loc = env
            .lake_location()?
            .child(&format!("_medallion/tmp/{run_id}"))?;
        if loc.local_path().is_some_and(|p| !p.is_dir()) {
            return Ok(0);
        }
        let (store, root) = loc.object_store()?;
        let paths: Vec<Path> = store
            .list(Some(&root))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| Error::Config(format!("listing {loc}: {e}")))?;
        for p in &paths {
            store
                .delete(p)
                .await
                .map_err(|e| Error::Config(format!("deleting {p}: {e}")))?;
        }
        Ok(paths.len())
    }
    .await;
    match result {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            run_id,
            files = n,
            "Deleted the temporary files of an interrupted run."
        ),
        Err(e) => {
            tracing::warn!(run_id, error = %e, "Could not delete the temporary files of an interrupted run.")
        }
    }
}

/// Records as `commit_unrecorded` every commit of `m`'s run found in its tables' Delta logs
/// without a record; with `interrupted`, then `run_interrupted` (unless the run's end was
/// recorded). Returns how many commits it recorded.
pub async fn record_unrecorded(
    log: &AuditLog,
    env: &Environment,
    m: &Marker,
    interrupted: bool,
) -> Result<usize> {
    let entries = unrecorded_entries(log, env, m, interrupted).await?;
    let unrecorded = entries
        .iter()
        .filter(|e| e.action == "commit_unrecorded")
        .count();
    log.append(entries).await?;
    Ok(unrecorded)
}

/// The records [`record_unrecorded`] appends.
async fn unrecorded_entries(
    log: &AuditLog,
    env: &Environment,
    m: &Marker,
    interrupted: bool,
) -> Result<Vec<Entry>> {
    let (recorded, ended) = recorded_commits(log, m).await?;
    let mut entries = Vec::new();
    for (name, url) in &m.tables {
        let (commits, table_id) = commits_of_run(env, name, url, m).await?;
        for (version, operation) in commits {
            if recorded.contains(&(name.clone(), version)) {
                continue;
            }
            entries.push(Entry {
                action: "commit_unrecorded".into(),
                run_id: Some(m.run_id.clone()),
                table: Some(name.clone()),
                version: Some(version),
                detail: json!({ "operation": operation, "location": url, "table_id": table_id,
                    "reason": "committed by the run but not recorded by it (it stopped or failed between the commit and its record); found in the Delta log" }),
                ..Default::default()
            });
        }
    }
    let unrecorded = entries.len();
    if interrupted && !ended {
        let mut end = Entry::new(
            "run_interrupted",
            json!({ "pipeline": m.pipeline, "host": m.host, "pid": m.pid,
                    "last_alive_at": m.alive_at, "unrecorded_commits": unrecorded }),
        );
        end.run_id = Some(m.run_id.clone());
        entries.push(end);
    }
    Ok(entries)
}

fn claim_key(log: &AuditLog, run_id: &str) -> Path {
    log.root
        .clone()
        .join("open")
        .join(format!("{run_id}.claim"))
}

/// Takes the recovery of a dead run: returns the claim written (so that the claimant can
/// check it still holds it), None if another process holds a fresh claim or took over a
/// stale one first.
async fn claim(log: &AuditLog, run_id: &str) -> Result<Option<bytes::Bytes>> {
    let key = claim_key(log, run_id);
    let body: bytes::Bytes = serde_json::to_vec(
        &json!({ "host": log.actor().who.host, "pid": std::process::id(), "at": now(),
                 "nonce": uuid::Uuid::new_v4().to_string() }),
    )
    .expect("a claim serializes")
    .into();
    let mode = |m| object_store::PutOptions {
        mode: m,
        ..Default::default()
    };
    match log
        .store
        .put_opts(
            &key,
            body.clone().into(),
            mode(object_store::PutMode::Create),
        )
        .await
    {
        Ok(_) => return Ok(Some(body)),
        Err(object_store::Error::AlreadyExists { .. }) => {}
        Err(e) => return Err(marker_error(log, &key, e)),
    }
    // A claimant that died mid-recovery leaves an old claim: take it over, conditionally.
    let (old, version) = match log.store.get(&key).await {
        Ok(r) => {
            let v = object_store::UpdateVersion {
                e_tag: r.meta.e_tag.clone(),
                version: r.meta.version.clone(),
            };
            (r.bytes().await.map_err(|e| marker_error(log, &key, e))?, v)
        }
        // Released meanwhile (recorded, or the run was alive): nothing to take over.
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(marker_error(log, &key, e)),
    };
    let at = serde_json::from_slice::<serde_json::Value>(&old)
        .ok()
        .and_then(|v| v["at"].as_str().map(str::to_string))
        .and_then(|a| DateTime::parse_from_rfc3339(&a).ok());
    if at.is_some_and(|t| Utc::now() - t.with_timezone(&Utc) <= STALE_AFTER) {
        return Ok(None);
    }
    let update = mode(object_store::PutMode::Update(version));
    match log.store.put_opts(&key, body.clone().into(), update).await {
        Ok(_) => Ok(Some(body)),
        Err(object_store::Error::Precondition { .. }) => Ok(None),
        // A local lake has no conditional update: delete and create (two takers can both
        // delete, but only one create succeeds; the loser's check before recording fails).
        Err(object_store::Error::NotImplemented { .. }) => {
            match log.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(marker_error(log, &key, e)),
            }
            let create = mode(object_store::PutMode::Create);
            match log.store.put_opts(&key, body.clone().into(), create).await {
                Ok(_) => Ok(Some(body)),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(None),
                Err(e) => Err(marker_error(log, &key, e)),
            }
        }
        Err(e) => Err(marker_error(log, &key, e)),
    }
}

/// Whether the run's claim is still the one we wrote.
async fn claim_is(log: &AuditLog, run_id: &str, ours: &bytes::Bytes) -> Result<bool> {
    let key = claim_key(log, run_id);
    match log.store.get(&key).await {
        Ok(r) => Ok(r.bytes().await.map_err(|e| marker_error(log, &key, e))? == *ours),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(marker_error(log, &key, e)),
    }
}

/// Gives up a claim (the run is alive after all).
async fn release_claim(log: &AuditLog, run_id: &str) -> Result<()> {
    let key = claim_key(log, run_id);
    match log.store.delete(&key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(marker_error(log, &key, e)),
    }
}

/// The runs that have an open marker, and whether each is alive (its process is running on
/// this host, or its marker was refreshed within [`STALE_AFTER`] elsewhere).
pub async fn run_states(log: &AuditLog) -> Result<std::collections::HashMap<String, bool>> {
    let host = log.actor().who.host.clone(); // as `recover` judges them
    Ok(markers(log)
        .await?
        .into_iter()
        .map(|m| {
            let alive = !m.is_dead(&host);
            (m.run_id, alive)
        })
        .collect())
}

async fn markers(log: &AuditLog) -> Result<Vec<Marker>> {
    let prefix = log.root.clone().join("open");
    let listed: Vec<_> = log
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| marker_error(log, &prefix, e))?;
    let mut out = Vec::new();
    for meta in listed {
        if meta.location.extension() != Some("json") {
            continue;
        }
        let bytes = match log.store.get(&meta.location).await {
            Ok(r) => r
                .bytes()
                .await
                .map_err(|e| marker_error(log, &meta.location, e))?,
            // Removed by its run meanwhile.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(marker_error(log, &meta.location, e)),
        };
        let marker = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
            path: format!("{}/{}", log.shown, meta.location),
            message: format!(
                "not a valid open-run marker ({e}); remove it if no run is in progress"
            ),
        })?;
        out.push(marker);
    }
    Ok(out)
}

/// (table, version) of the records of `m`'s run written since it started, and whether its
/// end (`run_finished` / `run_failed` / `run_interrupted`) was recorded.
async fn recorded_commits(log: &AuditLog, m: &Marker) -> Result<(HashSet<(String, i64)>, bool)> {
    let from = log.key(m.seq.saturating_sub(1));
    let mut out = HashSet::new();
    let mut ended = false;
    for (seq, _) in log.positions(Some(&from)).await? {
        let Some(bytes) = log.get(seq).await? else {
            continue;
        };
        let Ok(r) = serde_json::from_slice::<Record>(&bytes) else {
            continue; // a damaged record is `audit verify`'s finding, not a commit of this run
        };
        if r.run_id.as_deref() == Some(&m.run_id) {
            ended |= matches!(
                r.action.as_str(),
                "run_finished" | "run_failed" | "run_interrupted"
            );
            if let (Some(t), Some(v)) = (r.table, r.version) {
                out.insert((t, v));
            }
        }
    }
    Ok((out, ended))
}

/// The commits made by `m`'s run to one table (oldest first, back to the run's start), and
/// the table's Delta id.
async fn commits_of_run(
    env: &Environment,
    name: &str,
    url: &str,
    m: &Marker,
) -> Result<(Vec<(i64, String)>, String)> {
    let Ok(parsed) = TableName::parse(name) else {
        return Ok((vec![], String::new()));
    };
    let mut location = env.location(&parsed)?;
    if let Ok(u) = url::Url::parse(url) {
        location.url = u; // where the run wrote, as its marker says
    }
    let Some(t) = table::open_if_exists(name, &location).await? else {
        return Ok((vec![], String::new()));
    };
    let started_ms = DateTime::parse_from_rfc3339(&m.started_at)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0);
    let mut out = Vec::new();
    let mut v = table::version(&t);
    while v >= 0 {
        // A commit removed by log retention ends the walk (it is older than any run alive).
        let Some(info) = table::commit_entry(&t, v).await? else {
            break;
        };
        let Some(info) = info else {
            v -= 1;
            continue;
        };
        // A minute of clock skew between the run's host and the commit's.
        if info.timestamp.is_some_and(|ts| ts < started_ms - 60_000) {
            break;
        }
        if info.info.get("medallion.run_id").and_then(|r| r.as_str()) == Some(&m.run_id) {
            out.push((v, info.operation.clone().unwrap_or_default()));
        }
        v -= 1;
    }
    out.reverse();
    Ok((out, table::table_id(&t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Actor;

    async fn interrupted(log: &AuditLog) -> usize {
        let mut n = 0;
        for (seq, _) in log.positions(None).await.unwrap() {
            let bytes = log.get(seq).await.unwrap().unwrap();
            let r: Record = serde_json::from_slice(&bytes).unwrap();
            n += usize::from(r.action == "run_interrupted");
        }
        n
    }

    /// Process B lists the dead run's marker, process A records the run and removes marker
    /// and claim, then B claims: B must not record the run a second time.
    #[tokio::test]
    async fn a_dead_run_recovered_meanwhile_by_another_process_is_recorded_once() {
        let (_dir, env, log) = setup().await;
        let mut m = Marker::new("dead-run", "p", &now(), &env, &[]);
        (m.pid, m.pid_start) = (u32::MAX, None);
        write_marker(&log, &m).await.unwrap();
        let listed_by_b = markers(&log).await.unwrap();
        assert_eq!(listed_by_b.len(), 1);
        assert!(listed_by_b[0].is_dead(&log.actor().who.host));
        recover_one(&log, &env, &m).await.unwrap(); // A
        assert_eq!(interrupted(&log).await, 1);
        recover_one(&log, &env, &listed_by_b[0]).await.unwrap(); // B, late
        assert_eq!(interrupted(&log).await, 1);
        assert!(markers(&log).await.unwrap().is_empty());
        assert!(current_marker(&log, "dead-run").await.unwrap().is_none());
        let claim = log.root.clone().join("open").join("dead-run.claim");
        assert!(log.store.head(&claim).await.is_err(), "B left its claim");
    }

    async fn setup() -> (tempfile::TempDir, Environment, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("environments.yaml");
        std::fs::write(
            &file,
            "environments:\n  dev: { lake: ./lake/dev, retention_days: 30 }\n",
        )
        .unwrap();
        let env = crate::env::load_environment(&file, "dev").unwrap();
        let log = AuditLog::for_env(&env, Actor::this_process(dir.path())).unwrap();
        (dir, env, log)
    }

    /// A run judged dead from its listed marker that refreshed the marker before our claim
    /// is alive: it is not recorded as interrupted, and the claim is given back.
    #[tokio::test]
    async fn a_run_that_refreshed_its_marker_after_the_listing_is_not_recorded() {
        let (_dir, env, log) = setup().await;
        let mut m = Marker::new("slow-run", "p", &now(), &env, &[]);
        (m.pid, m.pid_start) = (u32::MAX, None);
        m.alive_at = "2026-01-01T00:00:00.000Z".into();
        write_marker(&log, &m).await.unwrap();
        let listed = markers(&log).await.unwrap().remove(0);
        m.touch(); // the run refreshes its marker
        write_marker(&log, &m).await.unwrap();
        recover_one(&log, &env, &listed).await.unwrap();
        assert_eq!(interrupted(&log).await, 0);
        assert!(current_marker(&log, "slow-run").await.unwrap().is_some());
        let claim = claim_key(&log, "slow-run");
        assert!(
            log.store.head(&claim).await.is_err(),
            "the claim is released"
        );
    }

    /// A claim older than STALE_AFTER is taken over once; the taker's claim is then fresh,
    /// so a second taker gets nothing; a fresh claim is never taken.
    #[tokio::test]
    async fn a_stale_claim_is_taken_over_once() {
        let (_dir, _env, log) = setup().await;
        let key = claim_key(&log, "r");
        let old = json!({ "host": "h", "pid": 1, "at": "2026-01-01T00:00:00.000Z" });
        log.store
            .put(&key, serde_json::to_vec(&old).unwrap().into())
            .await
            .unwrap();
        let first = claim(&log, "r")
            .await
            .unwrap()
            .expect("the stale claim is taken");
        assert!(claim_is(&log, "r", &first).await.unwrap());
        assert!(
            claim(&log, "r").await.unwrap().is_none(),
            "a fresh claim is not taken"
        );
        assert!(claim_is(&log, "r", &first).await.unwrap());
    }
}
