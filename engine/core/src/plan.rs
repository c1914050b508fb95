//! Planning: turns parsed job specs into checked plans before any data is touched.
//!
//! Loads the pinned schemas, compiles the rules, plans the Silver and Gold SQL against the
//! schemas of the tables they read (without reading data), and orders pipelines so that a
//! pipeline runs after the pipelines whose tables its Gold queries read. Every problem of
//! every file is collected.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::empty::EmptyTable;
use datafusion::catalog::memory::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::compat;
use crate::error::SpecError;
use crate::pii;
use crate::quality::{self, CompiledRule};
use crate::schema::{self, DatasetSchema};
use crate::spec::{DedupeSpec, Job, PiiAction, SilverSpec, TableName};

/// Bronze ingestion metadata columns.
pub const INGEST_TIME: &str = "_ingest_time";
pub const SOURCE_FILE: &str = "_source_file";
pub const SOURCE_LINE: &str = "_source_line";
pub const RUN_ID: &str = "_run_id";

/// The names of [`bronze_meta_fields`] (the columns Bronze keeps statistics of).
pub const BRONZE_META: [&str; 4] = [INGEST_TIME, SOURCE_FILE, SOURCE_LINE, RUN_ID];

/// The metadata columns every Bronze table has, after the data columns.
pub fn bronze_meta_fields() -> Vec<Field> {
    vec![
        Field::new(
            INGEST_TIME,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new(SOURCE_FILE, DataType::Utf8, true),
        Field::new(SOURCE_LINE, DataType::Int64, true),
        Field::new(RUN_ID, DataType::Utf8, true),
    ]
}

/// The quarantine table's schema.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "_quarantined_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new(RUN_ID, DataType::Utf8, true),
        Field::new("_stage", DataType::Utf8, true),
        Field::new("_rule", DataType::Utf8, true),
        Field::new("_column", DataType::Utf8, true),
        Field::new("_reason", DataType::Utf8, true),
        Field::new("_record", DataType::Utf8, true),
        Field::new(SOURCE_FILE, DataType::Utf8, true),
        Field::new(SOURCE_LINE, DataType::Int64, true),
    ]))
}

/// A checked job, ready to run.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub job: Job,
    pub schema: DatasetSchema,
    /// Bronze table schema: raw data columns then metadata.
    pub bronze_schema: SchemaRef,
    /// Raw data columns only.
    pub raw_schema: SchemaRef,
    /// The typed fields, as declared.
    pub typed_schema: SchemaRef,
    /// Silver pass-1 output: typed fields (nullable) then metadata.
    pub typed_out_schema: SchemaRef,
    pub rules: Vec<CompiledRule>,
    /// The relation `input` of the Silver SQL.
    pub silver_input_schema: Option<SchemaRef>,
    pub silver_sql: Option<String>,
    pub silver_output: Option<SchemaRef>,
    /// Per Gold table: its output schema and the tables it reads.
    pub gold: Vec<GoldPlan>,
    /// Problems that do not stop the job (e.g. a `pii` column reaching Silver in clear
    /// text); `medallion validate` and `run` print them.
    pub warnings: Vec<SpecError>,
}

#[derive(Debug, Clone)]
pub struct GoldPlan {
    pub table: TableName,
    pub sql: String,
    pub output: SchemaRef,
    pub reads: Vec<String>,
}

impl JobPlan {
    /// Output tables and their schemas (for planning other jobs against them).
    pub fn output_schemas(&self) -> Vec<(String, SchemaRef)> {
        let mut out = vec![(
            self.job.bronze_table().to_string(),
            self.bronze_schema.clone(),
        )];
        out.push((self.job.quarantine_table().to_string(), quarantine_schema()));
        if let (Some(s), Some(o)) = (self.job.silver_table(), &self.silver_output) {
            out.push((s.to_string(), o.clone()));
        }
        for g in &self.gold {
            out.push((g.table.to_string(), g.output.clone()));
        }
        out
    }
}

/// A session whose catalog holds empty tables of the given schemas (planning only).
pub(crate) async fn planning_context(tables: &HashMap<String, SchemaRef>) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(false));
    let catalog = ctx.catalog("datafusion").expect("default catalog");
    for (name, schema) in tables {
        if let Some((db, t)) = name.split_once('.') {
            if catalog.schema(db).is_none() {
                let _ = catalog.register_schema(db, Arc::new(MemorySchemaProvider::new()));
            }
            let _ = ctx.register_table(
                TableReference::partial(db, t),
                Arc::new(EmptyTable::new(schema.clone())),
            );
        }
    }
    ctx
}

