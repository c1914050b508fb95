//! medallion's Ballista processes: `medallion cluster scheduler` and `medallion cluster
//! executor` run the Ballista scheduler and executors of the same release line as the
//! engine's DataFusion, with what a medallion plan needs on every node: the lake's object
//! stores (local paths and S3 with the process's AWS credentials, see [`stores`]) and
//! medallion's SQL functions ([`functions`]). The driver side (a run sending its Silver and
//! Gold SQL to the scheduler) is `medallion_core::cluster`.

pub mod executor;
mod functions;
pub mod scheduler;
mod stores;

/// Errors of a cluster process, with what to do.
#[derive(Debug)]
pub struct ClusterError(pub String);

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}

impl From<datafusion::error::DataFusionError> for ClusterError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Self(e.to_string())
    }
}

impl From<ballista_core::error::BallistaError> for ClusterError {
    fn from(e: ballista_core::error::BallistaError) -> Self {
        Self(e.to_string())
    }
}
