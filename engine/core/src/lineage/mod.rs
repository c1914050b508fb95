//! Lineage: which columns feed which, from the job specs (no data needed).
//!
//! - [`columns`]: the column lineage of one query, from its DataFusion logical plan.
//! - [`graph`]: the project's lineage: source fields → Bronze → Silver → Gold.
//! - [`impact`]: upstream / downstream walks of that graph (`medallion lineage`).
//! - [`changes`]: what a spec change breaks downstream (`medallion validate --env`).
//! - [`openlineage`], [`sink`], [`transport`]: OpenLineage RunEvents of each run, to a file
//!   in the lake and to an HTTP endpoint.

pub mod changes;
pub mod columns;
pub mod copy;
pub mod graph;
pub mod impact;
pub mod openlineage;
pub mod sink;
pub mod transport;

use serde::Deserialize;

pub use columns::{ColumnLineage, Kind, Subtype, Transform};
pub use graph::{build, Graph};
pub use impact::{walk, Direction, Impact};
pub use sink::LineageSink;

/// `lineage:` of an environment in environments.yaml.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineageEnvSpec {
    /// An OpenLineage HTTP endpoint (Marquez: `http://marquez:5000`); events are POSTed to
    /// `<url>/api/v1/lineage`.
    #[serde(default)]
    pub http: Option<HttpSpec>,
    /// A stream's RUNNING events: at most one per this many seconds (default 60).
    #[serde(default)]
    pub running_interval_s: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    pub url: String,
    /// Events kept while the endpoint is unreachable (default 10000); beyond it the oldest
    /// are dropped from the buffer (they stay in the lineage file).
    #[serde(default)]
    pub buffer: Option<usize>,
}
