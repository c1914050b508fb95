//! The audit trail: every state change medallion makes in an environment, as an append-only,
//! hash-chained list of records in the environment's lake (`_medallion/audit/`).
//!
//! - [`record`]: what a record holds (who, what, when, which table and version) and the chain.
//! - [`store`]: where records live and how they are appended by concurrent processes.
//! - [`sink`]: the run's events become records ([`AuditSink`]); a commit's record is written
//!   right after the commit, before the run goes on, so a crash can leave a commit without
//!   its record but never a record of a commit that did not happen.
//! - [`gaps`]: runs that died between a commit and its record are found by the next run,
//!   which records the unrecorded commits from the Delta log.
//! - [`verify`]: the chain re-computed and cross-checked with every table's Delta log.

mod gaps;
mod record;
mod sink;
mod store;
mod verify;

use serde::Deserialize;

pub(crate) use gaps::run_states;
pub use record::{git_commit, sha256_hex, Actor, Entry, Record, What, Who};
pub use sink::AuditSink;
pub use store::{AuditLog, IdentityResolver};
pub use verify::{verify, Finding, Severity, Verification};

/// `audit:` of an environment in environments.yaml.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEnvSpec {
    /// S3 Object Lock of each record object.
    #[serde(default)]
    pub object_lock: Option<ObjectLockSpec>,
}

/// `audit.object_lock`: records cannot be deleted or overwritten for `days` days.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectLockSpec {
    pub mode: ObjectLockMode,
    pub days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectLockMode {
    /// Users with `s3:BypassGovernanceRetention` can still delete.
    Governance,
    /// Nobody, the root user included, can delete before the date.
    Compliance,
}

impl ObjectLockSpec {
    /// The S3 store writing record objects under this lock: every PUT carries the lock mode,
    /// the retain-until date (now + days) and a SHA-256 checksum.
    pub(crate) fn store(
        &self,
        loc: &crate::table::Location,
    ) -> crate::Result<std::sync::Arc<dyn object_store::ObjectStore>> {
        use http::header::{HeaderMap, HeaderName, HeaderValue};
        let until = chrono::Utc::now() + chrono::Duration::days(i64::from(self.days));
        let mode = match self.mode {
            ObjectLockMode::Governance => "GOVERNANCE",
            ObjectLockMode::Compliance => "COMPLIANCE",
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-amz-object-lock-mode"),
            HeaderValue::from_static(mode),
        );
        headers.insert(
            HeaderName::from_static("x-amz-object-lock-retain-until-date"),
            HeaderValue::from_str(&until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .map_err(|e| crate::Error::Internal(e.to_string()))?,
        );
        let store = loc
            .s3_builder_with(object_store::ClientOptions::new().with_default_headers(headers))
            .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
            .build()
            .map_err(|e| crate::Error::Config(format!("audit trail store for {loc}: {e}")))?;
        Ok(std::sync::Arc::new(store))
    }
}
