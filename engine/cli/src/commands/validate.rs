//! `medallion validate [PATHS] [--env ENV]`: check specs and the schemas they pin, without
//! touching data. Every problem is listed; any problem is a configuration error (exit 1).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use medallion_core::env;
use medallion_core::pipeline::Engine;
use medallion_core::{plan, Error, SpecError};

use crate::{out, project, Cli};

pub async fn validate(
    cli: &Cli,
    paths: &[PathBuf],
    env_name: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let files = project::job_files(paths)?;
    let envs_file =
        project::environments_file(&cli.environments, files.first().map(|f| f.as_path())).ok();
    let mut problems = Vec::new();
    let mut known = HashMap::new();
    if let Some(f) = &envs_file {
        match known_schemas(f, env_name).await {
            Ok(k) => known = k,
            Err(Error::Spec(errors)) => problems.extend(errors),
            Err(e) => return Err(e.into()),
        }
    }
    let schemas = project::schemas_dir(cli, envs_file.as_deref());
    let current = known.clone();
    let plans = match plan::plan_all(&files, &schemas, known).await {
        Ok(plans) if problems.is_empty() => plans,
        result => {
            problems.extend(result.err().unwrap_or_default());
            return Err(Error::Spec(problems).into());
        }
    };
    crate::commands::print_warnings(&plans);
    if env_name.is_some() {
        for w in downstream_impacts(&files, &plans, &schemas, &current).await {
            eprintln!("warning: {w}");
        }
    }
    let mut out = out::stdout();
    for p in &plans {
        writeln!(
            out,
            "ok  {}  (pipeline {}, schema {})",
            p.job.file,
            p.job.spec.pipeline,
            p.schema.reference()
        )?;
    }
    writeln!(out, "{} spec(s) valid", plans.len())?;
    Ok(ExitCode::SUCCESS)
}

/// Checks the environments file; with `--env`, also the schemas of the tables other
/// pipelines registered in that environment's catalog.
async fn known_schemas(
    file: &Path,
    env_name: Option<&str>,
) -> Result<HashMap<String, arrow::datatypes::SchemaRef>, Error> {
    let all = env::load_all(file)?;
    let Some(name) = env_name else {
        return Ok(HashMap::new());
    };
    let Some(environment) = all.into_iter().find(|e| e.name == name) else {
        return Err(Error::Spec(vec![SpecError::new(
            file.display().to_string(),
            "environments",
            format!("no environment `{name}`; pass one defined in this file to --env"),
        )]));
    };
    let catalog = project::open_catalog(&environment).await?;
    Engine::new(environment, catalog).known_schemas().await
}

/// Columns the tables have today (`current`) that the validated specs stop writing or retype,
/// with what reads them downstream: the other job specs of the project (its `jobs/` folder,
/// planned against the tables as they are) and the validated ones.
async fn downstream_impacts(
    files: &[PathBuf],
    plans: &[plan::JobPlan],
    schemas: &Path,
    current: &HashMap<String, arrow::datatypes::SchemaRef>,
) -> Vec<String> {
    use medallion_core::lineage::{build, changes};
    let changed = changes::column_changes(plans, current);
    if changed.is_empty() {
        return vec![];
    }
    let validated: Vec<PathBuf> = files.iter().filter_map(|f| f.canonicalize().ok()).collect();
    let others: Vec<PathBuf> = project::job_files(&[PathBuf::from("jobs")])
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.canonicalize().is_ok_and(|c| !validated.contains(&c)))
        .collect();
    let other_plans = plan::plan_all(&others, schemas, current.clone())
        .await
        .unwrap_or_default();
    let all: Vec<plan::JobPlan> = plans.iter().chain(&other_plans).cloned().collect();
    let graph = match build(&all, current.clone()).await {
        Ok(g) => g,
        Err(_) => match build(&other_plans, current.clone()).await {
            Ok(g) => g,
            Err(e) => {
                return vec![format!(
                    "cannot tell what reads the changed columns (lineage: {e})"
                )]
            }
        },
    };
    changes::impacts(&changed, &graph)
}
