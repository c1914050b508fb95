//! Incremental Gold: a decomposable query (see [`super::decompose`]) is answered from its
//! kept partials (see [`super::state`]) merged with the partials of the rows appended to its
//! input since, when the input only gained files since the state's version; otherwise the
//! partials are computed from the whole input and the table is recomputed in full. Either
//! way the result is the query's, and a new state is written once the table is committed.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::kernel::{Action, Add};
use deltalake::DeltaTable;

use super::decompose::{decompose, Decomposed};
use super::state::{Pointer, StateStore};
use crate::error::{Error, Result};
use crate::pipeline::scratch::{dir_url, materialize, TempParquet};
use crate::pipeline::Run;
use crate::plan::GoldPlan;
use crate::spec::TableName;
use crate::table::{self, Location};

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

    /// Writes the new state after the table's commit. A state that cannot be written only
    /// makes the next refresh recompute in full: logged, not fatal (the table is right).
    pub async fn publish(self, gold: &str) {
        let Some((store, mut pointer, dir)) = self.publish else {
            return;
        };
        let file = dir.join(TempParquet::FILE);
        let outcome = match std::fs::read(&file) {
            Ok(bytes) => {
                pointer.groups = parquet_rows(&bytes);
                store.publish(&pointer, Bytes::from(bytes)).await
            }
            Err(e) => Err(Error::io(file.display().to_string(), e)),
        };
        if let Err(e) = outcome {
            tracing::warn!(table = gold, error = %e, "Could not keep the partial aggregates of this Gold table; its next refresh recomputes it in full.");
        }
    }
}

fn parquet_rows(bytes: &[u8]) -> u64 {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    SerializedFileReader::new(Bytes::copy_from_slice(bytes))
        .map(|r| r.metadata().file_metadata().num_rows().max(0) as u64)
        .unwrap_or(0)
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
        return Ok(Refresh::plain(
            query,
            format!("its input {} is not a table of the lake", d.source),
        ));
    };
    if let Err(why) = input.readable() {
        return Ok(Refresh::plain(query, why));
    }
    let store = StateStore::open(run.env(), &g.table)?;
    let digest = format!(
        "{:016x}",
        super::fnv(&format!("{}|{}", g.sql, d.describe()))
    );
    let at = input.at().await?;
    let pointer = Pointer::new(digest, input.name.clone(), input.id(), at);
    let (partials, mode, reason) = match from_state(&store, &pointer, &input).await {
        Ok((old, files)) => {
            let reason = format!(
                "{} file(s) appended to {} since version {} merged into the kept partials",
                files.len(),
                input.name,
                old.version
            );
            let state = ctx
                .read_parquet(store.url(&old.file)?, ParquetReadOptions::default())
                .await?;
            let merged = match input.rows_of(ctx, &files).await? {
                Some(rows) => d.merge(state, d.partial(rows)?)?,
                None => state,
            };
            (merged, "incremental", reason)
        }
        Err(why) => (d.partial(input.all_rows(ctx).await?)?, "full", why),
    };
    if let Err(why) = same_schema(&d.finish(partials.clone())?, &query) {
        return Ok(Refresh::plain(query, why));
    }
    let dir = tmp.join("gold_state").join(&g.table.table);
    materialize(partials, &dir).await?;
    let rows = d.finish(
        ctx.read_parquet(dir_url(&dir)?, ParquetReadOptions::default())
            .await?,
    )?;
    Ok(Refresh {
        rows,
        mode,
        reason,
        publish: Some((store, pointer, dir)),
    })
}

/// The kept partials and the files appended since, or why they cannot be used.
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
        return Err("the query changed since its partials were kept".into());
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
    match input.commit_time(old.version).await {
        Ok(Some(t)) if t == old.commit_time => {}
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

/// The final result's columns are the query's own (names and types), or the plain query runs.
fn same_schema(merged: &DataFrame, query: &DataFrame) -> std::result::Result<(), String> {
    let a = merged.schema().as_arrow();
    let b = query.schema().as_arrow();
    let fields = |s: &arrow::datatypes::Schema| -> Vec<(String, arrow::datatypes::DataType)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    if fields(a) == fields(b) {
        Ok(())
    } else {
        Err(format!(
            "merged partials would give columns {:?}, not the query's {:?}",
            fields(a),
            fields(b)
        ))
    }
}

/// The one table a decomposable query reads, at its current version.
struct Input {
    name: String,
    location: Location,
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
            .map(|table| Self {
                name,
                location,
                table,
            }))
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

    /// Its version and that commit's time.
    async fn at(&self) -> Result<(i64, i64)> {
        let v = table::version(&self.table);
        Ok((v, self.commit_time(v).await?.unwrap_or(-1)))
    }

    async fn commit_time(&self, v: i64) -> Result<Option<i64>> {
        Ok(table::commit_entry(&self.table, v)
            .await?
            .flatten()
            .and_then(|i| i.timestamp))
    }

    /// The files appended by the commits in (`after`, `upto`], or why the rows since are not
    /// just those files (a commit removed or rewrote files, changed the schema...).
    async fn appended(&self, after: i64, upto: i64) -> std::result::Result<Vec<Add>, String> {
        let store = self.table.log_store();
        let mut out = Vec::new();
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

    /// The rows of the appended files (None when there are none).
    async fn rows_of(&self, ctx: &SessionContext, files: &[Add]) -> Result<Option<DataFrame>> {
        if files.is_empty() {
            return Ok(None);
        }
        let urls = files
            .iter()
            .map(|a| {
                self.location
                    .url
                    .join(&a.path)
                    .map(|u| u.to_string())
                    .map_err(|e| {
                        Error::Internal(format!("data file `{}` of {}: {e}", a.path, self.name))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let schema = table::arrow_schema(&self.table)?;
        let options = ParquetReadOptions::default().schema(&schema);
        Ok(Some(ctx.read_parquet(urls, options).await?))
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
