//! `medallion docs [--env E] --out DIR [--jobs PATHS] [--days N]`: writes the environment's
//! documentation site (see the medallion-docs crate).

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
    let engine = medallion_core::pipeline::Engine::new(env.clone(), catalog.clone());
    // Tables a spec reads that another project or an earlier spec wrote: from the catalog.
    let known = engine.known_schemas().await?;
    let plans = plan::plan_all(&files, &schemas, known.clone())
        .await
        .map_err(Error::Spec)?;
    let graph = lineage::build(&plans, known).await?;
    let log = AuditLog::for_env(&env, Actor::default())?;
    let (records, unreadable_records) = readable_records(&log, &env.name).await?;
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
        lake_tables: &lake_tables,
        graph: &graph,
        trail: log.shown.clone(),
        records,
        unreadable_records,
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

/// The trail's records that parse, and a line for each that does not: a damaged trail is
/// what the site's verdict is for, so it must not stop the site.
async fn readable_records(
    log: &AuditLog,
    env: &str,
) -> Result<(Vec<audit::Record>, Vec<String>), Error> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (seq, bytes) in log.read_all().await? {
        match serde_json::from_slice(&bytes) {
            Ok(r) => ok.push(r),
            Err(e) => bad.push(format!(
                "audit record {seq} ({}/{seq:020}.json) is not a valid record ({e}); \
                 `medallion audit verify --env {env}` tells what happened",
                log.shown
            )),
        }
    }
    Ok((ok, bad))
}
