//! `medallion`: run declarative Bronze → Silver → Gold pipelines on a Delta lake.
//!
//! Exit codes: 0 success, 1 the spec or the data said no (invalid spec, failed quality rule,
//! isolation violation), 2 something broke.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand, ValueEnum};
use medallion_core::catalog::{Catalog, EmbeddedCatalog};
use medallion_core::env::{self, CatalogSpec, Environment};
use medallion_core::pipeline::Engine;
use medallion_core::report::Progress;
use medallion_core::sync::Drift;
use medallion_core::{plan, Error};

mod stream;

#[derive(Parser)]
#[command(
    name = "medallion",
    version,
    about = "Declarative Bronze → Silver → Gold pipelines on Delta Lake"
)]
struct Cli {
    /// The environments file (default: environments.yaml in the current folder or above the job path).
    #[arg(long, global = true, env = "MEDALLION_ENVIRONMENTS")]
    environments: Option<PathBuf>,
    /// The folder of versioned schemas (default: schemas/ beside the environments file).
    #[arg(long, global = true, env = "MEDALLION_SCHEMAS")]
    schemas: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check job specs and the schemas they pin, without touching data.
    Validate {
        /// Job files or folders (default: jobs/).
        paths: Vec<PathBuf>,
        /// Also resolve tables of other pipelines from this environment's catalog.
        #[arg(long)]
        env: Option<String>,
    },
    /// Run pipelines: ingest new files into Bronze, refresh Silver and Gold.
    Run {
        /// A job file or a folder of job files (run in dependency order).
        path: PathBuf,
        /// The environment.
        #[arg(long, default_value = "dev")]
        env: String,
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        report: Format,
    },
    /// Stream a Kafka source into Bronze (exactly once) until SIGTERM/SIGINT; Silver and Gold
    /// follow. Serves Prometheus /metrics and /health.
    Stream {
        /// The job file (its source must be `kafka`).
        path: PathBuf,
        /// The environment (must have `streaming: true`).
        #[arg(long, default_value = "dev")]
        env: String,
        /// Address of the /metrics and /health endpoint.
        #[arg(long, default_value = "127.0.0.1:9464")]
        metrics_addr: std::net::SocketAddr,
    },
    /// List the tables in the environment's catalog.
    Tables {
        #[arg(long, default_value = "dev")]
        env: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Catalog maintenance.
    Catalog {
        #[command(subcommand)]
        action: CatalogAction,
    },
    /// Run a SQL query over the environment's tables (`SELECT ... FROM gold.daily_revenue`).
    Sql {
        query: String,
        #[arg(long, default_value = "dev")]
        env: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
        format: SqlFormat,
    },
}

#[derive(Subcommand)]
enum CatalogAction {
    /// Re-register every Delta table of the lake in the catalog (repairs a catalog that
    /// drifted or was lost).
    Sync {
        #[arg(long, default_value = "dev")]
        env: String,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum SqlFormat {
    Table,
    Csv,
    Json,
}

fn main() -> ExitCode {
    // Logs go to stderr; MEDALLION_LOG_FORMAT=json writes one JSON object per line with the
    // event fields at the top level (`{"event":"job_failed",...}`) for log-based alarms.
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEDALLION_LOG")
        .unwrap_or_else(|_| "warn".into());
    if std::env::var("MEDALLION_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            let user = e
                .downcast_ref::<Error>()
                .is_some_and(|e| e.is_user_failure());
            eprintln!("error: {e:#}");
            ExitCode::from(if user { 1 } else { 2 })
        }
    }
}

/// Finds environments.yaml: the flag, else the current folder, else the folders above `near`.
fn environments_file(cli_value: &Option<PathBuf>, near: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = cli_value {
        return Ok(p.clone());
    }
    let cwd = std::env::current_dir()?;
    let mut candidates = vec![cwd.join("environments.yaml")];
    if let Some(near) = near {
        let abs = env::normalize(&cwd, near);
        candidates.extend(abs.ancestors().map(|a| a.join("environments.yaml")));
    }
    candidates.into_iter().find(|c| c.is_file()).ok_or_else(|| {
        anyhow!("no environments.yaml found in the current folder or above the job path; pass --environments FILE")
    })
}

fn schemas_dir(cli: &Cli, envs_file: Option<&Path>) -> PathBuf {
    cli.schemas
        .clone()
        .unwrap_or_else(|| match envs_file.and_then(|f| f.parent()) {
            Some(p) if !p.as_os_str().is_empty() => p.join("schemas"),
            _ => PathBuf::from("schemas"),
        })
}

async fn open_catalog(env: &Environment) -> anyhow::Result<Arc<dyn Catalog>> {
    match &env.catalog {
        CatalogSpec::Embedded => Ok(Arc::new(EmbeddedCatalog::for_location(
            env.lake_location()?,
        ))),
        CatalogSpec::Glue(spec) => Ok(Arc::new(
            medallion_glue::GlueCatalog::from_env(spec, &env.name).await?,
        )),
    }
}

async fn engine(
    cli: &Cli,
    env_name: &str,
    near: Option<&Path>,
) -> anyhow::Result<(Engine, PathBuf)> {
    let file = environments_file(&cli.environments, near)?;
    let environment = env::load_environment(&file, env_name)?;
    let catalog = open_catalog(&environment).await?;
    Ok((Engine::new(environment, catalog), file))
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Validate { paths, env } => validate(&cli, paths, env.as_deref()).await,
        Command::Run { path, env, report } => run(&cli, path, env, *report).await,
        Command::Stream {
            path,
            env,
            metrics_addr,
        } => {
            let (engine, envs_file) = engine(&cli, env, Some(path)).await?;
            let schemas = schemas_dir(&cli, Some(&envs_file));
            stream::stream(engine, &envs_file, &schemas, path, *metrics_addr).await
        }
        Command::Tables { env, json } => tables(&cli, env, *json).await,
        Command::Sql { query, env, format } => sql(&cli, query, env, *format).await,
        Command::Catalog {
            action: CatalogAction::Sync { env },
        } => catalog_sync(&cli, env).await,
    }
}

fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("jobs")]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for p in &paths {
        if !p.exists() {
            return Err(anyhow!("{} does not exist", p.display()));
        }
        files.extend(plan::job_files(p).with_context(|| format!("listing {}", p.display()))?);
    }
    if files.is_empty() {
        return Err(anyhow!(
            "no job specs (*.yaml) under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(files)
}

async fn validate(
    cli: &Cli,
    paths: &[PathBuf],
    env_name: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let files = collect_files(paths)?;
    let envs_file = environments_file(&cli.environments, files.first().map(|f| f.as_path())).ok();
    let mut problems = Vec::new();
    let mut known = Default::default();
    if let Some(f) = &envs_file {
        match env::load_all(f) {
            Ok(all) => {
                if let Some(name) = env_name {
                    match all.into_iter().find(|e| e.name == name) {
                        Some(environment) => {
                            let catalog = open_catalog(&environment).await?;
                            known = Engine::new(environment, catalog).known_schemas().await?;
                        }
                        None => return Err(anyhow!("no environment `{name}` in {}", f.display())),
                    }
                }
            }
            Err(Error::Spec(errors)) => problems.extend(errors),
            Err(e) => return Err(e.into()),
        }
    }
    let schemas = schemas_dir(cli, envs_file.as_deref());
    match plan::plan_all(&files, &schemas, known).await {
        Ok(plans) if problems.is_empty() => {
            for p in &plans {
                println!(
                    "ok  {}  (pipeline {}, schema {})",
                    p.job.file,
                    p.job.spec.pipeline,
                    p.schema.reference()
                );
            }
            println!("{} spec(s) valid", plans.len());
            Ok(ExitCode::SUCCESS)
        }
        result => {
            if let Err(errors) = result {
                problems.extend(errors);
            }
            eprintln!("{}", Error::Spec(problems));
            Ok(ExitCode::from(1))
        }
    }
}

/// Progress bars on a terminal (nothing otherwise).
struct Bars {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress for Bars {
    fn start(&self, stage: &str, total_bytes: Option<u64>) {
        let bar = match total_bytes {
            Some(t) if t > 0 => {
                let b = indicatif::ProgressBar::new(t);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .expect("template")
                    .progress_chars("=> "),
                );
                b
            }
            _ => {
                let b = indicatif::ProgressBar::new_spinner();
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {msg:30} {pos} rows {per_sec}",
                    )
                    .expect("template"),
                );
                b
            }
        };
        b_set(&bar, stage);
        *self.bar.lock().expect("lock") = Some(bar);
    }
    fn advance(&self, rows: u64, bytes: u64) {
        if let Some(b) = self.bar.lock().expect("lock").as_ref() {
            if b.length().is_some() {
                b.inc(bytes);
            } else {
                b.inc(rows);
            }
        }
    }
    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("lock").take() {
            b.finish_and_clear();
        }
    }
}

