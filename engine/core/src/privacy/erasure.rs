//! One erasure request end to end: checks, Bronze → quarantine → Silver erased, Gold
//! recomputed, older Gold versions holding the key deleted, and the receipt in the audit trail.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::json;

use super::erase::{erase_table, Request, TableErased};
use super::targets::{targets, Target};
use super::{check_request, salted_hash, Needles};
use crate::audit::{AuditLog, Entry};
use crate::error::{Error, Result};
use crate::pipeline::Engine;
use crate::plan::JobPlan;
use crate::spec::TableName;
use crate::table;

/// What an erasure works with.
pub struct Erasure<'a> {
    /// The environment's engine, its runs part of this erasure (`with_parent`).
    pub engine: &'a Engine,
    pub plans: &'a [JobPlan],
    pub lake_tables: &'a [TableName],
    pub log: &'a AuditLog,
    pub subject: &'a str,
    pub key: &'a str,
    pub reason: Option<&'a str>,
    pub dry_run: bool,
    pub run_id: String,
}

/// The erasure receipt (written to the audit trail as `erasure`; the key only hashed).
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub subject: String,
    /// `hmac-sha256` (keyed with the environment's PII key: the receipt cannot be reversed
    /// without it) or `salted-sha256` (no PII key configured: a short id can be guessed).
    pub key_hash_kind: String,
    pub key_salt: Option<String>,
    pub key_hash: String,
    pub reason: Option<String>,
    pub dry_run: bool,
    /// The job specs searched (only their pipelines' tables).
    pub specs: Vec<String>,
    pub tables: Vec<TableErased>,
    /// Gold tables recomputed from the erased Silver tables.
    pub gold_refreshed: Vec<String>,
    pub rows_removed: u64,
    pub files_deleted: u64,
    /// Until when the person's rows arriving again are kept out of Silver.
    pub suppressed_until: Option<String>,
    pub notes: Vec<String>,
}

pub async fn erase(e: &Erasure<'_>) -> Result<Receipt> {
    check_request(e.plans, e.subject, e.key)?;
    let env = &e.engine.env;
    let pii_key = crate::pii::hash_key(env)?;
    let needles = Needles::new(e.key, pii_key.as_ref());
    let all = targets(e.plans, e.subject).await?;
    refuse_unprocessed(e, &all).await?;
    let mut r = receipt(e, pii_key.as_ref());
    if !e.dry_run {
        let mut start = Entry::new(
            "erasure_started",
            json!({ "subject": r.subject, "key_hash_kind": r.key_hash_kind, "key_salt": r.key_salt, "key_hash": r.key_hash, "reason": r.reason }),
        );
        start.run_id = Some(e.run_id.clone());
        e.log.append(vec![start]).await?;
    }
    for t in all.iter().filter(|t| t.layer != "gold") {
        r.tables.push(erase_one(e, t, &needles).await?);
    }
    if !e.dry_run {
        advance_bookmarks(e, &all).await?;
        r.gold_refreshed = refresh_gold(e, &all).await?;
    }
    for t in all.iter().filter(|t| t.layer == "gold") {
        r.tables.push(erase_one(e, t, &needles).await?);
    }
    clean_logs(e, &all, &needles, &mut r.tables).await?;
    r.tables
        .push(super::scratch::erase_stale(env, &needles, e.dry_run).await?);
    finish(e, &mut r).await?;
    Ok(r)
}

fn receipt(e: &Erasure<'_>, pii_key: Option<&crate::pii::PiiKey>) -> Receipt {
    let key = e.key.trim();
    let (kind, salt, hash) = match pii_key {
        Some(k) => ("hmac-sha256", None, crate::pii::hash_value(Some(k), key)),
        None => {
            let (salt, hash) = salted_hash(key);
            ("salted-sha256", Some(salt), hash)
        }
    };
    let mut notes = Vec::new();
    if e.engine
        .env
        .lake_location()
        .is_ok_and(|l| l.url.scheme() == "s3")
    {
        notes.push("on S3 with bucket versioning, a deleted object stays as a noncurrent version until the bucket's lifecycle expires it (deploy/: noncurrent_version_days)".to_string());
    }
    Receipt {
        subject: e.subject.to_string(),
        key_hash_kind: kind.into(),
        key_salt: salt,
        key_hash: hash,
        reason: e.reason.map(str::to_string),
        dry_run: e.dry_run,
        specs: e.plans.iter().map(|p| p.job.file.clone()).collect(),
        tables: Vec::new(),
        gold_refreshed: Vec::new(),
        rows_removed: 0,
        files_deleted: 0,
        suppressed_until: None,
        notes,
    }
}

