//! `medallion cluster scheduler|executor`: the nodes of a Ballista cluster that runs the
//! Silver and Gold SQL of environments with `engine: { ballista: { scheduler: ... } }`.

use std::process::ExitCode;

use clap::Subcommand;
use medallion_cluster::{executor, scheduler};

#[derive(Subcommand, Debug)]
pub enum ClusterAction {
    /// The scheduler: plans the queries runs send (`df://HOST:PORT`) into tasks for the
    /// executors. Runs until stopped.
    Scheduler {
        /// Address to listen on (`0.0.0.0` in a container).
        #[arg(long, default_value = "127.0.0.1")]
        bind_host: String,
        /// gRPC port for runs and executors.
        #[arg(long, default_value_t = 50050)]
        port: u16,
        /// The name runs and executors reach this scheduler by.
        #[arg(long, default_value = "localhost")]
        external_host: String,
    },
    /// An executor: registers with the scheduler, runs its tasks, reads the lake with this
    /// process's AWS credentials (S3) or local paths. Runs until stopped.
    Executor {
        #[arg(long, default_value = "localhost")]
        scheduler_host: String,
        #[arg(long, default_value_t = 50050)]
        scheduler_port: u16,
        /// Address to listen on (`0.0.0.0` in a container).
        #[arg(long, default_value = "127.0.0.1")]
        bind_host: String,
        /// The address the scheduler and other executors reach this one by (default: the
        /// address of the interface that routes to the scheduler).
        #[arg(long)]
        external_host: Option<String>,
        /// Arrow Flight port: shuffle data and results.
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// gRPC port: tasks from the scheduler.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Folder for shuffle files (a writable volume; default: the system temp folder).
        #[arg(long)]
        work_dir: Option<String>,
        /// Tasks at once (default: the cores available).
        #[arg(long)]
        vcores: Option<usize>,
    },
}

pub async fn cluster(action: &ClusterAction) -> anyhow::Result<ExitCode> {
    match action {
        ClusterAction::Scheduler {
            bind_host,
            port,
            external_host,
        } => {
            scheduler::run(scheduler::SchedulerOptions {
                bind_host: bind_host.clone(),
                port: *port,
                external_host: external_host.clone(),
            })
            .await?
        }
        ClusterAction::Executor {
            scheduler_host,
            scheduler_port,
            bind_host,
            external_host,
            port,
            grpc_port,
            work_dir,
            vcores,
        } => {
            executor::run(executor::ExecutorOptions {
                scheduler_host: scheduler_host.clone(),
                scheduler_port: *scheduler_port,
                bind_host: bind_host.clone(),
                external_host: external_host.clone(),
                port: *port,
                grpc_port: *grpc_port,
                work_dir: work_dir.clone(),
                vcores: *vcores,
            })
            .await?
        }
    }
    Ok(ExitCode::SUCCESS)
}
