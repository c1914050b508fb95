//! Bronze: find the source files not ingested yet, decode them into staged (uncommitted)
//! files of the Bronze table, and send unparseable records to the quarantine writer.
//!
//! The file bookmark is the data itself: a file is ingested once its name is a
//! `_source_file` of the Bronze table or of the quarantine's Bronze-stage records. A crash
//! after the Bronze commit and before the quarantine commit would lose the unparseable
//! records of that commit's files; [`repair_files`] finds such commits (Bronze versions
//! after the quarantine's Bronze bookmark) and re-reads their files for those records.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::StringArray;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use super::quarantine::QuarantineWriter;
use super::scratch::Scratch;
use super::Run;
use crate::error::{Error, Result};
use crate::events::{RunEvent, Stage};
use crate::ingest::{self, Decoded, SourceFile};
use crate::plan::{RUN_ID, SOURCE_FILE};
use crate::quarantine::{with_bronze_metadata, QuarantineRow};
use crate::spec::{FilesSource, SourceSpec};
use crate::table::{self, Staged, StagedWrite};

/// The commit metadata key listing the source files a Bronze commit ingested.
pub const FILES_KEY: &str = "medallion.files";
/// The commit metadata key counting the unparseable records of a Bronze commit's files.
pub const QUARANTINED_KEY: &str = "medallion.quarantined";

/// What Bronze hands to Silver and to the commits.
pub struct BronzeOut {
    pub name: String,
    pub location: table::Location,
    /// The Bronze table as the run read it (its version is what Silver's bookmark moves from).
    pub table: Option<DeltaTable>,
    pub read_version: Option<i64>,
    /// The run's new rows, staged.
    pub staged: Staged,
    /// Source files read by this run.
    pub files: Vec<String>,
}

pub async fn stage(
    run: &Run<'_>,
    ctx: &SessionContext,
    scratch: &mut Scratch,
) -> Result<(BronzeOut, QuarantineWriter)> {
    let started = Instant::now();
    let job = &run.plan.job;
    let name = job.bronze_table().to_string();
    let location = run.env().location(&job.bronze_table())?;
    let table = table::open_if_exists(&name, &location).await?;
    if let Some(t) = &table {
        crate::compat::check_release(
            &name,
            &table::properties(t)?,
            &run.plan.schema,
            run.spec_file(),
        )?;
    }
    let (mut ingested, last_ingest) = match &table {
        Some(t) => super::bookmark::read(ctx, t, &name).await?,
        None => (HashSet::new(), None),
    };
    let now = chrono::Utc::now().timestamp_micros();
    let ingest_time = last_ingest.map_or(now, |l| now.max(l + 1));
    let mut quarantine = QuarantineWriter::open(run, ingest_time).await?;
    check_quarantine_bookmarks(&quarantine, table.as_ref().map(table::version), &name)?;
    if let Some(q) = &quarantine.table {
        ingested.extend(quarantined_files(ctx, q).await?);
    }
    // Sources whose rows retention removed (`medallion maintain`) stay ingested.
    ingested.extend(crate::maintain::ledger::read(run.env(), &job.bronze_table()).await?);
    let source = match &job.spec.bronze.source {
        SourceSpec::Files(f) => f.clone(),
        // A Kafka source is written by `medallion stream`; a run brings Silver and Gold up
        // to date with the committed Bronze rows.
        SourceSpec::Kafka(_) => FilesSource::none(),
    };
    let shard = run.engine.shard;
    let matched: Vec<SourceFile> = match &job.spec.bronze.source {
        SourceSpec::Files(f) => ingest::discover(run.env(), f).await?,
        SourceSpec::Kafka(_) => Vec::new(),
    }
    .into_iter()
    .filter(|f| shard.is_none_or(|s| s.owns(&f.name)))
    .collect();
    super::fault_wait(&format!("after_listing_{}", job.spec.pipeline));
    let covered = (quarantine.table.is_some(), quarantine.bronze_covered);
    let repair = match shard {
        None => repair_files(run, table.as_ref(), covered, &matched).await?,
        Some(_) => Vec::new(), // left to the next run without a shard
    };
    ingested.extend(repair.iter().map(|f| f.name.clone()));
    let matched_n = matched.len() as u64;
    let new_files: Vec<SourceFile> = matched
        .into_iter()
        .filter(|f| !ingested.contains(&f.name))
        .collect();
    run.emit(RunEvent::FilesDiscovered {
        table: name.clone(),
        matched: matched_n,
        skipped: matched_n - new_files.len() as u64,
        new_files: new_files.iter().map(|f| f.name.clone()).collect(),
    });
    let mut writer = StagedWrite::new(&name, &location, run.plan.bronze_schema.clone())?
        .with_properties(super::table_properties(
            run.plan,
            "bronze",
            job.spec.bronze.description.clone(),
        ))
        .raw_text(&[SOURCE_FILE, RUN_ID], &crate::plan::BRONZE_META);
    let decoded = decode(
        run,
        &source,
        &new_files,
        &repair,
        &mut writer,
        &mut quarantine,
        ingest_time,
    )
    .await;
    let staged = match writer.finish().await {
        Ok(s) => s,
        Err(e) => {
            quarantine.abandon(run).await;
            return Err(e);
        }
    };
    scratch.track(&staged);
    if let Err(e) = decoded {
        quarantine.abandon(run).await;
        return Err(e);
    }
    run.emit(RunEvent::RowsStaged {
        table: name.clone(),
        rows: staged.rows,
    });
    run.emit(RunEvent::StageFinished {
        stage: Stage::Bronze,
        table: name.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    });
    let out = BronzeOut {
        name,
        location,
        read_version: table.as_ref().map(table::version),
        table,
        staged,
        files: new_files.into_iter().map(|f| f.name).collect(),
    };
    Ok((out, quarantine))
}

