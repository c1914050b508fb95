//! `medallion classify [TABLE] --env E [--sample N] [--min-ratio R] [--format text|json]`
//! (docs/classification.md).

use std::io::Write as _;
use std::process::ExitCode;

use medallion_core::classify::{classify_table, summary, ColumnFinding, Options, Status};
use medallion_core::spec::TableName;
use medallion_core::Error;

use crate::{out, project, ClassifyArgs, Cli, Format};

pub async fn classify(cli: &Cli, a: &ClassifyArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&a.min_ratio) || a.sample == 0 {
        return Err(Error::Input {
            path: "--min-ratio / --sample".into(),
            message: "--min-ratio is a share from 0 to 1, --sample at least 1".into(),
        }
        .into());
    }
    let (env, catalog) = project::environment(cli, &a.env).await?;
    let engine = medallion_core::pipeline::Engine::new(env.clone(), catalog.clone());
    let lake: Vec<TableName> = engine
        .lake_tables()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    let names = project::select_table(lake, a.table.as_deref(), &env.name)?;
    let entries = catalog.list_tables(None).await?;
    let o = Options {
        sample: a.sample,
        min_ratio: a.min_ratio,
    };
    let mut findings = Vec::new();
    for n in &names {
        let entry = entries
            .iter()
            .find(|e| e.database == n.database && e.name == n.table);
        findings.extend(classify_table(&n.to_string(), &env.location(n)?, entry, o).await?);
    }
    print(&findings, a.format)?;
    let log = project::audit_log(&env).await?;
    let flagged: Vec<String> = findings
        .iter()
        .filter(|f| matches!(f.status, Status::Unclassified | Status::NothingFound))
        .map(|f| format!("{}.{} ({:?})", f.table, f.column, f.status).to_lowercase())
        .collect();
    let rec = medallion_core::audit::Entry::new(
        "classification_scanned",
        serde_json::json!({ "tables": names.len(), "columns": summary(&findings), "flagged": flagged }),
    );
    log.append(vec![rec]).await?;
    let unclassified = findings
        .iter()
        .filter(|f| f.status == Status::Unclassified)
        .count();
    if unclassified > 0 {
        eprintln!("{unclassified} unclassified column(s) hold personal or payment data: declare `classification:` in their schema (see `suggested`)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print(findings: &[ColumnFinding], format: Format) -> anyhow::Result<()> {
    let mut out = out::stdout();
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(findings)?)?;
        return Ok(());
    }
    for f in findings {
        let status = match f.status {
            Status::Unclassified => "UNCLASSIFIED",
            Status::Classified => "classified",
            Status::Protected => "protected",
            Status::NothingFound => "NOTHING FOUND",
            Status::Clean => "clean",
            Status::NoValues => "no values",
        };
        let detector = f
            .detector
            .map(|d| {
                format!(
                    "{} {:.0}% of {} (e.g. {})",
                    d.name(),
                    f.ratio * 100.0,
                    f.sampled,
                    f.examples.join(", ")
                )
            })
            .unwrap_or_else(|| format!("nothing detected in {}", f.sampled));
        let class = f.classification.as_deref().unwrap_or("-");
        let suggest = match (&f.suggested, f.status) {
            (Some(s), Status::Unclassified) => format!("; declare classification: {s}"),
            _ => String::new(),
        };
        writeln!(
            out,
            "{:<13} {:<40} {:<8} {detector}{suggest}",
            status,
            format!("{}.{}", f.table, f.column),
            class
        )?;
    }
    Ok(())
}
