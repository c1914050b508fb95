//! Erasure requests completed within [`DEADLINE_DAYS`] days: each `erasure_started` record
//! has its `erasure` receipt (same run id) no later than that after it; one still open past
//! the deadline fails too.

use chrono::{DateTime, Utc};

use super::{Control, Inputs};
use crate::audit::Record;

const ID: &str = "erasure-sla";

/// GDPR Art. 12(3): one month.
pub const DEADLINE_DAYS: i64 = 30;

fn time(at: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("audit time {at:?}: {e}"))
}

pub fn check(i: &Inputs<'_>) -> Result<Control, String> {
    let (fail, pass) = judge(i.records, i.now)?;
    if fail.is_empty() && pass.is_empty() {
        return Ok(Control::not_applicable(
            ID,
            format!(
                "no erasure has been recorded in the trail of `{}`",
                i.env.name
            ),
        ));
    }
    Ok(Control::judged(ID, fail, pass))
}

/// Each erasure of the trail: late ones, then the others.
pub fn judge(records: &[Record], now: DateTime<Utc>) -> Result<(Vec<String>, Vec<String>), String> {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    let deadline = chrono::Duration::days(DEADLINE_DAYS);
    for s in records.iter().filter(|r| r.action == "erasure_started") {
        let subject = s.detail["subject"].as_str().unwrap_or("?");
        let what = format!(
            "erasure of a `{subject}` (record {}, started {})",
            s.seq, s.at
        );
        let done = records
            .iter()
            .find(|r| r.action == "erasure" && r.run_id.is_some() && r.run_id == s.run_id);
        let begun = time(&s.at)?;
        match done {
            Some(d) if time(&d.at)? - begun <= deadline => {
                pass.push(format!("{what}: completed {}", d.at))
            }
            Some(d) => fail.push(format!(
                "{what}: completed {}, later than {DEADLINE_DAYS} days",
                d.at
            )),
            None if now - begun > deadline => {
                fail.push(format!("{what}: not completed after {DEADLINE_DAYS} days"))
            }
            None => pass.push(format!(
                "{what}: not completed yet, due {}",
                (begun + deadline).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
        }
    }
    Ok((fail, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, action: &str, run: &str, at: &str) -> Record {
        Record {
            seq,
            prev: String::new(),
            at: at.into(),
            environment: "prod".into(),
            action: action.into(),
            run_id: Some(run.into()),
            table: None,
            version: None,
            who: Default::default(),
            what: Default::default(),
            detail: serde_json::json!({ "subject": "customer" }),
        }
    }

    #[test]
    fn late_and_forgotten_erasures_fail() {
        let records = vec![
            record(0, "erasure_started", "on-time", "2026-10-01T00:00:00Z"),
            record(1, "erasure", "on-time", "2026-10-02T00:00:00Z"),
            record(2, "erasure_started", "late", "2026-10-01T00:00:00Z"),
            record(3, "erasure", "late", "2026-11-15T00:00:00Z"),
            record(4, "erasure_started", "forgotten", "2026-10-01T00:00:00Z"),
            record(5, "erasure_started", "open", "2026-11-25T00:00:00Z"),
        ];
        let now = time("2026-12-01T00:00:00Z").unwrap();
        let (fail, pass) = judge(&records, now).unwrap();
        assert_eq!(fail.len(), 2, "{fail:?}");
        assert!(fail[0].contains("record 2") && fail[0].contains("later than 30 days"));
        assert!(fail[1].contains("record 4") && fail[1].contains("not completed after 30 days"));
        assert_eq!(pass.len(), 2, "{pass:?}");
        assert!(pass[1].contains("due 2026-12-25"));
    }
}
