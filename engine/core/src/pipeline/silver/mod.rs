//! Silver: the Bronze rows not processed yet → typed and checked rows ([`rows`]) → dedupe
//! → set rules ([`set_rules`]) → PII and the Silver SQL, staged ([`output`]).

mod inputs;
mod on_cluster;
mod on_fail;
mod output;
mod parallel;
mod rows;
mod set_rules;
mod writers;

use std::sync::Arc;
use std::time::Instant;

use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use super::bronze::BronzeOut;
use super::quarantine::QuarantineWriter;
use super::scratch::{Scratch, TempParquet};
use super::Run;
use crate::dedupe::{Deduper, KeptRows};
use crate::error::Result;
use crate::events::{RunEvent, Stage};
use crate::spec::TableName;
use crate::table::{self, Staged};

pub use inputs::bookmark_app_id;
pub use rows::{ints, texts};

/// What Silver hands to its commit.
pub struct SilverOut {
    pub name: TableName,
    /// The Silver table as the run found it.
    pub table: Option<DeltaTable>,
    pub staged: Staged,
    /// The Bronze version Silver had processed up to before this run.
    pub bookmark: Option<i64>,
    /// Bronze rows this run read (nothing read: no reason to move the bookmark).
    pub rows_read: u64,
}

pub async fn stage(
    run: &Run<'_>,
    ctx: &SessionContext,
    bronze: &BronzeOut,
    quarantine: &mut QuarantineWriter,
    scratch: &mut Scratch,
) -> Result<Option<SilverOut>> {
    let job = &run.plan.job;
    let (Some(silver), Some(name)) = (&job.spec.silver, job.silver_table()) else {
        return Ok(None);
    };
    let started = Instant::now();
    announce(run, &name.to_string());
    let target = Target::open(run, silver, name).await?;
    let inputs = inputs::read(
        run,
        ctx,
        bronze,
        quarantine.silver_covered,
        target.table.as_ref(),
        &target.table_name,
    )
    .await?;
    let cluster = run.engine.cluster_session().await?;
    let typed = typed_rows(
        run,
        &target.table_name,
        inputs.parts,
        inputs.rows,
        quarantine,
        &scratch.tmp,
        cluster.is_none(),
    )
    .await?;
    let rows_read = typed.read;
    let cluster_ctx = cluster.as_ref().map(|c| &c.ctx);
    let relation =
        register_typed(run, ctx, cluster_ctx, &target.table_name, typed, scratch).await?;
    let (clean, clean_dir) = set_rules::apply(
        run,
        ctx,
        &target.table_name,
        &relation.name,
        relation.rows,
        quarantine,
        &scratch.tmp,
    )
    .await?;
    run.emit(RunEvent::SilverCandidates {
        table: target.table_name.clone(),
        rows: clean,
    });
    quarantine.flush(run).await?;
    let clean = (clean, clean_dir.or(relation.dir));
    let staged = write_clean(run, ctx, silver, &target, cluster.as_ref(), scratch, clean).await?;
    run.emit(RunEvent::RowsStaged {
        table: target.table_name.clone(),
        rows: staged.rows,
    });
    run.emit(RunEvent::StageFinished {
        stage: Stage::Silver,
        table: target.table_name,
        duration_ms: started.elapsed().as_millis() as u64,
    });
    Ok(Some(SilverOut {
        name: target.name,
        table: target.table,
        staged,
        bookmark: inputs.bookmark,
        rows_read,
    }))
}

/// The Silver table as the run found it, checked against the spec (its release, its PII
/// protection), and the environment's PII key.
struct Target {
    name: TableName,
    table_name: String,
    table: Option<DeltaTable>,
    key: Option<crate::pii::PiiKey>,
    protection: String,
}

