//! `medallion docs [--env E] --out DIR [--jobs PATHS] [--days N]`: writes the environment's
//! documentation site (see the medallion-docs crate).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use medallion_core::audit::{self, Actor, AuditLog};
use medallion_core::{lineage, plan, Error};

use crate::{out, project, Cli};

pub struct Args<'a> {
    pub env: &'a str,
    pub out: &'a std::path::Path,
    pub paths: &'a [PathBuf],
    pub days: i64,
}

pub async fn docs(cli: &Cli, a: Args<'_>) -> anyhow::Result<ExitCode> {
    let (env, catalog) = project::environment(cli, a.env).await?;
    let files = project::job_files(a.paths)?;
    let envs_file =
        project::environments_file(&cli.environments, files.first().map(|f| f.as_path())).ok();
    let schemas = project::schemas_dir(cli, envs_file.as_deref());
    let plans = plan::plan_all(&files, &schemas, HashMap::new())
        .await
        .map_err(Error::Spec)?;
    let graph = lineage::build(&plans, HashMap::new()).await?;
    let log = AuditLog::for_env(&env, Actor::default())?;
    let records = log.records().await?;
    let engine = medallion_core::pipeline::Engine::new(env.clone(), catalog.clone());
    let lake_tables: Vec<String> = engine
        .lake_tables()
        .await?
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    let verification = audit::verify(&log, &env, catalog.as_ref(), &lake_tables).await?;
    let site = medallion_docs::collect(medallion_docs::Sources {
        env: &env,
        catalog: catalog.as_ref(),
        plans: &plans,
        graph: &graph,
        trail: log.shown.clone(),
        records,
        verification,
        days: a.days,
        now: chrono::Utc::now(),
    })
    .await?;
    medallion_docs::write(&site, a.out).map_err(|message| Error::Input {
        path: a.out.display().to_string(),
        message,
    })?;
    let mut err = std::io::stderr();
    for p in &site.problems {
        writeln!(err, "warning: {p}")?;
    }
    let mut out = out::stdout();
    writeln!(
        out,
        "wrote {}: {} tables, {} pipelines, {} lineage edges, {} audit records (last {} days; trail {})",
        a.out.join("index.html").display(),
        site.tables.len(),
        site.pipelines.len(),
        site.lineage.edges.len(),
        site.audit.records.len(),
        a.days,
        site.audit.verdict
    )?;
    Ok(ExitCode::SUCCESS)
}
