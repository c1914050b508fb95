//! `medallion promote --from E1 --to E2 [PATHS] [--apply] [--plan-hash H] [--format text|json]`
//! and `medallion release create [PATHS] --env E`: see docs/promotion.md.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use arrow::datatypes::SchemaRef;
use medallion_core::audit::{Actor, AuditLog, Entry};
use medallion_core::env::{self, Environment};
use medallion_core::plan::JobPlan;
use medallion_core::promote::gates::{self, Inputs};
use medallion_core::promote::history;
use medallion_core::promote::report::Plan;
use medallion_core::promote::{diff, release};
use medallion_core::schema::{load_schema, DatasetSchema};
use medallion_core::spec::TableName;
use medallion_core::{lineage, plan, table, Error};

use crate::{out, project, Cli, Format};

pub struct Args<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub paths: &'a [PathBuf],
    pub apply: bool,
    pub plan_hash: Option<&'a str>,
    pub format: Format,
}

pub async fn promote(cli: &Cli, a: Args<'_>) -> anyhow::Result<ExitCode> {
    let files = project::job_files(a.paths)?;
    let envs_file =
        project::environments_file(&cli.environments, files.first().map(|f| f.as_path()))?;
    let (from, to) = environments(&envs_file, a.from, a.to)?;
    let schemas = project::schemas_dir(cli, Some(&envs_file));
    let target = Target::read(&to).await;
    // Planned as in `from`, where the release ran (its tables, read by other pipelines' SQL,
    // are known there); the gates then check it against the target.
    let from_known =
        medallion_core::pipeline::Engine::new(from.clone(), project::open_catalog(&from).await?)
            .known_schemas()
            .await?;
    let p = plan_project(&files, &schemas, from_known).await?;
    let release = release::release(&p.release, &to)?;
    let from_records = AuditLog::for_env(&from, Actor::default())?
        .records()
        .await?;
    let to_log = project::audit_log(&to).await?;
    let promotions = history::promotions(&to_log.records().await?).map_err(Error::Config)?;
    let (target_tables, unreadable) = target.tables(&to, &p.release).await;
    let (earlier, missing) = earlier_schemas(&schemas, &p.release);
    let reachable = [target.reachable.clone(), unreadable, missing].concat();
    let gates = gates::check(&Inputs {
        release: &release,
        plans: &p.release,
        all_plans: &p.all,
        graph: &p.graph,
        from: &from,
        to: &to,
        from_records: &from_records,
        target_tables: &target_tables,
        earlier_schemas: &earlier,
        reachable: &reachable,
    });
    let diff = diff::diff(
        &release,
        &p.release,
        &promotions,
        &target_tables,
        to.retention_days,
    );
    let plan = Plan::new(&from.name, &to.name, release, diff, gates);
    decide(&a, &plan, &from, &to, &to_log).await
}

