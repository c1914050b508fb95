//! `medallion restore`: tables the environment lost, back from a backup at the version it
//! holds (or an older one it also holds), every object checked against its SHA-256; then the
//! environment's metadata (objects it lacks) and the tables' catalog entries.

use std::collections::BTreeMap;

use futures::StreamExt as _;
use serde::Serialize;

use super::manifest::{self, FileEntry, Manifest};
use super::take::{backup_key, log_version, PARALLEL};
use super::{Store, LAKE};
use crate::audit::sha256_hex;
use crate::error::{Error, Result};
use crate::pipeline::Engine;
use crate::spec::TableName;
use crate::table;

pub struct Restore<'a> {
    pub engine: &'a Engine,
    pub from: Store,
    /// The backup (default: the newest).
    pub backup: Option<String>,
    pub tables: Option<Vec<TableName>>,
    /// An older version than the backup's (one table only).
    pub to_version: Option<i64>,
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
    pub catalog: Vec<String>,
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

/// What one table's restore writes: data files, then log entries newest first.
struct Plan {
    name: TableName,
    version: i64,
    files: Vec<FileEntry>,
    log: Vec<FileEntry>,
}

pub async fn restore(r: &Restore<'_>) -> Result<Restored> {
    let env = &r.engine.env;
    let m = Manifest::read(&r.from, r.backup.as_deref()).await?;
    if m.environment != env.name {
        return Err(Error::Isolation(format!(
            "backup {} is of environment `{}`; restoring it into `{}` would copy another environment's data. \
             Restore it into `{}`",
            m.id, m.environment, env.name, m.environment
        )));
    }
    let lake = Store::open(&env.lake_location()?)?;
    let known = manifest::known(&r.from).await?;
    let mut plans = Vec::new();
    for name in selected(r, &m)? {
        plans.push(plan(r, &m, &known, name).await?);
    }
    refuse_existing(&lake, &plans, &m.id).await?;
    refuse_diverged_trail(&lake, &m).await?;
    let mut out = Restored {
        backup: m.id.clone(),
        backup_finished_at: m.finished_at.clone(),
        erasures_since_backup: erasures_since(r, &m, &r.log.records().await?)?,
        ..Default::default()
    };
    for p in &plans {
        out.tables
            .push(restore_table(&r.from, &lake, p, &m.id).await?);
    }
    metadata(&r.from, &lake, &m, &mut out).await?;
    out.catalog = catalog(r, &m, &plans).await?;
    Ok(out)
}

/// Erasures after the backup started: its tables may hold the erased people's rows. Refused
/// unless the user takes it on (and erases them again right after).
fn erasures_since(
    r: &Restore<'_>,
    m: &Manifest,
    trail: &[crate::audit::Record],
) -> Result<Vec<serde_json::Value>> {
    let since: Vec<serde_json::Value> = trail
        .iter()
        .filter(|x| x.action == "erasure" && x.at >= m.started_at)
        .map(|x| {
            serde_json::json!({ "at": x.at, "seq": x.seq, "subject": x.detail["subject"],
                "key_hash": x.detail["key_hash"], "reason": x.detail["reason"] })
        })
        .collect();
    if since.is_empty() || r.allow_erased {
        return Ok(since);
    }
    let list: Vec<String> = since
        .iter()
        .map(|e| {
            format!(
                "{} `{}` (audit record {}, reason {})",
                e["at"], e["subject"], e["seq"], e["reason"]
            )
        })
        .collect();
    Err(Error::Conflict(format!(
        "backup {} was taken before {} erasure(s) recorded in the environment's trail: {}. Its tables may hold          those people's rows. Restore a newer backup, or pass --allow-erased and run the same erasures again          right after the restore",
        m.id,
        since.len(),
        list.join("; ")
    )))
}

fn selected(r: &Restore<'_>, m: &Manifest) -> Result<Vec<TableName>> {
    let held: Vec<TableName> = m
        .tables
        .iter()
        .map(|t| TableName::parse(&t.table).map_err(Error::Config))
        .collect::<Result<_>>()?;
    let names = match &r.tables {
        None => held,
        Some(w) => {
            let missing: Vec<String> = w
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
            w.clone()
        }
    };
    if r.to_version.is_some() && names.len() != 1 {
        return Err(Error::Config(
            "--to-version is a version of one table: name it with --tables".into(),
        ));
    }
    Ok(names)
}

/// The files of `name` at the version to restore, all held by the backup.
async fn plan(
    r: &Restore<'_>,
    m: &Manifest,
    known: &BTreeMap<String, FileEntry>,
    name: TableName,
) -> Result<Plan> {
    let t = m
        .table(&name.to_string())
        .expect("selected from the manifest");
    let version = r.to_version.unwrap_or(t.version);
    if version == t.version {
        return Ok(Plan {
            name,
            version,
            files: t.files.clone(),
            log: t.log.clone(),
        });
    }
    if version < 0 || version > t.version {
        return Err(Error::Config(format!(
            "--to-version {version}: backup {} holds {name} up to version {}",
            m.id, t.version
        )));
    }
    let dir = format!("{}/{}", name.database, name.table);
    let copy = r.from.location.child(&format!("{LAKE}/{dir}"))?;
    let old = table::open_version(&name.to_string(), &copy, version).await?;
    let mut files = Vec::new();
    for f in old.snapshot()?.log_data().iter() {
        let path = format!("{dir}/{}", f.path());
        files.push(known.get(&path).cloned().ok_or_else(|| {
            Error::Config(format!(
                "version {version} of {name} reads {path}, which no backup in {} holds (a backup holds the \
                 files of the versions it was taken at); pick a version a backup was taken at",
                r.from.location
            ))
        })?);
    }
    let log = t
        .log
        .iter()
        .filter(|e| log_version(&e.path).is_some_and(|v| v <= version))
        .cloned()
        .collect();
    Ok(Plan {
        name,
        version,
        files,
        log,
    })
}

