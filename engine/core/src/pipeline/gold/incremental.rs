//! Incremental Gold: a decomposable query (see [`super::decompose`]) is answered from its
//! kept partials (see [`super::state`]) merged with the partials of the rows appended to its
//! input since, when the input only gained files since the state's version; otherwise the
//! partials are computed from the whole input. Anything that fails on the way falls back:
//! from the kept partials to the whole input, from partials to the query as written. Either
//! way the result is the query's, and a new state is written once the table is committed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use datafusion::dataframe::DataFrame;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::kernel::{Action, Add};
use deltalake::DeltaTable;

use super::decompose::{decompose, Decomposed};
use super::state::{Covered, Pointer, StateStore};
use crate::error::Result;
use crate::pipeline::scratch::{dir_url, materialize, TempParquet};
use crate::pipeline::Run;
use crate::plan::GoldPlan;
use crate::spec::TableName;
use crate::table;

/// How a Gold table's rows are computed this time.
pub struct Refresh {
    /// The query's result.
    pub rows: DataFrame,
    /// `incremental` or `full`.
    pub mode: &'static str,
    /// Why (what was merged, or why not).
    pub reason: String,
    /// The state to publish once the table is committed.
    publish: Option<(StateStore, Pointer, PathBuf)>,
}

impl Refresh {
    /// The query run as written (not decomposable, or on the cluster).
    pub fn plain(rows: DataFrame, reason: String) -> Self {
        Self {
            rows,
            mode: "full",
            reason,
            publish: None,
        }
    }

    /// Writes the new state after the table's commit. A state that cannot be written costs
    /// the next refresh a full recompute, not a wrong table: logged, not fatal.
    pub async fn publish(self, gold: &str) {
        let Some((store, pointer, dir)) = self.publish else {
            return;
        };
        if let Err(e) = store.publish(&pointer, &dir.join(TempParquet::FILE)).await {
            tracing::warn!(table = gold, error = %e, "Could not keep the partial aggregates of this Gold table; a later refresh may recompute it in full.");
        }
    }
}

/// What a refresh from partials shares.
struct Job<'a> {
    d: Decomposed,
    input: Input,
    store: StateStore,
    ctx: &'a SessionContext,
    /// The run's folder for this table's partials.
    tmp: PathBuf,
}

/// The refresh of `g`: from its state when it can, else in full (keeping partials when the
/// query decomposes). `query` is the query as planned from its SQL.
pub async fn prepare(
    run: &Run<'_>,
    g: &GoldPlan,
    ctx: &SessionContext,
    query: DataFrame,
    tmp: &Path,
) -> Result<Refresh> {
    let d = match decompose(query.logical_plan()) {
        Ok(d) => d,
        Err(why) => {
            return Ok(Refresh::plain(
                query,
                format!("not merged from partials: {why}"),
            ))
        }
    };
    let Some(input) = Input::open(run, &d).await? else {
        let why = format!("its input {} is not a table of the lake", d.source);
        return Ok(Refresh::plain(query, why));
    };
    if let Err(why) = input.readable() {
        return Ok(Refresh::plain(query, why));
    }
    let digest = format!(
        "{:016x}",
        super::fnv(&format!(
            "{}|{}|{}|{}",
            g.sql,
            d.describe(),
            env!("CARGO_PKG_VERSION"),
            datafusion::DATAFUSION_VERSION
        ))
    );
    let pointer = Pointer::new(digest, input.name.clone(), input.id(), input.at().await?);
    let job = Job {
        d,
        input,
        store: StateStore::open(run.env(), &g.table)?,
        ctx,
        tmp: tmp.join("gold_state").join(&g.table.table),
    };
    let (mode, reason, groups) = match job.merged(&pointer).await {
        Ok((groups, reason)) => ("incremental", reason, groups),
        Err(why) => match job.full().await {
            Ok(groups) => ("full", why, groups),
            Err(e) => {
                let why = format!(
                    "{why}; its partials could not be computed ({e}): the query ran as written"
                );
                return Ok(Refresh::plain(query, why));
            }
        },
    };
    let out = job.tmp.join("new");
    let rows = job.d.finish(
        ctx.read_parquet(dir_url(&out)?, ParquetReadOptions::default())
            .await?,
    )?;
    Ok(Refresh {
        rows,
        mode,
        reason,
        publish: Some((job.store, Pointer { groups, ..pointer }, out)),
    })
}

