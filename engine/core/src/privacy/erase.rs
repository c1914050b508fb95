//! Erasing one data subject's rows from one table: the files holding them are rewritten
//! without them in one commit, then every file of the table still on storage that holds the
//! key (the rewritten ones, and those of older versions) is deleted, so the bytes are gone
//! and time travel to a version that showed the rows fails.
//!
//! Bronze is rewritten with `dataChange: false`: Silver reads Bronze by the files its commits
//! added with a data change, so the rewritten files are not read again as new rows (the rows
//! they keep were processed before; erasure refuses a Bronze table Silver has not caught up
//! with). The source files of erased Bronze rows go to the ingested-sources ledger, so a
//! source file whose every row was erased is not ingested again.

use std::collections::{BTreeSet, HashMap, HashSet};

use arrow::array::{Array, RecordBatch};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::DeltaTable;
use object_store::ObjectStore;
use serde::Serialize;

use super::scan::{self, StoredFile};
use super::targets::Target;
use super::Needles;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::table::{self, Location, StagedWrite};

/// What erasure did to one table (or, with a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableErased {
    pub table: String,
    pub layer: String,
    pub rows_removed: u64,
    /// Data files rewritten without the rows.
    pub files_rewritten: u64,
    /// Versions this erasure made.
    pub versions: Vec<i64>,
    /// Files deleted from storage (the rewritten ones, and older versions' holding the key).
    pub files_deleted: u64,
    pub bytes_deleted: u64,
    /// Delta log entries deleted (they held the key in column statistics).
    pub log_files_deleted: u64,
    /// Columns derived from the subject's that could not be matched with the key.
    pub unmatched: Vec<String>,
    pub notes: Vec<String>,
}

/// One table's erasure.
pub struct Request<'a> {
    pub env: &'a Environment,
    pub target: &'a Target,
    pub needles: &'a Needles,
    pub dry_run: bool,
    pub metadata: HashMap<String, serde_json::Value>,
    /// For Bronze: the table whose ledger keeps the retired source files.
    pub ledger: Option<crate::spec::TableName>,
    pub run_id: &'a str,
}

/// A file of the current version holding rows about the subject, and what it keeps.
struct Hit {
    rel: String,
    rows: u64,
    kept: Vec<RecordBatch>,
    sources: BTreeSet<String>,
}

pub async fn erase_table(r: &Request<'_>) -> Result<TableErased> {
    let name = r.target.table.to_string();
    let mut out = TableErased {
        table: name.clone(),
        layer: r.target.layer.clone(),
        unmatched: r.target.unmatched.clone(),
        ..Default::default()
    };
    let loc = r.env.location(&r.target.table)?;
    let Some(t) = table::open_if_exists(&name, &loc).await? else {
        out.notes.push("not in the lake".into());
        return Ok(out);
    };
    let (store, files) = scan::list(&loc, false).await?;
    let hits = find_rows(&t, &*store, &files, r).await?;
    out.rows_removed = hits.iter().map(|h| h.rows).sum();
    out.files_rewritten = hits.len() as u64;
    let t = if r.dry_run || hits.is_empty() {
        t
    } else {
        rewrite(t, &loc, hits, r, &mut out).await?
    };
    delete_held(&t, &*store, r, &mut out).await?;
    Ok(out)
}

/// The Delta log keeps each file's minimum and maximum values (column statistics), so the
/// key can be in commits before the erasure. When the statistics of the target's columns hold
/// it: a checkpoint of the current version, then every log entry before it is deleted (time
/// travel to earlier versions ends there) — never one a reader of the table still needs
/// (`keep_from`: Silver's next Bronze version to read), which is said instead.
pub async fn clean_log(
    r: &Request<'_>,
    keep_from: Option<i64>,
    out: &mut TableErased,
) -> Result<()> {
    let name = r.target.table.to_string();
    let loc = r.env.location(&r.target.table)?;
    let Some(t) = table::open_if_exists(&name, &loc).await? else {
        return Ok(());
    };
    let (store, files) = scan::list(&loc, true).await?;
    let mut held = 0;
    for f in files.iter().filter(|f| f.rel.starts_with("_delta_log/")) {
        if scan::log_holds(&*store, f, &r.target.log_columns(), r.needles).await? {
            held += 1;
        }
    }
    if held == 0 {
        return Ok(());
    }
    let v = table::version(&t);
    let keep = keep_from.map_or(v, |k| k.min(v));
    if r.dry_run {
        out.notes.push(format!("{held} Delta log files hold the key in column statistics: the log before version {keep} will be removed"));
        return Ok(());
    }
    if keep < v {
        out.notes.push(format!("the Delta log from version {keep} is kept: a reader has not processed it (run the pipeline, then erase again to remove it)"));
    }
    deltalake::checkpoints::create_checkpoint(&t, None)
        .await
        .map_err(|e| Error::table(&name, e))?;
    let later = chrono::Utc::now().timestamp_millis() + 86_400_000;
    let removed = deltalake::checkpoints::cleanup_expired_logs_for(
        keep as u64,
        t.log_store().as_ref(),
        later,
        None,
    )
    .await
    .map_err(|e| Error::table(&name, e))?;
    out.log_files_deleted += removed as u64;
    if removed > 0 {
        out.notes.push(format!(
            "the Delta log before version {keep} is removed ({removed} entries; it held the key in column statistics): time travel to earlier versions is no longer possible"
        ));
    }
    Ok(())
}

