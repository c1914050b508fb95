//! The batch run of one pipeline: Bronze ingest → Silver checks/dedupe/transform → Gold.
//!
//! Order of work (the guarantee is in the order):
//! 1. **Compute and stage everything.** New files are decoded into staged (uncommitted)
//!    Bronze files; Silver reads the Bronze rows not yet processed (committed ones newer than
//!    its bookmark, plus the staged ones), types them, applies rules, dedupes and transforms
//!    into temporary Parquet under `<lake>/_medallion/tmp/<run>`. A rule with
//!    `on_fail: fail` stops here: staged files are deleted and no table changes.
//! 2. **Commit** Bronze (the file bookmark is the data itself: `_source_file`), the
//!    quarantine table, then Silver (merge by key, or append) with its bookmark stored as a
//!    Delta application transaction in the same commit.
//! 3. **Gold** tables are recomputed from Silver when one of their inputs changed.
//!
//! A crash between commits is repaired by the next run: Silver's bookmark only moves with
//! Silver's own commit, so it picks up every committed Bronze row it has not processed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::compute::{cast, not};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::prelude::{col, lit, ParquetReadOptions, SessionConfig, SessionContext};
use deltalake::kernel::Transaction;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::catalog::{columns_of, Catalog, Database, TableEntry};
use crate::dedupe::{Deduper, KeptRows};
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::ingest::{self, Decoded};
use crate::plan::{self, quarantine_schema, JobPlan, INGEST_TIME, SOURCE_FILE, SOURCE_LINE};
use crate::quality::{self, RuleKind};
use crate::report::{
    BronzeReport, GoldReport, NoProgress, Progress, RuleReport, RunReport, SilverReport,
};
use crate::spec::{sql_ident, OnFail, SourceSpec, TableName};
use crate::table::{self, Staged, StagedWrite};

/// What a run ends with: the report, and the error if it failed.
pub struct RunOutcome {
    pub report: RunReport,
    pub error: Option<Error>,
}

/// Runs pipelines in one environment.
pub struct Engine {
    pub env: Environment,
    pub catalog: Arc<dyn Catalog>,
    pub progress: Arc<dyn Progress>,
}

/// A fresh DataFusion session configured for medallion.
pub fn new_session() -> SessionContext {
    let mut config = SessionConfig::new().with_information_schema(true);
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    config.options_mut().sql_parser.map_string_types_to_utf8view = false;
    SessionContext::new_with_config(config)
}

/// A stable 64-bit hash (FNV-1a) for change detection.
fn fnv(text: &str) -> i64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h >> 1) as i64
}

/// One quarantined record.
struct QRow {
    stage: &'static str,
    rule: String,
    column: Option<String>,
    reason: String,
    record: String,
    source_file: Option<String>,
    source_line: Option<i64>,
}

fn quarantine_batch(rows: Vec<QRow>, run_id: &str, at: i64) -> Result<RecordBatch> {
    let n = rows.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(vec![at; n]).with_timezone("UTC")),
        Arc::new(StringArray::from(vec![run_id; n])),
        Arc::new(rows.iter().map(|r| Some(r.stage)).collect::<StringArray>()),
        Arc::new(
            rows.iter()
                .map(|r| Some(r.rule.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.column.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| Some(r.reason.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| Some(r.record.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.source_file.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(rows.iter().map(|r| r.source_line).collect::<Int64Array>()),
    ];
    Ok(RecordBatch::try_new(quarantine_schema(), columns)?)
}

/// Projects a batch onto `schema` by column name: missing columns become null, types are cast.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().as_ref() == schema.as_ref() {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => Ok(cast(c, f.data_type())?),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    match batch.column_by_name(name) {
        Some(c) => {
            let c = cast(c, &arrow::datatypes::DataType::Utf8).expect("to text");
            c.as_string::<i32>()
                .iter()
                .map(|v| v.map(|s| s.to_string()))
                .collect()
        }
        None => vec![None; batch.num_rows()],
    }
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    match batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
    {
        Some(c) => c.iter().collect(),
        None => vec![None; batch.num_rows()],
    }
}

/// A Parquet file written by one of the run's temporary stages.
struct TempParquet {
    writer: ArrowWriter<File>,
    rows: u64,
}

impl TempParquet {
    /// The file's name in its folder.
    const FILE: &'static str = "part-0.parquet";

    fn create(dir: &Path, schema: &SchemaRef) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        let path = dir.join(Self::FILE);
        let file = File::create(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        // Read back once or twice on this machine: plain pages, no dictionary to build, no
        // min/max statistics to compute (nothing prunes on them).
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(64 * 1024))
            .set_dictionary_enabled(false)
            .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Self { writer, rows: 0 })
    }
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() > 0 {
            self.rows += batch.num_rows() as u64;
            self.writer
                .write(batch)
                .map_err(|e| Error::Internal(format!("temporary Parquet: {e}")))?;
        }
        Ok(())
    }
    fn close(self) -> Result<u64> {
        self.writer
            .close()
            .map_err(|e| Error::Internal(format!("temporary Parquet: {e}")))?;
        Ok(self.rows)
    }
}

/// Streams a DataFrame into a temporary Parquet folder; returns the row count.
async fn materialize(df: DataFrame, dir: &Path) -> Result<u64> {
    let schema: SchemaRef = table::nullable(&Arc::new(df.schema().as_arrow().clone()));
    let mut out = TempParquet::create(dir, &schema)?;
    let mut stream = df.execute_stream().await?;
    while let Some(b) = stream.next().await {
        out.write(&conform(&b?, &schema)?)?;
    }
    out.close()
}

/// State of one run, kept so that a failure can undo its staged files.
#[derive(Default)]
struct Staging {
    staged: Vec<Staged>,
    tmp: Option<PathBuf>,
}

