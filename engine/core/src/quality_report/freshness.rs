//! Freshness: the age of each table's last commit (from its Delta log) against the interval
//! its pipeline declares (`freshness.expect_every` in the spec).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::env::Environment;
use crate::error::{Error, Result};
use crate::plan::JobPlan;
use crate::spec::{Freshness, TableName};
use crate::table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Committed within the expected interval.
    Fresh,
    /// Older than the expected interval.
    Stale,
    /// Its pipeline declares no `freshness` (or the table has no pipeline).
    NoExpectation,
}

impl Status {
    /// As people read it (the JSON form is `fresh`, `stale`, `no_expectation`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Stale => "STALE",
            Status::NoExpectation => "no expectation",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableFreshness {
    pub table: String,
    /// The pipeline that writes it (its `medallion.pipeline` property); None for a table
    /// written by none (a copy, reference data).
    pub pipeline: Option<String>,
    pub version: i64,
    /// When the last commit was made (UTC) and how long ago, in seconds.
    pub last_commit: String,
    pub age_s: i64,
    /// The pipeline's `freshness.expect_every`.
    pub expect_every: Option<String>,
    pub status: Status,
}

/// The freshness of every table of `tables` in `env`'s lake.
pub async fn of(
    env: &Environment,
    plans: &[JobPlan],
    tables: &[TableName],
    now: DateTime<Utc>,
) -> Result<Vec<TableFreshness>> {
    let mut out = Vec::new();
    for name in tables {
        let shown = name.to_string();
        let Some(t) = table::open_if_exists(&shown, &env.location(name)?).await? else {
            continue;
        };
        let version = table::version(&t);
        let at = last_commit_time(&t, &shown, version).await?;
        let pipeline = table::properties(&t)?
            .get(crate::pipeline::PROP_PIPELINE)
            .cloned();
        let expect = pipeline.as_deref().and_then(|p| {
            plans
                .iter()
                .find(|x| x.job.spec.pipeline == p)
                .and_then(|x| x.job.spec.freshness.clone())
        });
        let age = now - at;
        let status = status(age, expect.as_ref()).map_err(Error::Config)?;
        out.push(TableFreshness {
            table: shown,
            pipeline,
            version,
            last_commit: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            age_s: age.num_seconds(),
            expect_every: expect.map(|f| f.expect_every),
            status,
        });
    }
    Ok(out)
}

/// A table's status for its last commit's age and its pipeline's `freshness`.
pub fn status(age: chrono::Duration, expect: Option<&Freshness>) -> Result<Status, String> {
    let Some(f) = expect else {
        return Ok(Status::NoExpectation);
    };
    let every = f.interval()?;
    Ok(match age.to_std().is_ok_and(|a| a > every) {
        true => Status::Stale,
        false => Status::Fresh,
    })
}

/// The time of the table's commit `version`: its commitInfo's timestamp.
async fn last_commit_time(
    t: &deltalake::DeltaTable,
    name: &str,
    version: i64,
) -> Result<DateTime<Utc>> {
    let info = table::commit_entry(t, version).await?;
    info.flatten()
        .and_then(|i| i.timestamp)
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or_else(|| Error::Input {
            path: name.to_string(),
            message: format!("version {version} of its Delta log has no commit time (no commitInfo timestamp): its freshness cannot be told"),
        })
}

/// `3d 4h`, `5h 12m`, `42m`, `10s`: an age for people.
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86400, s % 86400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_than_expected_is_stale() {
        let daily = Freshness {
            expect_every: "24h".into(),
        };
        let h = chrono::Duration::hours;
        assert_eq!(status(h(23), Some(&daily)), Ok(Status::Fresh));
        assert_eq!(status(h(25), Some(&daily)), Ok(Status::Stale));
        assert_eq!(status(h(9999), None), Ok(Status::NoExpectation));
        let bad = Freshness {
            expect_every: "soon".into(),
        };
        assert!(status(h(1), Some(&bad)).is_err());
        assert_eq!(human_age(3 * 86400 + 4 * 3600 + 5), "3d 4h");
    }
}
