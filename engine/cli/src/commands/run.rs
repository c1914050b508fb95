//! `medallion run PATH [--env ENV] [--report text|json]`: run the pipelines of PATH in
//! dependency order, print their reports, stop at the first failure (exit code of its class).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use medallion_core::events::LogSink;
use medallion_core::{plan, Error};

use crate::progress::Bars;
use crate::{out, project, Cli, Format};

pub async fn run(
    cli: &Cli,
    path: &Path,
    env_name: &str,
    format: Format,
    break_glass: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let files = project::job_files(&[path.to_path_buf()])?;
    let (engine, envs_file) = project::engine(cli, env_name, Some(path)).await?;
    // The structured events the deploy alarms count (`records_quarantined`, `job_failed`)
    // come from the run's event stream.
    let mut engine = engine.with_sink(Arc::new(LogSink::default()));
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) && format == Format::Text {
        engine = engine.with_progress(Arc::new(Bars::default()));
    }
    let schemas = project::schemas_dir(cli, Some(&envs_file));
    let known = engine.known_schemas().await?;
    let plans = plan::plan_all(&files, &schemas, known.clone())
        .await
        .map_err(Error::Spec)?;
    crate::commands::print_warnings(&plans);
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
