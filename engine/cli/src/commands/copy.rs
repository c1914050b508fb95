//! `medallion promote data TABLE --from E1 --to E2 [--version N] [--mask]` and
//! `medallion copy TABLE --from E2 --to E1 [--version N] [--mask]`: a table's data between
//! environments (see medallion_core::promote::data).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use medallion_core::env;
use medallion_core::promote::data::{self, Direction, Request};

use crate::{out, project, Cli};

pub struct Args<'a> {
    pub table: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub version: Option<i64>,
    pub mask: bool,
    /// The project's specs (default jobs/): which columns hold personal data in clear.
    pub paths: &'a [PathBuf],
    pub direction: Direction,
    /// `--as`: the target table, when not the source's name.
    pub target_table: Option<&'a str>,
}

pub async fn data(cli: &Cli, a: Args<'_>) -> anyhow::Result<ExitCode> {
    let files = project::job_files(a.paths)?;
    let envs_file =
        project::environments_file(&cli.environments, files.first().map(|f| f.as_path()))?;
    let from = env::load_environment(&envs_file, a.from)?;
    let to = env::load_environment(&envs_file, a.to)?;
    let from_catalog = project::open_catalog(&from).await?;
    let to_catalog = project::open_catalog(&to).await?;
    let known = medallion_core::pipeline::Engine::new(from.clone(), from_catalog.clone())
        .known_schemas()
        .await?;
    let schemas = project::schemas_dir(cli, Some(&envs_file));
    let p = super::promote::plan_project(&files, &schemas, known).await?;
    let from_log = project::audit_log(&from).await?;
    let to_log = project::audit_log(&to).await?;
    let copied = data::copy(&Request {
        table: a.table,
        from: &from,
        to: &to,
        from_catalog: from_catalog.as_ref(),
        to_catalog: to_catalog.as_ref(),
        from_log: &from_log,
        to_log: &to_log,
        version: a.version,
        mask: a.mask,
        direction: a.direction,
        target_table: a.target_table,
        plans: &p.all,
        graph: &p.graph,
    })
    .await?;
    let mut out = out::stdout();
    for w in &copied.warnings {
        eprintln!("warning: {w}");
    }
    writeln!(
        out,
        "{} {}@{} ({}) → {} v{} at {}: {} rows{}",
        match a.direction {
            Direction::Promote => "promoted",
            Direction::Copy => "copied",
        },
        copied.table,
        copied.from_version,
        from.name,
        to.name,
        copied.to_version,
        copied.target,
        copied.rows,
        if copied.masked.is_empty() {
            String::new()
        } else {
            format!(
                "; hashed with {}'s key: {}",
                to.name,
                copied.masked.join(", ")
            )
        }
    )?;
    Ok(ExitCode::SUCCESS)
}
