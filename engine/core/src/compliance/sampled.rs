//! What the classification sample covered in Silver and Gold: the columns that had values to
//! judge, those that had none, and the Silver/Gold tables nothing could be judged in (empty,
//! or every column empty). A table without values is listed as not evaluated, never counted
//! as a clean one; it does not FAIL a control by itself (a table that retention emptied holds
//! no personal data to protect).

use super::Inputs;
use crate::classify::{ColumnFinding, Status};

/// The sample's coverage of the Silver and Gold tables of the lake.
#[derive(Debug, Default)]
pub struct Coverage {
    /// Silver/Gold columns with values sampled, and without any.
    pub with_values: usize,
    pub without_values: usize,
    /// Silver/Gold tables of the lake with no sampled value (`table (layer)`).
    pub not_evaluated: Vec<String>,
}

impl Coverage {
    /// The evidence lines: the counts, then each table not evaluated.
    pub fn evidence(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} Silver and Gold column(s) with values sampled; {} column(s) had no values",
            self.with_values, self.without_values
        )];
        out.extend(
            self.not_evaluated
                .iter()
                .map(|t| format!("{t}: not evaluated, it has no values to sample")),
        );
        out
    }
}

pub fn coverage(i: &Inputs<'_>, findings: &[ColumnFinding]) -> Coverage {
    let mut c = Coverage::default();
    for n in i.lake_tables {
        let name = n.to_string();
        let layer = layer(i, &name);
        if !matches!(layer.as_str(), "silver" | "gold") {
            continue;
        }
        let cols: Vec<&ColumnFinding> = findings.iter().filter(|f| f.table == name).collect();
        let with = cols.iter().filter(|f| f.status != Status::NoValues).count();
        c.with_values += with;
        c.without_values += cols.len() - with;
        if with == 0 {
            c.not_evaluated.push(format!("{name} ({layer})"));
        }
    }
    c
}

/// A table's layer: as the catalog records it, else as a pipeline of the plans writes it,
/// else its database's name when that is a layer's (a table missing from the catalog is
/// still judged).
pub fn layer(i: &Inputs<'_>, table: &str) -> String {
    if let Some(e) = i
        .entries
        .iter()
        .find(|e| format!("{}.{}", e.database, e.name) == table)
    {
        return e.layer.clone();
    }
    for p in i.plans {
        let j = &p.job;
        if j.silver_table().is_some_and(|t| t.to_string() == table) {
            return "silver".into();
        }
        if j.gold_tables().iter().any(|t| t.to_string() == table) {
            return "gold".into();
        }
        if j.bronze_table().to_string() == table {
            return "bronze".into();
        }
    }
    let db = table.split('.').next().unwrap_or_default();
    match db {
        "bronze" | "silver" | "gold" => db.to_string(),
        _ => String::new(),
    }
}
