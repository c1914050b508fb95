//! `medallion subject export`: every row about a person (GDPR Art. 15), as JSON per table,
//! read from each table's current version.

use std::path::Path;

use serde::Serialize;

use super::scan;
use super::targets::Target;
use super::Needles;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::table;

/// One table's part of an export.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub table: String,
    pub layer: String,
    pub rows: u64,
    /// The file written (none when the table holds no row about the subject).
    pub file: Option<String>,
    /// Columns derived from the subject's that could not be matched with the key.
    pub unmatched: Vec<String>,
}

/// Writes `<out>/<db>.<table>.json` (a JSON array of the rows) for each target holding rows.
pub async fn export(
    env: &Environment,
    targets: &[Target],
    needles: &Needles,
    out: &Path,
) -> Result<Vec<Exported>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out.display().to_string(), e))?;
    let mut done = Vec::new();
    for t in targets {
        let name = t.table.to_string();
        let loc = env.location(&t.table)?;
        let mut e = Exported {
            table: name.clone(),
            layer: t.layer.clone(),
            rows: 0,
            file: None,
            unmatched: t.unmatched.clone(),
        };
        let Some(delta) = table::open_if_exists(&name, &loc).await? else {
            done.push(e);
            continue;
        };
        let active = scan::active_files(&delta)?;
        let (store, files) = scan::list(&loc, false).await?;
        let mut rows = Vec::new();
        for f in files.iter().filter(|f| active.contains(&f.rel)) {
            for b in scan::read(&*store, f).await? {
                let mask = scan::row_mask(&b, &t.columns, needles)?;
                if mask.true_count() > 0 {
                    rows.push(arrow::compute::filter_record_batch(&b, &mask)?);
                }
            }
        }
        e.rows = rows.iter().map(|b| b.num_rows() as u64).sum();
        if e.rows > 0 {
            let path = out.join(format!("{name}.json"));
            let file = std::fs::File::create(&path)
                .map_err(|err| Error::io(path.display().to_string(), err))?;
            let mut w = arrow::json::ArrayWriter::new(file);
            for b in &rows {
                w.write(b)?;
            }
            w.finish()?;
            e.file = Some(path.display().to_string());
        }
        done.push(e);
    }
    Ok(done)
}
