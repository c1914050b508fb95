//! The run's commits, in this order (what a crash between them leaves is in engine/ARCHITECTURE.md,
//! "What a crash leaves"):
//! 1. **Bronze** — exactly on the version Silver read (no rebase over another writer's
//!    commit), listing the source files it ingested; Silver's new bookmark is that version.
//! 2. **Quarantine** — the run's rejected records, with its bookmarks of the Bronze
//!    versions it holds the rejects of (so repeated work does not quarantine twice).
//! 3. **Silver** — merged by key or appended, with its bookmark in the same commit.
//!
//! Each commit is one atomic Delta commit; each is followed by its catalog entry and a
//! [`RunEvent::TableCommitted`].

use std::sync::atomic::Ordering;

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::kernel::Transaction;
use deltalake::DeltaTable;

use super::bronze::{BronzeOut, FILES_KEY, QUARANTINED_KEY};
use super::merge::SilverMerge;
use super::quarantine::{self, QuarantineWriter};
use super::register::register;
use super::scratch::Scratch;
use super::silver::{bookmark_app_id, SilverOut};
use super::Run;
use crate::error::{Error, Result};
use crate::events::RunEvent;
use crate::table::{self, Staged};

/// Where the run's Bronze commit left things.
pub struct Committed {
    /// Silver's bookmark after this run: the Bronze version its rows come up to.
    pub bookmark: Option<i64>,
    /// Bronze's version after this run (committed by it or as read), if Bronze exists.
    pub bronze_version: Option<i64>,
}

impl Run<'_> {
    fn metadata(
        &self,
        extra: Vec<(&str, serde_json::Value)>,
    ) -> std::collections::HashMap<String, serde_json::Value> {
        table::commit_metadata(
            &self.id,
            &self.plan.job.spec.pipeline,
            &self.env().name,
            extra,
        )
    }

    /// Reports a commit of `table` (durably: the audit trail records it before the run goes
    /// on) when its version moved from `before`. A commit without data files is a
    /// `bookmark` (only a txn).
    pub(super) async fn committed(
        &self,
        table: &str,
        layer: &str,
        before: Option<i64>,
        t: &DeltaTable,
        operation: &str,
        (rows, files, bytes): (u64, u64, u64),
    ) -> Result<()> {
        let version = table::version(t);
        if before == Some(version) {
            return Ok(());
        }
        self.committed_any.store(true, Ordering::SeqCst);
        super::fault_point("before_commit_record");
        super::fault_error("before_commit_record")?;
        let operation = if files == 0 && before.is_some() && operation == "append" {
            "bookmark"
        } else {
            operation
        };
        self.record(RunEvent::TableCommitted {
            table: table.to_string(),
            table_id: table::table_id(t),
            layer: layer.to_string(),
            version,
            operation: operation.to_string(),
            rows,
            files,
            bytes,
        })
        .await
    }
}

/// Rows, files and bytes of staged files (what their commit adds).
pub(super) fn counts(s: &Staged) -> (u64, u64, u64) {
    (
        s.rows,
        s.adds.len() as u64,
        s.adds.iter().map(|a| a.size as u64).sum(),
    )
}

pub async fn bronze(
    run: &Run<'_>,
    bronze: &BronzeOut,
    quarantined: u64,
    scratch: &mut Scratch,
) -> Result<Committed> {
    let job = &run.plan.job;
    super::fault_wait("before_bronze_commit");
    let had_rows = !bronze.staged.adds.is_empty();
    let created = bronze.table.is_none();
    let metadata = run.metadata(vec![
        (FILES_KEY, serde_json::json!(bronze.files)),
        (QUARANTINED_KEY, serde_json::json!(quarantined)),
    ]);
    let before = bronze.table.as_ref().map(table::version);
    let after = match run.engine.shard {
        None => bronze
            .staged
            .clone()
            .commit_with(bronze.table.clone(), metadata, vec![], Some(0))
            .await
            .map_err(race_message)?,
        Some(_) => shard_append(bronze, metadata).await?,
    };
    scratch.committed(&bronze.name);
    let bookmark = match (had_rows, bronze.read_version) {
        (true, v) => Some(v.map_or(0, |v| v + 1)),
        (false, v) => v,
    };
    let bronze_version = after.as_ref().map(table::version);
    if let Some(t) = &after {
        run.committed(
            &bronze.name,
            "bronze",
            before,
            t,
            if created { "create" } else { "append" },
            counts(&bronze.staged),
        )
        .await?;
        register(
            run,
            &job.bronze_table(),
            "bronze",
            t,
            job.spec.bronze.description.clone(),
        )
        .await?;
    }
    super::fault_point("after_bronze_commit");
    Ok(Committed {
        bookmark,
        bronze_version,
    })
}

/// How often a shard's commit is tried on a fresh snapshot after losing a race.
const SHARD_ATTEMPTS: usize = 50;