/// The quarantine's bookmarks name Bronze versions; bookmarks ahead of Bronze mean Bronze
/// was recreated while the quarantine was kept, and the run would suppress or skip records.
fn check_quarantine_bookmarks(
    q: &QuarantineWriter,
    bronze_version: Option<i64>,
    bronze: &str,
) -> Result<()> {
    let current = bronze_version.unwrap_or(-1);
    let ahead = [q.bronze_covered, q.silver_covered]
        .into_iter()
        .flatten()
        .find(|v| *v > current);
    match ahead {
        None => Ok(()),
        Some(v) => Err(Error::Source {
            path: bronze.to_string(),
            message: format!(
                "the quarantine table {} has recorded rejects up to version {v} of {bronze}, which is at \
                 version {current}: {bronze} was recreated or restored. Delete (or rename) {} and the \
                 Silver table to reprocess from the new {bronze}; nothing was committed",
                q.name, q.name
            ),
        }),
    }
}

/// Source files whose records all went to the quarantine (no Bronze row names them).
async fn quarantined_files(ctx: &SessionContext, q: &DeltaTable) -> Result<HashSet<String>> {
    ctx.register_table("__quarantine", table::provider(q, ctx).await?)?;
    let files = ctx
        .sql(&format!(
            "SELECT DISTINCT {SOURCE_FILE} AS f FROM __quarantine WHERE _stage = 'bronze'"
        ))
        .await?
        .collect()
        .await
        .map_err(|e| Error::query("reading the quarantine's file bookmark", e))?;
    super::bookmark::text_values(&files)
}

/// Files of Bronze commits the quarantine has not caught up with (a crash between the two
/// commits): their unparseable records are read again. Only files still matched by the
/// source are re-read; the others are reported.
async fn repair_files(
    run: &Run<'_>,
    bronze: Option<&DeltaTable>,
    (quarantine_exists, covered): (bool, Option<i64>),
    matched: &[SourceFile],
) -> Result<Vec<SourceFile>> {
    let Some(bronze) = bronze else {
        return Ok(Vec::new());
    };
    let from = match (quarantine_exists, covered) {
        (_, Some(v)) => v,
        (false, None) => -1,
        // Written before the quarantine kept a Bronze bookmark: nothing to compare with.
        (true, None) => return Ok(Vec::new()),
    };
    let current = table::version(bronze);
    if from >= current || matches!(run.plan.job.spec.bronze.source, SourceSpec::Kafka(_)) {
        return Ok(Vec::new());
    }
    let mut names = HashSet::new();
    for (_, info) in table::commit_infos(bronze, from, current).await? {
        let quarantined = info.info.get(QUARANTINED_KEY).and_then(|n| n.as_u64());
        if quarantined.unwrap_or(0) == 0 {
            continue;
        }
        if let Some(files) = info.info.get(FILES_KEY).and_then(|f| f.as_array()) {
            names.extend(files.iter().filter_map(|f| f.as_str().map(str::to_string)));
        }
    }
    let found: Vec<SourceFile> = matched
        .iter()
        .filter(|f| names.contains(&f.name))
        .cloned()
        .collect();
    if found.len() < names.len() {
        tracing::warn!(
            table = %bronze.table_url(),
            missing = names.len() - found.len(),
            "Files of Bronze commits past the quarantine's bookmark are no longer in the source: their unparseable records that are not in the quarantine yet (a crash between the two commits) cannot be quarantined."
        );
    }
    Ok(found)
}

