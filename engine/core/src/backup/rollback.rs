//! `medallion table restore TABLE --version N`: a Silver or Gold table back at an older
//! version after a bad run (Delta RESTORE), with nothing lost:
//!
//! - Silver's bookmark on Bronze moves back with it (in the same commit), so the next run
//!   processes again, with the current spec, every Bronze row committed since version N.
//!   The quarantine keeps what earlier runs rejected and does not record the same rejects twice.
//! - Gold follows Silver on the next run.
//! - Refused: Bronze and quarantine tables (the record of what was ingested and rejected: the
//!   source ledger and the Silver bookmarks name their versions); versions before a DELETE
//!   (retention, erasure) or before an erasure recorded in the audit trail (the rows would
//!   come back); versions whose files VACUUM removed (restore those from a backup).

use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use serde::Serialize;

use crate::audit::Record;
use crate::error::{Error, Result};
use crate::pipeline::Engine;
use crate::plan::JobPlan;
use crate::spec::TableName;
use crate::table;

pub struct Rollback<'a> {
    pub engine: &'a Engine,
    pub plans: &'a [JobPlan],
    pub table: TableName,
    pub version: i64,
    pub run_id: String,
    /// The environment's audit trail (erasures).
    pub trail: &'a [Record],
    pub dry_run: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct RolledBack {
    pub table: String,
    pub layer: String,
    pub pipeline: String,
    pub from_version: i64,
    pub to_version: i64,
    /// The RESTORE commit's version (None on a dry run).
    pub version: Option<i64>,
    pub files_removed: u64,
    pub files_restored: u64,
    /// Silver's bookmark on Bronze: (Bronze table, from, to).
    pub bookmark: Option<(String, i64, i64)>,
}

