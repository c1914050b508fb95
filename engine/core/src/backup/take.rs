//! `medallion backup`: each table at its current version, the environment's metadata and
//! its catalog, copied to a backup location; what an earlier backup holds is not copied again.

use bytes::Bytes;
use futures::StreamExt as _;

use super::manifest::{self, FileEntry, Known, Manifest, TableBackup, FORMAT};
use super::{is_backed_up_metadata, Store, METADATA};
use crate::audit::sha256_hex;
use crate::error::{Error, Result};
use crate::pipeline::Engine;
use crate::spec::TableName;
use crate::table;

/// Objects copied at once.
pub(crate) const PARALLEL: usize = 8;

pub struct Backup<'a> {
    pub engine: &'a Engine,
    pub to: Store,
    pub kms_key: Option<String>,
    /// Only these tables (all of the lake's when None).
    pub tables: Option<Vec<TableName>>,
}

/// Where a backup keeps an object kept by content.
fn content_key(sha256: &str) -> String {
    format!("objects/{sha256}")
}

pub async fn take(b: &Backup<'_>) -> Result<Manifest> {
    let env = &b.engine.env;
    check_encryption(b)?;
    manifest::check_environment(&b.to, &env.name).await?;
    let lake = Store::open(&env.lake_location()?)?;
    let id = super::new_id();
    let known = manifest::known(&b.to, Some(&b.kms_key)).await?;
    let trail_before = audit_records(&lake).await?.len() as u64;
    let mut m = Manifest {
        format: FORMAT,
        id: id.clone(),
        environment: env.name.clone(),
        lake: env.lake.to_string(),
        started_at: super::now(),
        finished_at: String::new(),
        kms_key: b.kms_key.clone(),
        partial: b.tables.is_some(),
        catalog: format!("catalogs/{id}.json"),
        tables: Vec::new(),
        metadata: Vec::new(),
        copied_files: 0,
        copied_bytes: 0,
    };
    for t in selected(b).await? {
        let tb = table_backup(b, &lake, &known, &t, &mut m).await?;
        m.tables.push(tb);
    }
    m.metadata = metadata(b, &lake, &known, &mut m).await?;
    no_erasure_since(&lake, &m, trail_before).await?;
    let catalog = super::catalog_file::export(&*b.engine.catalog, env).await?;
    b.to.put(&m.catalog, catalog).await?;
    crate::pipeline::fault_point("backup_before_manifest");
    m.finished_at = super::now();
    m.write(&b.to).await?;
    Ok(m)
}

/// A lake under KMS is backed up to S3 under a KMS key of the backup's own; a key is only
/// accepted where it is applied (S3).
fn check_encryption(b: &Backup<'_>) -> Result<()> {
    let s3 = b.to.location.url.scheme() == "s3";
    let env = &b.engine.env;
    let refuse = |why: &str| Err(Error::Config(format!("backup of `{}`: {why}", env.name)));
    match (&env.kms_key, &b.kms_key) {
        (_, Some(_)) if !s3 => refuse("--kms-key applies to s3:// locations; a folder is not encrypted by medallion"),
        (Some(_), _) if !s3 => refuse(
            "its lake is under a KMS key; back it up to an s3:// location under a key of the backup's own, not to a folder",
        ),
        (Some(_), None) => refuse(
            "its lake is under a KMS key: give the backup its own with --kms-key (ideally in the backup's region and account)",
        ),
        (Some(lake), Some(k)) if lake == k => {
            refuse("--kms-key is the lake's own key; a backup needs a key of its own")
        }
        _ => Ok(()),
    }
}

/// The tables to back up, downstream first (Gold, Silver and quarantine, then Bronze): a run
/// committing meanwhile leaves no downstream bookmark ahead of the Bronze taken.
async fn selected(b: &Backup<'_>) -> Result<Vec<crate::sync::LakeTable>> {
    let mut all = b.engine.lake_tables().await?;
    let rank = |db: &str| match db {
        "gold" => 0,
        "bronze" => 2,
        _ => 1,
    };
    all.sort_by_key(|t| (rank(&t.name.database), t.name.to_string()));
    let Some(wanted) = &b.tables else {
        check_none_lost(b, &all).await?;
        return Ok(all);
    };
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !all.iter().any(|t| &t.name == *w))
        .map(|w| w.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "--tables: {} not in the lake of `{}`",
            missing.join(", "),
            b.engine.env.name
        )));
    }
    Ok(all
        .into_iter()
        .filter(|t| wanted.contains(&t.name))
        .collect())
}