fn marker(name: &TableName) -> String {
    format!("_medallion/restore/{name}.json")
}

/// Tables the environment has are not overwritten (a restore recreates lost tables; `medallion
/// table restore` rolls one back). A table a cut-short restore of the same backup left is
/// finished.
async fn refuse_existing(lake: &Store, plans: &[Plan], id: &str) -> Result<()> {
    let mut present = Vec::new();
    for p in plans {
        let log = lake
            .list(&format!("{}/{}/_delta_log/", p.name.database, p.name.table))
            .await?;
        if log.is_empty() {
            continue;
        }
        let resumed = match lake.size(&marker(&p.name)).await? {
            Some(_) => lake.get(&marker(&p.name)).await? == id.as_bytes(),
            None => false,
        };
        if !resumed {
            present.push(p.name.to_string());
        }
    }
    if present.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "{} exist(s) in the lake: a restore only recreates tables the environment lost. Roll a table \
         back with `medallion table restore TABLE --version N`, or delete it first",
        present.join(", ")
    )))
}

/// A trail the environment started after the loss (a run or query before the restore) has
/// records at the positions of the backup's: both cannot be one chain. Refused before anything
/// is copied. A trail that goes on past the backup (a partial loss) is the environment's and
/// is kept.
async fn refuse_diverged_trail(lake: &Store, m: &Manifest) -> Result<()> {
    let mut diverged = 0;
    let records = m
        .metadata
        .iter()
        .filter(|e| e.path.starts_with("_medallion/audit/") && !e.path.ends_with("/HEAD.json"));
    for e in records {
        if lake.size(&e.path).await?.is_some() && sha256_hex(&lake.get(&e.path).await?) != e.sha256
        {
            diverged += 1;
        }
    }
    if diverged == 0 {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "the environment's audit trail ({}/_medallion/audit) has {diverged} record(s) at positions the backup's          trail holds other records: a new trail was started after the loss (a run or a query before the          restore). Nothing was restored. Restore into a lake nothing has used since the loss (restore first),          or move that trail aside",
        lake.location
    )))
}

async fn restore_table(from: &Store, lake: &Store, p: &Plan, id: &str) -> Result<TableRestored> {
    lake.put(&marker(&p.name), id.to_string().into()).await?;
    let mut out = TableRestored {
        table: p.name.to_string(),
        version: p.version,
        ..Default::default()
    };
    let copied: Vec<Result<u64>> = futures::stream::iter(&p.files)
        .map(|e| copy_back(from, lake, e))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for c in copied {
        out.bytes += c?;
        out.files += 1;
    }
    // Newest first: a restore cut short leaves a log without its start (unreadable, and
    // finished by the next restore), never a readable older version of the table.
    let mut log = p.log.clone();
    log.sort_by_key(|e| std::cmp::Reverse(log_version(&e.path)));
    crate::pipeline::fault_point("restore_before_log");
    for e in &log {
        out.bytes += copy_back(from, lake, e).await?;
        out.files += 1;
        crate::pipeline::fault_point("restore_in_log");
    }
    lake.delete(&marker(&p.name)).await?;
    Ok(out)
}

/// Copies one object from the backup into the lake after checking its SHA-256.
async fn copy_back(from: &Store, lake: &Store, e: &FileEntry) -> Result<u64> {
    let key = backup_key(e);
    let bytes = from.get(&key).await?;
    let sha = sha256_hex(&bytes);
    if sha != e.sha256 || bytes.len() as u64 != e.size {
        return Err(Error::Input {
            path: format!("{}/{key}", from.location),
            message: format!(
                "does not match the backup's manifest (SHA-256 {sha}, {} bytes; expected {}, {} bytes): \
                 the backup is damaged; restore from another backup",
                bytes.len(),
                e.sha256,
                e.size
            ),
        });
    }
    lake.put(&e.path, bytes).await?;
    Ok(e.size)
}

/// `_medallion/` objects the environment lacks are written back; ones it has with other
/// content are kept as they are and named.
async fn metadata(from: &Store, lake: &Store, m: &Manifest, out: &mut Restored) -> Result<()> {
    for e in &m.metadata {
        match lake.size(&e.path).await? {
            None => {
                copy_back(from, lake, e).await?;
                out.metadata_restored += 1;
            }
            Some(_) => {
                if sha256_hex(&lake.get(&e.path).await?) != e.sha256 {
                    out.metadata_kept.push(e.path.clone());
                }
            }
        }
    }
    Ok(())
}

/// The restored tables' catalog entries, as the backup's catalog had them, at the restored
/// version.
async fn catalog(r: &Restore<'_>, m: &Manifest, plans: &[Plan]) -> Result<Vec<String>> {
    let bytes = r.from.get(&m.catalog).await?;
    let doc = super::catalog_file::parse(&bytes, &format!("{}/{}", r.from.location, m.catalog))?;
    let versions: BTreeMap<String, i64> = plans
        .iter()
        .map(|p| (p.name.to_string(), p.version))
        .collect();
    let keep = |t: &crate::catalog::TableEntry| {
        versions.get(&t.qualified_name()).map(|v| {
            let mut t = t.clone();
            t.delta_version = *v;
            t
        })
    };
    super::catalog_file::import(&*r.engine.catalog, &r.engine.env, &doc, keep).await
}
