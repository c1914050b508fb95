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

/// `medallion catalog export --env E [--out FILE]`.
pub async fn export(cli: &Cli, env_name: &str, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let (env, catalog) = project::environment(cli, env_name).await?;
    let doc = medallion_core::backup::catalog_file::document(&*catalog, &env).await?;
    let json = serde_json::to_string_pretty(&doc)?;
    if file == std::path::Path::new("-") {
        writeln!(out::stdout(), "{json}")?;
    } else {
        std::fs::write(file, json + "\n")
            .map_err(|e| medallion_core::Error::io(file.display().to_string(), e))?;
        eprintln!(
            "{} database(s), {} table(s) of `{env_name}` written to {}",
            doc.databases.len(),
            doc.tables.len(),
            file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `medallion catalog import FILE --env E`.
pub async fn import(cli: &Cli, env_name: &str, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    use medallion_core::backup::catalog_file;
    let (env, catalog) = project::environment(cli, env_name).await?;
    let bytes = std::fs::read(file)
        .map_err(|e| medallion_core::Error::io(file.display().to_string(), e))?;
    let doc = catalog_file::parse(&bytes, &file.display().to_string())?;
    let done = catalog_file::import(&*catalog, &env, &doc, &doc.tables).await?;
    let log = project::audit_log(&env).await?;
    log.append(vec![medallion_core::audit::Entry::new(
        "catalog_imported",
        serde_json::json!({ "file": file.display().to_string(), "tables": done }),
    )])
    .await?;
    writeln!(
        out::stdout(),
        "{} table(s) registered in the catalog of `{env_name}` from {}",
        done.len(),
        file.display()
    )?;
    Ok(ExitCode::SUCCESS)
}