/// Decodes `files` into Bronze rows and `repair` for their unparseable records only.
async fn decode(
    run: &Run<'_>,
    source: &FilesSource,
    files: &[SourceFile],
    repair: &[SourceFile],
    writer: &mut StagedWrite,
    quarantine: &mut QuarantineWriter,
    ingest_time: i64,
) -> Result<()> {
    let table = writer_name(run);
    let total: u64 = files.iter().map(|f| f.size).sum();
    run.emit(RunEvent::StageStarted {
        stage: Stage::Bronze,
        table: table.clone(),
        total_bytes: Some(total),
    });
    let mut all: Vec<SourceFile> = files.to_vec();
    all.extend(repair.iter().cloned());
    let keep_rows = files.len();
    let (mut rx, handle) =
        ingest::spawn_decoder(all.clone(), source.clone(), run.plan.raw_schema.clone());
    let mut failed = None;
    while let Some(msg) = rx.recv().await {
        let step = match msg {
            Ok(Decoded::Rows { file, batch, lines }) if file < keep_rows => {
                let n = batch.num_rows() as u64;
                let names: arrow::array::ArrayRef =
                    Arc::new(StringArray::from(vec![
                        all[file].name.as_str();
                        batch.num_rows()
                    ]));
                let rows = with_bronze_metadata(
                    &batch,
                    &run.plan.bronze_schema,
                    ingest_time,
                    names,
                    lines,
                    &run.id,
                );
                match rows {
                    Ok(rows) => {
                        run.emit(RunEvent::RowsDecoded {
                            table: table.clone(),
                            rows: n,
                        });
                        writer.write(rows).await
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(Decoded::Rows { .. }) => Ok(()), // a repaired file's rows are in Bronze already
            Ok(Decoded::Bad { file, records }) => {
                let repaired = file >= keep_rows;
                quarantine_unparseable(run, quarantine, &all[file].name, records, repaired).await
            }
            Ok(Decoded::FileDone { file, bytes }) => {
                run.emit(RunEvent::FileRead {
                    table: table.clone(),
                    file: all[file].name.clone(),
                    bytes,
                });
                Ok(())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = step {
            failed = Some(e);
            break;
        }
    }
    drop(rx);
    // A decoder that failed or panicked fails the run (nothing is committed); it never
    // ends a file early in silence.
    let joined = handle.join().await;
    match failed {
        Some(e) => Err(e),
        None => joined,
    }
}

/// Quarantines a file's unparseable records; of a repaired file, only those the quarantine
/// does not hold already (a shard run wrote them, or the crash was after their commit).
async fn quarantine_unparseable(
    run: &Run<'_>,
    quarantine: &mut QuarantineWriter,
    file: &str,
    records: Vec<ingest::BadRecord>,
    repaired: bool,
) -> Result<()> {
    let held = match repaired {
        true => {
            super::quarantine::held_unparseable(quarantine.table.clone().as_ref(), file).await?
        }
        false => Default::default(),
    };
    let rows = records
        .into_iter()
        .filter(|r| !held.contains(&r.line))
        .map(|r| QuarantineRow {
            stage: "bronze",
            rule: "parse".into(),
            column: r.column,
            reason: r.reason,
            record: r.record,
            source_file: Some(file.to_string()),
            source_line: Some(r.line),
        })
        .collect();
    quarantine.push(run, Stage::Bronze, "parse", rows).await
}

fn writer_name(run: &Run<'_>) -> String {
    run.plan.job.bronze_table().to_string()
}
