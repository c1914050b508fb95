//! medallion core: job specs, schemas, environments, the catalog, and the Bronze → Silver →
//! Gold pipeline on Delta Lake tables with DataFusion.
//!
//! Guarantees (see `engine/ARCHITECTURE.md`):
//! - A bad spec is refused before any read or write, with every problem listed.
//! - Bronze file ingestion is incremental: a file already in the Bronze table is not read again.
//! - Records that cannot be parsed or typed are quarantined with a reason, never dropped silently.
//! - A rule with `on_fail: fail` aborts the run before any table commit.
//! - Data streams through in Arrow record batches; memory does not grow with input size.

pub mod audit;
pub mod backup;
pub mod catalog;
pub mod classify;
pub mod cluster;
pub mod compat;
pub mod compliance;
pub mod dedupe;
pub mod direct_io;
pub mod env;
pub mod error;
pub mod events;
pub mod ingest;
pub mod kafka_spec;
pub mod lineage;
pub mod maintain;
pub mod markdown;
pub mod memory;
pub mod pii;
pub mod pipeline;
pub mod plan;
pub mod privacy;
pub mod promote;
pub mod quality;
pub mod quality_report;
pub mod quarantine;
pub mod report;
pub mod schema;
pub mod spec;
pub mod sync;
pub mod table;
pub mod typing;
pub mod yaml;

pub use error::{Error, Result, SpecError};
