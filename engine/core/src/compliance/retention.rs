//! Retention configured and enforced: a dry run of `medallion maintain` on every table (the
//! same policy and the same expiry logic, nothing changed). A table holding rows or files past
//! its retention, one whose retention `maintain` refuses to apply, one (other than Gold)
//! with no column to date its rows, or a Gold table whose own retention column dates rows
//! past the cutoff (the oldest row unfiltered: maintain never expires Gold) FAILs, named with
//! its numbers.

use super::{Control, Inputs};
use crate::maintain::{maintain_table, Maintain, TableReport};

const ID: &str = "retention";

pub async fn check(i: &Inputs<'_>) -> Result<Control, String> {
    let m = Maintain {
        env: i.env,
        plans: i.plans,
        lake_tables: i.lake_tables,
        log: i.log,
        dry_run: true,
        now: i.now,
        run_id: crate::maintain::new_run_id(),
    };
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for name in i.lake_tables {
        let entry = i
            .entries
            .iter()
            .find(|e| e.database == name.database && e.name == name.table);
        let r = maintain_table(&m, name, entry)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        match judge(&r) {
            Err(why) => fail.push(why),
            Ok(ok) => pass.push(ok),
        }
    }
    if fail.is_empty() && pass.is_empty() {
        fail.push("the lake holds no table: nothing to check".into());
    }
    Ok(Control::judged(ID, fail, pass))
}

/// One table's dry run: what fails the control, or the evidence it passes.
pub fn judge(r: &TableReport) -> Result<String, String> {
    let policy = format!(
        "{} ({}): {} days ({})",
        r.table, r.layer, r.retention_days, r.retention_from
    );
    if let Some(why) = &r.refused {
        return Err(format!("{policy}: retention cannot be applied: {why}"));
    }
    if r.rows_deleted > 0 || r.files_removed > 0 {
        return Err(format!(
            "{policy}: holds {} row(s) in {} file(s) past retention (cutoff {}): `medallion maintain` has not removed them",
            r.rows_deleted, r.files_removed, r.cutoff
        ));
    }
    if r.layer == "gold" && r.rows_past_cutoff > 0 {
        return Err(format!(
            "{policy}: holds {} row(s) older than the cutoff {} by `{}` (oldest row {}): `medallion maintain` never expires Gold; its rows leave only when a run with new input recomputes it",
            r.rows_past_cutoff,
            r.cutoff,
            r.column.as_deref().unwrap_or("?"),
            r.oldest_row.as_deref().unwrap_or("?")
        ));
    }
    match (&r.column, r.layer.as_str()) {
        (None, "gold") => Ok(format!("{policy}: recomputed from Silver, whose retention decides its rows")),
        (None, _) => Err(format!("{policy}: no column dates its rows, so retention cannot be enforced: declare `retention.column` in its spec")),
        (Some(c), _) => Ok(format!(
            "{policy}: nothing older than {} by `{c}` (oldest row {})",
            r.cutoff,
            r.oldest_remaining.as_deref().unwrap_or("none: empty")
        )),
    }
}
