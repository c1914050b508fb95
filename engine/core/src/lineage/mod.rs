//! Lineage: which columns feed which, from the job specs (no data needed).
//!
//! - [`columns`]: the column lineage of one query, from its DataFusion logical plan.
//! - [`graph`]: the project's lineage: source fields → Bronze → Silver → Gold.
//! - [`impact`]: upstream / downstream walks of that graph (`medallion lineage`).

pub mod columns;
pub mod graph;
pub mod impact;

pub use columns::{ColumnLineage, Kind, Subtype, Transform};
pub use graph::{build, Graph};
pub use impact::{walk, Direction, Impact};
