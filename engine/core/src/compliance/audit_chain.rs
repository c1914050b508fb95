//! The audit trail verified: `medallion audit verify` (the hash chain, and every table's
//! Delta log against the records).

use super::{Control, Inputs};
use crate::audit::{verify, Severity};

const ID: &str = "audit-chain";

pub async fn check(i: &Inputs<'_>) -> Result<Control, String> {
    let names: Vec<String> = i.lake_tables.iter().map(|t| t.to_string()).collect();
    let v = verify(i.log, i.env, i.catalog, &names)
        .await
        .map_err(|e| e.to_string())?;
    let mut fail = Vec::new();
    let mut pass = vec![format!(
        "{}: {} records, {} tables, {} commits checked",
        v.trail, v.records, v.tables, v.commits_checked
    )];
    for f in &v.findings {
        match f.severity {
            Severity::Error => fail.push(f.message.clone()),
            Severity::Warning => pass.push(format!("warning: {}", f.message)),
        }
    }
    Ok(Control::judged(ID, fail, pass))
}