impl Target {
    async fn open(
        run: &Run<'_>,
        silver: &crate::spec::SilverSpec,
        name: TableName,
    ) -> Result<Self> {
        let table_name = name.to_string();
        let table = table::open_if_exists(&table_name, &run.env().location(&name)?).await?;
        let key = crate::pii::hash_key(run.env())?;
        let protection = crate::pii::protection(&silver.pii, key.as_ref());
        if let Some(t) = &table {
            let props = table::properties(t)?;
            crate::compat::check_release(&table_name, &props, &run.plan.schema, run.spec_file())?;
            crate::pii::check_protection(&table_name, &props, &protection, run.spec_file())?;
        }
        Ok(Self {
            name,
            table_name,
            table,
            key,
            protection,
        })
    }
}

/// The stage's start, and every rule in the report in the spec's order, even with no rows
/// to check.
fn announce(run: &Run<'_>, table_name: &str) {
    run.emit(RunEvent::StageStarted {
        stage: Stage::Silver,
        table: table_name.to_string(),
        total_bytes: None,
    });
    for rule in &run.plan.rules {
        run.emit(RunEvent::RuleOutcome {
            table: table_name.to_string(),
            rule: rule.name.clone(),
            on_fail: rule.on_fail,
            checked: 0,
            failed: 0,
        });
    }
}

/// Stages the Silver SQL's output over the `clean` rows (their count, and the local folder
/// holding exactly them, if any): on the cluster when there is one and the rows can go
/// there, else here. The environment's PII key is never sent to the cluster: hashing with
/// it stays here.
async fn write_clean(
    run: &Run<'_>,
    ctx: &SessionContext,
    silver: &crate::spec::SilverSpec,
    target: &Target,
    cluster: Option<&crate::cluster::ClusterSession>,
    scratch: &mut Scratch,
    (clean, dir): (u64, Option<std::path::PathBuf>),
) -> Result<Staged> {
    let keyed = target.key.is_some()
        && silver
            .pii
            .values()
            .any(|a| *a == crate::spec::PiiAction::Hash);
    let on_cluster = match (cluster, dir) {
        (Some(c), Some(dir)) if !keyed => {
            on_cluster::share(run, &c.ctx, scratch, &dir, "__clean", clean).await?;
            Some(c)
        }
        _ => None,
    };
    let sql_ctx = on_cluster.map_or(ctx, |c| &c.ctx);
    let staged = output::stage(
        run,
        sql_ctx,
        silver,
        &target.name,
        target.table.as_ref(),
        target.key.as_ref().filter(|_| on_cluster.is_none()),
        &target.protection,
        (clean, on_cluster.is_none()),
    )
    .await?;
    scratch.track(&staged);
    if let Some(c) = on_cluster {
        c.verify().await?;
        scratch.verify_shared().await?;
    }
    Ok(staged)
}

/// The typed temporary file and the deduper's choice.
struct Typed {
    rows: u64,
    /// The typed rows' size as Arrow arrays.
    bytes: u64,
    read: u64,
    deduper: Option<Deduper>,
}