async fn table_backup(
    b: &Backup<'_>,
    lake: &Store,
    known: &Known,
    lt: &crate::sync::LakeTable,
    m: &mut Manifest,
) -> Result<TableBackup> {
    let name = lt.name.to_string();
    let t = table::open_if_exists(&name, &lt.location)
        .await?
        .ok_or_else(|| Error::Catalog(format!("{name} vanished during the backup")))?;
    let version = table::version(&t);
    let table_id = table::table_id(&t);
    let dir = format!("{}/{}", lt.name.database, lt.name.table);
    let log: Vec<(String, u64)> = lake
        .list(&format!("{dir}/_delta_log/"))
        .await?
        .into_iter()
        .filter(|o| log_version(&o.rel).is_some_and(|v| v <= version))
        .map(|o| (o.rel, o.size))
        .collect();
    check_log_segment(&name, version, &log)?;
    let files: Vec<FileEntry> = t
        .snapshot()?
        .log_data()
        .iter()
        .map(|f| FileEntry {
            key: format!("data/{table_id}/{}", f.path()),
            path: format!("{dir}/{}", f.path()),
            size: f.size() as u64,
            sha256: String::new(),
        })
        .collect();
    Ok(TableBackup {
        table: name,
        version,
        log: copy_by_content(lake, &b.to, known, log, m).await?,
        files: copy_data(lake, &b.to, known, files, m).await?,
        table_id,
    })
}

/// A table the catalog lists but the lake lacks was lost: a backup now would not hold it (and
/// would become the newest backup). Restore it first, or remove it from the catalog.
async fn check_none_lost(b: &Backup<'_>, lake: &[crate::sync::LakeTable]) -> Result<()> {
    let lost: Vec<String> = b
        .engine
        .catalog
        .list_tables(None)
        .await?
        .into_iter()
        .map(|e| e.qualified_name())
        .filter(|n| !lake.iter().any(|t| t.name.to_string() == *n))
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "the catalog of `{}` lists {} but the lake has no such table: it was lost, and a backup now would not hold \
         it. Restore it first (`medallion restore --tables ...`), or remove it from the catalog if it was dropped",
        b.engine.env.name,
        lost.join(", ")
    )))
}

/// The log entries taken must open the table at `version`: a checkpoint or version 0, and
/// every commit after it. A log cleaned between opening the table and listing its log is not.
fn check_log_segment(name: &str, version: i64, log: &[(String, u64)]) -> Result<()> {
    let checkpoint = log
        .iter()
        .filter(|(p, _)| p.contains(".checkpoint."))
        .filter_map(|(p, _)| log_version(p))
        .max();
    let commits: std::collections::HashSet<i64> = log
        .iter()
        .filter(|(p, _)| p.ends_with(".json"))
        .filter_map(|(p, _)| log_version(p))
        .collect();
    let first = checkpoint.map_or(0, |c| c + 1);
    let missing: Vec<i64> = (first..=version).filter(|v| !commits.contains(v)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "{name}: its Delta log changed while it was backed up (commits {missing:?} of version {version} are gone; a \
         `maintain` or an erasure cleaned it): back up again"
    )))
}

