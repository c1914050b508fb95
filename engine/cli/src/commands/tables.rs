//! `medallion tables [--env ENV] [--json]`: the tables of the environment's catalog, and
//! whether each agrees with the lake.

use std::io::Write;
use std::process::ExitCode;

use medallion_core::catalog::TableEntry;
use medallion_core::sync::Drift;

use crate::{out, project, Cli};

pub async fn tables(cli: &Cli, env_name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (engine, _) = project::engine(cli, env_name, None).await?;
    let tables = engine.catalog.list_tables(None).await?;
    let drift = engine.drift().await?;
    let mut out = out::stdout();
    if json {
        let drift: Vec<_> = drift
            .iter()
            .map(|(t, d)| serde_json::json!({"table": t, "status": d.to_string()}))
            .collect();
        let doc = serde_json::json!({ "tables": tables, "drift": drift });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if drift.is_empty() {
        writeln!(out, "no tables in environment `{env_name}` yet; run a pipeline first (medallion run jobs/ --env {env_name})")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<34} {:<11} {:>7} {:>8}  {:<16} {:<26} location",
        "table", "layer", "version", "columns", "pipeline", "catalog vs lake"
    )?;
    for (name, d) in &drift {
        let entry = tables.iter().find(|t| &t.qualified_name() == name);
        row(&mut out, name, entry, d)?;
    }
    let drifted = drift.iter().filter(|(_, d)| *d != Drift::InSync).count();
    if drifted > 0 {
        writeln!(out, "\n{drifted} table(s) differ between catalog and lake; `medallion catalog sync --env {env_name}` re-registers them from the lake")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn row(
    out: &mut impl Write,
    name: &str,
    entry: Option<&TableEntry>,
    d: &Drift,
) -> std::io::Result<()> {
    match entry {
        Some(t) => writeln!(
            out,
            "{:<34} {:<11} {:>7} {:>8}  {:<16} {:<26} {}",
            name,
            t.layer,
            t.delta_version,
            t.columns.len(),
            t.owner_pipeline,
            d.to_string(),
            t.location
        ),
        None => writeln!(
            out,
            "{:<34} {:<11} {:>7} {:>8}  {:<16} {:<26}",
            name,
            "-",
            "-",
            "-",
            "-",
            d.to_string()
        ),
    }
}
