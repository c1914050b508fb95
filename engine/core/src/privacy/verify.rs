//! `medallion erase --verify`: every object of the subject's tables still on storage is read
//! again, independently of what the erasure recorded: data files of every version, the Delta
//! log's commits and checkpoints (their column statistics hold minimum and maximum values).

use serde::Serialize;

use super::scan;
use super::Needles;
use crate::env::Environment;
use crate::error::Result;
use crate::spec::TableName;

/// An object that still holds the key.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub table: String,
    pub file: String,
    /// `data` (a Parquet data file) or `log` (a Delta log commit or checkpoint).
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

pub async fn verify(
    env: &Environment,
    tables: &[TableName],
    needles: &Needles,
) -> Result<Verified> {
    let mut v = Verified::default();
    for name in tables {
        let loc = env.location(name)?;
        let (store, files) = scan::list(&loc, true).await?;
        v.tables += 1;
        for f in &files {
            let log = f.rel.starts_with("_delta_log/");
            let held = scan::file_holds(&*store, f, needles).await?;
            match log {
                true => v.log_files += 1,
                false => v.data_files += 1,
            }
            if held {
                v.findings.push(Finding {
                    table: name.to_string(),
                    file: f.rel.clone(),
                    kind: if log { "log" } else { "data" }.into(),
                });
            }
        }
    }
    Ok(v)
}
