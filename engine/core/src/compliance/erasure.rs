//! Erasure requests completed within [`DEADLINE_DAYS`] days: each `erasure_started` record
//! has its `erasure` receipt (same run id) no later than that after it; one still open past
//! the deadline fails too.

use chrono::{DateTime, Utc};

use super::{Control, Inputs};

const ID: &str = "erasure-sla";

/// GDPR Art. 12(3): one month.
pub const DEADLINE_DAYS: i64 = 30;

fn time(at: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("audit time {at:?}: {e}"))
}

pub fn check(i: &Inputs<'_>) -> Result<Control, String> {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    let deadline = chrono::Duration::days(DEADLINE_DAYS);
    let started = i.records.iter().filter(|r| r.action == "erasure_started");
    let mut n = 0;
    for s in started {
        n += 1;
        let subject = s.detail["subject"].as_str().unwrap_or("?");
        let what = format!(
            "erasure of a `{subject}` (record {}, started {})",
            s.seq, s.at
        );
        let done = i
            .records
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
            None if i.now - begun > deadline => {
                fail.push(format!("{what}: not completed after {DEADLINE_DAYS} days"))
            }
            None => pass.push(format!(
                "{what}: not completed yet, due {}",
                (begun + deadline).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
        }
    }
    if n == 0 {
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
