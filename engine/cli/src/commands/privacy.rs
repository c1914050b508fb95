//! `medallion erase` and `medallion subject export` (docs/privacy.md).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use medallion_core::audit::AuditLog;
use medallion_core::env::Environment;
use medallion_core::pipeline::Engine;
use medallion_core::plan::JobPlan;
use medallion_core::privacy::erasure::{erase as erase_all, Erasure, Receipt};
use medallion_core::privacy::{check_request, export, targets, verify, Needles};
use medallion_core::spec::TableName;
use medallion_core::{plan, Error};

use crate::{out, project, Cli, EraseArgs, Format, PersonArgs};

/// The environment, its engine, the project's plans, the lake's tables and the audit trail.
struct Project {
    env: Environment,
    engine: Engine,
    plans: Vec<JobPlan>,
    lake: Vec<TableName>,
    log: Arc<AuditLog>,
}

async fn open(cli: &Cli, p: &PersonArgs, run_id: &str) -> anyhow::Result<Project> {
    let files = project::job_files(&p.paths)?;
    let (engine, envs_file) =
        project::engine(cli, &p.env, files.first().map(|f| f.as_path())).await?;
    let schemas = project::schemas_dir(cli, Some(&envs_file));
    let known = engine.known_schemas().await?;
    let plans = plan::plan_all(&files, &schemas, known.clone())
        .await
        .map_err(Error::Spec)?;
    check_request(&plans, &p.subject, &p.key)?;
    // Gold recomputed by an erasure is a run like any other: audited, with lineage.
    let mut engine = engine
        .with_parent(run_id)
        .with_sink(Arc::new(medallion_core::events::LogSink::default()));
    if let Some(l) = project::lineage_sink(&engine.env, &plans, known, false).await {
        engine = engine.with_sink(l);
    }
    let env = engine.env.clone();
    let lake = engine
        .lake_tables()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    let log = project::audit_log(&env).await?;
    Ok(Project {
        env,
        engine,
        plans,
        lake,
        log,
    })
}

pub async fn erase(cli: &Cli, a: &EraseArgs) -> anyhow::Result<ExitCode> {
    let run_id = medallion_core::maintain::new_run_id();
    let p = open(cli, &a.person, &run_id).await?;
    if a.verify {
        return verify_erased(&p, a).await;
    }
    if !a.dry_run {
        // Gold is recomputed with these specs: only what was promoted into the environment.
        crate::commands::promotion_gate(&p.env, &p.plans, None).await?;
    }
    let e = Erasure {
        engine: &p.engine,
        plans: &p.plans,
        lake_tables: &p.lake,
        log: &p.log,
        subject: &a.person.subject,
        key: &a.person.key,
        reason: a.reason.as_deref(),
        dry_run: a.dry_run,
        run_id,
    };
    let r = erase_all(&e).await?;
    print_receipt(&r, a.format)?;
    let found = r
        .tables
        .iter()
        .any(|t| t.rows_removed > 0 || t.files_deleted > 0);
    if !found {
        // A typo in the key would otherwise look like a completed erasure.
        eprintln!(
            "no row of this `{}` was found in any table searched (the key is matched exactly, case included){}",
            r.subject,
            if r.dry_run { "" } else { "; the request is recorded in the audit trail" }
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_receipt(r: &Receipt, format: Format) -> anyhow::Result<()> {
    let mut out = out::stdout();
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
        return Ok(());
    }
    if r.dry_run {
        writeln!(out, "dry run: nothing is changed")?;
    }
    writeln!(
        out,
        "erasure of a `{}` (key {} {}…)",
        r.subject,
        r.key_hash_kind,
        &r.key_hash[..16]
    )?;
    for n in &r.notes {
        writeln!(out, "  note: {n}")?;
    }
    for t in &r.tables {
        writeln!(
            out,
            "  {:<32} {:<10} {} rows in {} files rewritten, {} files ({} bytes) deleted from storage{}",
            t.table,
            t.layer,
            t.rows_removed,
            t.files_rewritten,
            t.files_deleted,
            t.bytes_deleted,
            match t.versions.as_slice() {
                [] => String::new(),
                v => format!(", version {}", v.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")),
            }
        )?;
        for u in &t.unmatched {
            writeln!(out, "    not matchable with the key: {u}")?;
        }
        for n in &t.notes {
            writeln!(out, "    {n}")?;
        }
    }
    if !r.gold_refreshed.is_empty() {
        writeln!(out, "  Gold recomputed: {}", r.gold_refreshed.join(", "))?;
    }
    writeln!(
        out,
        "{} rows erased, {} files deleted{}",
        r.rows_removed,
        r.files_deleted,
        if r.dry_run {
            ""
        } else {
            "; receipt written to the audit trail (`medallion audit`)"
        }
    )?;
    Ok(())
}

async fn verify_erased(p: &Project, a: &EraseArgs) -> anyhow::Result<ExitCode> {
    let needles = Needles::new(
        &a.person.key,
        medallion_core::pii::hash_key(&p.env)?.as_ref(),
    );
    let all = targets::targets(&p.plans, &a.person.subject).await?;
    let all: Vec<_> = all
        .into_iter()
        .filter(|t| p.lake.contains(&t.table))
        .collect();
    let v = verify::verify(&p.env, &all, &needles).await?;
    let mut out = out::stdout();
    if a.format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            out,
            "read {} tables: {} data files, {} Delta log files",
            v.tables, v.data_files, v.log_files
        )?;
        for f in &v.findings {
            writeln!(out, "  FOUND in {} {}: {}", f.table, f.kind, f.file)?;
        }
        writeln!(
            out,
            "{}",
            if v.findings.is_empty() {
                "the key occurs in none of them"
            } else {
                "the key still occurs (see above)"
            }
        )?;
    }
    Ok(if v.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub async fn export_subject(
    cli: &Cli,
    person: &PersonArgs,
    dir: &Path,
) -> anyhow::Result<ExitCode> {
    let p = open(cli, person, &medallion_core::maintain::new_run_id()).await?;
    let needles = Needles::new(&person.key, medallion_core::pii::hash_key(&p.env)?.as_ref());
    let all = targets::targets(&p.plans, &person.subject).await?;
    let done = export::export(&p.env, &all, &needles, dir).await?;
    let mut out = out::stdout();
    for e in &done {
        writeln!(
            out,
            "{:<32} {:<10} {:>6} rows{}",
            e.table,
            e.layer,
            e.rows,
            e.file
                .as_deref()
                .map(|f| format!(" → {f}"))
                .unwrap_or_default()
        )?;
        for u in &e.unmatched {
            writeln!(out, "    not matchable with the key: {u}")?;
        }
    }
    let mut rec = medallion_core::audit::Entry::new(
        "subject_exported",
        serde_json::json!({ "subject": person.subject, "tables": done.iter().map(|e| serde_json::json!({"table": e.table, "rows": e.rows})).collect::<Vec<_>>() }),
    );
    rec.run_id = None;
    p.log.append(vec![rec]).await?;
    Ok(ExitCode::SUCCESS)
}