impl Job<'_> {
    /// The kept partials merged with the appended files' into `tmp/new`: (groups, what was
    /// merged), or why not.
    async fn merged(&self, now: &Pointer) -> std::result::Result<(u64, String), String> {
        let (old, files) = from_state(&self.store, now, &self.input).await?;
        let kept = self.tmp.join("kept");
        self.store
            .fetch(&old, &kept.join(TempParquet::FILE))
            .await?;
        let failed =
            |e: crate::error::Error| format!("merging into the kept partials failed ({e})");
        let url = dir_url(&kept).map_err(failed)?;
        let state = self
            .ctx
            .read_parquet(url, ParquetReadOptions::default())
            .await
            .map_err(|e| failed(e.into()))?;
        let merged = match self.input.rows_of(self.ctx, &files).await.map_err(failed)? {
            Some(rows) => self
                .d
                .partial(rows)
                .and_then(|p| self.d.merge(state, p))
                .map_err(|e| failed(e.into()))?,
            None => state,
        };
        let groups = materialize(merged, &self.tmp.join("new"))
            .await
            .map_err(failed)?;
        let reason = format!(
            "{} file(s) appended to {} since version {} merged into the kept partials",
            files.len(),
            self.input.name,
            old.version
        );
        Ok((groups, reason))
    }

    /// The partials of every input row into `tmp/new`; their group count.
    async fn full(&self) -> Result<u64> {
        let partial = self.d.partial(self.input.all_rows(self.ctx).await?)?;
        materialize(partial, &self.tmp.join("new")).await
    }
}

/// The kept state and the files appended since, or why they cannot be used.
async fn from_state(
    store: &StateStore,
    now: &Pointer,
    input: &Input,
) -> std::result::Result<(Pointer, Vec<Add>), String> {
    let old = match store.pointer().await {
        Ok(Some(Ok(p))) => p,
        Ok(Some(Err(why))) => return Err(format!("kept partials unusable: {why}")),
        Ok(None) => return Err("no partials kept yet".into()),
        Err(e) => return Err(format!("kept partials unreadable: {e}")),
    };
    if old.query != now.query {
        return Err(
            "the query (or the engine's version) changed since its partials were kept".into(),
        );
    }
    if old.source != now.source || old.table_id != now.table_id {
        return Err(format!(
            "{} was recreated since its partials were kept",
            now.source
        ));
    }
    if old.version > now.version {
        return Err(format!(
            "{} is at version {}, before the kept partials' {} (restored?)",
            now.source, now.version, old.version
        ));
    }
    match input.commit(old.version).await {
        Ok(c) if c.time == old.commit_time && c.digest == old.commit_digest => {}
        Ok(_) => {
            return Err(format!(
                "version {} of {} is not the commit the partials were kept at (restored and written again?)",
                old.version, now.source
            ))
        }
        Err(e) => return Err(format!("reading commit {} of {}: {e}", old.version, now.source)),
    }
    let files = input.appended(old.version, now.version).await?;
    Ok((old, files))
}

/// The one table a decomposable query reads, at the version opened.
struct Input {
    name: String,
    table: DeltaTable,
}

impl Input {
    async fn open(run: &Run<'_>, d: &Decomposed) -> Result<Option<Self>> {
        let Ok(t) = TableName::parse(&d.source.to_string()) else {
            return Ok(None);
        };
        let name = t.to_string();
        let location = run.env().location(&t)?;
        Ok(table::open_if_exists(&name, &location)
            .await?
            .map(|table| Self { name, table }))
    }

