//! `medallion catalog sync [--env ENV]`: re-register every Delta table of the lake in the
//! environment's catalog (repairs a catalog that drifted or was lost).

use std::io::Write as _;
use std::process::ExitCode;

use crate::{out, project, Cli};

pub async fn sync(cli: &Cli, env_name: &str) -> anyhow::Result<ExitCode> {
    let (engine, envs_file) = project::engine(cli, env_name, None).await?;
    let schemas = project::schemas_dir(cli, Some(&envs_file));
    let done = engine.sync_catalog(Some(&schemas)).await?;
    let log = project::audit_log(&engine.env).await?;
    log.append(vec![medallion_core::audit::Entry::new(
        "catalog_synced",
        serde_json::json!({ "tables": done }),
    )])
    .await?;
    let mut out = out::stdout();
    for t in &done {
        writeln!(out, "registered {t}")?;
    }
    writeln!(
        out,
        "{} table(s) registered in the catalog of `{env_name}`",
        done.len()
    )?;
    Ok(ExitCode::SUCCESS)
}