/// Types and checks every input into the run's typed file (and the deduper).
async fn typed_rows(
    run: &Run<'_>,
    table: &str,
    parts: Vec<inputs::Input>,
    input_rows: u64,
    quarantine: &mut QuarantineWriter,
    tmp: &std::path::Path,
    dedupe_here: bool,
) -> Result<Typed> {
    let plan = run.plan;
    let mut file = TempParquet::create(&tmp.join("typed"), &plan.typed_out_schema)?;
    let dedupe = plan
        .job
        .spec
        .silver
        .as_ref()
        .and_then(|s| s.dedupe.as_ref())
        .filter(|_| dedupe_here);
    let mut deduper = match dedupe {
        // Sized for the Bronze rows Silver reads (the staged ones and the committed ones not
        // processed yet: Bronze may have run alone, e.g. `--shard`).
        Some(d) => {
            // The dedupe's share of the run's memory budget; spills above it.
            let budget = crate::memory::dedupe_bytes(run.engine.memory_limit) as usize;
            // About 70 bytes a key (entry, key bytes, table slot): at most half the budget.
            let capacity = (input_rows as usize).min(budget / 140);
            let deduper = Deduper::with_capacity(
                &plan.typed_out_schema,
                &d.keys,
                d.latest_by.as_deref(),
                capacity,
            )?;
            Some(deduper.with_budget(budget, tmp.join("dedupe-spill")))
        }
        None => None,
    };
    let subject_columns: Vec<(String, String)> = plan
        .schema
        .fields
        .iter()
        .filter_map(|f| f.subject.clone().map(|s| (s, f.name.clone())))
        .collect();
    let list = match subject_columns.is_empty() {
        true => None,
        false => crate::privacy::suppress::load(run.env(), chrono::Utc::now()).await?,
    };
    let mut read = 0;
    for part in parts {
        let mut sinks = rows::RowSinks {
            typed: &mut file,
            deduper: deduper.as_mut(),
            quarantine: &mut *quarantine,
            suppress: list.as_ref().map(|l| (l, subject_columns.as_slice())),
        };
        let n = rows::process(run, table, part.rows, part.replayed, &mut sinks).await?;
        read += n;
    }
    Ok(Typed {
        bytes: file.arrow_bytes(),
        rows: file.close()?,
        read,
        deduper,
    })
}

/// The relation Silver's set rules start from.
struct Relation {
    name: String,
    rows: u64,
    /// The local Parquet folder holding exactly its rows (not for the in-process dedupe,
    /// which reads the typed file through a row mask).
    dir: Option<std::path::PathBuf>,
}

/// Registers the typed rows (the dedupe winners, when deduplicating): deduplicated here by
/// the deduper, or on the cluster when the environment has one.
async fn register_typed(
    run: &Run<'_>,
    ctx: &SessionContext,
    cluster: Option<&SessionContext>,
    table: &str,
    typed: Typed,
    scratch: &mut Scratch,
) -> Result<Relation> {
    let plan = run.plan;
    let dir = scratch.tmp.join("typed");
    // Every typed row, read past the page cache as the file was written.
    let all = KeptRows::all(
        dir.join(TempParquet::FILE),
        plan.typed_out_schema.clone(),
        typed.rows,
        typed.bytes,
    )?;
    ctx.register_table("__typed", Arc::new(all))?;
    let dedupe = plan
        .job
        .spec
        .silver
        .as_ref()
        .and_then(|s| s.dedupe.as_ref());
    if let (Some(cluster), Some(_)) = (cluster, dedupe) {
        let (dir, kept) = on_cluster::dedupe(run, ctx, cluster, scratch, table, typed.rows).await?;
        return Ok(Relation {
            name: "__deduped".into(),
            rows: kept,
            dir: Some(dir),
        });
    }
    let Some(d) = typed.deduper else {
        return Ok(Relation {
            name: "__typed".into(),
            rows: typed.rows,
            dir: Some(dir),
        });
    };
    // The winners, read back from the typed file (losing rows are not decoded): the mask is
    // positional, so it must cover exactly the file's rows.
    let keep = d.finish()?;
    if keep.len() as u64 != typed.rows {
        return Err(crate::error::Error::Internal(format!(
            "the dedupe saw {} rows but the typed file holds {}",
            keep.len(),
            typed.rows
        )));
    }
    let kept = keep.true_count() as u64;
    let source = KeptRows::new(
        dir.join(TempParquet::FILE),
        plan.typed_out_schema.clone(),
        &keep,
        typed.bytes,
    )?;
    ctx.register_table("__deduped", Arc::new(source))?;
    run.emit(RunEvent::RowsDeduplicated {
        table: table.to_string(),
        rows: typed.rows - kept,
    });
    Ok(Relation {
        name: "__deduped".into(),
        rows: kept,
        dir: None,
    })
}
