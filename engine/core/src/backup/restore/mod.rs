//! `medallion restore`: tables the environment lost, back from a backup at the version it
//! holds, every object checked against its SHA-256.
//!
//! - [`checks`]: what is refused before anything is written (another environment's backup, a
//!   table the environment has, a trail started since the loss, erasures since the backup, a
//!   catalog entry outside the lake).
//! - [`write`]: the metadata first (the audit trail, ledgers, suppression list), then each
//!   table (data files, then its log newest first, never over an object with other content)
//!   and its catalog entry. A restore cut short anywhere is finished by running it again.

mod checks;
mod write;

use serde::Serialize;

use super::manifest::{self, FileEntry, Manifest};
use super::Store;
use crate::catalog::TableEntry;
use crate::error::{Error, Result};
use crate::pipeline::Engine;
use crate::spec::TableName;

pub struct Restore<'a> {
    pub engine: &'a Engine,
    pub from: Store,
    /// The backup (default: the newest that holds every table).
    pub backup: Option<String>,
    pub tables: Option<Vec<TableName>>,
    /// Also copy the data files of older versions the backups hold (to roll back after).
    pub older_files: bool,
    /// The environment's audit trail (empty after a total loss): erasures since the backup.
    pub log: &'a crate::audit::AuditLog,
    /// Restore even though erasures ran after the backup was taken (they must be run again).
    pub allow_erased: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Restored {
    pub backup: String,
    pub backup_finished_at: String,
    pub tables: Vec<TableRestored>,
    /// `_medallion/` objects written back; ones the environment has with other content (kept).
    pub metadata_restored: u64,
    pub metadata_kept: Vec<String>,
    /// Tables registered in the catalog (the others were not in the backup's catalog).
    pub catalog: Vec<String>,
    /// Tables the lake already holds exactly as the backup does (nothing written).
    pub already_complete: Vec<String>,
    /// Erasures the environment's trail records after the backup started (subject, key hash,
    /// time): the restored tables may hold those people's rows again.
    pub erasures_since_backup: Vec<serde_json::Value>,
}

#[derive(Debug, Default, Serialize)]
pub struct TableRestored {
    pub table: String,
    pub version: i64,
    pub files: u64,
    pub bytes: u64,
}

/// What one table's restore writes, and its catalog entry.
pub(crate) struct Plan {
    name: TableName,
    version: i64,
    files: Vec<FileEntry>,
    log: Vec<FileEntry>,
    entry: Option<TableEntry>,
}

/// Written before a restore writes anything and removed once it is recorded: while it is
/// there, commands that write to the environment refuse ([`check_not_restoring`]).
pub const IN_PROGRESS: &str = "_medallion/restore/in_progress.json";

/// Refuses to go on while a restore of the environment has not finished.
pub async fn check_not_restoring(env: &crate::env::Environment) -> Result<()> {
    let lake = Store::open(&env.lake_location()?)?;
    if lake.size(IN_PROGRESS).await?.is_none() {
        return Ok(());
    }
    let what = String::from_utf8_lossy(&lake.get(IN_PROGRESS).await?).to_string();
    Err(Error::Conflict(format!(
        "a restore of environment `{}` began and has not finished ({what}): run the same `medallion restore` \
         again before anything else writes to the environment",
        env.name
    )))
}

/// Removes the in-progress marker (after the restore is recorded).
pub async fn finished(env: &crate::env::Environment) -> Result<()> {
    Store::open(&env.lake_location()?)?
        .delete(IN_PROGRESS)
        .await
}

pub async fn restore(r: &Restore<'_>) -> Result<Restored> {
    let env = &r.engine.env;
    let m = Manifest::read(&r.from, r.backup.as_deref()).await?;
    checks::environment(&m, env)?;
    let lake = Store::open(&env.lake_location()?)?;
    let (doc, plans) = plans(r, &m).await?;
    let (plans, complete) = checks::existing(&lake, plans).await?;
    checks::diverged_trail(&lake, &m).await?;
    checks::all_held(&r.from, &m, &plans).await?;
    let mut out = Restored {
        backup: m.id.clone(),
        backup_finished_at: m.finished_at.clone(),
        erasures_since_backup: checks::erasures_since(r, &m, &r.log.records().await?)?,
        already_complete: complete,
        ..Default::default()
    };
    let marker = serde_json::json!({ "backup": m.id, "from": r.from.location.to_string(),
        "tables": plans.iter().map(|p| p.name.to_string()).collect::<Vec<_>>() });
    lake.put(IN_PROGRESS, marker.to_string().into()).await?;
    write::metadata(env, &r.from, &lake, &m, &mut out).await?;
    for p in &plans {
        out.tables.push(write::table(&r.from, &lake, p).await?);
        if let Some(e) = &p.entry {
            let cat = &*r.engine.catalog;
            let done = super::catalog_file::import(cat, env, &doc, std::slice::from_ref(e)).await?;
            out.catalog.extend(done);
        }
    }
    Ok(out)
}

/// The tables to restore with their files and catalog entries (locations moved to this
/// environment's lake root), checked before anything is written.
async fn plans(
    r: &Restore<'_>,
    m: &Manifest,
) -> Result<(super::catalog_file::CatalogDocument, Vec<Plan>)> {
    let env = &r.engine.env;
    let bytes = r.from.get(&m.catalog).await?;
    let origin = format!("{}/{}", r.from.location, m.catalog);
    let doc = super::catalog_file::parse(&bytes, &origin)?;
    let doc = super::catalog_file::relocated(doc, &m.lake, &env.lake.to_string());
    let known = manifest::known(&r.from, None).await?;
    let mut plans = Vec::new();
    for name in selected(r, m)? {
        let t = m
            .table(&name.to_string())
            .expect("selected from the manifest");
        let mut files = t.files.clone();
        if r.older_files {
            for e in known.by_table.get(&t.table_id).into_iter().flatten() {
                if !files.iter().any(|f| f.key == e.key) {
                    files.push(e.clone());
                }
            }
        }
        let entry = doc
            .tables
            .iter()
            .find(|e| e.qualified_name() == t.table)
            .map(|e| {
                let mut e = e.clone();
                e.delta_version = t.version;
                e
            });
        plans.push(Plan {
            name,
            version: t.version,
            files,
            log: t.log.clone(),
            entry,
        });
    }
    let entries: Vec<TableEntry> = plans.iter().filter_map(|p| p.entry.clone()).collect();
    super::catalog_file::check(env, &doc, &entries)?;
    Ok((doc, plans))
}

fn selected(r: &Restore<'_>, m: &Manifest) -> Result<Vec<TableName>> {
    let held: Vec<TableName> = m
        .tables
        .iter()
        .map(|t| TableName::parse(&t.table).map_err(Error::Config))
        .collect::<Result<_>>()?;
    let Some(wanted) = &r.tables else {
        return Ok(held);
    };
    let missing: Vec<String> = wanted
        .iter()
        .filter(|n| !held.contains(n))
        .map(|n| n.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "backup {} does not hold {}; it holds {}",
            m.id,
            missing.join(", "),
            m.tables
                .iter()
                .map(|t| t.table.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(wanted.clone())
}
