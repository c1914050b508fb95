//! Freshness: the age of each table's newest commit by a pipeline run (from the audit trail,
//! [`super::commits`]) against the interval its pipeline declares (`freshness.expect_every`
//! in the spec). Commits by maintenance, erasures and restores are not fresh data. Every
//! table a pipeline of the plans writes (Bronze, Silver, Gold) is listed: one that declares
//! freshness but is not in the lake is `missing`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::commits::{self, PipelineCommit};
use crate::audit::Record;
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
    /// Its pipeline declares `freshness` but the table is not in the lake (counts as stale).
    Missing,
}

impl Status {
    /// As people read it (the JSON form is `fresh`, `stale`, `no_expectation`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Stale => "STALE",
            Status::NoExpectation => "no expectation",
            Status::Missing => "MISSING",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableFreshness {
    pub table: String,
    /// The pipeline that writes it (its `medallion.pipeline` property); None for a table
    /// written by none (a copy, reference data).
    pub pipeline: Option<String>,
    /// The version of its newest pipeline commit (its newest version when the trail records
    /// no pipeline commit of it); None when missing.
    pub version: Option<i64>,
    /// When that commit was made (UTC) and how long ago, in seconds; None when missing.
    pub last_commit: Option<String>,
    pub age_s: Option<i64>,
    /// The pipeline's `freshness.expect_every`.
    pub expect_every: Option<String>,
    pub status: Status,
}

/// The freshness of every table of `tables` in `env`'s lake, then of every table the plans'
/// pipelines write that declares freshness and is not in the lake (`missing`).
pub async fn of(
    env: &Environment,
    plans: &[JobPlan],
    tables: &[TableName],
    records: &[Record],
    now: DateTime<Utc>,
) -> Result<Vec<TableFreshness>> {
    let newest = commits::newest(records);
    let mut out = Vec::new();
    for name in tables {
        if let Some(f) = one(env, plans, name, newest.get(&name.to_string()), now).await? {
            out.push(f);
        }
    }
    let listed: Vec<String> = out.iter().map(|t| t.table.clone()).collect();
    for p in plans {
        let Some(f) = &p.job.spec.freshness else {
            continue;
        };
        let mut declared = vec![p.job.bronze_table()];
        declared.extend(p.job.silver_table());
        declared.extend(p.job.gold_tables());
        for t in declared.into_iter().map(|t| t.to_string()) {
            if !listed.contains(&t) {
                out.push(TableFreshness {
                    table: t,
                    pipeline: Some(p.job.spec.pipeline.clone()),
                    version: None,
                    last_commit: None,
                    age_s: None,
                    expect_every: Some(f.expect_every.clone()),
                    status: Status::Missing,
                });
            }
        }
    }
    Ok(out)
}

/// One table of the lake; None when it does not exist.
async fn one(
    env: &Environment,
    plans: &[JobPlan],
    name: &TableName,
    newest: Option<&PipelineCommit>,
    now: DateTime<Utc>,
) -> Result<Option<TableFreshness>> {
    let shown = name.to_string();
    let Some(t) = table::open_if_exists(&shown, &env.location(name)?).await? else {
        return Ok(None);
    };
    let (version, at) = match newest {
        Some(c) => (c.version.unwrap_or(-1), trail_time(&shown, &c.at)?),
        None => {
            let v = table::version(&t);
            (v, last_commit_time(&t, &shown, v).await?)
        }
    };
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
    Ok(Some(TableFreshness {
        table: shown,
        pipeline,
        version: Some(version),
        last_commit: Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        age_s: Some(age.num_seconds()),
        expect_every: expect.map(|f| f.expect_every),
        status,
    }))
}

fn trail_time(table: &str, at: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::Input {
            path: table.to_string(),
            message: format!("its commit's audit time {at:?} is not RFC 3339: {e}"),
        })
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
