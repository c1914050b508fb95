//! `medallion backup`, `medallion restore` and `medallion table restore` (docs/backup.md).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use medallion_core::audit::Entry;
use medallion_core::backup::{self, restore, rollback, take, Store};
use medallion_core::pipeline::Engine;
use medallion_core::spec::TableName;
use medallion_core::{plan, Error};
use serde_json::json;

use crate::{out, project, BackupArgs, Cli, Format, RestoreArgs, TableAction};

fn table_names(names: &[String]) -> Result<Option<Vec<TableName>>, Error> {
    if names.is_empty() {
        return Ok(None);
    }
    names
        .iter()
        .map(|n| {
            TableName::parse(n).map_err(|message| Error::Input {
                path: format!("--tables {n}"),
                message,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub async fn backup(cli: &Cli, a: &BackupArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (env, catalog) = project::environment(cli, &a.env).await?;
    restore::check_not_restoring(&env).await?;
    let to = Store::open(&backup::location(
        &env,
        &a.to,
        a.kms_key.as_deref(),
        a.region.as_deref(),
    )?)?;
    let engine = Engine::new(env.clone(), catalog);
    let m = take::take(&take::Backup {
        engine: &engine,
        to,
        kms_key: a.kms_key.clone(),
        tables: table_names(&a.tables)?,
    })
    .await?;
    let tables: serde_json::Map<String, serde_json::Value> = m
        .tables
        .iter()
        .map(|t| (t.table.clone(), json!(t.version)))
        .collect();
    let detail = json!({ "backup": m.id, "to": a.to, "kms_key": m.kms_key, "tables": tables,
        "metadata_objects": m.metadata.len(), "copied_files": m.copied_files,
        "copied_bytes": m.copied_bytes, "seconds": started.elapsed().as_secs_f64() });
    project::audit_log(&env)
        .await?
        .append(vec![Entry::new("backup_taken", detail.clone())])
        .await?;
    // The structured event the deploy's backup alarm counts (an interface, as
    // `records_quarantined`), logged once the backup and its audit record are written.
    tracing::info!(
        target: "medallion::events",
        event = "backup_taken",
        environment = %env.name,
        backup = %m.id,
        to = %a.to,
        tables = m.tables.len(),
        copied_files = m.copied_files,
        copied_bytes = m.copied_bytes,
        "Backup taken."
    );
    let mut o = out::stdout();
    if a.format == Format::Json {
        writeln!(o, "{}", serde_json::to_string_pretty(&detail)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for t in &m.tables {
        writeln!(
            o,
            "{:<40} version {:>5}  {:>5} files",
            t.table,
            t.version,
            t.files.len()
        )?;
    }
    writeln!(
        o,
        "backup {} of `{}` to {}: {} table(s), {} metadata object(s); copied {} object(s), {} bytes in {:.1} s",
        m.id,
        env.name,
        a.to,
        m.tables.len(),
        m.metadata.len(),
        m.copied_files,
        m.copied_bytes,
        started.elapsed().as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(cli: &Cli, a: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (env, catalog) = project::environment(cli, &a.env).await?;
    let from = Store::open(&backup::location(&env, &a.from, None, a.region.as_deref())?)?;
    let engine = Engine::new(env.clone(), catalog);
    let log = project::audit_log(&env).await?;
    let tables = table_names(&a.tables)?;
    let one = match (&tables, a.to_version) {
        (Some(t), Some(_)) if t.len() == 1 => Some(t[0].to_string()),
        (_, Some(_)) => {
            return Err(Error::Input {
                path: "--to-version".into(),
                message: "a version of one table: name it with --tables".into(),
            }
            .into())
        }
        _ => None,
    };
    let r = restore::restore(&restore::Restore {
        engine: &engine,
        from,
        backup: a.backup.clone(),
        tables,
        older_files: a.to_version.is_some(),
        log: &log,
        allow_erased: a.allow_erased,
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut detail = serde_json::to_value(&r)?;
    detail["from"] = json!(a.from);
    detail["seconds"] = json!(seconds);
    // A fresh handle: the restore wrote the trail's earlier records.
    project::audit_log(&env)
        .await?
        .append(vec![Entry::new("backup_restored", detail.clone())])
        .await?;
    restore::finished(&env).await?;
    if let (Some(table), Some(v)) = (one, a.to_version) {
        let back = roll_back(cli, &a.env, &a.jobs, &table, v, false).await.map_err(|e| {
            anyhow::anyhow!("{table} is restored at the backup's version; rolling it back to version {v} was refused: {e}")
        })?;
        detail["rolled_back"] = serde_json::to_value(&back)?;
        eprintln!(
            "medallion: {table} rolled back to version {v} (as its version {})",
            back.version.unwrap_or(-1)
        );
    }
    for e in &r.erasures_since_backup {
        eprintln!("medallion: erase `{}` again now (erasure of {}, reason {}): the restored tables may hold the person's rows", e["subject"].as_str().unwrap_or("?"), e["at"].as_str().unwrap_or("?"), e["reason"]);
    }
    let mut o = out::stdout();
    if a.format == Format::Json {
        writeln!(o, "{}", serde_json::to_string_pretty(&detail)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_restored(&mut o, &r, &env.name, seconds)?;
    Ok(ExitCode::SUCCESS)
}

fn print_restored(
    o: &mut out::Stdout,
    r: &restore::Restored,
    env: &str,
    seconds: f64,
) -> std::io::Result<()> {
    for t in &r.tables {
        let registered = if r.catalog.contains(&t.table) {
            "registered"
        } else {
            "NOT in the backup's catalog: run `medallion catalog sync`"
        };
        writeln!(
            o,
            "{:<40} version {:>5}  {:>5} files  {registered}",
            t.table, t.version, t.files
        )?;
    }
    for k in &r.metadata_kept {
        writeln!(
            o,
            "kept the environment's own {k} (differs from the backup's)"
        )?;
    }
    writeln!(
        o,
        "restored {} table(s) and {} metadata object(s) of `{env}` from backup {} (finished {}) in {seconds:.1} s",
        r.tables.len(),
        r.metadata_restored,
        r.backup,
        r.backup_finished_at
    )
}

/// Rolls `table` back to `version` (`rollback`) and records the commit.
async fn roll_back(
    cli: &Cli,
    env: &str,
    jobs: &[std::path::PathBuf],
    table: &str,
    version: i64,
    dry_run: bool,
) -> anyhow::Result<rollback::RolledBack> {
    let files = project::job_files(jobs)?;
    let (engine, envs_file) = project::engine(cli, env, files.first().map(|f| f.as_path())).await?;
    let schemas = project::schemas_dir(cli, Some(&envs_file));
    let known = engine.known_schemas().await?;
    let plans = plan::plan_all(&files, &schemas, known)
        .await
        .map_err(Error::Spec)?;
    let name = TableName::parse(table).map_err(|message| Error::Input {
        path: table.to_string(),
        message,
    })?;
    let log = project::audit_log(&engine.env).await?;
    let trail = log.records().await?;
    let run_id = medallion_core::maintain::new_run_id();
    let r = rollback::rollback(&rollback::Rollback {
        engine: &engine,
        plans: &plans,
        table: name.clone(),
        version,
        run_id: run_id.clone(),
        trail: &trail,
        dry_run,
    })
    .await?;
    if !dry_run {
        // The commit, as every commit is recorded (`audit verify` checks them), then what it was.
        let mut commit = Entry::new(
            "table_committed",
            json!({ "layer": r.layer, "operation": "RESTORE", "restored_version": r.to_version }),
        );
        let mut e = Entry::new("table_restored", serde_json::to_value(&r)?);
        for x in [&mut commit, &mut e] {
            x.run_id = Some(run_id.clone());
            x.table = Some(name.to_string());
            x.version = r.version;
        }
        log.append(vec![commit, e]).await?;
    }
    Ok(r)
}

pub async fn table_restore(cli: &Cli, action: &TableAction) -> anyhow::Result<ExitCode> {
    let TableAction::Restore {
        table,
        version,
        env,
        jobs,
        dry_run,
        format,
    } = action;
    let r = roll_back(cli, env, jobs, table, *version, *dry_run).await?;
    let mut o = out::stdout();
    if *format == Format::Json {
        writeln!(o, "{}", serde_json::to_string_pretty(&r)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let what = if *dry_run {
        "would roll back"
    } else {
        "rolled back"
    };
    writeln!(
        o,
        "{what} {} from version {} to version {} ({} file(s) removed, {} restored)",
        r.table, r.from_version, r.to_version, r.files_removed, r.files_restored
    )?;
    if let Some((bronze, from, to)) = &r.bookmark {
        writeln!(
            o,
            "its bookmark on {bronze} moves from version {from} to {to}: the next run of `{}` processes the Bronze rows committed since again",
            r.pipeline
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
