//! `medallion audit [--env E] [--since T] [--table T] [--pipeline P] [--format table|json]`
//! lists the environment's audit trail; `medallion audit verify [--env E]` checks it.

use std::io::Write as _;
use std::process::ExitCode;

use medallion_core::audit::{self, Actor, AuditLog, Record};
use medallion_core::Error;

use crate::{out, project, AuditFormat, AuditList, Cli, Format};

pub async fn list(cli: &Cli, args: &AuditList) -> anyhow::Result<ExitCode> {
    let (env, _) = project::environment(cli, &args.env).await?;
    let log = AuditLog::for_env(&env, Actor::default())?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let mut records = log.records().await?;
    records.retain(|r| keep(r, args, since));
    let mut out = out::stdout();
    if args.format == AuditFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&records)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if records.is_empty() {
        writeln!(out, "no audit records in {} match", log.shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:>5}  {:<24} {:<18} {:<26} {:>7}  {:<18} {:<8} who",
        "seq", "at (UTC)", "action", "table", "version", "pipeline", "run"
    )?;
    for r in &records {
        writeln!(
            out,
            "{:>5}  {:<24} {:<18} {:<26} {:>7}  {:<18} {:<8} {}@{}",
            r.seq,
            r.at,
            r.action,
            r.table.as_deref().unwrap_or("-"),
            r.version.map_or("-".into(), |v| v.to_string()),
            r.what.pipeline.as_deref().unwrap_or("-"),
            r.run_id.as_deref().map_or("-", |id| &id[..id.len().min(8)]),
            r.who.user,
            r.who.host
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn keep(r: &Record, args: &AuditList, since: Option<chrono::DateTime<chrono::Utc>>) -> bool {
    let after =
        since.is_none_or(|s| chrono::DateTime::parse_from_rfc3339(&r.at).is_ok_and(|at| at >= s));
    let table = args
        .table
        .as_ref()
        .is_none_or(|t| r.table.as_ref() == Some(t));
    let pipeline = args
        .pipeline
        .as_ref()
        .is_none_or(|p| r.what.pipeline.as_ref() == Some(p));
    after && table && pipeline
}

/// `--since`: RFC 3339, a date (`2026-12-01`, midnight UTC) or an age (`90m`, `24h`, `7d`).
pub(crate) fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let minutes = match (n.parse::<i64>(), unit) {
        (Ok(n), "m") => Some(n),
        (Ok(n), "h") => Some(n * 60),
        (Ok(n), "d") => Some(n * 24 * 60),
        _ => None,
    };
    minutes
        .map(|m| chrono::Utc::now() - chrono::Duration::minutes(m))
        .ok_or_else(|| Error::Input {
            path: "--since".into(),
            message: format!("{s:?} is not a time: use RFC 3339 (2026-12-01T08:00:00Z), a date (2026-12-01) or an age (90m, 24h, 7d)"),
        })
}

pub async fn verify(cli: &Cli, env_name: &str, format: Format) -> anyhow::Result<ExitCode> {
    let (env, catalog) = project::environment(cli, env_name).await?;
    let log = AuditLog::for_env(&env, Actor::default())?;
    let engine = medallion_core::pipeline::Engine::new(env.clone(), catalog.clone());
    let lake_tables: Vec<String> = engine
        .lake_tables()
        .await?
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    let v = audit::verify(&log, &env, catalog.as_ref(), &lake_tables).await?;
    let mut out = out::stdout();
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        for f in &v.findings {
            let sev = match f.severity {
                audit::Severity::Error => "error",
                audit::Severity::Warning => "warning",
            };
            writeln!(out, "{sev}: {}", f.message)?;
        }
        let verdict = if v.ok() { "intact" } else { "BROKEN" };
        writeln!(
            out,
            "audit trail {}: {} records, {} tables, {} commits checked: {verdict}",
            v.trail, v.records, v.tables, v.commits_checked
        )?;
    }
    Ok(if v.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
