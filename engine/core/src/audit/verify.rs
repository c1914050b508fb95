//! `medallion audit verify`: the chain re-computed, and cross-checked with the Delta log of
//! every table of the environment: each commit medallion made since the trail began has
//! exactly one record naming its run, and each commit record names a commit that exists.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::record::{sha256_hex, Record};
use super::store::AuditLog;
use crate::catalog::Catalog;
use crate::env::Environment;
use crate::error::Result;
use crate::spec::TableName;
use crate::table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The trail was tampered with, or a commit has no record.
    Error,
    /// Worth knowing, not a broken trail (e.g. a commit made outside medallion).
    Warning,
}

/// One thing found wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    pub message: String,
}

/// What `audit verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub environment: String,
    pub trail: String,
    pub records: u64,
    pub tables: u64,
    pub commits_checked: u64,
    pub findings: Vec<Finding>,
}

impl Verification {
    /// True when no finding is an error.
    pub fn ok(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

fn error(seq: Option<u64>, message: String) -> Finding {
    Finding {
        severity: Severity::Error,
        seq,
        table: None,
        version: None,
        message,
    }
}

/// Verifies the trail of `env`, whose lake holds the Delta tables `lake_tables` (those in
/// the catalog and those the records name are checked too).
pub async fn verify(
    log: &AuditLog,
    env: &Environment,
    catalog: &dyn Catalog,
    lake_tables: &[String],
) -> Result<Verification> {
    let all = log.read_all().await?;
    let mut findings = Vec::new();
    let records = check_chain(&all, &env.name, &mut findings);
    check_head(log, &all, &mut findings).await;
    let mut v = Verification {
        environment: env.name.clone(),
        trail: log.shown.clone(),
        records: all.len() as u64,
        tables: 0,
        commits_checked: 0,
        findings,
    };
    let Some(start) = records.first().and_then(|r| ms(&r.at)) else {
        return Ok(v);
    };
    let mut tables = tables_of(catalog, &records).await?;
    tables.extend(lake_tables.iter().cloned());
    tables.sort();
    tables.dedup();
    v.tables = tables.len() as u64;
    let mut by_commit: HashMap<(String, i64), Vec<&Record>> = HashMap::new();
    let rewinds = rewinds(&records);
    let mut discarded: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for r in &records {
        if let ("table_committed" | "commit_unrecorded", Some(t), Some(ver)) =
            (r.action.as_str(), &r.table, r.version)
        {
            let rewound = rewinds
                .iter()
                .find(|(table, seq, to)| table == t && *seq > r.seq && ver > *to);
            if let Some((_, seq, _)) = rewound {
                *discarded.entry((t.clone(), *seq)).or_default() += 1;
                continue;
            }
            by_commit.entry((t.clone(), ver)).or_default().push(r);
        }
    }
    for ((table, seq), n) in discarded {
        v.findings.push(Finding {
            severity: Severity::Warning,
            seq: Some(seq),
            table: Some(table.clone()),
            version: None,
            message: format!(
                "{n} recorded commit(s) of {table} were discarded by the restore of an older version from a backup (record {seq})"
            ),
        });
    }
    let mut created: HashMap<String, Option<i64>> = HashMap::new();
    for name in &tables {
        let (checked, c) = cross_check(env, name, start, &mut by_commit, &mut v.findings).await?;
        v.commits_checked += checked;
        created.insert(name.clone(), c);
    }
    // Whatever is left names a commit no table has (or one of an earlier table of that name).
    let mut forged: Vec<&Record> = by_commit.into_values().flatten().collect();
    forged.sort_by_key(|r| r.seq);
    for r in forged {
        let born = r
            .table
            .as_ref()
            .and_then(|t| created.get(t).copied().flatten());
        if born.zip(ms(&r.at)).is_some_and(|(c, at)| at < c) {
            v.findings.push(Finding {
                severity: Severity::Warning,
                seq: Some(r.seq),
                table: r.table.clone(),
                version: r.version,
                message: format!(
                    "record {} is of an earlier table named {} (it was deleted and created again)",
                    r.seq,
                    r.table.as_deref().unwrap_or("?")
                ),
            });
            continue;
        }
        v.findings.push(Finding {
            severity: Severity::Error,
            seq: Some(r.seq),
            table: r.table.clone(),
            version: r.version,
            message: format!(
                "record {} says {} v{} was committed by run {}, but the table's Delta log has no such commit",
                r.seq,
                r.table.as_deref().unwrap_or("?"),
                r.version.unwrap_or(-1),
                r.run_id.as_deref().unwrap_or("?")
            ),
        });
    }
    Ok(v)
}

/// Restores from a backup that put a table back at an older version (`backup_restored`):
/// (table, the restore's record, the version restored). Commits recorded before it with a
/// later version are no longer in the table's log, and rightly so.
fn rewinds(records: &[Record]) -> Vec<(String, u64, i64)> {
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.action == "backup_restored") {
        for t in r.detail["tables"].as_array().into_iter().flatten() {
            if let (Some(name), Some(v)) = (t["table"].as_str(), t["version"].as_i64()) {
                out.push((name.to_string(), r.seq, v));
            }
        }
    }
    out
}

/// The chain: positions without holes, each record's `seq` its position, its `prev` the
/// hash of the record before, its environment this one, its time not before the last.
fn check_chain(all: &[(u64, bytes::Bytes)], env: &str, findings: &mut Vec<Finding>) -> Vec<Record> {
    let mut records = Vec::new();
    let mut prev: Option<(u64, String, Option<i64>)> = None;
    for (expected, (seq, bytes)) in all.iter().enumerate() {
        let (expected, seq) = (expected as u64, *seq);
        if seq != expected && prev.as_ref().is_none_or(|p| p.0 + 1 != seq) {
            findings.push(error(
                Some(seq),
                format!(
                    "record {} is missing: the trail goes from {} to {seq} (records were deleted)",
                    prev.as_ref().map_or(0, |p| p.0 + 1),
                    prev.as_ref()
                        .map_or("its start".to_string(), |p| p.0.to_string()),
                ),
            ));
        }
        let r: Record = match serde_json::from_slice(bytes) {
            Ok(r) => r,
            Err(e) => {
                findings.push(error(
                    Some(seq),
                    format!("record {seq} is not a valid record: {e} (it was edited)"),
                ));
                prev = Some((seq, sha256_hex(bytes), None));
                continue;
            }
        };
        if r.seq != seq {
            findings.push(error(
                Some(seq),
                format!(
                    "the object at position {seq} holds record {} (records were moved or swapped)",
                    r.seq
                ),
            ));
        }
        let want = prev.as_ref().map_or(String::new(), |p| p.1.clone());
        if r.prev != want {
            findings.push(error(Some(seq), format!(
                "record {seq} does not follow the record before it: its `prev` is not the SHA-256 of record {} (that record was changed, removed or replaced)",
                seq.saturating_sub(1)
            )));
        }
        if r.environment != env {
            findings.push(error(
                Some(seq),
                format!(
                    "record {seq} belongs to environment {:?}, not {env:?}",
                    r.environment
                ),
            ));
        }
        let at = ms(&r.at);
        if let (Some(a), Some(Some(p))) = (at, prev.as_ref().map(|p| p.2)) {
            if a < p {
                findings.push(error(
                    Some(seq),
                    format!(
                        "record {seq} is dated {} , before the record before it",
                        r.at
                    ),
                ));
            }
        }
        prev = Some((seq, sha256_hex(bytes), at));
        records.push(r);
    }
    records
}

/// The HEAD hint names the last record and its hash: a trail shorter than it was truncated,
/// and a last record with another hash was changed.
async fn check_head(log: &AuditLog, all: &[(u64, bytes::Bytes)], findings: &mut Vec<Finding>) {
    let Some(head) = log.read_head().await else {
        return;
    };
    let last = all.last().map(|(s, _)| *s);
    match last {
        Some(l) if head.seq > l || all.is_empty() => findings.push(error(Some(head.seq), format!(
            "the trail ends at record {l}, but its HEAD names record {}: records were removed from its end",
            head.seq
        ))),
        None => findings.push(error(Some(head.seq), format!(
            "the trail is empty, but its HEAD names record {}: records were removed",
            head.seq
        ))),
        Some(_) => {
            if let Some((_, bytes)) = all.iter().find(|(s, _)| *s == head.seq) {
                if sha256_hex(bytes) != head.digest {
                    findings.push(error(Some(head.seq), format!(
                        "record {} was changed after it was written (its hash is not the one HEAD recorded)",
                        head.seq
                    )));
                }
            }
        }
    }
}

/// The environment's tables: those in the catalog and those the records name.
async fn tables_of(catalog: &dyn Catalog, records: &[Record]) -> Result<Vec<String>> {
    let mut names: BTreeMap<String, ()> = BTreeMap::new();
    for t in catalog.list_tables(None).await? {
        names.insert(format!("{}.{}", t.database, t.name), ());
    }
    for r in records {
        if let Some(t) = &r.table {
            if TableName::parse(t).is_ok() {
                names.insert(t.clone(), ());
            }
        }
    }
    Ok(names.into_keys().collect())
}

/// Checks one table's commits since the trail began against the records; removes the
/// records it matched from `by_commit`. Returns how many commits it checked, and when the
/// table was created (None when there is no table or its first commit left the log).
async fn cross_check(
    env: &Environment,
    name: &str,
    start_ms: i64,
    by_commit: &mut HashMap<(String, i64), Vec<&Record>>,
    findings: &mut Vec<Finding>,
) -> Result<(u64, Option<i64>)> {
    let location = env.location(&TableName::parse(name).expect("checked"))?;
    let Some(t) = table::open_if_exists(name, &location).await? else {
        return Ok((0, None));
    };
    // When this table was created: records dated before it are of an earlier table of the
    // same name (deleted and created again). Delta's metaData.id is no identity here: a
    // schema-evolving merge gives the table a new one.
    let created = created_ms(&t).await?;
    let mut checked = 0;
    for v in 0..=table::version(&t) {
        let all = by_commit.remove(&(name.to_string(), v)).unwrap_or_default();
        let (earlier, records): (Vec<&Record>, Vec<&Record>) = all
            .into_iter()
            .partition(|r| created.zip(ms(&r.at)).is_some_and(|(c, at)| at < c));
        if !earlier.is_empty() {
            findings.push(Finding {
                severity: Severity::Warning,
                seq: earlier.first().map(|r| r.seq),
                table: Some(name.to_string()),
                version: Some(v),
                message: format!(
                    "{} record(s) of {name} v{v} belong to an earlier table of that name (it was deleted and created again)",
                    earlier.len()
                ),
            });
        }
        let Some(info) = table::commit_entry(&t, v).await? else {
            if !records.is_empty() {
                findings.push(Finding {
                    severity: Severity::Warning,
                    seq: records.first().map(|r| r.seq),
                    table: Some(name.to_string()),
                    version: Some(v),
                    message: format!("{name} v{v} is no longer in its Delta log (log retention); its record cannot be checked"),
                });
            }
            continue;
        };
        let Some(info) = info else { continue };
        if info.timestamp.is_some_and(|ts| ts < start_ms) {
            continue; // before the trail began
        }
        checked += 1;
        let finding = |severity, message| Finding {
            severity,
            seq: records.first().map(|r| r.seq),
            table: Some(name.to_string()),
            version: Some(v),
            message,
        };
        let op = info.operation.clone().unwrap_or_default();
        let Some(run) = info.info.get("medallion.run_id").and_then(|r| r.as_str()) else {
            findings.push(finding(
                Severity::Warning,
                format!("{name} v{v} ({op}) was committed outside medallion"),
            ));
            continue;
        };
        match records.as_slice() {
            [] => findings.push(finding(Severity::Error, format!(
                "{name} v{v} ({op}, run {run}) has no audit record (its record was removed, or the run was killed right after the commit and no run has recorded the gap yet)"
            ))),
            [r] if r.run_id.as_deref() != Some(run) => findings.push(finding(Severity::Error, format!(
                "record {} says run {} committed {name} v{v}, but the Delta log says run {run}",
                r.seq,
                r.run_id.as_deref().unwrap_or("?")
            ))),
            [_] => {}
            many => findings.push(finding(Severity::Error, format!(
                "{name} v{v} has {} audit records (records {:?})",
                many.len(),
                many.iter().map(|r| r.seq).collect::<Vec<_>>()
            ))),
        }
    }
    Ok((checked, created))
}

/// The commit time of the table's version 0 (None when it is no longer in the log).
async fn created_ms(t: &deltalake::DeltaTable) -> Result<Option<i64>> {
    Ok(table::commit_entry(t, 0)
        .await?
        .flatten()
        .and_then(|i| i.timestamp))
}

fn ms(at: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.timestamp_millis())
}
