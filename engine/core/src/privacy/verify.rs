//! `medallion erase --verify`: every object of the subject's tables still on storage is read
//! again, independently of what the erasure recorded: data files of every version, the Delta
//! log's commits and checkpoints (their column statistics hold minimum and maximum values).

use serde::Serialize;

use super::scan;
use super::targets::Target;
use super::Needles;
use crate::env::Environment;
use crate::error::Result;

/// An object that still holds the key.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub table: String,
    pub file: String,
    /// `data` (a Parquet data file), `log` (a Delta log commit or checkpoint), `scratch` (a
    /// run's temporary file) or `gold_state` (a Gold table's kept partial aggregates).
    pub kind: String,
}

/// What was read, and where the key still is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verified {
    pub tables: u64,
    pub data_files: u64,
    pub log_files: u64,
    pub findings: Vec<Finding>,
}

/// Reads every data file and log entry of `targets`' tables: a data file holds the key when
/// a row matches the table's subject columns, a log entry when their column statistics do;
/// the runs' temporary files; and every Gold table's kept partial aggregates.
pub async fn verify(env: &Environment, targets: &[Target], needles: &Needles) -> Result<Verified> {
    let mut v = Verified::default();
    for t in targets {
        let name = t.table.to_string();
        let loc = env.location(&t.table)?;
        let (store, files) = scan::list(&loc, true).await?;
        v.tables += 1;
        for f in &files {
            let log = f.rel.starts_with("_delta_log/");
            let held = match log {
                true => scan::log_holds(&*store, f, &t.log_columns(), needles).await?,
                false => scan::has_rows(&*store, f, &t.columns, needles).await?,
            };
            match log {
                true => v.log_files += 1,
                false => v.data_files += 1,
            }
            if held {
                v.findings.push(Finding {
                    table: name.clone(),
                    file: f.rel.clone(),
                    kind: if log { "log" } else { "data" }.into(),
                });
            }
        }
    }
    for f in super::scratch::holding(env, needles).await? {
        v.findings.push(Finding {
            table: "-".into(),
            file: f,
            kind: "scratch".into(),
        });
    }
    for f in gold_states_holding(env, needles).await? {
        v.findings.push(Finding {
            table: "-".into(),
            file: f,
            kind: "gold_state".into(),
        });
    }
    Ok(v)
}

/// Files of Gold tables' kept partial aggregates holding the key in any column (or
/// unreadable: they may).
async fn gold_states_holding(env: &Environment, needles: &Needles) -> Result<Vec<String>> {
    let root = crate::pipeline::GOLD_STATES;
    let loc = env.lake_location()?;
    if loc.local_path().is_some_and(|p| !p.join(root).is_dir()) {
        return Ok(Vec::new());
    }
    let (store, files) = scan::list(&loc.child(root)?, false).await?;
    let mut out = Vec::new();
    for f in &files {
        match scan::file_holds(&*store, f, needles).await {
            Ok(true) => out.push(format!("{root}/{}", f.rel)),
            Ok(false) => {}
            Err(e) => out.push(format!("{root}/{} (unreadable: {e})", f.rel)),
        }
    }
    Ok(out)
}