fn b_set(b: &indicatif::ProgressBar, stage: &str) {
    b.set_message(stage.to_string());
}

async fn run(cli: &Cli, path: &Path, env_name: &str, format: Format) -> anyhow::Result<ExitCode> {
    let files = collect_files(&[path.to_path_buf()])?;
    let (mut engine, envs_file) = engine(cli, env_name, Some(path)).await?;
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) && format == Format::Text {
        engine = engine.with_progress(Arc::new(Bars {
            bar: Mutex::new(None),
        }));
    }
    let schemas = schemas_dir(cli, Some(&envs_file));
    let known = engine.known_schemas().await?;
    let plans = match plan::plan_all(&files, &schemas, known).await {
        Ok(p) => p,
        Err(errors) => return Err(Error::Spec(errors).into()),
    };
    let mut reports = Vec::new();
    let mut failure = None;
    for p in &plans {
        let outcome = engine.run(p).await;
        let r = &outcome.report;
        let quarantined = r.bronze.rows_quarantined
            + r.silver
                .as_ref()
                .map_or(0, |s| s.rows_quarantined + s.rows_schema_rejected);
        if quarantined > 0 {
            tracing::info!(event = "records_quarantined", count = quarantined, pipeline = %r.pipeline, environment = %r.environment, run_id = %r.run_id, "Records quarantined.");
        }
        if let Some(e) = &outcome.error {
            tracing::error!(event = "job_failed", pipeline = %r.pipeline, environment = %r.environment, run_id = %r.run_id, error = %e, "Pipeline run failed.");
        }
        if format == Format::Text {
            print!("{}", outcome.report.to_text());
        }
        reports.push(outcome.report);
        if let Some(e) = outcome.error {
            failure = Some(e);
            break;
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    match failure {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(if e.is_user_failure() { 1 } else { 2 }))
        }
    }
}

