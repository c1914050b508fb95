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

/// The erasure receipt (written to the audit trail as `erasure`; the key only salted-hashed).
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub subject: String,
    pub key_salt: String,
    pub key_sha256: String,
    pub reason: Option<String>,
    pub dry_run: bool,
    pub tables: Vec<TableErased>,
    /// Gold tables recomputed from the erased Silver tables.
    pub gold_refreshed: Vec<String>,
    pub rows_removed: u64,
    pub files_deleted: u64,
    /// Until when the person's rows arriving again are kept out of Silver.
    pub suppressed_until: Option<String>,
}

pub async fn erase(e: &Erasure<'_>) -> Result<Receipt> {
    check_request(e.plans, e.subject, e.key)?;
    let env = &e.engine.env;
    let needles = Needles::new(e.key, crate::pii::hash_key(env)?.as_ref());
    let all = targets(e.plans, e.subject).await?;
    refuse_unprocessed(e, &all).await?;
    let (salt, hash) = salted_hash(e.key);
    let mut r = Receipt {
        subject: e.subject.to_string(),
        key_salt: salt,
        key_sha256: hash,
        reason: e.reason.map(str::to_string),
        dry_run: e.dry_run,
        tables: Vec::new(),
        gold_refreshed: Vec::new(),
        rows_removed: 0,
        files_deleted: 0,
        suppressed_until: None,
    };
    if !e.dry_run {
        let mut start = Entry::new(
            "erasure_started",
            json!({ "subject": r.subject, "key_salt": r.key_salt, "key_sha256": r.key_sha256, "reason": r.reason }),
        );
        start.run_id = Some(e.run_id.clone());
        e.log.append(vec![start]).await?;
    }
    for t in all.iter().filter(|t| t.layer != "gold") {
        r.tables.push(erase_one(e, t, &needles).await?);
    }
    let changed: BTreeSet<String> = r
        .tables
        .iter()
        .filter(|t| !t.versions.is_empty())
        .map(|t| t.table.clone())
        .collect();
    if !e.dry_run {
        r.gold_refreshed = refresh_gold(e, &changed).await?;
    }
    for t in all.iter().filter(|t| t.layer == "gold") {
        r.tables.push(erase_one(e, t, &needles).await?);
    }
    r.rows_removed = r
        .tables
        .iter()
        .filter(|t| t.layer != "gold")
        .map(|t| t.rows_removed)
        .sum();
    r.files_deleted = r.tables.iter().map(|t| t.files_deleted).sum();
    let days = env.privacy.suppress_days;
    if !e.dry_run && days > 0 {
        let until = chrono::Utc::now() + chrono::Duration::days(days as i64);
        super::suppress::add(env, e.subject, e.key, &e.run_id, until).await?;
        r.suppressed_until = Some(until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    if !e.dry_run {
        let mut done = Entry::new("erasure", serde_json::to_value(&r).unwrap_or_default());
        done.run_id = Some(e.run_id.clone());
        e.log.append(vec![done]).await?;
    }
    Ok(r)
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

async fn erase_one(e: &Erasure<'_>, t: &Target, needles: &Needles) -> Result<TableErased> {
    let env = &e.engine.env;
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
        &env.name,
        vec![("medallion.erasure", json!(e.subject))],
    );
    let req = Request {
        env,
        target: t,
        needles,
        dry_run: e.dry_run,
        metadata,
        ledger,
        run_id: &e.run_id,
    };
    let out = erase_table(&req).await?;
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

/// Recomputes the Gold tables of every pipeline whose Gold reads a table that changed.
async fn refresh_gold(e: &Erasure<'_>, changed: &BTreeSet<String>) -> Result<Vec<String>> {
    let mut refreshed = Vec::new();
    for p in e.plans {
        let affected: Vec<String> = p
            .gold
            .iter()
            .filter(|g| g.reads.iter().any(|r| changed.contains(r)))
            .map(|g| g.table.to_string())
            .collect();
        if affected.is_empty() {
            continue;
        }
        let outcome = e.engine.refresh_gold(p).await;
        if let Some(err) = outcome.error {
            return Err(Error::Internal(format!(
                "recomputing the Gold tables of `{}` after the erasure failed: {err}; the rows are erased from Bronze and Silver, run `medallion run` for `{}` to recompute Gold, then erase again to delete older Gold files",
                p.job.spec.pipeline, p.job.spec.pipeline
            )));
        }
        refreshed.extend(affected);
    }
    Ok(refreshed)
}