/// A shard's Bronze commit: an append over the other shards' commits, refused (nothing
/// committed) when a commit that landed since this run read the table ingested any of its
/// files (the same shard run twice at once, or a run without a shard in between).
async fn shard_append(
    bronze: &BronzeOut,
    metadata: std::collections::HashMap<String, serde_json::Value>,
) -> Result<Option<DeltaTable>> {
    let ours: std::collections::HashSet<&str> = bronze.files.iter().map(String::as_str).collect();
    let overlap = |info: &deltalake::kernel::CommitInfo| -> Option<String> {
        let files = info.info.get(FILES_KEY)?.as_array()?;
        files
            .iter()
            .filter_map(|f| f.as_str())
            .find(|f| ours.contains(f))
            .map(str::to_string)
    };
    let target = Target {
        name: &bronze.name,
        location: &bronze.location,
    };
    let append = Append {
        existing: bronze.table.clone(),
        metadata,
        txns: vec![],
    };
    racing_append(target, &bronze.staged, append, &overlap).await
}

/// What a shard appends on: the table as read, the commit's metadata and transactions.
struct Append {
    existing: Option<DeltaTable>,
    metadata: std::collections::HashMap<String, serde_json::Value>,
    txns: Vec<Transaction>,
}

/// A table a shard appends to.
struct Target<'a> {
    name: &'a str,
    location: &'a table::Location,
}

/// Appends `staged` (nothing when it is empty) on top of whatever landed since `existing`
/// was read: after a lost race, the commits since are read; if one is this run's (it landed
/// and failed after), that version is the result; if `overlap` names a file of one, the
/// commit is refused; else it is tried again on the current version.
async fn racing_append(
    target: Target<'_>,
    staged: &Staged,
    append: Append,
    overlap: &(dyn Fn(&deltalake::kernel::CommitInfo) -> Option<String> + Sync),
) -> Result<Option<DeltaTable>> {
    let Append {
        mut existing,
        metadata,
        txns,
    } = append;
    if staged.adds.is_empty() {
        return Ok(existing); // nothing of this shard: no commit, no empty table
    }
    let run_id = metadata.get("medallion.run_id").cloned();
    for attempt in 1..=SHARD_ATTEMPTS {
        let seen = existing.as_ref().map_or(-1, table::version);
        let result = staged
            .clone()
            .commit_with(existing.clone(), metadata.clone(), txns.clone(), Some(0))
            .await;
        let e = match result {
            Err(e)
                if attempt < SHARD_ATTEMPTS
                    && (existing.is_none() || table::error_is_commit_race(&e)) =>
            {
                e
            }
            other => return other,
        };
        let Some(t) = table::open_if_exists(target.name, target.location).await? else {
            return Err(e);
        };
        for (v, info) in table::commit_infos(&t, seen, table::version(&t)).await? {
            if info.info.get("medallion.run_id") == run_id.as_ref() {
                // It did land, and failed after: that version, never a second append.
                return table::open_version(target.name, target.location, v)
                    .await
                    .map(Some);
            }
            if let Some(file) = overlap(&info) {
                return Err(Error::Source {
                    path: file,
                    message: format!(
                        "another run ingested this file into {} (version {v}) while this shard run read it; \
                         nothing of this run was committed. Run each shard once at a time, and a run without \
                         --shard only when no shard runs",
                        target.name
                    ),
                });
            }
        }
        tracing::debug!(table = %target.name, attempt, "Shard commit lost a race; trying again on the current version.");
        existing = Some(t);
    }
    unreachable!("the last attempt returns")
}

/// A shard's quarantine commit: its unparseable records, appended without the bookmarks (a
/// shard does not know what the other shards hold); the next run without a shard re-reads
/// the files of Bronze commits past the bookmark and skips the records held already.
pub async fn shard_quarantine(
    run: &Run<'_>,
    mut q: QuarantineWriter,
    scratch: &mut Scratch,
) -> Result<()> {
    let job = &run.plan.job;
    q.flush(run).await?;
    let staged = q.writer.finish().await?;
    scratch.track(&staged);
    let location = run.env().location(&job.quarantine_table())?;
    let target = Target {
        name: &q.name,
        location: &location,
    };
    let before = q.table.as_ref().map(table::version);
    // A quarantine without a Bronze bookmark would read as one written before bookmarks
    // existed (no repair): one this shard creates says "no Bronze version covered yet".
    let bronze = job.bronze_table().to_string();
    let txns = match q.bronze_covered {
        Some(_) => vec![],
        None => vec![Transaction::new(&quarantine::bronze_app_id(&bronze), -1)],
    };
    let appended = Append {
        existing: q.table.clone(),
        metadata: run.metadata(vec![]),
        txns,
    };
    let after = racing_append(target, &staged, appended, &|_| None).await?;
    scratch.committed(&q.name);
    quarantine_committed(run, &q.name, before, after.as_ref(), &staged).await
}

