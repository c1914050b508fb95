//! Where a command finds its project: the environments file, the schemas folder, the job
//! files, and the engine (environment + catalog) they open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use medallion_core::audit::{Actor, AuditLog, AuditSink};
use medallion_core::catalog::{Catalog, EmbeddedCatalog};
use medallion_core::env::{self, CatalogSpec, Environment};
use medallion_core::pipeline::Engine;
use medallion_core::{plan, Error};

use crate::Cli;

/// Finds environments.yaml: the flag, else the current folder, else the folders above `near`.
pub fn environments_file(
    cli_value: &Option<PathBuf>,
    near: Option<&Path>,
) -> Result<PathBuf, Error> {
    if let Some(p) = cli_value {
        return Ok(p.clone());
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io("the current folder", e))?;
    let mut candidates = vec![cwd.join("environments.yaml")];
    if let Some(near) = near {
        let abs = env::normalize(&cwd, near);
        candidates.extend(abs.ancestors().map(|a| a.join("environments.yaml")));
    }
    candidates.into_iter().find(|c| c.is_file()).ok_or_else(|| {
        Error::Config(
            "no environments.yaml found in the current folder or above the job path; pass --environments FILE"
                .into(),
        )
    })
}

/// The schemas folder: the flag, else `schemas/` beside the environments file.
pub fn schemas_dir(cli: &Cli, envs_file: Option<&Path>) -> PathBuf {
    cli.schemas
        .clone()
        .unwrap_or_else(|| match envs_file.and_then(|f| f.parent()) {
            Some(p) if !p.as_os_str().is_empty() => p.join("schemas"),
            _ => PathBuf::from("schemas"),
        })
}

pub async fn open_catalog(env: &Environment) -> Result<Arc<dyn Catalog>, Error> {
    match &env.catalog {
        CatalogSpec::Embedded => Ok(Arc::new(EmbeddedCatalog::for_location(
            env.lake_location()?,
        ))),
        CatalogSpec::Glue(spec) => Ok(Arc::new(
            medallion_glue::GlueCatalog::from_env(spec, &env.name).await?,
        )),
    }
}

/// The engine of environment `env_name`, and the environments file it came from. Every
/// run of the engine is recorded in the environment's audit trail.
pub async fn engine(
    cli: &Cli,
    env_name: &str,
    near: Option<&Path>,
) -> Result<(Engine, PathBuf), Error> {
    let file = environments_file(&cli.environments, near)?;
    let environment = env::load_environment(&file, env_name)?;
    medallion_core::backup::restore::check_not_restoring(&environment).await?;
    let catalog = open_catalog(&environment).await?;
    let audit = Arc::new(AuditSink::new(
        audit_log(&environment).await?,
        environment.clone(),
    ));
    Ok((Engine::new(environment, catalog).with_sink(audit), file))
}

/// The environment `env_name` and its catalog, for commands that only read.
pub async fn environment(
    cli: &Cli,
    env_name: &str,
) -> Result<(Environment, Arc<dyn Catalog>), Error> {
    let file = environments_file(&cli.environments, None)?;
    let environment = env::load_environment(&file, env_name)?;
    let catalog = open_catalog(&environment).await?;
    Ok((environment, catalog))
}

/// The audit trail of `env`, written as this process: OS user and host, the command line,
/// the project's git commit, and on an S3 lake the AWS caller identity.
pub async fn audit_log(env: &Environment) -> Result<Arc<AuditLog>, Error> {
    let log = AuditLog::for_env(env, Actor::this_process(&env.project_root))?;
    Ok(Arc::new(if matches!(env.lake, env::LakeRoot::S3 { .. }) {
        log.with_identity(Arc::new(|| Box::pin(medallion_glue::caller_arn())))
    } else {
        log
    }))
}

/// The job files of the paths the user named (default `jobs/`). A path that does not exist,
/// or holds no job spec, is the user's input error.
pub fn job_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("jobs")]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for p in &paths {
        if !p.exists() {
            return Err(Error::Input {
                path: p.display().to_string(),
                message: "does not exist; name a job file or a folder of job files".into(),
            });
        }
        files.extend(plan::job_files(p).map_err(|e| Error::io(p.display().to_string(), e))?);
    }
    if files.is_empty() {
        return Err(Error::Input {
            path: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            message: "holds no job spec (*.yaml)".into(),
        });
    }
    Ok(files)
}

/// The OpenLineage sink of runs of `plans` in `env` (file transport always; HTTP when
/// `lineage.http` is set). Lineage never stops a run: if it cannot be set up, a warning says
/// why and the runs go on without it.
pub async fn lineage_sink(
    env: &Environment,
    plans: &[medallion_core::plan::JobPlan],
    known: std::collections::HashMap<String, arrow::datatypes::SchemaRef>,
    streaming: bool,
) -> Option<Arc<medallion_core::lineage::LineageSink>> {
    use medallion_core::lineage::{self, openlineage, transport};
    let setup = async {
        let graph = lineage::build(plans, known).await?;
        let templates = plans
            .iter()
            .map(|p| openlineage::template(env, p, &graph, streaming))
            .collect();
        let file = transport::FileTransport::for_env(env)?;
        Ok::<_, Error>((templates, file))
    };
    let (templates, file) = match setup.await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "OpenLineage events are off for this command: cannot set them up.");
            return None;
        }
    };
    let http = env.lineage.http.as_ref().map(|h| {
        Arc::new(transport::HttpTransport::start(
            &h.url,
            h.buffer.unwrap_or(10_000),
        ))
    });
    let every = std::time::Duration::from_secs(env.lineage.running_interval_s.unwrap_or(60));
    Some(Arc::new(lineage::LineageSink::new(
        templates, file, http, every,
    )))
}

/// `names` narrowed to `table` (`db.table`) when one is given; an error naming the
/// environment when it is not among them.
pub fn select_table(
    names: Vec<medallion_core::spec::TableName>,
    table: Option<&str>,
    env: &str,
) -> Result<Vec<medallion_core::spec::TableName>, Error> {
    let Some(t) = table else {
        return Ok(names);
    };
    let t = medallion_core::spec::TableName::parse(t).map_err(|message| Error::Input {
        path: t.to_string(),
        message,
    })?;
    let names: Vec<_> = names.into_iter().filter(|n| *n == t).collect();
    if names.is_empty() {
        return Err(Error::Input {
            path: t.to_string(),
            message: format!("no such table in `{env}`"),
        });
    }
    Ok(names)
}

/// What the reporting and maintenance commands read: the environment with its catalog, the
/// specs planned, the schemas the environment's tables have, and the lake's tables.
pub struct Governed {
    pub env: Environment,
    pub catalog: Arc<dyn Catalog>,
    pub plans: Vec<plan::JobPlan>,
    pub known: std::collections::HashMap<String, arrow::datatypes::SchemaRef>,
    pub lake: Vec<medallion_core::spec::TableName>,
}

pub async fn governed(cli: &Cli, env_name: &str, paths: &[PathBuf]) -> Result<Governed, Error> {
    let (env, catalog) = environment(cli, env_name).await?;
    let engine = Engine::new(env.clone(), catalog.clone());
    let files = job_files(paths)?;
    let envs_file = environments_file(&cli.environments, files.first().map(|f| f.as_path()))?;
    let schemas = schemas_dir(cli, Some(&envs_file));
    let known = engine.known_schemas().await?;
    let plans = plan::plan_all(&files, &schemas, known.clone())
        .await
        .map_err(Error::Spec)?;
    let lake = engine
        .lake_tables()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    Ok(Governed {
        env,
        catalog,
        plans,
        known,
        lake,
    })
}
