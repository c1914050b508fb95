//! Environments (`environments.yaml`): dev / staging / prod, each with its own lake root,
//! catalog, KMS key, retention and streaming switch.
//!
//! Isolation: a run in environment X reads and writes only under X's lake root and in X's
//! catalog. Lake roots of different environments may not overlap, and a source path inside
//! another environment's lake root is refused before any IO. Symbolic links are resolved
//! before these checks, so a link into another environment's lake is refused too.
//!
//! The file is read from a local path or, when the path is `s3://bucket/key` (what the
//! platform's task definitions set in `MEDALLION_ENVIRONMENTS`), from S3 with the standard AWS
//! configuration: Terraform renders the environment's entry from its outputs and writes it
//! there (deploy/README.md, "One configuration flow").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

mod load;
mod paths;

pub use load::{load_all, load_environment};
use paths::inside;
pub use paths::{normalize, resolve_links};

/// The file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentsFile {
    /// Environment name → settings.
    pub environments: BTreeMap<String, EnvironmentSpec>,
}

/// One environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// Lake root: a local folder (relative to this file's folder) or `s3://bucket/prefix`.
    pub lake: String,
    /// `embedded` (default: a catalog file under the lake root) or `{ glue: { database_prefix } }`.
    #[serde(default)]
    pub catalog: CatalogSpec,
    /// KMS key (id, ARN or alias) that encrypts every object written (S3 lakes).
    #[serde(default)]
    pub kms_key: Option<String>,
    /// How long data is kept, in days.
    pub retention_days: u32,
    /// Shorter (or longer) retention per layer and per column classification, and the
    /// vacuum window (`medallion maintain`).
    #[serde(default)]
    pub retention: crate::maintain::RetentionEnvSpec,
    /// Whether `medallion stream` may run here.
    #[serde(default)]
    pub streaming: bool,
    /// Memory budget of a run in MiB (default: half of the machine's memory); see
    /// `crate::memory`. `medallion run --memory-limit` overrides it.
    #[serde(default)]
    pub memory_limit_mib: Option<u64>,
    /// Where a run's SQL executes: `{ ballista: { scheduler: "df://host:50050" } }` sends
    /// Silver's dedupe and SQL and every Gold query to a Ballista cluster (see
    /// `crate::cluster`); default: in the run's own process.
    #[serde(default)]
    pub engine: crate::cluster::EngineSpec,
    /// Kafka settings for streaming sources: `{ brokers: "host:port,..." }`.
    #[serde(default)]
    pub kafka: Option<crate::kafka_spec::KafkaEnvSpec>,
    /// PII protection: `{ hash_key_env: MEDALLION_PII_KEY_PROD }` makes `hash` an HMAC-SHA-256
    /// with the secret key in that environment variable (see `pii.rs`).
    #[serde(default)]
    pub pii: Option<crate::pii::PiiEnvSpec>,
    /// The audit trail: `{ object_lock: { mode: governance|compliance, days: N } }` writes each
    /// audit record on S3 under Object Lock for N days (the bucket must have Object Lock on).
    #[serde(default)]
    pub audit: crate::audit::AuditEnvSpec,
    /// OpenLineage: `{ http: { url: http://marquez:5000 }, running_interval_s: 60 }`.
    #[serde(default)]
    pub lineage: crate::lineage::LineageEnvSpec,
    /// Data subject rights: `{ suppress_days: 30 }` keeps an erased person's rows out of
    /// Silver for that many days after the erasure (re-sent messages, re-exports).
    #[serde(default)]
    pub privacy: crate::privacy::PrivacyEnvSpec,
    /// Backups: `{ every: 24h }` (the recovery point objective; `medallion compliance report`
    /// fails when the newest complete backup is older).
    #[serde(default)]
    pub backup: crate::backup::BackupEnvSpec,
    /// What the environment is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The environment whose tested releases this one runs (`prod: { promote_from: staging }`):
    /// `run` and `stream` here refuse specs not promoted with `medallion promote`.
    #[serde(default)]
    pub promote_from: Option<String>,
    /// What `medallion promote` checks before promoting into this environment.
    #[serde(default)]
    pub gates: crate::promote::GatePolicy,
}