/// The files of the current version with rows matching the target's columns.
async fn find_rows(
    t: &DeltaTable,
    store: &dyn ObjectStore,
    files: &[StoredFile],
    r: &Request<'_>,
) -> Result<Vec<Hit>> {
    let active: HashSet<String> = scan::active_files(t)?;
    let mut hits = Vec::new();
    for f in files.iter().filter(|f| active.contains(&f.rel)) {
        let mut hit = Hit {
            rel: f.rel.clone(),
            rows: 0,
            kept: Vec::new(),
            sources: BTreeSet::new(),
        };
        for b in scan::read(store, f).await? {
            let mask = scan::row_mask(&b, &r.target.columns, r.needles)?;
            let n = mask.true_count() as u64;
            if n == 0 {
                hit.kept.push(b);
                continue;
            }
            hit.rows += n;
            hit.sources.extend(sources_of(&b, &mask, &r.target.layer)?);
            let keep = arrow::compute::not(&mask)?;
            hit.kept
                .push(arrow::compute::filter_record_batch(&b, &keep)?);
        }
        if hit.rows > 0 {
            hits.push(hit);
        }
    }
    let found: HashSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    if let Some(missing) = active.iter().find(|a| !found.contains(a.as_str())) {
        return Err(Error::Input {
            path: r.target.table.to_string(),
            message: format!("data file {missing} of the current version is not on storage: the table is damaged; nothing was erased"),
        });
    }
    Ok(hits)
}

/// The source files of the erased rows (Bronze, and the quarantine's Bronze-stage records).
fn sources_of(
    b: &RecordBatch,
    mask: &arrow::array::BooleanArray,
    layer: &str,
) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let Some(col) = b.column_by_name(crate::plan::SOURCE_FILE) else {
        return Ok(out);
    };
    let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8)?;
    let col = arrow::array::cast::as_string_array(&col);
    let stage = b
        .column_by_name("_stage")
        .and_then(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).ok());
    for i in 0..b.num_rows() {
        let bronze_stage = match &stage {
            Some(s) => arrow::array::cast::as_string_array(s).value(i) == "bronze",
            None => layer == "bronze",
        };
        if mask.value(i) && bronze_stage && col.is_valid(i) {
            out.insert(col.value(i).to_string());
        }
    }
    Ok(out)
}

/// Writes what the hit files keep, and commits their removal with the new files.
async fn rewrite(
    t: DeltaTable,
    loc: &Location,
    hits: Vec<Hit>,
    r: &Request<'_>,
    out: &mut TableErased,
) -> Result<DeltaTable> {
    let name = r.target.table.to_string();
    if let Some(bronze) = &r.ledger {
        let sources: BTreeSet<String> = hits.iter().flat_map(|h| h.sources.clone()).collect();
        let sources: Vec<String> = sources.into_iter().collect();
        crate::maintain::ledger::add(r.env, bronze, &sources, r.run_id).await?;
    }
    let schema = table::arrow_schema(&t)?;
    let mut w = StagedWrite::new(&name, loc, schema.clone())?;
    if r.target.layer == "bronze" {
        // As Bronze writes it: no statistics of the data columns (the rewritten files would
        // put the other rows' raw values into the Delta log), dictionaries for the repeated
        // metadata.
        let repeated = [crate::plan::SOURCE_FILE, crate::plan::RUN_ID];
        w = w.raw_text(&repeated, &crate::plan::BRONZE_META);
    }
    for h in &hits {
        for b in &h.kept {
            w.write(crate::pipeline::conform(b, &schema)?).await?;
        }
    }
    let staged = w.finish().await?;
    let data_change = r.target.layer != "bronze";
    let wanted: HashSet<&str> = hits.iter().map(|h| h.rel.as_str()).collect();
    let mut actions: Vec<Action> = t
        .snapshot()?
        .log_data()
        .iter()
        .filter(|f| wanted.contains(f.path().as_ref()))
        .map(|f| Action::Remove(f.remove_action(data_change)))
        .collect();
    actions.extend(staged.adds.iter().cloned().map(|mut a| {
        a.data_change = data_change;
        Action::Add(a)
    }));
    let op = DeltaOperation::Delete {
        predicate: Some(format!("erasure of a `{}` data subject", r.target.layer)),
    };
    let committed =
        CommitBuilder::from(CommitProperties::default().with_metadata(r.metadata.clone()))
            .with_actions(actions)
            .build(Some(t.snapshot()?), t.log_store(), op)
            .await;
    let done = match committed {
        Ok(d) => d,
        Err(e) => {
            staged.discard().await;
            return Err(Error::table(&name, e));
        }
    };
    let mut t = t;
    t.state = Some(done.snapshot);
    out.versions.push(table::version(&t));
    Ok(t)
}

/// Deletes every data file of the table that is not part of its current version and holds
/// the key (the files just rewritten; older versions' files). Time travel to those versions
/// fails afterwards, as it must.
async fn delete_held(
    t: &DeltaTable,
    store: &dyn ObjectStore,
    r: &Request<'_>,
    out: &mut TableErased,
) -> Result<()> {
    let loc = r.env.location(&r.target.table)?;
    let (_, files) = scan::list(&loc, false).await?;
    let active = scan::active_files(t)?;
    let removed = table::removed_files(t).await?;
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    for f in files.iter().filter(|f| !active.contains(&f.rel)) {
        if !scan::has_rows(store, f, &r.target.columns, r.needles).await? {
            continue;
        }
        // A file no commit added or removed, written in the last hour, is a running
        // writer's staged file: deleting it would lose the other rows of its commit.
        if !removed.contains(&f.rel) && f.modified > hour_ago {
            out.notes.push(format!(
                "{} holds the key but is not committed (a running writer's?): not deleted; erase again once the pipeline's runs and streams are stopped",
                f.rel
            ));
            continue;
        }
        out.files_deleted += 1;
        out.bytes_deleted += f.size;
        if !r.dry_run {
            scan::delete(store, f).await?;
        }
    }
    Ok(())
}