impl Staging {
    async fn discard(&mut self) {
        for s in self.staged.drain(..) {
            s.discard().await;
        }
        if let Some(t) = self.tmp.take() {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

impl Engine {
    pub fn new(env: Environment, catalog: Arc<dyn Catalog>) -> Self {
        Self {
            env,
            catalog,
            progress: Arc::new(NoProgress),
        }
    }

    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// A session with every catalog table of the environment registered as `<db>.<table>`.
    pub async fn session(&self) -> Result<SessionContext> {
        let ctx = new_session();
        self.register_catalog(&ctx).await?;
        Ok(ctx)
    }

    async fn register_catalog(&self, ctx: &SessionContext) -> Result<()> {
        let catalog = ctx.catalog("datafusion").expect("default catalog");
        for entry in self.catalog.list_tables(None).await? {
            let location = self.entry_location(&entry)?;
            let Some(t) = table::open_if_exists(&entry.qualified_name(), &location).await? else {
                continue;
            };
            if catalog.schema(&entry.database).is_none() {
                catalog.register_schema(
                    &entry.database,
                    Arc::new(datafusion::catalog::memory::MemorySchemaProvider::new()),
                )?;
            }
            let provider = table::provider(&t, ctx).await?;
            let tref = datafusion::common::TableReference::partial(
                entry.database.as_str(),
                entry.name.as_str(),
            );
            let _ = ctx.deregister_table(tref.clone());
            ctx.register_table(tref, provider)?;
        }
        Ok(())
    }

    /// The location of a catalog entry; refuses any outside this environment's lake.
    fn entry_location(&self, entry: &TableEntry) -> Result<table::Location> {
        let lake = self.env.lake_location()?;
        let url = url::Url::parse(&entry.location)
            .or_else(|_| {
                url::Url::from_directory_path(&entry.location)
                    .map_err(|_| url::ParseError::EmptyHost)
            })
            .map_err(|_| {
                Error::Catalog(format!(
                    "table `{}` has an unreadable location `{}`",
                    entry.qualified_name(),
                    entry.location
                ))
            })?;
        let mut url = url;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        if !self.env.contains(&url)? {
            return Err(Error::Isolation(format!(
                "catalog table `{}` points at {}, outside the lake of environment `{}` ({}); refusing to read it",
                entry.qualified_name(),
                entry.location,
                self.env.name,
                lake
            )));
        }
        Ok(table::Location {
            url,
            options: lake.options,
        })
    }

    /// Schemas of the tables in the environment's catalog (for planning).
    pub async fn known_schemas(&self) -> Result<HashMap<String, SchemaRef>> {
        let mut out = HashMap::new();
        for entry in self.catalog.list_tables(None).await? {
            if let Some(t) =
                table::open_if_exists(&entry.qualified_name(), &self.entry_location(&entry)?)
                    .await?
            {
                out.insert(entry.qualified_name(), table::arrow_schema(&t)?);
            }
        }
        Ok(out)
    }

    /// Runs one planned pipeline.
    pub async fn run(&self, plan: &JobPlan) -> RunOutcome {
        let started = Instant::now();
        let run_id = uuid::Uuid::new_v4().to_string();
        let job = &plan.job;
        let mut report = RunReport {
            run_id: run_id.clone(),
            pipeline: job.spec.pipeline.clone(),
            spec_file: job.file.clone(),
            environment: self.env.name.clone(),
            status: "running".into(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms: 0,
            bronze: BronzeReport {
                table: job.bronze_table().to_string(),
                quarantine_table: job.quarantine_table().to_string(),
                ..Default::default()
            },
            silver: None,
            gold: Vec::new(),
            error: None,
        };
        let mut staging = Staging::default();
        let result = self
            .run_inner(plan, &run_id, &mut report, &mut staging)
            .await;
        staging.discard().await;
        report.duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(()) => {
                report.status = "succeeded".into();
                RunOutcome {
                    report,
                    error: None,
                }
            }
            Err(e) => {
                report.status = "failed".into();
                report.error = Some(e.to_string());
                RunOutcome {
                    report,
                    error: Some(e),
                }
            }
        }
    }

    async fn run_inner(
        &self,
        plan: &JobPlan,
        run_id: &str,
        report: &mut RunReport,
        staging: &mut Staging,
    ) -> Result<()> {
        let env = &self.env;
        let lake = env.lake_location()?;
        let job = &plan.job;
        // Temporary Parquet of the run: under a local lake, else in the system temp folder.
        let tmp = match lake.local_path() {
            Some(p) => p.join("_medallion").join("tmp").join(run_id),
            None => std::env::temp_dir().join("medallion").join(run_id),
        };
        staging.tmp = Some(tmp.clone());
        // Silver SQL may join other tables of the environment (`silver.customers`).
        let ctx = self.session().await?;
        let (store, _) = lake.object_store()?;
        ctx.register_object_store(&lake.store_url(), store);

        // ---- Bronze: find new files ----
        let t0 = Instant::now();
        let bronze_name = job.bronze_table();
        let q_name = job.quarantine_table();
        let bronze_loc = env.location(&bronze_name)?;
        let q_loc = env.location(&q_name)?;
        let bronze_table = table::open_if_exists(&bronze_name.to_string(), &bronze_loc).await?;
        let q_table = table::open_if_exists(&q_name.to_string(), &q_loc).await?;
        let mut ingested: HashSet<String> = HashSet::new();
        let mut last_ingest: Option<i64> = None;
        if let Some(t) = &bronze_table {
            ctx.register_table("__bronze", table::provider(t, &ctx).await?)?;
            let batches = ctx
                .sql(&format!("SELECT DISTINCT {SOURCE_FILE} AS f FROM __bronze"))
                .await?
                .collect()
                .await
                .map_err(|e| {
                    Error::query(format!("reading the file bookmark of {bronze_name}"), e)
                })?;
            for b in &batches {
                ingested.extend(strings(b, "f").into_iter().flatten());
            }
            let max = ctx
                .sql(&format!("SELECT max({INGEST_TIME}) AS m FROM __bronze"))
                .await?
                .collect()
                .await?;
            last_ingest = max.first().and_then(|b| {
                b.column(0)
                    .as_primitive_opt::<TimestampMicrosecondType>()
                    .and_then(|a| a.iter().next().flatten())
            });
        }
        if let Some(q) = &q_table {
            ctx.register_table("__quarantine", table::provider(q, &ctx).await?)?;
            let batches = ctx
                .sql(&format!(
                    "SELECT DISTINCT {SOURCE_FILE} AS f FROM __quarantine WHERE _stage = 'bronze'"
                ))
                .await?
                .collect()
                .await?;
            for b in &batches {
                ingested.extend(strings(b, "f").into_iter().flatten());
            }
        }
        // A Kafka source is written by `medallion stream` (medallion-kafka); here it has no
        // files, and the run only brings Silver and Gold up to date with committed Bronze rows.
        let files_spec = match &job.spec.bronze.source {
            SourceSpec::Files(f) => f.clone(),
            SourceSpec::Kafka(_) => crate::spec::FilesSource::none(),
        };
        let files = match &job.spec.bronze.source {
            SourceSpec::Files(f) => ingest::discover(env, f)?,
            SourceSpec::Kafka(_) => Vec::new(),
        };
        report.bronze.files_matched = files.len() as u64;
        let new_files: Vec<ingest::SourceFile> = files
            .into_iter()
            .filter(|f| !ingested.contains(&f.name))
            .collect();
        report.bronze.files_skipped = report.bronze.files_matched - new_files.len() as u64;
        report.bronze.files_ingested = new_files.iter().map(|f| f.name.clone()).collect();
        let now = chrono::Utc::now().timestamp_micros();
        let ingest_time = last_ingest.map_or(now, |l| now.max(l + 1));

        // ---- Bronze: decode and stage ----
        let mut bronze_w = StagedWrite::new(
            &bronze_name.to_string(),
            &bronze_loc,
            plan.bronze_schema.clone(),
        )?
        .with_properties(table_properties(
            plan,
            "bronze",
            job.spec.bronze.description.clone(),
        ))
        .without_dictionaries(&[SOURCE_FILE, plan::RUN_ID]);
        let mut q_w = StagedWrite::new(&q_name.to_string(), &q_loc, quarantine_schema())?
            .with_properties(table_properties(
                plan,
                "quarantine",
                Some(format!(
                    "Records rejected by pipeline {}, with the reason",
                    job.spec.pipeline
                )),
            ));
        let total: u64 = new_files.iter().map(|f| f.size).sum();
        self.progress
            .start(&format!("bronze {bronze_name}"), Some(total));
        let (mut rx, handle) = ingest::spawn_decoder(
            new_files.clone(),
            files_spec.clone(),
            plan.raw_schema.clone(),
        );
        let mut decode_error = None;
        while let Some(msg) = rx.recv().await {
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    decode_error = Some(e);
                    break;
                }
            };
            match msg {
                Decoded::Rows { file, batch, lines } => {
                    let n = batch.num_rows();
                    report.bronze.rows_read += n as u64;
                    let mut columns = batch.columns().to_vec();
                    columns.push(Arc::new(
                        TimestampMicrosecondArray::from(vec![ingest_time; n]).with_timezone("UTC"),
                    ));
                    columns.push(Arc::new(StringArray::from(vec![
                        new_files[file]
                            .name
                            .as_str();
                        n
                    ])));
                    columns.push(Arc::new(lines));
                    columns.push(Arc::new(StringArray::from(vec![run_id; n])));
                    let out = RecordBatch::try_new(plan.bronze_schema.clone(), columns)?;
                    if let Err(e) = bronze_w.write(out).await {
                        decode_error = Some(e);
                        break;
                    }
                    self.progress.advance(n as u64, 0);
                }
                Decoded::Bad { file, records } => {
                    report.bronze.rows_read += records.len() as u64;
                    report.bronze.rows_quarantined += records.len() as u64;
                    let rows = records
                        .into_iter()
                        .map(|r| QRow {
                            stage: "bronze",
                            rule: "parse".into(),
                            column: r.column,
                            reason: r.reason,
                            record: r.record,
                            source_file: Some(new_files[file].name.clone()),
                            source_line: Some(r.line),
                        })
                        .collect();
                    q_w.write(quarantine_batch(rows, run_id, ingest_time)?)
                        .await?;
                }
                Decoded::FileDone { bytes, .. } => {
                    report.bronze.bytes_read += bytes;
                    self.progress.advance(0, bytes);
                }
            }
        }
        drop(rx);
        let joined = handle.join().await;
        self.progress.finish();
        let bronze_staged = bronze_w.finish().await?;
        staging.staged.push(Staged {
            adds: bronze_staged.adds.clone(),
            ..staged_clone(&bronze_staged)
        });
        if let Some(e) = decode_error.or(joined.err()) {
            let q = q_w.finish().await?;
            staging.staged.push(q);
            return Err(e);
        }
        report.bronze.rows_written = bronze_staged.rows;
        report.bronze.duration_ms = t0.elapsed().as_millis() as u64;

        // ---- Silver: compute and stage ----
        let mut silver_out: Option<Staged> = None;
        let silver_name = job.silver_table();
        // Silver's bookmark is the Bronze version it has processed up to: the rows still to
        // process are those of the data files added by later commits, whoever wrote them and
        // whenever their rows were stamped. (Tables written before this bookmark existed
        // carry the largest `_ingest_time` processed instead; it is read once and replaced.)
        let silver_app_id = format!("medallion.silver.bronze_version<{bronze_name}");
        let legacy_app_id = format!("medallion.silver<{bronze_name}");
        let bronze_read_version = bronze_table.as_ref().map(table::version);
        let mut silver_table: Option<DeltaTable> = None;
        let mut old_bookmark: Option<i64> = None;
        if let (Some(silver), Some(silver_name)) = (&job.spec.silver, &silver_name) {
            let t1 = Instant::now();
            let mut sr = SilverReport {
                table: silver_name.to_string(),
                ..Default::default()
            };
            sr.rules = plan
                .rules
                .iter()
                .map(|r| RuleReport {
                    name: r.name.clone(),
                    on_fail: r.on_fail,
                    checked: 0,
                    failed: 0,
                })
                .collect();
            let silver_loc = env.location(silver_name)?;
            silver_table = table::open_if_exists(&silver_name.to_string(), &silver_loc).await?;
            let (bookmark, legacy) = match &silver_table {
                Some(t) => match table::txn_version(t, &silver_app_id).await? {
                    Some(v) => (Some(v), None),
                    None => (None, table::txn_version(t, &legacy_app_id).await?),
                },
                None => (None, None),
            };
            old_bookmark = bookmark;
            // Inputs: committed Bronze rows not processed yet, then the staged ones. With the
            // version bookmark both are plain file lists, read as one.
            let mut inputs: Vec<DataFrame> = Vec::new();
            let mut paths: Vec<String> = Vec::new();
            if let Some(bt) = &bronze_table {
                match (bookmark, legacy) {
                    (Some(v), _) => paths.extend(
                        table::added_files(bt, v, table::version(bt))
                            .await?
                            .iter()
                            .filter_map(|a| bronze_loc.url.join(&a.path).ok())
                            .map(|u| u.to_string()),
                    ),
                    (None, Some(t)) => inputs.push(ctx.table("__bronze").await?.filter(
                        col(INGEST_TIME).gt(lit(ScalarValue::TimestampMicrosecond(
                            Some(t),
                            Some("UTC".into()),
                        ))),
                    )?),
                    (None, None) => inputs.push(ctx.table("__bronze").await?),
                }
            }
            paths.extend(bronze_staged.file_urls().iter().map(|u| u.to_string()));
            if !paths.is_empty() {
                inputs.push(
                    ctx.read_parquet(
                        paths,
                        ParquetReadOptions::default().schema(&plan.bronze_schema),
                    )
                    .await?,
                );
            }
            self.progress.start(&format!("silver {silver_name}"), None);
            let typed_dir = tmp.join("typed");
            let mut typed_w = TempParquet::create(&typed_dir, &plan.typed_out_schema)?;
            let mut deduper = match &silver.dedupe {
                // Sized for this run's Bronze rows (committed ones grow it as they come).
                Some(d) => Some(Deduper::with_capacity(
                    &plan.typed_out_schema,
                    &d.keys,
                    d.latest_by.as_deref(),
                    bronze_staged.rows as usize,
                )?),
                None => None,
            };
            let schema_ref = plan.schema.reference();
            let mut qrows: Vec<QRow> = Vec::new();
            for df in inputs {
                let mut stream = df.execute_stream().await?;
                while let Some(b) = stream.next().await {
                    let raw = conform(&b?, &plan.bronze_schema)?;
                    sr.rows_read += raw.num_rows() as u64;
                    let typed = crate::typing::cast_batch(
                        &raw,
                        plan.typed_schema.fields(),
                        &plan.typed_out_schema,
                        &schema_ref,
                    )?;
                    let keep: BooleanArray =
                        typed.failures.iter().map(|f| Some(f.is_none())).collect();
                    if keep.false_count() > 0 {
                        let bad_raw = crate::typing::filter(&raw, &not(&keep)?)?;
                        let records = crate::typing::rows_as_json(&bad_raw)?;
                        let files = strings(&bad_raw, SOURCE_FILE);
                        let lines = ints(&bad_raw, SOURCE_LINE);
                        for (i, f) in typed.failures.iter().flatten().enumerate() {
                            qrows.push(QRow {
                                stage: "silver",
                                rule: "schema".into(),
                                column: Some(f.column.clone()),
                                reason: format!("does not fit {schema_ref}: {}", f.reason),
                                record: records[i].clone(),
                                source_file: files[i].clone(),
                                source_line: lines[i],
                            });
                        }
                        sr.rows_schema_rejected += bad_raw.num_rows() as u64;
                    }
                    let mut batch = crate::typing::filter(&typed.batch, &keep)?;
                    let mut raw = crate::typing::filter(&raw, &keep)?;
                    for (ri, rule) in plan.rules.iter().enumerate() {
                        let RuleKind::Row { expr, .. } = &rule.kind else {
                            continue;
                        };
                        let fails = quality::failing_rows(expr, &batch)?;
                        let n_fail = fails.true_count() as u64;
                        sr.rules[ri].checked += batch.num_rows() as u64;
                        sr.rules[ri].failed += n_fail;
                        if n_fail == 0 {
                            continue;
                        }
                        match rule.on_fail {
                            OnFail::Warn => {}
                            OnFail::Fail => {
                                let row = (0..fails.len()).find(|&i| fails.value(i)).unwrap_or(0);
                                let files = strings(&batch, SOURCE_FILE);
                                let lines = ints(&batch, SOURCE_LINE);
                                return Err(Error::QualityFailed {
                                    table: silver_name.to_string(),
                                    rule: rule.name.clone(),
                                    failed: n_fail,
                                    example: format!(
                                        "{} ({}:{})",
                                        quality::reason(rule, &batch, row),
                                        files[row].clone().unwrap_or_default(),
                                        lines[row].unwrap_or_default()
                                    ),
                                });
                            }
                            OnFail::Drop | OnFail::Quarantine => {
                                if rule.on_fail == OnFail::Quarantine {
                                    let bad_raw = crate::typing::filter(&raw, &fails)?;
                                    let records = crate::typing::rows_as_json(&bad_raw)?;
                                    let files = strings(&bad_raw, SOURCE_FILE);
                                    let lines = ints(&bad_raw, SOURCE_LINE);
                                    let rows: Vec<usize> =
                                        (0..fails.len()).filter(|&i| fails.value(i)).collect();
                                    for (i, row) in rows.into_iter().enumerate() {
                                        qrows.push(QRow {
                                            stage: "silver",
                                            rule: rule.name.clone(),
                                            column: match &rule.kind {
                                                RuleKind::Row { column, .. } => column.clone(),
                                                _ => None,
                                            },
                                            reason: quality::reason(rule, &batch, row),
                                            record: records[i].clone(),
                                            source_file: files[i].clone(),
                                            source_line: lines[i],
                                        });
                                    }
                                    sr.rows_quarantined += n_fail;
                                } else {
                                    sr.rows_dropped += n_fail;
                                }
                                let keep = not(&fails)?;
                                batch = crate::typing::filter(&batch, &keep)?;
                                raw = crate::typing::filter(&raw, &keep)?;
                            }
                        }
                    }
                    typed_w.write(&batch)?;
                    if let Some(d) = deduper.as_mut() {
                        d.push(&batch)?;
                    }
                    if qrows.len() >= 4096 {
                        q_w.write(quarantine_batch(
                            std::mem::take(&mut qrows),
                            run_id,
                            ingest_time,
                        )?)
                        .await?;
                    }
                    self.progress.advance(raw.num_rows() as u64, 0);
                }
            }
            let typed_rows = typed_w.close()?;
            sr.rows_schema_rejected += 0;

            // Set-level work in SQL over the typed rows.
            ctx.register_parquet(
                "__typed",
                typed_dir.to_string_lossy().as_ref(),
                ParquetReadOptions::default().schema(&plan.typed_out_schema),
            )
            .await?;
            let mut current = "__typed".to_string();
            let mut deduped_rows = None;
            if let Some(d) = deduper.take() {
                // The winners, read back from the typed file (losing rows are not decoded).
                deduped_rows = Some(d.keys());
                let keep = d.finish();
                let source = KeptRows::new(
                    typed_dir.join(TempParquet::FILE),
                    plan.typed_out_schema.clone(),
                    &keep,
                )?;
                ctx.register_table("__deduped", Arc::new(source))?;
                current = "__deduped".into();
            }
            let mut unique_removed = 0u64;
            for (ri, rule) in plan.rules.iter().enumerate() {
                let RuleKind::Unique(cols) = &rule.kind else {
                    continue;
                };
                let keys = cols
                    .iter()
                    .map(|k| sql_ident(k))
                    .collect::<Vec<_>>()
                    .join(", ");
                let not_null = cols
                    .iter()
                    .map(|k| format!("{} IS NOT NULL", sql_ident(k)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let dups = ctx
                    .sql(&format!("SELECT {keys}, count(*) AS __n FROM {current} WHERE {not_null} GROUP BY {keys} HAVING count(*) > 1"))
                    .await?
                    .collect()
                    .await?;
                let failed: u64 = dups
                    .iter()
                    .map(|b| {
                        b.column_by_name("__n")
                            .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Int64Type>())
                            .map(|a| a.iter().flatten().sum::<i64>())
                            .unwrap_or(0) as u64
                    })
                    .sum();
                sr.rules[ri].failed += failed;
                if failed == 0 {
                    continue;
                }
                let example = dups
                    .iter()
                    .find(|b| b.num_rows() > 0)
                    .map(|b| {
                        cols.iter()
                            .enumerate()
                            .map(|(i, c)| {
                                format!(
                                    "{c}={}",
                                    arrow::util::display::array_value_to_string(b.column(i), 0)
                                        .unwrap_or_default()
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                match rule.on_fail {
                    OnFail::Warn => {}
                    OnFail::Fail => {
                        return Err(Error::QualityFailed {
                            table: silver_name.to_string(),
                            rule: rule.name.clone(),
                            failed,
                            example: format!("({example}) appears more than once"),
                        })
                    }
                    OnFail::Drop | OnFail::Quarantine => {
                        let name = format!("__dups_{ri}");
                        let mem = MemTable::try_new(dups[0].schema(), vec![dups.clone()])?;
                        ctx.register_table(&name, Arc::new(mem))?;
                        let on = cols
                            .iter()
                            .map(|k| format!("x.{0} = d.{0}", sql_ident(k)))
                            .collect::<Vec<_>>()
                            .join(" AND ");
                        if rule.on_fail == OnFail::Quarantine {
                            let df = ctx
                                .sql(&format!(
                                    "SELECT x.*, d.__n FROM {current} x JOIN {name} d ON {on}"
                                ))
                                .await?;
                            let mut stream = df.execute_stream().await?;
                            while let Some(b) = stream.next().await {
                                let b = b?;
                                let data = conform(&b, &plan.typed_out_schema)?;
                                let records = crate::typing::rows_as_json(&data)?;
                                let files = strings(&b, SOURCE_FILE);
                                let lines = ints(&b, SOURCE_LINE);
                                let n = ints(&b, "__n");
                                for i in 0..b.num_rows() {
                                    let key = cols
                                        .iter()
                                        .map(|c| {
                                            format!(
                                                "{c}={}",
                                                b.column_by_name(c)
                                                    .map(|a| {
                                                        arrow::util::display::array_value_to_string(
                                                            a, i,
                                                        )
                                                        .unwrap_or_default()
                                                    })
                                                    .unwrap_or_default()
                                            )
                                        })
                                        .collect::<Vec<_>>()
                                        .join(", ");
                                    qrows.push(QRow {
                                        stage: "silver",
                                        rule: rule.name.clone(),
                                        column: Some(cols.join(",")),
                                        reason: format!(
                                            "rule `{}` failed: ({key}) appears {} times",
                                            rule.name,
                                            n[i].unwrap_or(0)
                                        ),
                                        record: records[i].clone(),
                                        source_file: files[i].clone(),
                                        source_line: lines[i],
                                    });
                                }
                            }
                            sr.rows_quarantined += failed;
                        } else {
                            sr.rows_dropped += failed;
                        }
                        unique_removed += failed;
                        let view = format!("__unique_{ri}");
                        let df = ctx
                            .sql(&format!(
                                "SELECT x.* FROM {current} x LEFT ANTI JOIN {name} d ON {on}"
                            ))
                            .await?;
                        ctx.register_table(&view, df.into_view())?;
                        current = view;
                    }
                }
            }
            let clean_rows = if current.starts_with("__unique_") {
                let clean_dir = tmp.join("clean");
                let n = materialize(ctx.table(&current).await?, &clean_dir).await?;
                ctx.register_parquet(
                    "__clean",
                    clean_dir.to_string_lossy().as_ref(),
                    ParquetReadOptions::default().schema(&plan.typed_out_schema),
                )
                .await?;
                n
            } else {
                ctx.register_table("__clean", ctx.table(&current).await?.into_view())?;
                deduped_rows.unwrap_or(typed_rows)
            };
            sr.rows_deduplicated = typed_rows.saturating_sub(clean_rows + unique_removed);
            for (ri, rule) in plan.rules.iter().enumerate() {
                match &rule.kind {
                    RuleKind::Unique(_) => sr.rules[ri].checked = typed_rows - sr.rows_deduplicated,
                    RuleKind::RowCount { min, max } => {
                        sr.rules[ri].checked = 1;
                        let ok = min.is_none_or(|m| clean_rows >= m)
                            && max.is_none_or(|m| clean_rows <= m);
                        if !ok {
                            sr.rules[ri].failed = 1;
                            if rule.on_fail == OnFail::Fail {
                                return Err(Error::QualityFailed {
                                    table: silver_name.to_string(),
                                    rule: rule.name.clone(),
                                    failed: clean_rows,
                                    example: format!(
                                        "the run brings {clean_rows} row(s), expected {}{}",
                                        min.map(|m| format!("at least {m}")).unwrap_or_default(),
                                        max.map(|m| format!(" at most {m}")).unwrap_or_default()
                                    ),
                                });
                            }
                        }
                    }
                    _ => {}
                }
            }
            if !qrows.is_empty() {
                q_w.write(quarantine_batch(
                    std::mem::take(&mut qrows),
                    run_id,
                    ingest_time,
                )?)
                .await?;
            }
            let input = ctx
                .sql(&format!(
                    "SELECT {} FROM __clean",
                    plan::pii_select(&plan.typed_out_schema, &silver.pii)
                ))
                .await?;
            ctx.register_table("input", input.into_view())?;
            let sql = plan
                .silver_sql
                .clone()
                .unwrap_or_else(|| "SELECT * FROM input".into());
            let sql_error = |e| Error::query(format!("{}: silver.sql", job.file), e);
            let df = ctx.sql(&sql).await.map_err(sql_error)?;
            // The output is written once, as staged (uncommitted) files of the Silver table:
            // appended or creating the table, they are the commit; merged by key, they are
            // the merge's source and are deleted after it.
            let out_schema = table::nullable(&Arc::new(df.schema().as_arrow().clone()));
            let target = match (&silver_table, &silver.dedupe) {
                (Some(t), None) => merged_schema(
                    &table::arrow_schema(t)?,
                    &out_schema,
                    silver_name,
                    &job.file,
                )?,
                _ => out_schema,
            };
            let mut w = StagedWrite::new(&silver_name.to_string(), &silver_loc, target.clone())?
                .with_properties(table_properties(plan, "silver", silver.description.clone()));
            let mut stream = df.execute_stream().await.map_err(sql_error)?;
            let mut out_err = None;
            while let Some(b) = stream.next().await {
                let written = match b {
                    Ok(b) => match conform(&b, &target) {
                        Ok(b) => w.write(b).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(sql_error(e)),
                };
                if let Err(e) = written {
                    out_err = Some(e);
                    break;
                }
            }
            drop(stream);
            let staged = w.finish().await?;
            staging.staged.push(staged_clone(&staged));
            if let Some(e) = out_err {
                return Err(e);
            }
            self.progress.finish();
            silver_out = Some(staged);
            sr.duration_ms = t1.elapsed().as_millis() as u64;
            report.silver = Some(sr);
        }
        let q_staged = q_w.finish().await?;
        staging.staged.push(staged_clone(&q_staged));

        // ---- Commit ----
        let pipeline = &job.spec.pipeline;
        let meta = |extra: Vec<(&str, serde_json::Value)>| {
            let mut m: HashMap<String, serde_json::Value> = HashMap::new();
            m.insert("medallion.run_id".into(), run_id.into());
            m.insert("medallion.pipeline".into(), pipeline.clone().into());
            m.insert("medallion.environment".into(), env.name.clone().into());
            for (k, v) in extra {
                m.insert(k.into(), v);
            }
            m
        };
        let bronze_had_rows = !bronze_staged.adds.is_empty();
        // Bronze commits exactly on the version Silver read (no rebase over another writer's
        // commit), so that Silver's new bookmark, that version + 1, covers exactly the rows
        // Silver processed.
        let bronze_after = bronze_staged
            .commit_with(
                bronze_table,
                meta(vec![(
                    "medallion.files",
                    serde_json::json!(report.bronze.files_ingested),
                )]),
                vec![],
                Some(0),
            )
            .await
            .map_err(|e| match e {
                Error::Table { table, source } if is_commit_race(&source) => Error::Table {
                    table: format!(
                        "{table} (another process committed to it during this run; nothing \
                         of this run was committed, run it again)"
                    ),
                    source,
                },
                other => other,
            })?;
        let new_bookmark = match (bronze_had_rows, bronze_read_version) {
            (true, v) => Some(v.map_or(0, |v| v + 1)),
            (false, v) => v,
        };
        // Committed files are no longer ours to delete.
        let committed = bronze_name.to_string();
        staging.staged.retain(|s| s.name != committed);
        if let Some(t) = &bronze_after {
            if bronze_had_rows {
                report.bronze.version = Some(table::version(t));
            }
            self.register(
                &bronze_name,
                "bronze",
                t,
                plan,
                job.spec.bronze.description.clone(),
            )
            .await?;
        }
        let q_had_rows = !q_staged.adds.is_empty();
        let q_after = q_staged.commit(q_table, meta(vec![]), vec![]).await?;
        let committed = q_name.to_string();
        staging.staged.retain(|s| s.name != committed);
        if let Some(t) = &q_after {
            if q_had_rows {
                let _ = table::version(t);
            }
            self.register(
                &q_name,
                "quarantine",
                t,
                plan,
                Some(format!(
                    "Records rejected by pipeline {pipeline}, with the reason"
                )),
            )
            .await?;
        }

        if let (Some(silver), Some(silver_name), Some(staged)) =
            (&job.spec.silver, &silver_name, silver_out)
        {
            let rows = staged.rows;
            let txn = new_bookmark.map(|b| Transaction::new(&silver_app_id, b));
            let name = silver_name.to_string();
            let after: Option<DeltaTable> = match (silver_table, &silver.dedupe) {
                (Some(_), _) if rows == 0 && new_bookmark == old_bookmark => None, // nothing new
                (Some(t), _) if rows == 0 => {
                    // Nothing to write, but the bookmark must move past the processed rows.
                    let bookmark_only = Staged {
                        properties: Default::default(),
                        name: name.clone(),
                        location: staged.location.clone(),
                        schema: table::arrow_schema(&t)?,
                        adds: vec![],
                        rows: 0,
                    };
                    bookmark_only
                        .commit(Some(t), meta(vec![]), txn.into_iter().collect())
                        .await?
                }
                (Some(t), Some(d)) => {
                    let source = ctx
                        .read_parquet(
                            staged
                                .file_urls()
                                .iter()
                                .map(|u| u.to_string())
                                .collect::<Vec<_>>(),
                            ParquetReadOptions::default().schema(&staged.schema),
                        )
                        .await?;
                    let mut props = deltalake::kernel::transaction::CommitProperties::default()
                        .with_metadata(meta(vec![]));
                    if let Some(t) = txn.clone() {
                        props = props.with_application_transaction(t);
                    }
                    let on = d
                        .keys
                        .iter()
                        .map(|k| format!("t.{0} = s.{0}", sql_ident(k)))
                        .collect::<Vec<_>>()
                        .join(" AND ");
                    let cols: Vec<String> = staged
                        .schema
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect();
                    let latest = d.latest_by.clone().filter(|l| cols.contains(l));
                    let (merged, _metrics) = t
                        .merge(source, on.as_str())
                        .with_source_alias("s")
                        .with_target_alias("t")
                        .with_merge_schema(true)
                        .with_commit_properties(props)
                        .when_matched_update(|mut u| {
                            if let Some(l) = &latest {
                                u = u.predicate(format!("s.{0} >= t.{0}", sql_ident(l)).as_str());
                            }
                            for c in &cols {
                                u = u.update(
                                    sql_ident(c).as_str(),
                                    format!("s.{}", sql_ident(c)).as_str(),
                                );
                            }
                            u
                        })
                        .map_err(|e| Error::table(&name, e))?
                        .when_not_matched_insert(|mut i| {
                            for c in &cols {
                                i = i.set(
                                    sql_ident(c).as_str(),
                                    format!("s.{}", sql_ident(c)).as_str(),
                                );
                            }
                            i
                        })
                        .map_err(|e| Error::table(&name, e))?
                        .await
                        .map_err(|e| Error::table(&name, e))?;
                    // The staged files were the merge's source; they are deleted with the
                    // run's other leftovers.
                    Some(merged)
                }
                (existing, _) => {
                    // Append (or create): the staged files are the commit, with the bookmark.
                    let done = name.clone();
                    let after = staged
                        .commit(existing, meta(vec![]), txn.into_iter().collect())
                        .await?;
                    staging.staged.retain(|s| s.name != done);
                    after
                }
            };
            if let Some(t) = &after {
                if let Some(sr) = report.silver.as_mut() {
                    sr.rows_written = rows;
                    sr.version = Some(table::version(t));
                }
                self.register(silver_name, "silver", t, plan, silver.description.clone())
                    .await?;
            }
        }

        // ---- Gold ----
        if !plan.gold.is_empty() {
            let gctx = self.session().await?;
            for g in &plan.gold {
                let t2 = Instant::now();
                let mut gr = GoldReport {
                    table: g.table.to_string(),
                    ..Default::default()
                };
                let loc = env.location(&g.table)?;
                let name = g.table.to_string();
                let mut fingerprint = g.sql.clone();
                for r in &g.reads {
                    let (db, t) = r.split_once('.').unwrap_or(("", r));
                    let v = self
                        .catalog
                        .get_table(db, t)
                        .await?
                        .map(|e| e.delta_version)
                        .unwrap_or(-1);
                    fingerprint.push_str(&format!("|{r}@{v}"));
                }
                let hash = fnv(&fingerprint);
                let app_id = "medallion.gold.inputs";
                let existing = table::open_if_exists(&name, &loc).await?;
                if let Some(t) = &existing {
                    if table::txn_version(t, app_id).await? == Some(hash) {
                        gr.duration_ms = t2.elapsed().as_millis() as u64;
                        report.gold.push(gr);
                        continue;
                    }
                }
                self.progress.start(&format!("gold {name}"), None);
                let df = gctx
                    .sql(&g.sql)
                    .await
                    .map_err(|e| Error::query(format!("{}: gold table {name}", job.file), e))?;
                let dir = tmp.join("gold").join(&g.table.table);
                let rows = materialize(df, &dir).await?;
                let source = gctx
                    .read_parquet(
                        dir.to_string_lossy().to_string(),
                        ParquetReadOptions::default(),
                    )
                    .await?;
                let props = deltalake::kernel::transaction::CommitProperties::default()
                    .with_metadata(meta(vec![]))
                    .with_application_transaction(Transaction::new(app_id, hash));
                let written = match existing {
                    Some(t) => t
                        .write(vec![])
                        .with_input_plan(source.logical_plan().clone())
                        .with_save_mode(SaveMode::Overwrite)
                        .with_schema_mode(SchemaMode::Overwrite)
                        .with_commit_properties(props)
                        .await
                        .map_err(|e| Error::table(&name, e))?,
                    None => {
                        let desc = job
                            .spec
                            .gold
                            .iter()
                            .find(|s| s.table == name)
                            .and_then(|s| s.description.clone());
                        create_from(
                            &name,
                            &loc,
                            source,
                            table_properties(plan, "gold", desc),
                            meta(vec![]),
                            vec![Transaction::new(app_id, hash)],
                        )
                        .await?
                    }
                };
                self.progress.finish();
                gr.rows_written = rows;
                gr.refreshed = true;
                gr.version = Some(table::version(&written));
                let desc = job
                    .spec
                    .gold
                    .iter()
                    .find(|s| s.table == name)
                    .and_then(|s| s.description.clone());
                self.register(&g.table, "gold", &written, plan, desc)
                    .await?;
                let provider = table::provider(&written, &gctx).await?;
                let tref = datafusion::common::TableReference::partial(
                    g.table.database.as_str(),
                    g.table.table.as_str(),
                );
                let _ = gctx.deregister_table(tref.clone());
                let catalog = gctx.catalog("datafusion").expect("default catalog");
                if catalog.schema(&g.table.database).is_none() {
                    catalog.register_schema(
                        &g.table.database,
                        Arc::new(datafusion::catalog::memory::MemorySchemaProvider::new()),
                    )?;
                }
                gctx.register_table(tref, provider)?;
                gr.duration_ms = t2.elapsed().as_millis() as u64;
                report.gold.push(gr);
            }
        }
        Ok(())
    }

    /// Registers (or updates) a table in the catalog after a commit.
    async fn register(
        &self,
        name: &TableName,
        layer: &str,
        t: &DeltaTable,
        plan: &JobPlan,
        description: Option<String>,
    ) -> Result<()> {
        let lake = self.env.lake_location()?;
        self.catalog
            .create_database(&Database {
                name: name.database.clone(),
                description: None,
                location: lake.child(&name.database)?.to_string(),
            })
            .await?;
        let schema = table::arrow_schema(t)?;
        let described: Vec<(String, Option<String>, Option<String>)> = plan
            .schema
            .fields
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.description.clone(),
                    f.classification.clone(),
                )
            })
            .collect();
        let mut parameters = BTreeMap::new();
        parameters.insert("environment".into(), self.env.name.clone());
        parameters.insert("retention_days".into(), self.env.retention_days.to_string());
        if let Some(o) = &plan.job.spec.owner {
            parameters.insert("owner".into(), o.clone());
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let entry = TableEntry {
            database: name.database.clone(),
            name: name.table.clone(),
            location: self.env.location(name)?.to_string(),
            format: "delta".into(),
            layer: layer.into(),
            columns: columns_of(
                &schema,
                if matches!(layer, "bronze" | "silver") {
                    &described
                } else {
                    &[]
                },
            ),
            delta_version: table::version(t),
            owner_pipeline: plan.job.spec.pipeline.clone(),
            schema_ref: matches!(layer, "bronze" | "silver").then(|| plan.schema.reference()),
            description,
            parameters,
            created_at: now.clone(),
            updated_at: now,
        };
        self.catalog.upsert_table(&entry).await
    }
}

/// Creates a table from a DataFrame in one commit (data, table properties and bookmarks).
async fn create_from(
    name: &str,
    location: &table::Location,
    df: DataFrame,
    properties: HashMap<String, String>,
    app_metadata: HashMap<String, serde_json::Value>,
    txns: Vec<Transaction>,
) -> Result<DeltaTable> {
    let schema: SchemaRef = table::nullable(&Arc::new(df.schema().as_arrow().clone()));
    let mut w = StagedWrite::new(name, location, schema.clone())?.with_properties(properties);
    let mut stream = df.execute_stream().await?;
    while let Some(b) = stream.next().await {
        w.write(conform(&b?, &schema)?).await?;
    }
    let staged = w.finish().await?;
    let t = match staged.commit(None, app_metadata, txns).await {
        Ok(t) => t,
        Err(e) => return Err(e),
    };
    t.ok_or_else(|| Error::Internal(format!("creating {name} returned no table")))
}

/// Table properties recorded in the Delta table itself when medallion creates it, so that
/// `catalog sync` can rebuild a lost catalog from the lake alone.
pub fn table_properties(
    plan: &JobPlan,
    layer: &str,
    description: Option<String>,
) -> HashMap<String, String> {
    let mut p = HashMap::new();
    p.insert(PROP_LAYER.into(), layer.into());
    p.insert(PROP_PIPELINE.into(), plan.job.spec.pipeline.clone());
    if matches!(layer, "bronze" | "silver") {
        p.insert(PROP_SCHEMA.into(), plan.schema.reference());
    }
    if let Some(o) = &plan.job.spec.owner {
        p.insert(PROP_OWNER.into(), o.clone());
    }
    if let Some(d) = description {
        p.insert(PROP_DESCRIPTION.into(), d);
    }
    p
}

pub const PROP_LAYER: &str = "medallion.layer";
pub const PROP_PIPELINE: &str = "medallion.pipeline";
pub const PROP_SCHEMA: &str = "medallion.schema";
pub const PROP_OWNER: &str = "medallion.owner";
pub const PROP_DESCRIPTION: &str = "medallion.description";

/// The schema an append writes: the table's columns (types kept), then the output's new
/// columns. An output column whose type differs from the stored one is refused.
fn merged_schema(
    existing: &SchemaRef,
    output: &SchemaRef,
    table: &TableName,
    spec_file: &str,
) -> Result<SchemaRef> {
    let mut fields: Vec<arrow::datatypes::Field> = Vec::new();
    for f in existing.fields() {
        if let Ok(o) = output.field_with_name(f.name()) {
            if o.data_type() != f.data_type() {
                return Err(Error::Spec(vec![crate::SpecError::new(
                    spec_file,
                    "silver.sql",
                    format!(
                        "column `{}` comes out as {} but {table} stores {}; cast it in the SQL \
                         (or write a new table)",
                        f.name(),
                        o.data_type(),
                        f.data_type()
                    ),
                )]));
            }
        }
        fields.push(f.as_ref().clone().with_nullable(true));
    }
    for o in output.fields() {
        if existing.field_with_name(o.name()).is_err() {
            fields.push(o.as_ref().clone().with_nullable(true));
        }
    }
    Ok(Arc::new(arrow::datatypes::Schema::new(fields)))
}

/// Whether a commit failed because another writer committed first.
fn is_commit_race(e: &deltalake::DeltaTableError) -> bool {
    use deltalake::kernel::transaction::TransactionError as T;
    matches!(
        e,
        deltalake::DeltaTableError::VersionAlreadyExists(_)
            | deltalake::DeltaTableError::Transaction {
                source: T::MaxCommitAttempts(_) | T::CommitConflict(_)
            }
    )
}

fn staged_clone(s: &Staged) -> Staged {
    Staged {
        properties: s.properties.clone(),
        name: s.name.clone(),
        location: s.location.clone(),
        schema: s.schema.clone(),
        adds: s.adds.clone(),
        rows: s.rows,
    }
}