/// Catalog selection.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CatalogSpec {
    /// The embedded catalog, stored at `<lake>/_catalog/catalog.json`.
    #[default]
    Embedded,
    /// The AWS Glue Data Catalog.
    Glue(GlueCatalogSpec),
}

/// Glue settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlueCatalogSpec {
    /// Prefix of the Glue database names: `<prefix><database>`, e.g. `staging_silver`.
    #[serde(default)]
    pub database_prefix: String,
    /// AWS region (default: from the AWS configuration).
    #[serde(default)]
    pub region: Option<String>,
    /// The AWS account id whose Data Catalog holds the databases (12 digits, quoted). Default:
    /// the caller's account. Set it for an environment read from another account (a promotion
    /// from staging into prod runs with prod's credentials and reads staging's catalog).
    #[serde(default)]
    pub catalog_id: Option<String>,
}

/// A lake root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeRoot {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl std::fmt::Display for LakeRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LakeRoot::Local(p) => write!(f, "{}", p.display()),
            LakeRoot::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            LakeRoot::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// A resolved environment.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub lake: LakeRoot,
    pub catalog: CatalogSpec,
    pub kms_key: Option<String>,
    pub retention_days: u32,
    pub retention: crate::maintain::RetentionEnvSpec,
    pub streaming: bool,
    /// See [`EnvironmentSpec::memory_limit_mib`].
    pub memory_limit_mib: Option<u64>,
    /// See [`EnvironmentSpec::engine`].
    pub engine: crate::cluster::EngineSpec,
    /// Kafka settings (brokers); `MEDALLION_KAFKA_BROKERS` overrides them.
    pub kafka: Option<crate::kafka_spec::KafkaEnvSpec>,
    /// PII protection settings (the `hash` key's variable), see [`crate::pii::hash_key`].
    pub pii: Option<crate::pii::PiiEnvSpec>,
    /// Audit trail settings (Object Lock of the records on S3).
    pub audit: crate::audit::AuditEnvSpec,
    /// OpenLineage settings (HTTP endpoint).
    pub lineage: crate::lineage::LineageEnvSpec,
    /// Data subject rights settings (the suppression horizon).
    pub privacy: crate::privacy::PrivacyEnvSpec,
    /// Backup settings (the recovery point objective).
    pub backup: crate::backup::BackupEnvSpec,
    /// Lake roots of the other environments (isolation checks).
    pub other_lakes: Vec<(String, LakeRoot)>,
    /// The project root: the folder holding `environments.yaml`.
    pub project_root: PathBuf,
    /// See [`EnvironmentSpec::promote_from`].
    pub promote_from: Option<String>,
    pub gates: crate::promote::GatePolicy,
    /// SHA-256 of this environment's entry in environments.yaml (as JSON with sorted keys): part
    /// of a release, so that changing the entry needs a new promotion.
    pub spec_sha256: String,
    /// The same of the `promote_from` environment's entry, when this file defines it: a
    /// promotion made from another definition of it is not accepted.
    pub promote_from_sha256: Option<String>,
    /// The KMS keys of the other environments of the file (each environment's key is its own).
    pub other_kms_keys: Vec<(String, String)>,
}

/// Makes a path absolute and removes `.` / `..` without touching the file system.
impl Environment {
    /// The local lake root (the embedded catalog needs one).
    pub fn local_lake(&self) -> Result<&Path> {
        match &self.lake {
            LakeRoot::Local(p) => Ok(p),
            other => Err(Error::Config(format!(
                "environment `{}` keeps its lake at `{other}`; the embedded catalog needs a local lake folder: \
                 use `catalog: {{ glue: {{ database_prefix: ... }} }}` for S3 lakes",
                self.name
            ))),
        }
    }

    /// Resolves a source path (relative to the project root) and refuses paths that lie in
    /// another environment's lake.
    pub fn resolve_source(&self, path: &str) -> Result<PathBuf> {
        if path.contains("://") {
            return Err(Error::Isolation(format!(
                "source `{path}`: only local paths are readable by this build"
            )));
        }
        let resolved = normalize(&self.project_root, Path::new(path));
        for (other, lake) in &self.other_lakes {
            if let LakeRoot::Local(l) = lake {
                // A glob's fixed prefix decides where it can reach.
                let fixed: PathBuf = resolved
                    .components()
                    .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
                    .collect();
                if inside(&fixed, l) {
                    return Err(Error::Isolation(format!(
                        "source `{path}` reaches into the lake of environment `{other}` ({}; symbolic links are \
                         resolved); a run in `{}` may only read its own sources and lake. Promote data between \
                         environments instead",
                        l.display(),
                        self.name
                    )));
                }
            }
        }
        Ok(resolved)
    }