/// Totals, the suppression entry and the receipt.
async fn finish(e: &Erasure<'_>, r: &mut Receipt) -> Result<()> {
    let env = &e.engine.env;
    r.rows_removed = r
        .tables
        .iter()
        .filter(|t| t.layer != "gold")
        .map(|t| t.rows_removed)
        .sum();
    r.files_deleted = r.tables.iter().map(|t| t.files_deleted).sum();
    let days = env.privacy.suppress_days;
    if e.dry_run {
        return Ok(());
    }
    if days > 0 {
        let until = chrono::Utc::now() + chrono::Duration::days(days as i64);
        super::suppress::add(env, e.subject, e.key.trim(), &e.run_id, until).await?;
        r.suppressed_until = Some(until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let mut done = Entry::new("erasure", serde_json::to_value(&*r).unwrap_or_default());
    done.run_id = Some(e.run_id.clone());
    e.log.append(vec![done]).await?;
    Ok(())
}

/// Bronze's erasure commits add no rows for Silver, but move Bronze's version: Silver's and
/// the quarantine's bookmarks are moved past them (when nothing else is unread), so that
/// the log before them can go and later runs do not take them for a crash to repair.
async fn advance_bookmarks(e: &Erasure<'_>, all: &[Target]) -> Result<()> {
    let env = &e.engine.env;
    for t in all.iter().filter(|t| t.layer == "bronze") {
        let Some(p) = e.plans.iter().find(|p| p.job.bronze_table() == t.table) else {
            continue;
        };
        let bronze = t.table.to_string();
        let Some(b) = table::open_if_exists(&bronze, &env.location(&t.table)?).await? else {
            continue;
        };
        let latest = table::version(&b);
        let mut readers = vec![(
            p.job.quarantine_table(),
            crate::pipeline::quarantine_bronze_app_id(&bronze),
        )];
        if let Some(s) = p.job.silver_table() {
            readers.push((s, crate::pipeline::silver_bookmark_app_id(&bronze)));
        }
        for (name, app) in readers {
            bookmark_to(e, &b, &name, &app, latest).await?;
        }
    }
    Ok(())
}

async fn bookmark_to(
    e: &Erasure<'_>,
    bronze: &deltalake::DeltaTable,
    name: &TableName,
    app: &str,
    latest: i64,
) -> Result<()> {
    let shown = name.to_string();
    let loc = e.engine.env.location(name)?;
    let Some(t) = table::open_if_exists(&shown, &loc).await? else {
        return Ok(());
    };
    let Some(at) = table::txn_version(&t, app).await? else {
        return Ok(());
    };
    if at >= latest || !table::added_files(bronze, at, latest).await?.is_empty() {
        return Ok(());
    }
    let metadata = table::commit_metadata(
        &e.run_id,
        "",
        &e.engine.env.name,
        vec![("medallion.erasure", json!(e.subject))],
    );
    let only = table::Staged {
        name: shown.clone(),
        location: loc,
        schema: table::arrow_schema(&t)?,
        adds: vec![],
        rows: 0,
        properties: Default::default(),
    };
    let txn = deltalake::kernel::Transaction::new(app, latest);
    if let Some(after) = only.commit(Some(t), metadata, vec![txn]).await? {
        let out = TableErased {
            table: shown,
            layer: "bookmark".into(),
            versions: vec![table::version(&after)],
            ..Default::default()
        };
        record_commits(e, &out).await?;
    }
    Ok(())
}

/// The log cleanup of every target table, once bookmarks moved (Bronze keeps what its
/// readers still need).
async fn clean_logs(
    e: &Erasure<'_>,
    all: &[Target],
    needles: &Needles,
    done: &mut [TableErased],
) -> Result<()> {
    let env = &e.engine.env;
    for t in all {
        let Some(out) = done.iter_mut().find(|d| d.table == t.table.to_string()) else {
            continue;
        };
        let keep_from = if t.layer == "bronze" {
            let name = t.table.to_string();
            match table::open_if_exists(&name, &env.location(&t.table)?).await? {
                Some(b) => {
                    crate::maintain::readers::of_bronze(
                        env,
                        e.lake_tables,
                        e.plans,
                        &name,
                        table::version(&b),
                    )
                    .await?
                    .keep_log_from
                }
                None => None,
            }
        } else {
            None
        };
        let req = request(e, t, needles);
        super::erase::clean_log(&req, keep_from, out).await?;
    }
    Ok(())
}

/// Erasure deletes the files that held the rows: a Bronze file Silver has not read yet
/// would be lost to it. Refused before anything changes.
async fn refuse_unprocessed(e: &Erasure<'_>, all: &[Target]) -> Result<()> {
    let env = &e.engine.env;
    for t in all.iter().filter(|t| t.layer == "bronze") {
        let name = t.table.to_string();
        let Some(delta) = table::open_if_exists(&name, &env.location(&t.table)?).await? else {
            continue;
        };
        let latest = table::version(&delta);
        let readers =
            crate::maintain::readers::of_bronze(env, e.lake_tables, e.plans, &name, latest).await?;
        let Some(first) = readers.first_unprocessed else {
            continue;
        };
        // Versions without new rows (an earlier erasure's rewrite, a compaction) are
        // nothing for Silver to read.
        if !table::added_files(&delta, first - 1, latest)
            .await?
            .is_empty()
        {
            return Err(Error::Input {
                path: name.clone(),
                message: format!(
                    "Silver has not processed versions {first}..{latest} of {name} yet; run pipeline `{}` first, then erase (nothing was erased)",
                    t.pipeline
                ),
            });
        }
    }
    Ok(())
}

fn request<'a>(e: &'a Erasure<'_>, t: &'a Target, needles: &'a Needles) -> Request<'a> {
    let ledger = match t.layer.as_str() {
        "bronze" => Some(t.table.clone()),
        "quarantine" => e
            .plans
            .iter()
            .find(|p| p.job.quarantine_table() == t.table)
            .map(|p| p.job.bronze_table()),
        _ => None,
    };
    let metadata = table::commit_metadata(
        &e.run_id,
        &t.pipeline,
        &e.engine.env.name,
        vec![("medallion.erasure", json!(e.subject))],
    );
    Request {
        env: &e.engine.env,
        target: t,
        needles,
        dry_run: e.dry_run,
        metadata,
        ledger,
        run_id: &e.run_id,
    }
}

async fn erase_one(e: &Erasure<'_>, t: &Target, needles: &Needles) -> Result<TableErased> {
    let out = erase_table(&request(e, t, needles)).await?;
    record_commits(e, &out).await?;
    Ok(out)
}

async fn record_commits(e: &Erasure<'_>, out: &TableErased) -> Result<()> {
    let entries: Vec<Entry> = out
        .versions
        .iter()
        .map(|v| {
            let mut c = Entry::new(
                "table_committed",
                json!({ "layer": out.layer, "operation": "DELETE", "erasure": true, "rows_removed": out.rows_removed }),
            );
            c.run_id = Some(e.run_id.clone());
            c.table = Some(out.table.clone());
            c.version = Some(*v);
            c
        })
        .collect();
    if !entries.is_empty() {
        e.log.append(entries).await?;
    }
    Ok(())
}

/// Recomputes the Gold tables reading any of the subject's tables (changed by this erasure
/// or by an earlier, interrupted one; a Gold table whose inputs did not change is skipped by
/// its own fingerprint).
async fn refresh_gold(e: &Erasure<'_>, all: &[Target]) -> Result<Vec<String>> {
    // Kept partial aggregates may hold the subject's key as a group (of any Gold table, in
    // the jobs given or not): all dropped, so the refreshes recompute from the erased tables.
    crate::pipeline::clear_gold_states(&e.engine.env).await?;
    let sources: BTreeSet<String> = all
        .iter()
        .filter(|t| t.layer != "gold")
        .map(|t| t.table.to_string())
        .collect();
    let mut refreshed = Vec::new();
    for p in e.plans {
        let affected: Vec<String> = p
            .gold
            .iter()
            .filter(|g| g.reads.iter().any(|r| sources.contains(r)))
            .map(|g| g.table.to_string())
            .collect();
        if affected.is_empty() {
            continue;
        }
        let outcome = e.engine.refresh_gold(p).await;
        if let Some(err) = outcome.error {
            return Err(Error::Internal(format!(
                "recomputing the Gold tables of `{}` after the erasure failed: {err}; the rows are erased from Bronze and Silver; erase again to recompute Gold and finish",
                p.job.spec.pipeline
            )));
        }
        refreshed.extend(affected);
    }
    Ok(refreshed)
}