fn sql_error(e: datafusion::error::DataFusionError) -> String {
    e.strip_backtrace()
        .replace("Error during planning: ", "")
        .replace("Schema error: ", "")
        .replace("SQL error: ", "")
}

/// Tables a query reads (`db.table`), found without planning it.
pub fn referenced_tables(sql: &str) -> Result<Vec<String>, String> {
    let ctx = SessionContext::new();
    let state = ctx.state();
    let stmt = state
        .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
        .map_err(sql_error)?;
    let refs = state.resolve_table_references(&stmt).map_err(sql_error)?;
    Ok(refs.iter().map(|r| r.to_string()).collect())
}

/// The pii-protected typed schema: the relation `input` of the Silver SQL (see [`pii`]).
pub fn pii_schema(
    typed_out: &SchemaRef,
    pii: &std::collections::BTreeMap<String, PiiAction>,
) -> SchemaRef {
    pii::pii_schema(typed_out, pii)
}

/// The SQL select list applying PII protection, with unsalted SHA-256 for `hash`.
/// The warnings of a set of plans, in plan order (print them before running).
pub fn warnings(plans: &[JobPlan]) -> Vec<SpecError> {
    plans.iter().flat_map(|p| p.warnings.clone()).collect()
}

/// Plans one job against known table schemas. `known` gains the job's outputs.
pub async fn plan_job(
    job: &Job,
    schemas_dir: &Path,
    known: &mut HashMap<String, SchemaRef>,
) -> Result<JobPlan, Vec<SpecError>> {
    let file = job.file.as_str();
    let mut errors = job.check();
    if !errors.is_empty() {
        return Err(errors);
    }
    let spec = &job.spec;
    let ds = schema::load_schema(schemas_dir, &spec.bronze.schema, file, "bronze.schema")?;
    errors.extend(crate::ingest::check_types(job, &ds));
    let raw_schema = ds.raw_schema();
    let mut bronze_fields: Vec<Field> = raw_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    bronze_fields.extend(bronze_meta_fields());
    let bronze_schema = Arc::new(Schema::new(bronze_fields));
    let typed_schema = ds.typed_schema();
    let typed_out_schema = crate::typing::output_schema(&typed_schema, &bronze_schema);
    let mut warnings = Vec::new();
    let silver = match &spec.silver {
        Some(silver) => {
            let planned = plan_silver(file, silver, &ds, &typed_out_schema, known).await;
            errors.extend(planned.errors);
            warnings.extend(planned.warnings);
            planned.plan
        }
        None => SilverPlan::default(),
    };
    errors.extend(check_evolution(job, &ds, silver.output.as_ref(), known));
    let SilverPlan {
        rules,
        input: silver_input_schema,
        sql: silver_sql,
        output: silver_output,
    } = silver;

    // Register what this job writes so far, so that its Gold SQL can read them.
    known.insert(job.bronze_table().to_string(), bronze_schema.clone());
    known.insert(job.quarantine_table().to_string(), quarantine_schema());
    if let (Some(s), Some(o)) = (job.silver_table(), &silver_output) {
        known.insert(s.to_string(), o.clone());
    }
    let mut gold = Vec::new();
    for (i, g) in spec.gold.iter().enumerate() {
        let path = format!("gold[{i}].sql");
        let reads = match referenced_tables(&g.sql) {
            Ok(r) => r,
            Err(e) => {
                errors.push(SpecError::new(file, &path, e));
                continue;
            }
        };
        let missing: Vec<&String> = reads
            .iter()
            .filter(|r| !known.contains_key(r.as_str()))
            .collect();
        if !missing.is_empty() {
            let mut names: Vec<&String> = known.keys().collect();
            names.sort();
            errors.push(SpecError::new(
                file,
                &path,
                format!(
                    "unknown table(s) {}; known tables: {}. Tables of other pipelines are known when they are validated together (`medallion validate jobs/`) or exist in the environment's catalog",
                    missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
                    names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
            continue;
        }
        let ctx = planning_context(known).await;
        match ctx.sql(&g.sql).await {
            Ok(df) => {
                let out: SchemaRef =
                    crate::table::nullable(&Arc::new(df.schema().as_arrow().clone()));
                let table = TableName::parse(&g.table).expect("checked");
                known.insert(table.to_string(), out.clone());
                gold.push(GoldPlan {
                    table,
                    sql: g.sql.clone(),
                    output: out,
                    reads,
                });
            }
            Err(e) => errors.push(SpecError::new(file, &path, sql_error(e))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(JobPlan {
        job: job.clone(),
        raw_schema,
        bronze_schema,
        typed_schema,
        typed_out_schema,
        rules,
        silver_input_schema,
        silver_sql,
        silver_output,
        gold,
        schema: ds,
        warnings,
    })
}

/// The pinned schema must be backward compatible with the job's existing Bronze and Silver
/// tables (see [`compat`]).
fn check_evolution(
    job: &Job,
    ds: &DatasetSchema,
    silver_output: Option<&SchemaRef>,
    known: &HashMap<String, SchemaRef>,
) -> Vec<SpecError> {
    let file = job.file.as_str();
    let mut errors = Vec::new();
    let bronze = job.bronze_table().to_string();
    if let Some(current) = known.get(&bronze) {
        errors.extend(compat::check_bronze(file, &bronze, current, ds));
    }
    if let (Some(t), Some(out)) = (job.silver_table(), silver_output) {
        if let Some(current) = known.get(&t.to_string()) {
            errors.extend(compat::check_silver(file, &t.to_string(), current, out, ds));
        }
    }
    errors
}

/// What planning the Silver stage produces.
#[derive(Default)]
struct SilverPlan {
    rules: Vec<CompiledRule>,
    input: Option<SchemaRef>,
    sql: Option<String>,
    output: Option<SchemaRef>,
}

/// A planned Silver stage with the problems found.
struct PlannedSilver {
    plan: SilverPlan,
    errors: Vec<SpecError>,
    warnings: Vec<SpecError>,
}

/// Plans the Silver stage: rules, dedupe and PII columns, and the SQL over `input`.
async fn plan_silver(
    file: &str,
    silver: &SilverSpec,
    ds: &DatasetSchema,
    typed_out_schema: &SchemaRef,
    known: &HashMap<String, SchemaRef>,
) -> PlannedSilver {
    let mut errors = Vec::new();
    let mut plan = SilverPlan::default();
    let columns: Vec<String> = typed_out_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let unknown_col = |path: String, c: &str| {
        SpecError::new(
            file,
            path,
            format!(
                "unknown column `{c}`; the columns of {} are: {}",
                ds.reference(),
                columns.join(", ")
            ),
        )
    };
    match quality::compile(file, &silver.rules, typed_out_schema) {
        Ok(r) => plan.rules = r,
        Err(e) => errors.extend(e),
    }
    if let Some(d) = &silver.dedupe {
        for (i, k) in d.keys.iter().enumerate() {
            if !columns.contains(k) {
                errors.push(unknown_col(format!("silver.dedupe.keys[{i}]"), k));
            }
        }
        if let Some(l) = &d.latest_by {
            if !columns.contains(l) {
                errors.push(unknown_col("silver.dedupe.latest_by".into(), l));
            }
        }
    }
    for c in silver.pii.keys() {
        if !columns.contains(c) {
            errors.push(unknown_col(format!("silver.pii.{c}"), c));
        }
    }
    let input = pii::pii_schema(typed_out_schema, &silver.pii);
    let sql = silver
        .sql
        .clone()
        .unwrap_or_else(|| "SELECT * FROM input".to_string());
    let mut tables = known.clone();
    tables.insert("__medallion.input".into(), input.clone());
    let ctx = planning_context(&tables).await;
    let _ = ctx.register_table("input", Arc::new(EmptyTable::new(input.clone())));
    let mut warnings = Vec::new();
    match ctx.sql(&sql).await {
        Ok(df) => {
            let out: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            if let Some(d) = &silver.dedupe {
                errors.extend(check_merge_columns(file, d, &columns, &out));
            }
            warnings = pii::clear_text_warnings(file, ds, silver, df).await;
            plan.output = Some(crate::table::nullable(&out));
        }
        Err(e) => errors.push(SpecError::new(
            file,
            "silver.sql",
            format!(
                "{}; the relation `input` has the columns: {}",
                sql_error(e),
                input
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
    plan.input = Some(input);
    plan.sql = Some(sql);
    PlannedSilver {
        plan,
        errors,
        warnings,
    }
}

/// With dedupe, Silver merges the query's output by key and orders versions of a key by
/// `latest_by`: both must be output columns, or the merge would match or order without them.
fn check_merge_columns(
    file: &str,
    d: &DedupeSpec,
    columns: &[String],
    out: &SchemaRef,
) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let lacks = |c: &String| columns.contains(c) && out.field_with_name(c).is_err();
    let missing: Vec<&String> = d.keys.iter().filter(|k| lacks(k)).collect();
    if !missing.is_empty() {
        errors.push(SpecError::new(
            file,
            "silver.sql",
            format!(
                "the query's output lacks the dedupe key column(s) {}, which Silver needs to merge new rows by key (silver.dedupe.keys)",
                missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if let Some(l) = d.latest_by.as_ref().filter(|l| lacks(l)) {
        errors.push(SpecError::new(
            file,
            "silver.sql",
            format!(
                "the query's output lacks the column `{l}` (silver.dedupe.latest_by), which Silver needs to keep the latest record of a key when merging: \
                 without it an older record would replace a newer one. Select `{l}` in the query"
            ),
        ));
    }
    errors
}

/// Orders jobs so that each runs after the jobs whose tables its Silver or Gold SQL reads, and refuses
/// two jobs writing the same table. Returns the order as indexes.
pub fn order_jobs(jobs: &[Job]) -> Result<Vec<usize>, Vec<SpecError>> {
    let mut errors = Vec::new();
    let mut writer: HashMap<String, usize> = HashMap::new();
    for (i, j) in jobs.iter().enumerate() {
        if !j.check().is_empty() {
            continue; // reported by plan_job
        }
        for t in j.output_tables() {
            if let Some(other) = writer.insert(t.to_string(), i) {
                errors.push(SpecError::new(
                    &j.file,
                    "",
                    format!("table `{t}` is also written by {}; every table has exactly one owner pipeline", jobs[other].file),
                ));
            }
        }
    }
    let deps: Vec<BTreeSet<usize>> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            j.spec
                .gold
                .iter()
                .map(|g| g.sql.as_str())
                .chain(j.spec.silver.as_ref().and_then(|s| s.sql.as_deref()))
                .flat_map(|sql| referenced_tables(sql).unwrap_or_default())
                .filter_map(|t| writer.get(&t).copied())
                .filter(|&d| d != i)
                .collect()
        })
        .collect();
    let mut order = Vec::new();
    let mut done = vec![false; jobs.len()];
    while order.len() < jobs.len() {
        let next = (0..jobs.len()).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                let cyclic: Vec<&str> = (0..jobs.len())
                    .filter(|&i| !done[i])
                    .map(|i| jobs[i].file.as_str())
                    .collect();
                errors.push(SpecError::new(
                    cyclic[0],
                    "gold",
                    format!(
                        "pipelines read each other's tables in a cycle: {}",
                        cyclic.join(" → ")
                    ),
                ));
                break;
            }
        }
    }
    if errors.is_empty() {
        Ok(order)
    } else {
        Err(errors)
    }
}

/// Loads, orders and plans a set of job files. `known` holds the schemas of tables that
/// exist already (from the environment's catalog), if any.
pub async fn plan_all(
    files: &[std::path::PathBuf],
    schemas_dir: &Path,
    mut known: HashMap<String, SchemaRef>,
) -> Result<Vec<JobPlan>, Vec<SpecError>> {
    let mut errors = Vec::new();
    let mut jobs = Vec::new();
    for f in files {
        match crate::spec::load_job(f) {
            Ok(j) => jobs.push(j),
            Err(e) => errors.push(e),
        }
    }
    let order = match order_jobs(&jobs) {
        Ok(o) => o,
        Err(e) => {
            errors.extend(e);
            (0..jobs.len()).collect()
        }
    };
    let mut plans = Vec::new();
    for i in order {
        match plan_job(&jobs[i], schemas_dir, &mut known).await {
            Ok(p) => plans.push(p),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(plans)
    } else {
        Err(errors)
    }
}

/// Job files under a path: the file itself, or every `*.yaml` / `*.yml` below a folder.
pub fn job_files(path: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(file: &str, text: &str) -> Job {
        Job {
            file: file.into(),
            spec: crate::yaml::parse(file, text).unwrap(),
            content_sha256: None,
        }
    }

    #[test]
    fn pipelines_run_after_the_tables_their_silver_or_gold_sql_reads() {
        let src = "source: { files: { path: x, format: ndjson } }";
        let lineitem = job(
            "lineitem.yaml",
            &format!("pipeline: lineitem\nbronze: {{ table: bronze.lineitem, schema: l@1, {src} }}\nsilver:\n  table: silver.lineitem\n  sql: SELECT * FROM input JOIN silver.orders USING (k)\n"),
        );
        let report = job(
            "report.yaml",
            &format!("pipeline: report\nbronze: {{ table: bronze.r, schema: r@1, {src} }}\ngold:\n  - {{ table: gold.r, sql: SELECT count(*) FROM silver.lineitem }}\n"),
        );
        let orders = job(
            "orders.yaml",
            &format!("pipeline: orders\nbronze: {{ table: bronze.orders, schema: o@1, {src} }}\nsilver: {{ table: silver.orders }}\n"),
        );
        let order = order_jobs(&[report, lineitem, orders]).unwrap();
        assert_eq!(order, vec![2, 1, 0]);
    }
}