    /// Refuses a concrete file (found by a glob or directory walk) inside another
    /// environment's lake.
    pub fn check_readable(&self, file: &Path) -> Result<()> {
        for (other, lake) in &self.other_lakes {
            if let LakeRoot::Local(l) = lake {
                if inside(file, l) {
                    return Err(Error::Isolation(format!(
                        "source file {} lies in the lake of environment `{other}` (symbolic links are resolved); a run \
                         in `{}` may only read its own sources and lake. Narrow the source path or remove the link",
                        file.display(),
                        self.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Refuses an S3 source (`key`: an object's key, or a glob's fixed prefix) inside another
    /// environment's lake.
    pub fn check_object_readable(&self, shown: &str, bucket: &str, key: &str) -> Result<()> {
        for (other, lake) in &self.other_lakes {
            if let LakeRoot::S3 { bucket: b, prefix } = lake {
                let inside = b == bucket
                    && (prefix.is_empty()
                        || key == prefix
                        || key.starts_with(&format!("{prefix}/")));
                if inside {
                    return Err(Error::Isolation(format!(
                        "source `{shown}` reaches into the lake of environment `{other}` ({lake}); a run in `{}` \
                         may only read its own sources and lake. Promote data between environments instead",
                        self.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The lake root as a location (local folder or S3, with the storage options).
    pub fn lake_location(&self) -> Result<crate::table::Location> {
        match &self.lake {
            LakeRoot::Local(p) => crate::table::Location::local(p),
            LakeRoot::S3 { bucket, prefix } => {
                let url = if prefix.is_empty() {
                    format!("s3://{bucket}/")
                } else {
                    format!("s3://{bucket}/{prefix}/")
                };
                let url = url::Url::parse(&url).map_err(|e| Error::Config(e.to_string()))?;
                Ok(crate::table::Location::s3(url, self.storage_options()))
            }
        }
    }

    /// Storage options of an S3 lake: [`s3_options`] with the environment's key.
    pub fn storage_options(&self) -> std::collections::HashMap<String, String> {
        if let LakeRoot::Local(_) = self.lake {
            return std::collections::HashMap::new();
        }
        s3_options(self.kms_key.as_deref())
    }

    /// Where a table lives: `<lake>/<database>/<table>`.
    pub fn location(&self, table: &crate::spec::TableName) -> Result<crate::table::Location> {
        self.lake_location()?
            .child(&format!("{}/{}", table.database, table.table))
    }

    /// Whether a URL lies inside this environment's lake.
    pub fn contains(&self, url: &url::Url) -> Result<bool> {
        let lake = self.lake_location()?.url;
        Ok(url.scheme() == lake.scheme()
            && url.host_str() == lake.host_str()
            && url.path().starts_with(lake.path()))
    }
}

/// Storage options of an S3 location: the standard AWS configuration from the environment
/// (`AWS_REGION`, credentials chain, `AWS_ENDPOINT_URL` for S3-compatible servers,
/// `AWS_ALLOW_HTTP`), path-style addressing, and SSE-KMS with `kms_key` when given.
pub fn s3_options(kms_key: Option<&str>) -> std::collections::HashMap<String, String> {
    let mut o = std::collections::HashMap::new();
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(e) = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")) {
        o.insert("aws_endpoint".into(), e);
        o.insert("aws_virtual_hosted_style_request".into(), "false".into());
    }
    if let Some(r) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        o.insert("aws_region".into(), r);
    }
    if let Some(a) = var("AWS_ALLOW_HTTP") {
        o.insert("aws_allow_http".into(), a);
    }
    if let Some(key) = kms_key {
        o.insert("aws_server_side_encryption".into(), "aws:kms".into());
        o.insert("aws_sse_kms_key_id".into(), key.to_string());
        o.insert("aws_sse_bucket_key_enabled".into(), "true".into());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("environments.yaml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn overlapping_lakes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "environments:\n  dev: { lake: ./lake, retention_days: 30 }\n  staging: { lake: ./lake/staging, retention_days: 90 }\n",
        );
        let err = load_all(&f).unwrap_err().to_string();
        assert!(err.contains("environments.staging.lake"), "{err}");
        assert!(
            err.contains("overlaps the lake of environment `dev`"),
            "{err}"
        );
    }

    #[test]
    fn sources_in_another_lake_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "environments:\n  dev: { lake: ./lake/dev, retention_days: 30 }\n  prod: { lake: ./lake/prod, retention_days: 2555 }\n",
        );
        let dev = load_environment(&f, "dev").unwrap();
        assert!(dev.resolve_source("landing/*.ndjson").is_ok());
        let err = dev
            .resolve_source("lake/prod/bronze/orders/*.parquet")
            .unwrap_err()
            .to_string();
        assert!(err.contains("environment `prod`"), "{err}");
        let glob = dev.resolve_source("lake/*/bronze/x.parquet").unwrap();
        assert!(
            glob.starts_with(
                dir.path()
                    .canonicalize()
                    .unwrap_or(dir.path().to_path_buf())
            ) || glob.is_absolute()
        );
        let err = dev
            .check_readable(&dir.path().join("lake/prod/bronze/x.parquet"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("environment `prod`"), "{err}");
        assert!(dev
            .check_readable(&dir.path().join("lake/dev/x.parquet"))
            .is_ok());
        assert!(dev.resolve_source("landing/../lake/prod/x").is_err());
    }

    /// Issue 10 item 10: a symbolic link into another environment's lake is refused, both as
    /// a source path (folder link or file link) and as a lake root.
    #[test]
    fn symlinks_into_another_lake_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("lake/prod/bronze")).unwrap();
        std::fs::create_dir_all(d.join("landing")).unwrap();
        std::fs::write(d.join("lake/prod/bronze/x.ndjson"), "{}\n").unwrap();
        std::fs::write(d.join("landing/ok.ndjson"), "{}\n").unwrap();
        std::os::unix::fs::symlink(d.join("lake/prod/bronze"), d.join("landing/linked")).unwrap();
        std::os::unix::fs::symlink(
            d.join("lake/prod/bronze/x.ndjson"),
            d.join("landing/file.ndjson"),
        )
        .unwrap();
        let f = write(
            d,
            "environments:\n  dev: { lake: ./lake/dev, retention_days: 30 }\n  prod: { lake: ./lake/prod, retention_days: 2555 }\n",
        );
        let dev = load_environment(&f, "dev").unwrap();
        let err = dev
            .resolve_source("landing/linked/*.ndjson")
            .unwrap_err()
            .to_string();
        assert!(err.contains("environment `prod`"), "{err}");
        assert!(err.contains("symbolic links are resolved"), "{err}");
        let err = dev
            .check_readable(&d.join("landing/file.ndjson"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("environment `prod`"), "{err}");
        let err = dev
            .check_readable(&d.join("landing/linked/x.ndjson"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("environment `prod`"), "{err}");
        assert!(dev.resolve_source("landing/*.ndjson").is_ok());
        assert!(dev.check_readable(&d.join("landing/ok.ndjson")).is_ok());

        // A lake root that is a link into another environment's lake overlaps it.
        std::os::unix::fs::symlink(d.join("lake/prod"), d.join("devlake")).unwrap();
        let f = write(
            d,
            "environments:\n  dev: { lake: ./devlake/dev, retention_days: 30 }\n  prod: { lake: ./lake/prod, retention_days: 2555 }\n",
        );
        let err = load_all(&f).unwrap_err().to_string();
        assert!(err.contains("overlaps the lake of environment"), "{err}");
    }

    #[test]
    fn an_s3_environments_path_needs_a_key() {
        let err = load_all(Path::new("s3://bucket-only"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("s3://bucket/key"), "{err}");
    }

    #[test]
    fn unknown_environment_lists_the_defined_ones() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "environments:\n  dev: { lake: ./lake/dev, retention_days: 30 }\n",
        );
        let err = load_environment(&f, "qa").unwrap_err().to_string();
        assert!(err.contains("no environment `qa`; defined: dev"), "{err}");
    }
}
