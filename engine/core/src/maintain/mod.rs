//! Retention, enforced by the engine and correct for Delta: `medallion maintain`.
//!
//! - [`policy`]: which retention applies to a table (its spec, else the shortest of the
//!   environment's, its layer's and its columns' classifications'), and which column dates a row.
//! - [`expire`]: removes what is past retention: whole data files of Bronze and quarantine
//!   tables (never rewritten: Silver reads Bronze by the files its commits added, and files Silver
//!   has not processed are refused), rows of Silver tables (a Delta DELETE). Gold is recomputed
//!   from Silver.
//! - [`vacuum`]: deletes files no version within the vacuum window references (keeping every
//!   Bronze file Silver has not processed), checkpoints the log and cleans log entries past the
//!   table's log retention (never those Silver still has to read).
//!
//! Every commit is recorded in the audit trail (`table_committed`), and each table's outcome
//! (`retention_applied`).

pub mod expire;
pub mod ledger;
pub mod policy;
pub mod readers;
pub mod run;
pub mod vacuum;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use run::{maintain_table, Maintain, TableReport};

/// Files no version referenced for this long are deleted by VACUUM (7 days, as Delta's default).
pub const DEFAULT_VACUUM_HOURS: u64 = 168;

/// `retention:` of an environment in environments.yaml.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionEnvSpec {
    /// Days per layer (`bronze`, `silver`, `quarantine`, `gold`), e.g. `{ quarantine: 30 }`.
    #[serde(default)]
    pub layers: BTreeMap<String, u32>,
    /// Days for a table holding a column of this classification, e.g. `{ pii: 365 }`.
    #[serde(default)]
    pub classifications: BTreeMap<String, u32>,
    /// Hours a file no longer referenced is kept before VACUUM deletes it (time travel and
    /// readers of older versions need it); default 168.
    #[serde(default)]
    pub vacuum_hours: Option<u64>,
}

/// The id of a maintenance run (its commits and audit records carry it).
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
