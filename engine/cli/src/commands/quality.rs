//! `medallion quality report [--env E] [--since T] [--top N] [--format md|json|html] [--jobs
//! PATHS]`: rule outcomes, quarantine and schema-rejection rates, freshness and anomalies per
//! pipeline (docs/quality-report.md). The report's generation is recorded in the audit trail.

use std::io::Write as _;
use std::process::ExitCode;

use medallion_core::quality_report::{self, freshness, html, render, Options};

use crate::{out, project, Cli, QualityArgs, ReportFormat};

pub async fn report(cli: &Cli, a: &QualityArgs) -> anyhow::Result<ExitCode> {
    let since = super::audit::parse_since(&a.since)?;
    let project::Governed {
        env, plans, lake, ..
    } = project::governed(cli, &a.env, &a.paths).await?;
    let now = chrono::Utc::now();
    let log = project::audit_log(&env).await?;
    let records = log.records().await?;
    let tables = freshness::of(&env, &plans, &lake, &records, now).await?;
    let o = Options {
        environment: env.name.clone(),
        since,
        now,
        top: a.top,
    };
    let r = quality_report::build(&records, &o, tables)?;
    let text = match a.format {
        ReportFormat::Md => render::markdown(&r),
        ReportFormat::Html => html::html(&r),
        ReportFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
    };
    log.append(vec![medallion_core::audit::Entry::new(
        "quality_reported",
        serde_json::json!({
            "since": r.since, "format": a.format.name(), "pipelines": r.pipelines.len(),
            "anomalies": r.anomalies().count(), "stale_tables": r.stale().map(|t| t.table.clone()).collect::<Vec<_>>(),
        }),
    )])
    .await?;
    out::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
