//! `medallion lineage TABLE[.COLUMN] [PATHS] [--upstream|--downstream] [--depth N]
//! [--format text|json|dot|mermaid]`: what feeds a table or column, and what depends on it,
//! from the job specs (no data needed).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use medallion_core::lineage::{self, impact, Direction};
use medallion_core::{plan, Error};

use crate::{out, project, Cli, LineageFormat};

pub struct Args<'a> {
    pub target: &'a str,
    pub paths: &'a [PathBuf],
    pub upstream: bool,
    pub downstream: bool,
    pub depth: Option<usize>,
    pub format: LineageFormat,
}

pub async fn lineage(cli: &Cli, a: Args<'_>) -> anyhow::Result<ExitCode> {
    let files = project::job_files(a.paths)?;
    let envs_file =
        project::environments_file(&cli.environments, files.first().map(|f| f.as_path())).ok();
    let schemas = project::schemas_dir(cli, envs_file.as_deref());
    let plans = plan::plan_all(&files, &schemas, HashMap::new())
        .await
        .map_err(Error::Spec)?;
    let graph = lineage::build(&plans, HashMap::new()).await?;
    let start = impact::parse_target(&graph, a.target).map_err(|message| Error::Input {
        path: a.target.to_string(),
        message,
    })?;
    let directions: Vec<Direction> = match (a.upstream, a.downstream) {
        (true, false) => vec![Direction::Upstream],
        (false, true) => vec![Direction::Downstream],
        _ => vec![Direction::Upstream, Direction::Downstream],
    };
    let walks: Vec<_> = directions
        .into_iter()
        .map(|d| lineage::walk(&graph, &start, d, a.depth))
        .collect();
    let mut out = out::stdout();
    match a.format {
        LineageFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&walks)?)?,
        LineageFormat::Text => {
            for w in &walks {
                write!(out, "{}", impact::to_text(w))?;
            }
        }
        LineageFormat::Dot => write!(out, "{}", impact::to_dot(&walks))?,
        LineageFormat::Mermaid => write!(out, "{}", impact::to_mermaid(&walks))?,
    }
    Ok(ExitCode::SUCCESS)
}
