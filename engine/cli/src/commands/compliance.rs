//! `medallion compliance report [--env E] [--format md|json|html] [--jobs PATHS]`: controls
//! on the environment's configuration and data, each PASS, FAIL or NOT-APPLICABLE with its
//! evidence (docs/compliance.md). Exit 1 when a control FAILs. The report's generation is
//! recorded in the audit trail.

use std::io::Write as _;
use std::process::ExitCode;

use medallion_core::compliance::{self, Inputs};
use medallion_core::lineage;

use crate::{out, project, Cli, ComplianceArgs, ReportFormat};

pub async fn report(cli: &Cli, a: &ComplianceArgs) -> anyhow::Result<ExitCode> {
    let project::Governed {
        env,
        catalog,
        plans,
        known,
        lake,
        ..
    } = project::governed(cli, &a.env, &a.paths).await?;
    let graph = lineage::build(&plans, known).await?;
    let log = project::audit_log(&env).await?;
    let records = log.records().await?;
    let entries = catalog.list_tables(None).await?;
    let i = Inputs {
        env: &env,
        catalog: catalog.as_ref(),
        log: &log,
        records: &records,
        plans: &plans,
        graph: &graph,
        lake_tables: &lake,
        entries: &entries,
        now: chrono::Utc::now(),
    };
    let r = compliance::evaluate(&i).await;
    let text = match a.format {
        ReportFormat::Md => compliance::render::markdown(&r),
        ReportFormat::Html => compliance::html::html(&r),
        ReportFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
    };
    let statuses: serde_json::Map<String, serde_json::Value> = r
        .controls
        .iter()
        .map(|c| (c.id.to_string(), c.status.as_str().into()))
        .collect();
    log.append(vec![medallion_core::audit::Entry::new(
        "compliance_reported",
        serde_json::json!({ "format": a.format.name(), "controls": statuses, "failed": r.failed() }),
    )])
    .await?;
    out::stdout().write_all(text.as_bytes())?;
    Ok(if r.failed().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
