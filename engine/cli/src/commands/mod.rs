//! One module per command; [`dispatch`] runs the one the user asked for.

use std::process::ExitCode;

use crate::{project, stream, AuditAction, CatalogAction, Cli, Command};

mod audit;
mod catalog;
mod docs;
mod lineage;
mod run;
mod sql;
mod tables;
mod validate;

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Validate { paths, env } => validate::validate(&cli, paths, env.as_deref()).await,
        Command::Run { path, env, report } => run::run(&cli, path, env, *report).await,
        Command::Stream {
            path,
            env,
            metrics_addr,
        } => {
            let (engine, envs_file) = project::engine(&cli, env, Some(path)).await?;
            let schemas = project::schemas_dir(&cli, Some(&envs_file));
            stream::stream(engine, &envs_file, &schemas, path, *metrics_addr).await
        }
        Command::Docs {
            env,
            out,
            paths,
            days,
        } => {
            let args = docs::Args {
                env,
                out,
                paths,
                days: *days,
            };
            docs::docs(&cli, args).await
        }
        Command::Tables { env, json } => tables::tables(&cli, env, *json).await,
        Command::Audit {
            action: Some(AuditAction::Verify { env, format }),
            ..
        } => audit::verify(&cli, env, *format).await,
        Command::Audit { action: None, list } => audit::list(&cli, list).await,
        Command::Lineage {
            target,
            paths,
            upstream,
            downstream,
            depth,
            format,
        } => {
            let args = lineage::Args {
                target,
                paths,
                upstream: *upstream,
                downstream: *downstream,
                depth: *depth,
                format: *format,
            };
            lineage::lineage(&cli, args).await
        }
        Command::Sql { query, env, format } => sql::sql(&cli, query, env, *format).await,
        Command::Catalog {
            action: CatalogAction::Sync { env },
        } => catalog::sync(&cli, env).await,
    }
}

/// Plan warnings (e.g. a `pii` column reaching Silver in clear text), on stderr.
pub fn print_warnings(plans: &[medallion_core::plan::JobPlan]) {
    for w in medallion_core::plan::warnings(plans) {
        eprintln!("warning: {w}");
    }
}
