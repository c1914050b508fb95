//! `medallion cluster scheduler`: a Ballista scheduler (in-memory state, pull-staged tasks).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

use crate::stores::LakeStores;
use crate::ClusterError;

pub struct SchedulerOptions {
    /// Address to listen on (`0.0.0.0` in a container).
    pub bind_host: String,
    /// gRPC port clients (`df://host:port`) and executors connect to.
    pub port: u16,
    /// The name executors and clients reach this scheduler by.
    pub external_host: String,
}

/// Runs until the process is stopped.
pub async fn run(o: SchedulerOptions) -> Result<(), ClusterError> {
    let addr: SocketAddr = format!("{}:{}", o.bind_host, o.port).parse().map_err(|e| {
        ClusterError(format!(
            "--bind-host {} --port {}: {e}",
            o.bind_host, o.port
        ))
    })?;
    let stores = Arc::new(LakeStores::default());
    let config = SchedulerConfig::default()
        .with_hostname(o.external_host)
        .with_port(o.port)
        .with_override_session_builder(Arc::new(move |c| {
            crate::functions::session_state(c, &stores)
        }));
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, addr, Arc::new(config)).await?;
    Ok(())
}