/// The version a Delta log object belongs to (`00000000000000000012.json`,
/// `...12.checkpoint.parquet`, `...12.checkpoint.0000000001.0000000002.parquet`, `...12.crc`);
/// None for `_last_checkpoint` and anything else.
pub fn log_version(rel: &str) -> Option<i64> {
    let name = rel.rsplit('/').next()?;
    let digits = name.get(..20)?;
    let rest = &name[20..];
    let known = rest == ".json" || rest == ".crc" || rest.starts_with(".checkpoint.");
    (known && digits.bytes().all(|c| c.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Copies the data files the backup does not hold yet (same table id, name and size: data
/// files are never rewritten under the same name).
async fn copy_data(
    lake: &Store,
    to: &Store,
    known: &Known,
    files: Vec<FileEntry>,
    m: &mut Manifest,
) -> Result<Vec<FileEntry>> {
    let mut entries = Vec::new();
    let mut todo = Vec::new();
    for f in files {
        match known.data.get(&f.key) {
            // Still there: a lifecycle rule or a person may have removed it since.
            Some(e) if e.size == f.size && to.size(&e.key).await? == Some(e.size) => {
                entries.push(e.clone())
            }
            _ => todo.push(f),
        }
    }
    let copied: Vec<Result<FileEntry>> = futures::stream::iter(todo)
        .map(|mut f| async move {
            let bytes = lake.get(&f.path).await?;
            (f.size, f.sha256) = (bytes.len() as u64, sha256_hex(&bytes));
            to.put(&f.key, bytes).await?;
            Ok(f)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for e in copied {
        let e = e?;
        m.copied_files += 1;
        m.copied_bytes += e.size;
        entries.push(e);
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Reads each object and keeps it by content (log entries: a version number is reused by a
/// table created again; metadata: changes in place); copies only contents no backup holds.
async fn copy_by_content(
    lake: &Store,
    to: &Store,
    known: &Known,
    objects: Vec<(String, u64)>,
    m: &mut Manifest,
) -> Result<Vec<FileEntry>> {
    let mut out = Vec::new();
    for (rel, _) in objects {
        let bytes = lake.get(&rel).await?;
        let e = entry(&rel, &bytes);
        let held = known.contents.contains(&e.sha256) && to.size(&e.key).await? == Some(e.size);
        if !held {
            to.put(&e.key, bytes).await?;
            m.copied_files += 1;
            m.copied_bytes += e.size;
        }
        out.push(e);
    }
    Ok(out)
}

fn entry(rel: &str, bytes: &Bytes) -> FileEntry {
    let sha256 = sha256_hex(bytes);
    FileEntry {
        path: rel.to_string(),
        key: content_key(&sha256),
        size: bytes.len() as u64,
        sha256,
    }
}

/// The environment's metadata (`_medallion/`, scratch files and the trail's HEAD hint
/// excepted), the audit trail cut at its first gap (a record being written while listed).
async fn metadata(
    b: &Backup<'_>,
    lake: &Store,
    known: &Known,
    m: &mut Manifest,
) -> Result<Vec<FileEntry>> {
    let listed = lake.list(&format!("{METADATA}/")).await?;
    let mut audit: Vec<u64> = listed.iter().filter_map(|o| audit_seq(&o.rel)).collect();
    audit.sort_unstable();
    let gap = audit
        .iter()
        .enumerate()
        .find(|(i, s)| *i as u64 != **s)
        .map(|(i, _)| i as u64);
    let objects = listed
        .into_iter()
        .filter(|o| is_backed_up_metadata(&o.rel))
        .filter(|o| audit_seq(&o.rel).is_none_or(|s| gap.is_none_or(|g| s < g)))
        .map(|o| (o.rel, o.size))
        .collect();
    copy_by_content(lake, &b.to, known, objects, m).await
}

/// The audit record objects of the lake, by position.
async fn audit_records(lake: &Store) -> Result<Vec<u64>> {
    let listed = lake.list(&format!("{METADATA}/audit/")).await?;
    Ok(listed.iter().filter_map(|o| audit_seq(&o.rel)).collect())
}

/// An erasure recorded while the backup was taken (at or after position `from`): tables copied
/// before it may hold the rows it erased. The backup is not finished; take it again.
async fn no_erasure_since(lake: &Store, m: &Manifest, from: u64) -> Result<()> {
    for e in m
        .metadata
        .iter()
        .filter(|e| audit_seq(&e.path).is_some_and(|s| s >= from))
    {
        let r: serde_json::Value = serde_json::from_slice(&lake.get(&e.path).await?)
            .map_err(|x| Error::Internal(format!("audit record {}: {x}", e.path)))?;
        if matches!(r["action"].as_str(), Some("erasure" | "erasure_started")) {
            return Err(Error::Conflict(format!(
                "an erasure ran while the backup was taken ({}: {}): tables copied before it may hold the \
                 erased rows; this backup is not finished, take it again",
                e.path, r["at"]
            )));
        }
    }
    Ok(())
}

/// The position of an audit record object (`_medallion/audit/00000000000000000042.json`).
pub(crate) fn audit_seq(rel: &str) -> Option<u64> {
    rel.strip_prefix("_medallion/audit/")?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_objects_are_dated_by_their_version() {
        let v = |s| log_version(s);
        assert_eq!(v("silver/o/_delta_log/00000000000000000012.json"), Some(12));
        assert_eq!(
            v("_delta_log/00000000000000000010.checkpoint.parquet"),
            Some(10)
        );
        assert_eq!(
            v("_delta_log/00000000000000000010.checkpoint.0000000001.0000000002.parquet"),
            Some(10)
        );
        assert_eq!(v("_delta_log/00000000000000000003.crc"), Some(3));
        assert_eq!(v("_delta_log/_last_checkpoint"), None);
        assert_eq!(v("_delta_log/00000000000000000003.json.tmp"), None);
        assert_eq!(v("_delta_log/.00000000000000000003.json.swp"), None);
    }

    #[test]
    fn a_log_must_open_the_version_taken() {
        let log = |names: &[&str]| -> Vec<(String, u64)> {
            names
                .iter()
                .map(|n| (format!("_delta_log/{n}"), 1))
                .collect()
        };
        let j = |v: i64| format!("{v:020}.json");
        let c = |v: i64| format!("{v:020}.checkpoint.parquet");
        assert!(check_log_segment("t", 2, &log(&[&j(0), &j(1), &j(2)])).is_ok());
        assert!(check_log_segment("t", 4, &log(&[&c(3), &j(3), &j(4)])).is_ok());
        assert!(check_log_segment("t", 2, &log(&[&j(1), &j(2)])).is_err());
        assert!(check_log_segment("t", 5, &log(&[&c(3), &j(5)])).is_err());
    }

    #[test]
    fn audit_records_are_numbered_objects() {
        assert_eq!(
            audit_seq("_medallion/audit/00000000000000000042.json"),
            Some(42)
        );
        assert_eq!(audit_seq("_medallion/audit/HEAD.json"), None);
    }
}
