//! One module per command; [`dispatch`] runs the one the user asked for.

use std::process::ExitCode;

use crate::{
    project, stream, AuditAction, CatalogAction, Cli, Command, ComplianceAction, DataArgs,
    PromoteData, QualityAction, ReleaseAction, SubjectAction,
};

mod audit;
mod backup;
mod catalog;
mod classify;
#[cfg(feature = "cluster")]
mod cluster;
#[cfg(feature = "cluster")]
pub use cluster::ClusterAction;
mod compliance;
mod copy;
mod docs;
mod lineage;
mod maintain;
mod privacy;
mod promote;
mod quality;
mod run;
mod sql;
mod tables;
mod validate;

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Validate { paths, env } => validate::validate(&cli, paths, env.as_deref()).await,
        Command::Run {
            path,
            env,
            report,
            break_glass,
            shard,
            memory_limit,
        } => {
            let opts = run::RunOptions {
                break_glass: break_glass.as_deref(),
                shard: *shard,
                memory_limit_mib: *memory_limit,
            };
            run::run(&cli, path, env, *report, opts).await
        }
        Command::Stream {
            path,
            env,
            metrics_addr,
            break_glass,
        } => {
            let (engine, envs_file) = project::engine(&cli, env, Some(path)).await?;
            let schemas = project::schemas_dir(&cli, Some(&envs_file));
            let args = stream::Args {
                envs_file: &envs_file,
                schemas: &schemas,
                path,
                metrics_addr: *metrics_addr,
                break_glass: break_glass.as_deref(),
            };
            stream::stream(engine, args).await
        }
        Command::Tables { env, json } => tables::tables(&cli, env, *json).await,
        Command::Sql { query, env, format } => sql::sql(&cli, query, env, *format).await,
        Command::Catalog {
            action: CatalogAction::Sync { env },
        } => catalog::sync(&cli, env).await,
        Command::Catalog {
            action: CatalogAction::Export { env, out },
        } => catalog::export(&cli, env, out).await,
        Command::Catalog {
            action: CatalogAction::Import { file, env },
        } => catalog::import(&cli, env, file).await,
        Command::Backup(a) => backup::backup(&cli, a).await,
        Command::Restore(a) => backup::restore(&cli, a).await,
        Command::Table { action } => backup::table_restore(&cli, action).await,
        #[cfg(feature = "cluster")]
        Command::Cluster { action } => cluster::cluster(action).await,
        _ => governance(cli).await,
    }
}

/// The governance commands: promotion, copies, retention, privacy, docs, audit, lineage.
async fn governance(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Promote {
            data: Some(PromoteData::Data(d)),
            ..
        } => {
            copy::data(
                &cli,
                data_args(d, medallion_core::promote::data::Direction::Promote),
            )
            .await
        }
        Command::Copy(d) => {
            copy::data(
                &cli,
                data_args(d, medallion_core::promote::data::Direction::Copy),
            )
            .await
        }
        Command::Promote {
            data: None,
            from,
            to,
            paths,
            apply,
            plan_hash,
            format,
        } => {
            let args = promote::Args {
                from: from.as_deref().unwrap_or_default(),
                to: to.as_deref().unwrap_or_default(),
                paths,
                apply: *apply,
                plan_hash: plan_hash.as_deref(),
                format: *format,
            };
            promote::promote(&cli, args).await
        }
        Command::Release {
            action: ReleaseAction::Create { paths, env, format },
        } => promote::release_create(&cli, paths, env, *format).await,
        Command::Maintain {
            env,
            paths,
            table,
            dry_run,
            format,
        } => {
            let args = maintain::Args {
                env,
                paths,
                table: table.as_deref(),
                dry_run: *dry_run,
                format: *format,
            };
            maintain::maintain(&cli, args).await
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
        Command::Erase(a) => privacy::erase(&cli, a).await,
        Command::Classify(a) => classify::classify(&cli, a).await,
        Command::Quality {
            action: QualityAction::Report(a),
        } => quality::report(&cli, a).await,
        Command::Compliance {
            action: ComplianceAction::Report(a),
        } => compliance::report(&cli, a).await,
        Command::Subject {
            action: SubjectAction::Export { person, out },
        } => privacy::export_subject(&cli, person, out).await,
        _ => unreachable!("dispatch runs the other commands"),
    }
}

fn data_args(d: &DataArgs, direction: medallion_core::promote::data::Direction) -> copy::Args<'_> {
    copy::Args {
        table: &d.table,
        from: &d.from,
        to: &d.to,
        version: d.version,
        mask: d.mask,
        paths: &d.paths,
        direction,
        target_table: d.target.as_deref(),
    }
}

/// In an environment with `promote_from`: refuses plans that are not promoted there, or, with
/// `--break-glass REASON`, records the reason in the audit trail and says so loudly.
pub async fn promotion_gate(
    env: &medallion_core::env::Environment,
    plans: &[medallion_core::plan::JobPlan],
    break_glass: Option<&str>,
) -> Result<(), medallion_core::Error> {
    use medallion_core::promote::enforce;
    let log = project::audit_log(env).await?;
    if env.promote_from.is_none() {
        // An entry without promote_from over a lake whose trail holds promotions: the
        // environments file in use is not the one the environment is governed by.
        if !enforce::governed(&log).await? {
            if break_glass.is_some() {
                eprintln!("note: --break-glass has no effect: environment `{}` runs any spec (no promote_from)", env.name);
            }
            return Ok(());
        }
        if break_glass.is_none() {
            return Err(medallion_core::Error::NotPromoted(format!(
                "the lake of `{}` holds promotions (its runs are gated), but this environments file gives it no \
                 promote_from: use the environments file it is governed by (or --break-glass \"<reason>\")",
                env.name
            )));
        }
    }
    let Some(reason) = break_glass else {
        return enforce::check(env, &log, plans).await;
    };
    let problems = enforce::break_glass(env, &log, plans, reason).await?;
    eprintln!(
        "!!! BREAK GLASS in `{}`: running specs without promotion, recorded in the audit trail",
        env.name
    );
    eprintln!("!!! reason: {reason}");
    for p in &problems {
        eprintln!("!!! {p}");
    }
    Ok(())
}

/// Plan warnings (e.g. a `pii` column reaching Silver in clear text), on stderr.
pub fn print_warnings(plans: &[medallion_core::plan::JobPlan]) {
    for w in medallion_core::plan::warnings(plans) {
        eprintln!("warning: {w}");
    }
}
