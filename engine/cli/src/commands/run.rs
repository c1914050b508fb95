//! `medallion run PATH [--env ENV] [--report text|json] [--shard I/N]`: run the pipelines of
//! PATH in dependency order, print their reports, stop at the first failure (exit code of its
//! class). With `--shard`, only Bronze ingestion of that shard's files.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use medallion_core::events::LogSink;
use medallion_core::pipeline::Shard;
use medallion_core::spec::SourceSpec;
use medallion_core::{plan, Error};

use crate::progress::Bars;
use crate::{out, project, Cli, Format};

/// The options of `medallion run` beside the path, environment and report format.
pub struct RunOptions<'a> {
    pub break_glass: Option<&'a str>,
    pub shard: Option<Shard>,
    pub memory_limit_mib: Option<u64>,
}

pub async fn run(
    cli: &Cli,
    path: &Path,
    env_name: &str,
    format: Format,
    opts: RunOptions<'_>,
) -> anyhow::Result<ExitCode> {
    let RunOptions {
        break_glass,
        shard,
        memory_limit_mib,
    } = opts;
    let files = project::job_files(&[path.to_path_buf()])?;
    let (mut engine, envs_file) = project::engine(cli, env_name, Some(path)).await?;
    if let Some(s) = shard {
        engine = engine.with_shard(s);
    }
    if let Some(mib) = memory_limit_mib {
        engine = engine.with_memory_limit_mib(mib);
    }
    // The structured events the deploy alarms count (`records_quarantined`, `job_failed`)
    // come from the run's event stream.
    engine = engine.with_sink(Arc::new(LogSink::default()));
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) && format == Format::Text {
        engine = engine.with_progress(Arc::new(Bars::default()));
    }
    let schemas = project::schemas_dir(cli, Some(&envs_file));
    let known = engine.known_schemas().await?;
    let plans = plan::plan_all(&files, &schemas, known.clone())
        .await
        .map_err(Error::Spec)?;
    crate::commands::print_warnings(&plans);
    if let Some(s) = shard {
        refuse_streams_in_shards(&plans, s)?;
    }
    crate::commands::promotion_gate(&engine.env, &plans, break_glass).await?;
    let lineage = project::lineage_sink(&engine.env, &plans, known, false).await;
    if let Some(l) = &lineage {
        engine = engine.with_sink(l.clone());
    }
    let mut out = out::stdout();
    let mut reports = Vec::new();
    let mut failure = None;
    for p in &plans {
        let outcome = engine.run(p).await;
        if format == Format::Text {
            write!(out, "{}", outcome.report.to_text())?;
        }
        reports.push(outcome.report);
        if let Some(e) = outcome.error {
            failure = Some(e);
            break;
        }
    }
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&reports)?)?;
    }
    if let Some(http) = lineage.as_ref().and_then(|l| l.http()) {
        http.drain(std::time::Duration::from_secs(2)).await;
    }
    match failure {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => Err(e.into()),
    }
}

/// A Kafka source is consumed by `medallion stream` (consumer groups scale it): shards are
/// for files. A dedupe by arrival order would keep versions by which shard committed first
/// (each stamps its own `_ingest_time`): it needs `latest_by`.
fn refuse_streams_in_shards(plans: &[plan::JobPlan], shard: Shard) -> anyhow::Result<()> {
    for p in plans {
        if matches!(p.job.spec.bronze.source, SourceSpec::Kafka(_)) {
            return Err(Error::Config(format!(
                "{}: --shard {shard} ingests files, but this job's source is Kafka (run it with `medallion stream`, \
                 which scales with the topic's partitions); run the file jobs alone with --shard",
                p.job.file
            ))
            .into());
        }
        let dedupe = p.job.spec.silver.as_ref().and_then(|s| s.dedupe.as_ref());
        if dedupe.is_some_and(|d| d.latest_by.is_none()) {
            return Err(Error::Config(format!(
                "{}: --shard {shard}: `silver.dedupe` keeps the last row received, and rows of different shards \
                 are received in the order the shards commit; set `silver.dedupe.latest_by` to a column that \
                 orders versions, or run this job without --shard",
                p.job.file
            ))
            .into());
        }
    }
    Ok(())
}
