//! `medallion cluster executor`: a Ballista executor registered with the scheduler, reading
//! the lake with the process's credentials and writing shuffle files to its work folder.

use std::net::UdpSocket;
use std::sync::Arc;

use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};

use crate::stores::LakeStores;
use crate::ClusterError;

pub struct ExecutorOptions {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    pub bind_host: String,
    /// The address the scheduler and other executors reach this one by; default: the
    /// address of the interface that routes to the scheduler.
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle reads by other executors and results to the driver).
    pub port: u16,
    /// gRPC port (tasks from the scheduler).
    pub grpc_port: u16,
    /// Shuffle files (a writable volume); default: a folder in the system temp folder.
    pub work_dir: Option<String>,
    /// Tasks run at once; default: the cores available.
    pub vcores: Option<usize>,
}

/// Runs until the process is stopped.
pub async fn run(o: ExecutorOptions) -> Result<(), ClusterError> {
    let external = match o.external_host {
        Some(h) => h,
        None => route_to(&o.scheduler_host, o.scheduler_port)?,
    };
    let stores = Arc::new(LakeStores::default());
    let spill = o.work_dir.clone();
    let mut config = ExecutorProcessConfig {
        bind_host: o.bind_host,
        external_host: Some(external),
        port: o.port,
        grpc_port: o.grpc_port,
        scheduler_host: o.scheduler_host,
        scheduler_port: o.scheduler_port,
        work_dir: o.work_dir,
        executor_heartbeat_interval_seconds: 5,
        override_function_registry: Some(Arc::new(crate::functions::registry()?)),
        override_runtime_producer: Some(Arc::new(move |_| {
            crate::functions::runtime(&stores, spill.as_deref())
        })),
        ..Default::default()
    };
    if let Some(v) = o.vcores {
        config.vcores = v.max(1);
    }
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}

/// The local address of the interface that routes to the scheduler (no packet is sent).
fn route_to(host: &str, port: u16) -> Result<String, ClusterError> {
    let fail = |e: std::io::Error| {
        ClusterError(format!(
            "cannot tell this executor's address from the route to the scheduler {host}:{port} ({e}); \
             pass --external-host"
        ))
    };
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(fail)?;
    socket.connect((host, port)).map_err(fail)?;
    Ok(socket.local_addr().map_err(fail)?.ip().to_string())
}
