//! `medallion maintain [--env E] [--jobs PATHS] [--table T] [--dry-run] [--format text|json]`:
//! retention, VACUUM and log cleanup of the environment's tables (see docs/retention.md).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use medallion_core::maintain::{maintain_table, Maintain, TableReport};
use medallion_core::Error;

use crate::{out, project, Cli, Format};

pub struct Args<'a> {
    pub env: &'a str,
    pub paths: &'a [PathBuf],
    pub table: Option<&'a str>,
    pub dry_run: bool,
    pub format: Format,
}

pub async fn maintain(cli: &Cli, a: Args<'_>) -> anyhow::Result<ExitCode> {
    let project::Governed {
        env,
        catalog,
        plans,
        lake,
        ..
    } = project::governed(cli, a.env, a.paths).await?;
    medallion_core::backup::restore::check_not_restoring(&env).await?;
    let log = project::audit_log(&env).await?;
    let m = Maintain {
        env: &env,
        plans: &plans,
        lake_tables: &lake,
        log: &log,
        dry_run: a.dry_run,
        now: now()?,
        run_id: medallion_core::maintain::new_run_id(),
    };
    let entries = catalog.list_tables(None).await?;
    let names = project::select_table(lake.clone(), a.table, &env.name)?;
    // Every table is tried: one that fails does not stop the others.
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for name in &names {
        let entry = entries
            .iter()
            .find(|e| e.database == name.database && e.name == name.table);
        match maintain_table(&m, name, entry).await {
            Ok(r) => reports.push(r),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    print(&reports, a.format, a.dry_run)?;
    for f in &failed {
        eprintln!("error: {f}");
    }
    let refused = reports.iter().filter(|r| r.refused.is_some()).count();
    Ok(if !failed.is_empty() {
        ExitCode::from(2)
    } else if refused > 0 {
        eprintln!(
            "{refused} table(s) kept rows past their retention (see `retention NOT applied`)"
        );
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Now, or in debug builds `MEDALLION_MAINTAIN_NOW` (RFC 3339): the tests' clock.
fn now() -> Result<chrono::DateTime<chrono::Utc>, Error> {
    match std::env::var("MEDALLION_MAINTAIN_NOW") {
        Ok(v) if cfg!(debug_assertions) => chrono::DateTime::parse_from_rfc3339(&v)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| Error::Input {
                path: "MEDALLION_MAINTAIN_NOW".into(),
                message: e.to_string(),
            }),
        _ => Ok(chrono::Utc::now()),
    }
}

fn print(reports: &[TableReport], format: Format, dry_run: bool) -> anyhow::Result<()> {
    let mut out = out::stdout();
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(reports)?)?;
        return Ok(());
    }
    if dry_run {
        writeln!(out, "dry run: nothing is changed")?;
    }
    for r in reports {
        writeln!(
            out,
            "{:<32} {:<10} {:>5} d ({}) by {}: {} rows, {} files ({} bytes) past retention; {} files ({} bytes) vacuumed; oldest row left {}",
            r.table,
            r.layer,
            r.retention_days,
            r.retention_from,
            r.column.as_deref().unwrap_or("-"),
            r.rows_deleted,
            r.files_removed,
            r.bytes_removed,
            r.files_vacuumed,
            r.bytes_vacuumed,
            r.oldest_remaining.as_deref().unwrap_or("-")
        )?;
        if let Some(why) = &r.refused {
            writeln!(out, "    retention NOT applied: {why}")?;
        }
        for n in &r.notes {
            writeln!(out, "    {n}")?;
        }
    }
    Ok(())
}