/// Which pipeline writes the table, its layer, and Silver's bookmark (app id, Bronze table).
type Owner = (String, &'static str, Option<(String, String)>);

fn owner(r: &Rollback<'_>) -> Result<Owner> {
    for p in r.plans {
        let job = &p.job;
        let bronze = job.bronze_table().to_string();
        if job.silver_table().as_ref() == Some(&r.table) {
            let app = crate::pipeline::silver_bookmark_app_id(&bronze);
            return Ok((job.spec.pipeline.clone(), "silver", Some((app, bronze))));
        }
        if job.gold_tables().contains(&r.table) {
            return Ok((job.spec.pipeline.clone(), "gold", None));
        }
        if job.bronze_table() == r.table || job.quarantine_table() == r.table {
            return Err(Error::Config(format!(
                "{} is a Bronze or quarantine table: the record of what was ingested and rejected, whose \
                 versions the source ledger and Silver's bookmarks name; it is not rolled back. Roll back \
                 the Silver table instead (the next run processes Bronze again from there)",
                r.table
            )));
        }
    }
    Err(Error::Config(format!(
        "{} is not written by any pipeline of the given specs: name the job specs that write it",
        r.table
    )))
}

pub async fn rollback(r: &Rollback<'_>) -> Result<RolledBack> {
    let (pipeline, layer, bookmark) = owner(r)?;
    let name = r.table.to_string();
    let loc = r.engine.env.location(&r.table)?;
    let t = table::open_if_exists(&name, &loc).await?.ok_or_else(|| {
        Error::Config(format!("{name} does not exist in `{}`", r.engine.env.name))
    })?;
    let current = table::version(&t);
    if r.version < 0 || r.version >= current {
        return Err(Error::Config(format!(
            "--version {}: {name} is at version {current}; give an older version (0 to {})",
            r.version,
            current - 1
        )));
    }
    refuse_deletes(&t, &name, r.version, current).await?;
    refuse_erasures(&t, &name, r.version, r.trail).await?;
    let old = table::open_version(&name, &loc, r.version).await?;
    let mut out = RolledBack {
        table: name.clone(),
        layer: layer.into(),
        pipeline: pipeline.clone(),
        from_version: current,
        to_version: r.version,
        ..Default::default()
    };
    let mut props = CommitProperties::default().with_metadata(table::commit_metadata(
        &r.run_id,
        &pipeline,
        &r.engine.env.name,
        vec![("medallion.operation", "table_restore".into())],
    ));
    if let Some((app, bronze)) = bookmark {
        let was = table::txn_version(&t, &app).await?.unwrap_or(-1);
        let to = table::txn_version(&old, &app).await?.unwrap_or(-1);
        props = props.with_application_transaction(Transaction::new(&app, to));
        out.bookmark = Some((bronze, was, to));
    }
    if r.dry_run {
        return Ok(out);
    }
    let (t, metrics) = t
        .restore()
        .with_version_to_restore(r.version as _)
        .with_commit_properties(props)
        .await
        .map_err(|e| missing_files(&name, r.version, e))?;
    out.version = Some(table::version(&t));
    out.files_removed = metrics.num_removed_file as u64;
    out.files_restored = metrics.num_restored_file as u64;
    Ok(out)
}

fn missing_files(name: &str, version: i64, e: deltalake::DeltaTableError) -> Error {
    if e.to_string().contains("missing file") {
        return Error::Config(format!(
            "version {version} of {name} reads files that are no longer on storage (VACUUM removed them): \
             restore that version from a backup (`medallion restore --tables {name} --to-version {version}`) \
             into an environment that lost the table; {e}"
        ));
    }
    Error::table(name, e)
}

/// A DELETE after `version` (retention, erasure, a user's) removed rows that must stay gone;
/// a commit the log no longer holds (log retention, an erasure's log clean-up) cannot be
/// checked, so versions before it are not restored either.
async fn refuse_deletes(
    t: &deltalake::DeltaTable,
    name: &str,
    version: i64,
    current: i64,
) -> Result<()> {
    for v in version + 1..=current {
        let Some(info) = table::commit_entry(t, v).await? else {
            return Err(Error::Conflict(format!(
                "{name}: the Delta log no longer holds version {v} (log retention or an erasure removed it), so                  what it changed cannot be checked; versions before {v} are not restored"
            )));
        };
        let Some(info) = info else { continue };
        if info.operation.as_deref() == Some("DELETE") {
            return Err(Error::Conflict(format!(
                "{name}: version {v} deleted rows ({}); restoring version {version} would bring them back. \
                 Restore version {v} or later",
                info.operation_parameters
                    .as_ref()
                    .and_then(|p| p.get("predicate"))
                    .map_or_else(|| "no predicate recorded".to_string(), |p| p.to_string())
            )));
        }
    }
    Ok(())
}

/// An erasure after `version`'s commit removed a data subject from this table or from what it
/// was computed from.
async fn refuse_erasures(
    t: &deltalake::DeltaTable,
    name: &str,
    version: i64,
    trail: &[Record],
) -> Result<()> {
    let Some(Some(info)) = table::commit_entry(t, version).await? else {
        return Err(Error::Config(format!(
            "{name}: version {version} is no longer in the Delta log (log retention removed it)"
        )));
    };
    let committed = info
        .timestamp
        .and_then(chrono::DateTime::from_timestamp_millis);
    let Some(committed) = committed else {
        return Err(Error::Internal(format!(
            "{name}: version {version} has no commit time"
        )));
    };
    let erasure = trail
        .iter()
        .filter(|r| r.action == "erasure" || r.action == "erasure_started")
        .find(|r| chrono::DateTime::parse_from_rfc3339(&r.at).map_or(true, |at| at >= committed));
    if let Some(e) = erasure {
        return Err(Error::Conflict(format!(
            "{name}: an erasure ran at {} (audit record {}), after version {version} was written \
             ({committed}); that version may hold the erased subject's rows and is not restored",
            e.at, e.seq
        )));
    }
    Ok(())
}
