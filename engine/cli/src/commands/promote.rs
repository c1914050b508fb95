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
    let from = env::load_environment(&envs_file, a.from)?;
    let to = env::load_environment(&envs_file, a.to)?;
    if to.promote_from.as_deref() != Some(from.name.as_str()) {
        return Err(Error::Config(format!(
            "`{}` is not promoted from `{}`: its promote_from in {} is {}",
            to.name,
            from.name,
            envs_file.display(),
            to.promote_from
                .as_deref()
                .map_or("not set".into(), |f| format!("`{f}`"))
        ))
        .into());
    }
    let schemas = project::schemas_dir(cli, Some(&envs_file));
    let target = Target::read(&to).await;
    // Planned as in `from`, where the release ran (its tables, read by other pipelines' SQL,
    // are known there); the gates then check it against the target.
    let from_known =
        medallion_core::pipeline::Engine::new(from.clone(), project::open_catalog(&from).await?)
            .known_schemas()
            .await?;
    let plans = plan::plan_all(&files, &schemas, from_known.clone())
        .await
        .map_err(Error::Spec)?;
    let release = release::release(&plans, &to)?;
    let graph = lineage::build(&plans, from_known).await?;
    let from_records = AuditLog::for_env(&from, Actor::default())?
        .records()
        .await?;
    let to_log = project::audit_log(&to).await?;
    let to_records = to_log.records().await?;
    let promotions = history::promotions(&to_records).map_err(Error::Config)?;
    let target_tables = target.tables(&to, &plans).await;
    let earlier = earlier_schemas(&schemas, &plans);
    let gates = gates::check(&Inputs {
        release: &release,
        plans: &plans,
        graph: &graph,
        from: &from,
        to: &to,
        from_records: &from_records,
        target_tables: &target_tables.0,
        earlier_schemas: &earlier,
        reachable: &[target.reachable.clone(), target_tables.1].concat(),
    });
    let diff = diff::diff(
        &release,
        &plans,
        &promotions,
        &target_tables.0,
        to.retention_days,
    );
    let plan = Plan::new(&from.name, &to.name, release, diff, gates);
    let mut out = out::stdout();
    match a.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&plan)?)?,
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
    let rec = to_log.append(vec![promotion_entry(&plan, &to)]).await?;
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

fn promotion_entry(plan: &Plan, to: &Environment) -> Entry {
    let detail = serde_json::json!({
        "release": plan.release.hash,
        "from": plan.from,
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

/// Every earlier version of each pinned dataset found in the schemas folder.
fn earlier_schemas(dir: &Path, plans: &[JobPlan]) -> HashMap<String, Vec<DatasetSchema>> {
    let mut out: HashMap<String, Vec<DatasetSchema>> = HashMap::new();
    for p in plans {
        let ds = &p.schema;
        for v in 1..ds.version {
            let r = format!("{}@{v}", ds.dataset);
            if let Ok(old) = load_schema(dir, &r, &p.job.file, "bronze.schema") {
                out.entry(ds.dataset.clone()).or_default().push(old);
            }
        }
    }
    out
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