async fn tables(cli: &Cli, env_name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (engine, _) = engine(cli, env_name, None).await?;
    let tables = engine.catalog.list_tables(None).await?;
    let drift = engine.drift().await?;
    if json {
        let out = serde_json::json!({ "tables": tables, "drift": drift.iter().map(|(t, d)| serde_json::json!({"table": t, "status": d.to_string()})).collect::<Vec<_>>() });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if drift.is_empty() {
        println!("no tables in environment `{env_name}` yet; run a pipeline first (medallion run jobs/ --env {env_name})");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<34} {:<11} {:>7} {:>8}  {:<16} {:<26} location",
        "table", "layer", "version", "columns", "pipeline", "catalog vs lake"
    );
    let mut drifted = 0;
    for (name, d) in &drift {
        if *d != Drift::InSync {
            drifted += 1;
        }
        match tables.iter().find(|t| &t.qualified_name() == name) {
            Some(t) => println!(
                "{:<34} {:<11} {:>7} {:>8}  {:<16} {:<26} {}",
                name,
                t.layer,
                t.delta_version,
                t.columns.len(),
                t.owner_pipeline,
                d.to_string(),
                t.location
            ),
            None => println!(
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
    if drifted > 0 {
        println!("\n{drifted} table(s) differ between catalog and lake; `medallion catalog sync --env {env_name}` re-registers them from the lake");
    }
    Ok(ExitCode::SUCCESS)
}

async fn catalog_sync(cli: &Cli, env_name: &str) -> anyhow::Result<ExitCode> {
    let (engine, envs_file) = engine(cli, env_name, None).await?;
    let schemas = schemas_dir(cli, Some(&envs_file));
    let done = engine.sync_catalog(Some(&schemas)).await?;
    for t in &done {
        println!("registered {t}");
    }
    println!(
        "{} table(s) registered in the catalog of `{env_name}`",
        done.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn sql(
    cli: &Cli,
    query: &str,
    env_name: &str,
    format: SqlFormat,
) -> anyhow::Result<ExitCode> {
    let (engine, _) = engine(cli, env_name, None).await?;
    let ctx = engine.session().await?;
    let df = ctx
        .sql(query)
        .await
        .map_err(|e| anyhow!("{}", e.strip_backtrace()))?;
    let batches = df
        .collect()
        .await
        .map_err(|e| anyhow!("{}", e.strip_backtrace()))?;
    match format {
        SqlFormat::Table => println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?),
        SqlFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(std::io::stdout());
            for b in &batches {
                w.write(b)?;
            }
        }
        SqlFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(std::io::stdout());
            for b in &batches {
                w.write(b)?;
            }
            w.finish()?;
            println!();
        }
    }
    Ok(ExitCode::SUCCESS)
}