/// Prints the plan; with --apply, records it when every gate passes and the hash matches.
async fn decide(
    a: &Args<'_>,
    plan: &Plan,
    from: &Environment,
    to: &Environment,
    to_log: &AuditLog,
) -> anyhow::Result<ExitCode> {
    let mut out = out::stdout();
    match a.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(plan)?)?,
        Format::Text => write!(out, "{}", plan.to_text())?,
    }
    let failed = plan.failed_gates().len();
    if !a.apply {
        writeln!(
            out,
            "Nothing applied (plan only); `--apply` promotes when every gate passes."
        )?;
        return Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if failed > 0 {
        writeln!(
            out,
            "Refused: {failed} gate(s) failed; nothing was promoted."
        )?;
        return Ok(ExitCode::from(1));
    }
    if let Some(h) = a.plan_hash {
        if h.len() < 8 || !plan.plan_sha256.starts_with(h) {
            writeln!(
                out,
                "Refused: this plan is {}, not the reviewed {h}: what would be applied changed; review the plan again.",
                &plan.plan_sha256[..16]
            )?;
            return Ok(ExitCode::from(1));
        }
    }
    let rec = to_log.append(vec![promotion_entry(plan, from, to)]).await?;
    writeln!(
        out,
        "Promoted release {} to {} (audit record {} in {}).",
        plan.release.short(),
        to.name,
        rec.first().map_or(0, |r| r.seq),
        to_log.shown
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `from` and `to`, `to` promoting from `from`.
fn environments(file: &Path, from: &str, to: &str) -> Result<(Environment, Environment), Error> {
    let from = env::load_environment(file, from)?;
    let to = env::load_environment(file, to)?;
    if to.promote_from.as_deref() != Some(from.name.as_str()) {
        return Err(Error::Config(format!(
            "`{}` is not promoted from `{}`: its promote_from in {} is {}",
            to.name,
            from.name,
            file.display(),
            to.promote_from
                .as_deref()
                .map_or("not set".into(), |f| format!("`{f}`"))
        )));
    }
    Ok((from, to))
}

/// The release's plans, and every spec of the project (PATHS and the default `jobs/`)
/// planned together with its lineage: personal data crosses pipelines.
pub struct ProjectPlans {
    pub release: Vec<JobPlan>,
    pub all: Vec<JobPlan>,
    pub graph: lineage::Graph,
}

pub async fn plan_project(
    files: &[PathBuf],
    schemas: &Path,
    known: HashMap<String, SchemaRef>,
) -> Result<ProjectPlans, Error> {
    let canonical = |f: &PathBuf| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
    let chosen: std::collections::HashSet<PathBuf> = files.iter().map(canonical).collect();
    let mut all_files = files.to_vec();
    if Path::new("jobs").is_dir() {
        for f in project::job_files(&[])? {
            if !chosen.contains(&canonical(&f)) {
                all_files.push(f);
            }
        }
    }
    let all = plan::plan_all(&all_files, schemas, known.clone())
        .await
        .map_err(Error::Spec)?;
    let graph = lineage::build(&all, known).await?;
    let release = all
        .iter()
        .filter(|p| chosen.contains(&canonical(&PathBuf::from(&p.job.file))))
        .cloned()
        .collect();
    Ok(ProjectPlans {
        release,
        all,
        graph,
    })
}

fn promotion_entry(plan: &Plan, from: &Environment, to: &Environment) -> Entry {
    let detail = serde_json::json!({
        "release": plan.release.hash,
        "from": plan.from,
        "from_environment_sha256": from.spec_sha256,
        "from_lake": from.lake.to_string(),
        "environment_sha256": plan.release.environment_sha256,
        "retention_days": to.retention_days,
        "plan_sha256": plan.plan_sha256,
        "git_commit": plan.release.git_commit,
        "pipelines": plan.release.pipelines,
        "gates": plan.gates,
        "diff": plan.diff,
    });
    Entry::new(history::PROMOTED, detail)
}

/// Whether the target's lake and catalog answer (an unreachable target is a failed gate, not
/// an aborted plan).
struct Target {
    reachable: Vec<(String, Result<(), String>)>,
}

impl Target {
    async fn read(to: &Environment) -> Self {
        let mut reachable = Vec::new();
        match project::open_catalog(to).await {
            Ok(catalog) => {
                let engine = medallion_core::pipeline::Engine::new(to.clone(), catalog);
                let listed = engine
                    .known_schemas()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                reachable.push((format!("catalog of {}", to.name), listed));
                let lake = engine
                    .lake_tables()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                reachable.push((format!("lake {}", to.lake), lake));
            }
            Err(e) => reachable.push((format!("catalog of {}", to.name), Err(e.to_string()))),
        }
        Self { reachable }
    }

    /// The current schemas of the release's tables in the target's lake.
    async fn tables(
        &self,
        to: &Environment,
        plans: &[JobPlan],
    ) -> (
        HashMap<String, SchemaRef>,
        Vec<(String, Result<(), String>)>,
    ) {
        let mut out = HashMap::new();
        let mut errors = Vec::new();
        for p in plans {
            for t in p.job.output_tables() {
                match current_schema(to, &t).await {
                    Ok(Some(s)) => {
                        out.insert(t.to_string(), s);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        errors.push((format!("table {t} in {}", to.name), Err(e.to_string())))
                    }
                }
            }
        }
        (out, errors)
    }
}

async fn current_schema(env: &Environment, t: &TableName) -> Result<Option<SchemaRef>, Error> {
    let Some(dt) = table::open_if_exists(&t.to_string(), &env.location(t)?).await? else {
        return Ok(None);
    };
    Ok(Some(table::arrow_schema(&dt)?))
}

/// Every earlier version of each pinned dataset (for `*_transitive` modes), and a failed
/// check for each one that cannot be read (a transitive check must not pass vacuously).
fn earlier_schemas(
    dir: &Path,
    plans: &[JobPlan],
) -> (
    HashMap<String, Vec<DatasetSchema>>,
    Vec<(String, Result<(), String>)>,
) {
    let mut out: HashMap<String, Vec<DatasetSchema>> = HashMap::new();
    let mut missing = Vec::new();
    for p in plans.iter().filter(|p| p.schema.compatibility.transitive()) {
        let ds = &p.schema;
        for v in 1..ds.version {
            let r = format!("{}@{v}", ds.dataset);
            match load_schema(dir, &r, &p.job.file, "bronze.schema") {
                Ok(old) => out.entry(ds.dataset.clone()).or_default().push(old),
                Err(e) => missing.push((
                    format!("schema {r} (for a transitive compatibility check)"),
                    Err(e
                        .iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")),
                )),
            }
        }
    }
    (out, missing)
}

/// `medallion release create [PATHS] --env E`: the release of the specs for E, and what is in it.
pub async fn release_create(
    cli: &Cli,
    paths: &[PathBuf],
    env_name: &str,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let files = project::job_files(paths)?;
    let envs_file =
        project::environments_file(&cli.environments, files.first().map(|f| f.as_path()))?;
    let target = env::load_environment(&envs_file, env_name)?;
    let schemas = project::schemas_dir(cli, Some(&envs_file));
    let plans = plan::plan_all(&files, &schemas, HashMap::new())
        .await
        .map_err(Error::Spec)?;
    let mut r = release::release(&plans, &target)?;
    let mut out = out::stdout();
    if format == Format::Json {
        for p in &mut r.pipelines {
            p.spec_text.clear();
            p.schema_text.clear();
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "release {}", r.hash)?;
    writeln!(
        out,
        "  for {} (environments.yaml entry {})",
        r.target, r.environment_sha256
    )?;
    if let Some(c) = &r.git_commit {
        writeln!(out, "  git commit {c} (not part of the hash)")?;
    }
    for p in &r.pipelines {
        writeln!(
            out,
            "  pipeline {:<16} {} {}  schema {} {}",
            p.pipeline, p.spec_file, p.spec_sha256, p.schema, p.schema_sha256
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
