//! Backups: the newest complete backup (`backup_taken` in the trail, every table of the lake)
//! is no older than the environment's `backup.every` (its recovery point objective). An
//! environment that declares none FAILs when it matters (it is gated, `promote_from`, or its
//! lake is on S3); a local ungated lake without one is not applicable.

use chrono::{DateTime, Utc};

use super::{Control, Inputs};
use crate::audit::Record;
use crate::quality_report::freshness::human_age;
use crate::spec::TableName;

const ID: &str = "backups";

pub fn check(i: &Inputs<'_>) -> Result<Control, String> {
    let Some(every) = i.env.backup.every() else {
        return Ok(undeclared(i));
    };
    let every = chrono::Duration::from_std(every).map_err(|e| e.to_string())?;
    let (fail, pass) = judge(i.records, i.lake_tables, every, i.now)?;
    Ok(Control::judged(ID, fail, pass))
}

/// No `backup.every`: a FAIL for a gated environment or an S3 lake, else not applicable.
fn undeclared(i: &Inputs<'_>) -> Control {
    let none = format!(
        "`{}` declares no `backup.every`: no recovery point objective is declared",
        i.env.name
    );
    let why = match (&i.env.promote_from, &i.env.lake) {
        (Some(from), _) => format!("it is gated (promote_from: {from})"),
        (None, crate::env::LakeRoot::Local(_)) => {
            return Control::not_applicable(
                ID,
                format!("{none}; its lake is a local folder and it is not gated (no promote_from)"),
            )
        }
        (None, _) => "its lake is on S3".to_string(),
    };
    Control::judged(ID, vec![format!("{none}, and {why}")], Vec::new())
}

/// The newest backup holding every table of the lake, against `every`.
pub fn judge(
    records: &[Record],
    lake: &[TableName],
    every: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<(Vec<String>, Vec<String>), String> {
    let complete = |r: &&Record| {
        r.action == "backup_taken"
            && lake
                .iter()
                .all(|t| r.detail["tables"].get(t.to_string()).is_some())
    };
    let Some(last) = records.iter().rev().find(complete) else {
        let any = records.iter().rev().find(|r| r.action == "backup_taken");
        let why = match any {
            Some(r) => format!(
                "the newest backup ({}, {}) does not hold every table of the lake",
                r.detail["backup"], r.at
            ),
            None => "no backup is recorded in the audit trail".to_string(),
        };
        return Ok((vec![why], Vec::new()));
    };
    let at = DateTime::parse_from_rfc3339(&last.at)
        .map_err(|e| format!("audit time {:?}: {e}", last.at))?
        .with_timezone(&Utc);
    let age = now - at;
    let what = format!(
        "newest complete backup {} to {} at {} ({} table(s)), {} old",
        last.detail["backup"].as_str().unwrap_or("?"),
        last.detail["to"].as_str().unwrap_or("?"),
        last.at,
        lake.len(),
        human_age(age.num_seconds())
    );
    if age > every {
        let fail = format!(
            "{what}: older than backup.every ({})",
            human_age(every.num_seconds())
        );
        return Ok((vec![fail], Vec::new()));
    }
    let mut pass = vec![what];
    if let Some(r) = records.iter().rev().find(|r| r.action == "backup_restored") {
        pass.push(format!(
            "last restore from a backup: {} ({})",
            r.at, r.detail["backup"]
        ));
    }
    Ok((Vec::new(), pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(seq: u64, at: &str, tables: serde_json::Value) -> Record {
        Record {
            seq,
            prev: String::new(),
            at: at.into(),
            environment: "prod".into(),
            action: "backup_taken".into(),
            run_id: None,
            table: None,
            version: None,
            who: Default::default(),
            what: Default::default(),
            detail: serde_json::json!({ "backup": format!("b{seq}"), "to": "s3://bk/prod", "tables": tables }),
        }
    }

    #[test]
    fn the_newest_complete_backup_must_be_recent() {
        let lake = vec![
            TableName::parse("silver.a").unwrap(),
            TableName::parse("gold.b").unwrap(),
        ];
        let now = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let day = chrono::Duration::hours(24);
        let both = serde_json::json!({ "silver.a": 3, "gold.b": 1 });
        let recent = taken(1, "2026-12-02T06:00:00Z", both.clone());
        assert!(judge(&[recent.clone()], &lake, day, now)
            .unwrap()
            .0
            .is_empty());
        let old = taken(1, "2026-11-30T06:00:00Z", both);
        let (fail, _) = judge(&[old.clone()], &lake, day, now).unwrap();
        assert!(fail[0].contains("older than backup.every"), "{fail:?}");
        // A newer partial backup does not make up for an old complete one.
        let partial = taken(
            2,
            "2026-12-02T11:00:00Z",
            serde_json::json!({ "silver.a": 3 }),
        );
        let (fail, _) = judge(&[old, partial.clone()], &lake, day, now).unwrap();
        assert!(fail[0].contains("older than backup.every"), "{fail:?}");
        let (fail, _) = judge(&[partial], &lake, day, now).unwrap();
        assert!(fail[0].contains("does not hold every table"), "{fail:?}");
        assert!(judge(&[], &lake, day, now).unwrap().0[0].contains("no backup"));
    }
}
