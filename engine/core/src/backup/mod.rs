//! Backups of an environment and disaster recovery (docs/backup.md).
//!
//! A backup is a folder or S3 prefix outside every lake:
//!
//! ```text
//! <backup>/data/<table id>/<file>        data files, by their table's Delta id and name
//! <backup>/objects/<sha256>              Delta log entries and `_medallion/` metadata (audit
//!                                        trail, ledgers, suppression list), by content
//! <backup>/catalogs/<id>.json            the catalog as it was (`medallion catalog export`)
//! <backup>/manifests/<id>.json           what backup <id> holds: versions, files, SHA-256
//! ```
//!
//! - [`take`]: each table at the version it has when the backup reaches it (its log up to
//!   that version and the data files it reads), copied; files an earlier backup holds are not
//!   copied again (Delta data files and log entries never change once written). The manifest
//!   is written last: a backup without one did not finish and is ignored.
//! - [`restore`]: tables the environment has lost, back at a backed-up version, every file's
//!   SHA-256 checked against the manifest, the log copied newest first so that a restore cut
//!   short leaves no readable older table; then the catalog and the metadata.
//! - [`rollback`]: `medallion table restore`, Delta RESTORE of one table to an older version
//!   (a bad run), with its bookmarks moved back so that nothing committed since is lost.
//! - [`catalog_file`]: the catalog exported to and imported from a JSON document.

pub mod catalog_file;
mod manifest;
pub mod restore;
pub mod rollback;
pub(crate) mod store;
pub mod take;

pub use manifest::{FileEntry, Manifest, TableBackup};
pub use store::Store;

use crate::env::Environment;
use crate::error::{Error, Result};
use crate::table::Location;

/// `backup:` of an environment in environments.yaml: `{ every: 24h }`, the recovery point
/// objective the compliance report checks the newest complete backup against.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupEnvSpec {
    /// A duration (`6h`, `24h`, `7d`).
    #[serde(default)]
    pub every: Option<String>,
}

impl BackupEnvSpec {
    /// `every`, parsed (checked when environments.yaml is loaded).
    pub fn every(&self) -> Option<std::time::Duration> {
        self.every
            .as_deref()
            .and_then(|e| crate::kafka_spec::parse_duration(e).ok())
    }
}

/// The environment's own metadata in its lake (copied), and what of it is not.
pub const METADATA: &str = "_medallion";
const SCRATCH: &str = "_medallion/tmp/";

/// Where a backup lives: a local folder (relative to the project root) or `s3://bucket/prefix`
/// (in `region` when given: a backup bucket is usually in another region than the lake),
/// written with SSE-KMS under `kms_key` when given. Refused inside any environment's lake.
pub fn location(
    env: &Environment,
    url: &str,
    kms_key: Option<&str>,
    region: Option<&str>,
) -> Result<Location> {
    let loc = if url.starts_with("s3://") {
        let u = url::Url::parse(&format!("{}/", url.trim_end_matches('/')))
            .map_err(|e| Error::Config(format!("backup location `{url}`: {e}")))?;
        let mut options = crate::env::s3_options(kms_key);
        if let Some(r) = region {
            options.insert("aws_region".into(), r.to_string());
        }
        Location::s3(u, options)
    } else if region.is_some() {
        return Err(Error::Config(format!(
            "backup location `{url}`: --region applies to s3:// locations"
        )));
    } else if url.contains("://") {
        return Err(Error::Config(format!(
            "backup location `{url}`: use a folder or an s3:// URL"
        )));
    } else {
        let p = crate::env::normalize(&env.project_root, std::path::Path::new(url));
        Location::local(&p)?
    };
    check_outside_lakes(env, &loc, url)?;
    Ok(loc)
}

fn check_outside_lakes(env: &Environment, loc: &Location, url: &str) -> Result<()> {
    let lakes = std::iter::once((env.name.clone(), env.lake.clone()))
        .chain(env.other_lakes.iter().cloned());
    for (name, lake) in lakes {
        let lake_url = match &lake {
            crate::env::LakeRoot::Local(p) => Location::local(p)?.url,
            crate::env::LakeRoot::S3 { .. } => env_lake_url(&lake)?,
        };
        let (a, b) = (loc.url.as_str(), lake_url.as_str());
        if a.starts_with(b) || b.starts_with(a) {
            return Err(Error::Config(format!(
                "backup location `{url}` overlaps the lake of environment `{name}` ({lake}): a backup must \
                 live outside every lake (another bucket, ideally in another region and account)"
            )));
        }
    }
    Ok(())
}

fn env_lake_url(lake: &crate::env::LakeRoot) -> Result<url::Url> {
    url::Url::parse(&format!("{}/", lake.to_string().trim_end_matches('/')))
        .map_err(|e| Error::Config(e.to_string()))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A backup id: sortable by time, unique.
pub fn new_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &id[..8]
    )
}

/// Whether a lake object (path relative to the lake root) is environment metadata a backup
/// carries: everything under `_medallion/` except the scratch files of runs.
pub fn is_backed_up_metadata(rel: &str) -> bool {
    rel.starts_with("_medallion/")
        && !rel.starts_with(SCRATCH)
        && !rel.starts_with("_medallion/restore/")
        && !rel.starts_with("_medallion/audit/open/")
        && !rel.ends_with("/audit.lock")
        && rel != HEAD
}

/// The audit trail's HEAD hint: not backed up (nor the markers of running runs, which a
/// restore would turn into interrupted runs, nor the trail's lock file) (it may name a record the backup did not reach;
/// the trail finds its end by listing without it).
const HEAD: &str = "_medallion/audit/HEAD.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_bucket_is_reached_in_its_own_region() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("environments.yaml");
        std::fs::write(
            &file,
            "environments:\n  dev: { lake: ./lake/dev, retention_days: 30 }\n",
        )
        .unwrap();
        let env = crate::env::load_environment(&file, "dev").unwrap();
        let loc = location(&env, "s3://bk/prod", Some("k"), Some("eu-central-1")).unwrap();
        assert_eq!(
            loc.options.get("aws_region").map(String::as_str),
            Some("eu-central-1")
        );
        assert_eq!(
            loc.options.get("aws_sse_kms_key_id").map(String::as_str),
            Some("k")
        );
        assert!(location(&env, "bk", None, Some("eu-central-1")).is_err());
        let inside = dir.path().join("lake/dev/x");
        assert!(
            location(&env, inside.to_str().unwrap(), None, None).is_err(),
            "inside the lake"
        );
    }

    #[test]
    fn scratch_files_are_not_metadata() {
        assert!(is_backed_up_metadata(
            "_medallion/audit/00000000000000000001.json"
        ));
        assert!(!is_backed_up_metadata("_medallion/tmp/run/x.parquet"));
        assert!(!is_backed_up_metadata("_catalog/catalog.json"));
        assert!(!is_backed_up_metadata("_medallion/audit/HEAD.json"));
        assert!(!is_backed_up_metadata("_medallion/audit/open/run-1.json"));
        assert!(!is_backed_up_metadata("_medallion/audit/audit.lock"));
    }
}
