//! `medallion backup`: each table at its current version, the environment's metadata and
//! its catalog, copied to a backup location; what an earlier backup holds is not copied again.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::StreamExt as _;

use super::manifest::{self, FileEntry, Manifest, TableBackup, FORMAT};
use super::{is_backed_up_metadata, Store, LAKE, METADATA};
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

/// One object to copy into a backup: where in the lake, where in the backup.
struct Copy {
    rel: String,
    key: String,
    size: u64,
}

/// Where an object of the lake is kept in a backup: tables' files at their lake path under
/// `lake/`, metadata (which may change in place) by content under `objects/`.
pub fn backup_key(e: &FileEntry) -> String {
    if e.path.starts_with(&format!("{METADATA}/")) {
        format!("objects/{}", e.sha256)
    } else {
        format!("{LAKE}/{}", e.path)
    }
}

pub async fn take(b: &Backup<'_>) -> Result<Manifest> {
    let env = &b.engine.env;
    let lake = Store::open(&env.lake_location()?)?;
    let id = super::new_id();
    let started_at = super::now();
    let known = manifest::known(&b.to).await?;
    let mut m = Manifest {
        format: FORMAT,
        id: id.clone(),
        environment: env.name.clone(),
        lake: env.lake.to_string(),
        started_at,
        finished_at: String::new(),
        kms_key: b.kms_key.clone(),
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
    let catalog = super::catalog_file::export(&*b.engine.catalog, env).await?;
    b.to.put(&m.catalog, catalog).await?;
    crate::pipeline::fault_point("backup_before_manifest");
    m.finished_at = super::now();
    m.write(&b.to).await?;
    Ok(m)
}

async fn selected(b: &Backup<'_>) -> Result<Vec<crate::sync::LakeTable>> {
    let all = b.engine.lake_tables().await?;
    let Some(wanted) = &b.tables else {
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
    known: &BTreeMap<String, FileEntry>,
    lt: &crate::sync::LakeTable,
    m: &mut Manifest,
) -> Result<TableBackup> {
    let name = lt.name.to_string();
    let t = table::open_if_exists(&name, &lt.location)
        .await?
        .ok_or_else(|| Error::Catalog(format!("{name} vanished during the backup")))?;
    let version = table::version(&t);
    let dir = format!("{}/{}", lt.name.database, lt.name.table);
    let log: Vec<Copy> = lake
        .list(&format!("{dir}/_delta_log/"))
        .await?
        .into_iter()
        .filter(|o| log_version(&o.rel).is_some_and(|v| v <= version))
        .map(|o| copy_of(o.rel, o.size))
        .collect();
    let files: Vec<Copy> = t
        .snapshot()?
        .log_data()
        .iter()
        .map(|f| copy_of(format!("{dir}/{}", f.path()), f.size() as u64))
        .collect();
    Ok(TableBackup {
        table: name,
        version,
        table_id: table::table_id(&t),
        log: copy_all(lake, &b.to, known, log, m).await?,
        files: copy_all(lake, &b.to, known, files, m).await?,
    })
}

fn copy_of(rel: String, size: u64) -> Copy {
    Copy {
        key: format!("{LAKE}/{rel}"),
        rel,
        size,
    }
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

/// Copies what the backup does not hold yet (same path and size: Delta files never change
/// once written) and returns every object's entry.
async fn copy_all(
    lake: &Store,
    to: &Store,
    known: &BTreeMap<String, FileEntry>,
    copies: Vec<Copy>,
    m: &mut Manifest,
) -> Result<Vec<FileEntry>> {
    let mut entries = Vec::new();
    let mut todo = Vec::new();
    for c in copies {
        match known.get(&c.rel) {
            Some(e) if e.size == c.size => entries.push(e.clone()),
            _ => todo.push(c),
        }
    }
    let copied: Vec<Result<FileEntry>> = futures::stream::iter(todo)
        .map(|c| async move {
            let bytes = lake.get(&c.rel).await?;
            let e = entry(&c.rel, &bytes);
            to.put(&c.key, bytes).await?;
            Ok(e)
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

fn entry(rel: &str, bytes: &Bytes) -> FileEntry {
    FileEntry {
        path: rel.to_string(),
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    }
}

/// The environment's metadata (`_medallion/`, scratch files excepted), stored by content.
async fn metadata(
    b: &Backup<'_>,
    lake: &Store,
    known: &BTreeMap<String, FileEntry>,
    m: &mut Manifest,
) -> Result<Vec<FileEntry>> {
    let held: std::collections::HashSet<&str> = known.values().map(|e| e.sha256.as_str()).collect();
    let mut out = Vec::new();
    for o in lake.list(&format!("{METADATA}/")).await? {
        if !is_backed_up_metadata(&o.rel) {
            continue;
        }
        let bytes = lake.get(&o.rel).await?;
        let e = entry(&o.rel, &bytes);
        if !held.contains(e.sha256.as_str()) {
            b.to.put(&backup_key(&e), bytes).await?;
            m.copied_files += 1;
            m.copied_bytes += e.size;
        }
        out.push(e);
    }
    Ok(out)
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
}