    /// Its rows are its files' rows (no partition values in paths, no reader features).
    fn readable(&self) -> std::result::Result<(), String> {
        let s = self
            .table
            .snapshot()
            .map_err(|e| format!("{}: {e}", self.name))?;
        if !s.metadata().partition_columns().is_empty() || s.protocol().min_reader_version() > 1 {
            return Err(format!(
                "{} has partition columns or Delta reader features: recomputed in full",
                self.name
            ));
        }
        Ok(())
    }

    fn id(&self) -> String {
        table::table_id(&self.table)
    }

    /// The commit of the version opened.
    async fn at(&self) -> Result<Covered> {
        self.commit(table::version(&self.table)).await
    }

    /// Commit `v`'s time (-1 without one) and the digest of its log entry ("" when the log
    /// no longer has it: never equal to a kept digest).
    async fn commit(&self, v: i64) -> Result<Covered> {
        let Some(bytes) = self.table.log_store().read_commit_entry(v as _).await? else {
            return Ok(Covered {
                version: v,
                time: -1,
                digest: String::new(),
            });
        };
        let time = deltalake::logstore::get_actions(v as _, &bytes)?
            .into_iter()
            .find_map(|a| match a {
                Action::CommitInfo(i) => i.timestamp,
                _ => None,
            });
        Ok(Covered {
            version: v,
            time: time.unwrap_or(-1),
            digest: format!("{:016x}", super::fnv_bytes(&bytes)),
        })
    }

    /// The files appended by the commits in (`after`, `upto`], or why the rows since are not
    /// just those files (a commit removed or rewrote files, changed the schema...).
    async fn appended(&self, after: i64, upto: i64) -> std::result::Result<Vec<Add>, String> {
        let store = self.table.log_store();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for v in after + 1..=upto {
            let bytes = match store.read_commit_entry(v as _).await {
                Ok(Some(b)) => b,
                Ok(None) => {
                    return Err(format!(
                        "commit {v} of {} is no longer in its log",
                        self.name
                    ))
                }
                Err(e) => return Err(format!("reading commit {v} of {}: {e}", self.name)),
            };
            let actions = deltalake::logstore::get_actions(v as _, &bytes)
                .map_err(|e| format!("reading commit {v} of {}: {e}", self.name))?;
            for a in actions {
                match a {
                    Action::Add(add) if add.data_change && add.deletion_vector.is_none() => {
                        if !seen.insert(add.path.clone()) {
                            return Err(format!(
                                "commit {v} of {} adds {} again",
                                self.name, add.path
                            ));
                        }
                        out.push(add)
                    }
                    Action::CommitInfo(_) | Action::Txn(_) => {}
                    Action::Remove(_) | Action::Add(_) => {
                        return Err(format!(
                            "commit {v} of {} removed or rewrote rows since the partials were kept",
                            self.name
                        ))
                    }
                    other => {
                        return Err(format!(
                            "commit {v} of {} changed more than rows ({})",
                            self.name,
                            action_kind(&other)
                        ))
                    }
                }
            }
        }
        Ok(out)
    }

    /// The rows of the appended files, through the table's own reader limited to them (a
    /// file not in the version opened, or gone from storage, fails the read); None when
    /// there are none.
    async fn rows_of(&self, ctx: &SessionContext, files: &[Add]) -> Result<Option<DataFrame>> {
        if files.is_empty() {
            return Ok(None);
        }
        self.table.update_datafusion_session(&ctx.state())?;
        let provider = self
            .table
            .table_provider()
            .with_adds(files.iter().cloned())
            .await?;
        Ok(Some(ctx.read_table(provider)?))
    }

    /// Every row of the version opened.
    async fn all_rows(&self, ctx: &SessionContext) -> Result<DataFrame> {
        Ok(ctx.read_table(table::provider(&self.table, ctx).await?)?)
    }
}

fn action_kind(a: &Action) -> &'static str {
    match a {
        Action::Metadata(_) => "schema or properties",
        Action::Protocol(_) => "protocol",
        Action::Cdc(_) => "change data files",
        Action::DomainMetadata(_) => "domain metadata",
        _ => "other",
    }
}
