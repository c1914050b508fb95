//! Promotion: dev → staging → prod, with gates, a plan diff, and enforcement.
//!
//! - [`release`]: what a release is (the specs, the schemas they pin, the target's entry in
//!   environments.yaml) and its hash.
//! - [`history`]: promotions and runs as the audit trails recorded them.
//! - [`diff`]: what a release changes in the target (pipelines, rules, SQL, PII, tables).
//! - [`gates`]: the checks a release must pass (tested upstream, schema compatibility,
//!   quality, PII policy, performance, infrastructure).
//! - [`report`]: the plan as text, and its hash.
//! - [`enforce`]: `run` / `stream` in an environment with `promote_from` run only what was
//!   promoted there (or break glass, loudly and recorded).

pub mod data;
pub mod diff;
pub mod enforce;
pub mod gates;
pub mod history;
pub mod release;
pub mod report;

use serde::{Deserialize, Serialize};

pub use gates::{Gate, Status};
pub use release::{Release, ReleasedPipeline};

/// `gates:` of an environment in environments.yaml: the limits a release must keep in the
/// environment it comes from to be promoted into this one. Unset limits are not checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatePolicy {
    /// Highest share of a pipeline's input rows that its last run in the `from` environment
    /// may have quarantined (`0.01` = 1%); a pipeline's own `gates.max_quarantine_ratio`
    /// overrides it.
    #[serde(default)]
    pub max_quarantine_ratio: Option<f64>,
    /// Longest that run may have taken, in seconds.
    #[serde(default)]
    pub max_duration_s: Option<f64>,
    /// Most memory (peak resident set of the process) that run may have used, in MiB.
    #[serde(default)]
    pub max_peak_memory_mib: Option<u64>,
}