/// Records a quarantine commit (from version `before`) and registers the table.
async fn quarantine_committed(
    run: &Run<'_>,
    name: &str,
    before: Option<i64>,
    after: Option<&DeltaTable>,
    staged: &Staged,
) -> Result<()> {
    let Some(t) = after else {
        return Ok(());
    };
    let operation = if before.is_none() { "create" } else { "append" };
    run.committed(name, "quarantine", before, t, operation, counts(staged))
        .await?;
    let job = &run.plan.job;
    let description = format!(
        "Records rejected by pipeline {}, with the reason",
        job.spec.pipeline
    );
    register(
        run,
        &job.quarantine_table(),
        "quarantine",
        t,
        Some(description),
    )
    .await
}

/// A lost race names what happened and what to do.
fn race_message(e: Error) -> Error {
    match e {
        Error::Table { table, source } if table::is_commit_race(&source) => Error::Table {
            table: format!(
                "{table} (another process committed to it during this run; nothing of this run was committed, run it again)"
            ),
            source,
        },
        other => other,
    }
}

pub async fn quarantine(
    run: &Run<'_>,
    mut q: QuarantineWriter,
    committed: &Committed,
    scratch: &mut Scratch,
) -> Result<()> {
    let job = &run.plan.job;
    q.flush(run).await?;
    let bronze = job.bronze_table().to_string();
    let mut txns = Vec::new();
    // Follows Bronze's version (the unparseable records of every Bronze commit up to it are
    // in this commit or an earlier one), so that a crash before this commit is found by
    // comparing the two tables' versions (see `bronze::repair_files`).
    if let Some(v) = committed
        .bronze_version
        .filter(|v| q.bronze_covered != Some(*v))
    {
        txns.push(Transaction::new(&quarantine::bronze_app_id(&bronze), v));
    }
    if let (Some(b), true) = (committed.bookmark, q.silver_rows_written() > 0) {
        txns.push(Transaction::new(&quarantine::silver_app_id(&bronze), b));
    }
    let staged = q.writer.finish().await?;
    scratch.track(&staged);
    let before = q.table.as_ref().map(table::version);
    let after = staged
        .clone()
        .commit(q.table, run.metadata(vec![]), txns)
        .await?;
    scratch.committed(&q.name);
    quarantine_committed(run, &q.name, before, after.as_ref(), &staged).await?;
    super::fault_point("after_quarantine_commit");
    Ok(())
}

pub async fn silver(
    run: &Run<'_>,
    ctx: &SessionContext,
    out: SilverOut,
    committed: &Committed,
    scratch: &mut Scratch,
) -> Result<()> {
    let job = &run.plan.job;
    let spec = job.spec.silver.as_ref().expect("a Silver stage ran");
    let name = out.name.to_string();
    let rows = out.staged.rows;
    let moved = committed.bookmark != out.bookmark;
    // Nothing read and nothing written: no commit (the bookmark may lag over versions that
    // added no data, e.g. compactions; the next run skips them again at no cost).
    if out.table.is_some() && rows == 0 && (out.rows_read == 0 || !moved) {
        return Ok(());
    }
    let txn = committed
        .bookmark
        .map(|b| Transaction::new(&bookmark_app_id(&job.bronze_table().to_string()), b));
    let before = out.table.as_ref().map(table::version);
    let (after, operation, before) = match (out.table, &spec.dedupe) {
        (Some(t), _) if rows == 0 => {
            // Nothing to write, but the bookmark must move past the processed rows.
            let bookmark_only = Staged {
                adds: vec![],
                rows: 0,
                schema: table::arrow_schema(&t)?,
                ..out.staged.clone()
            };
            (
                bookmark_only
                    .commit(Some(t), run.metadata(vec![]), txn.into_iter().collect())
                    .await?,
                "bookmark",
                before,
            )
        }
        (Some(t), Some(d)) => {
            let urls = out
                .staged
                .file_urls()
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>();
            let source = ctx
                .read_parquet(
                    urls,
                    ParquetReadOptions::default().schema(&out.staged.schema),
                )
                .await?;
            // The merge writes no metadata: the tracked properties (pinned schema, PII
            // protection) are committed first, on their own.
            let t = table::sync_properties(t, &out.staged.properties, &name, run.metadata(vec![]))
                .await?;
            run.committed(&name, "silver", before, &t, "properties", (0, 0, 0))
                .await?;
            let before = Some(table::version(&t));
            let merged = SilverMerge::new(t, source, &d.keys)
                .with_latest_by(d.latest_by.as_deref())
                .with_commit_metadata(run.metadata(vec![]))
                .with_bookmark(txn)
                .with_spec_file(&job.file)
                .execute()
                .await?;
            // The staged files were the merge's source; they are deleted with the run's
            // other leftovers.
            (Some(merged), "merge", before)
        }
        (existing, _) => {
            let op = if existing.is_some() {
                "append"
            } else {
                "create"
            };
            let after = out
                .staged
                .clone()
                .commit(existing, run.metadata(vec![]), txn.into_iter().collect())
                .await?;
            scratch.committed(&name);
            (after, op, before)
        }
    };
    if let Some(t) = &after {
        run.committed(&name, "silver", before, t, operation, counts(&out.staged))
            .await?;
        register(run, &out.name, "silver", t, spec.description.clone()).await?;
    }
    super::fault_point("after_silver_commit");
    Ok(())
}
