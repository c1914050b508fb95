//! The job spec: one pipeline per YAML file (`jobs/**/*.yaml`), Bronze → Silver → Gold.
//!
//! Every field is documented here and in `docs/spec.md`. Unknown fields are refused.
//! [`load_job`] parses a file (errors name the file and field path); [`JobSpec::check`]
//! runs every static check and returns all problems at once. SQL is checked later by the
//! planner ([`crate::plan`]), which needs the schemas.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::SpecError;

mod check;
#[cfg(test)]
mod tests;

/// A pipeline: where data comes from, how it is cleaned, what is aggregated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Pipeline name (letters, digits, `_`, `-`); recorded as the owner of every table it writes.
    pub pipeline: String,
    /// What the pipeline does.
    #[serde(default)]
    pub description: Option<String>,
    /// Team or person responsible, recorded in the catalog.
    #[serde(default)]
    pub owner: Option<String>,
    /// Raw ingestion.
    pub bronze: BronzeSpec,
    /// Validated, cleaned data (optional: a pipeline may stop at Bronze).
    #[serde(default)]
    pub silver: Option<SilverSpec>,
    /// Aggregations over Silver tables.
    #[serde(default)]
    pub gold: Vec<GoldSpec>,
    /// This pipeline's promotion gates, overriding the target environment's `gates`.
    #[serde(default)]
    pub gates: Option<PipelineGates>,
    /// How often the pipeline's tables are expected to receive a commit (`medallion quality
    /// report` flags a table older than that).
    #[serde(default)]
    pub freshness: Option<Freshness>,
}

/// `freshness:` of a job spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// The longest expected time between two commits of each of the pipeline's tables: a
    /// whole number and a unit (`30m`, `24h`, `7d`).
    pub expect_every: String,
}

impl Freshness {
    /// `expect_every` as a duration (checked by [`Job::check`]).
    pub fn interval(&self) -> Result<std::time::Duration, String> {
        crate::kafka_spec::parse_duration(&self.expect_every).and_then(|d| match d.is_zero() {
            true => Err(format!(
                "`{}` is zero: give the longest expected time between commits",
                self.expect_every
            )),
            false => Ok(d),
        })
    }
}

/// `gates:` of a job spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineGates {
    #[serde(default)]
    pub max_quarantine_ratio: Option<f64>,
}

/// Bronze: raw records as delivered, plus ingestion metadata columns
/// (`_ingest_time`, `_source_file`, `_source_line`, `_run_id`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BronzeSpec {
    /// Table name `<database>.<table>`, e.g. `bronze.orders`.
    pub table: String,
    /// Where records come from.
    pub source: SourceSpec,
    /// The pinned schema, `<dataset>@<version>` → `schemas/<dataset>/v<version>.yaml`.
    pub schema: String,
    /// Table description for the catalog.
    #[serde(default)]
    pub description: Option<String>,
    /// How long this table keeps rows (`medallion maintain`), overriding the environment's.
    #[serde(default)]
    pub retention: Option<TableRetention>,
}

/// `retention:` of a table in a spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRetention {
    /// Days a row is kept, instead of what the environment says for the table.
    #[serde(default)]
    pub days: Option<u32>,
    /// The column that dates a row (a timestamp or date); default `_ingest_time` where the
    /// table has it.
    #[serde(default)]
    pub column: Option<String>,
}

/// A source of records. One key selects the kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSpec {
    /// Files on the local file system, by path or glob.
    Files(FilesSource),
    /// Kafka topics, consumed by `medallion stream` (see [`KafkaSource`]).
    Kafka(KafkaSource),
}

pub use crate::kafka_spec::{KafkaFormat, KafkaSource};

/// Files on the local file system or in S3. Incremental: a file already ingested into the
/// Bronze table (by path; an S3 object by key and ETag) is never read again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSource {
    /// A file, a directory (all files in it, recursively) or a glob such as
    /// `landing/orders/*.ndjson`. Relative paths are relative to the project root (the folder
    /// holding `environments.yaml`). `s3://bucket/prefix/` (every object under it),
    /// `s3://bucket/key` or `s3://bucket/landing/**/*.ndjson` read S3 objects.
    pub path: String,
    /// File format.
    pub format: FileFormat,
    /// Compression of text files: `auto` (default: by extension, `.gz`, `.zst`, `.bz2`),
    /// `none`, `gzip`, `zstd` or `bzip2`.
    #[serde(default)]
    pub compression: Compression,
    /// CSV options (only with `format: csv`).
    #[serde(default)]
    pub csv: Option<CsvOptions>,
    /// What to do with a record field that the schema does not declare:
    /// `quarantine` (default; the record is kept in the quarantine table with the reason) or
    /// `ignore` (the field is dropped, the record kept).
    #[serde(default)]
    pub unknown_fields: UnknownFields,
}

impl FilesSource {
    /// An empty file source (the decoder's settings when a run has no files to read).
    pub fn none() -> Self {
        Self {
            path: String::new(),
            format: FileFormat::Ndjson,
            compression: Compression::Auto,
            csv: None,
            unknown_fields: UnknownFields::Quarantine,
        }
    }
}

/// File formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Newline-delimited JSON, one object per line (`json` is accepted as a synonym).
    #[serde(alias = "json", alias = "jsonl")]
    Ndjson,
    /// Comma-separated values (RFC 4180 quoting).
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// Compression of a source's text files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// By the file's extension: `.gz`/`.gzip` gzip, `.zst`/`.zstd` zstd, `.bz2` bzip2, else none.
    #[default]
    Auto,
    None,
    Gzip,
    Zstd,
    Bzip2,
}

impl Compression {
    /// The compression of `name` (a path or object key) under this setting.
    pub fn of(self, name: &str) -> Compression {
        if self != Compression::Auto {
            return self;
        }
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".gz") || lower.ends_with(".gzip") {
            Compression::Gzip
        } else if lower.ends_with(".zst") || lower.ends_with(".zstd") {
            Compression::Zstd
        } else if lower.ends_with(".bz2") {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }
}

/// CSV options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Whether the first line holds the column names (default true). With a header,
    /// columns are matched by name; without, by position.
    #[serde(default = "yes")]
    pub header: bool,
    /// Field delimiter, one character (default `,`).
    #[serde(default = "comma")]
    pub delimiter: char,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            header: true,
            delimiter: ',',
        }
    }
}

fn yes() -> bool {
    true
}
fn comma() -> char {
    ','
}

/// Handling of fields the schema does not declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFields {
    #[default]
    Quarantine,
    Ignore,
}

/// Silver: the Bronze records cast to the pinned schema, checked by rules, deduplicated,
/// masked and transformed. Only Bronze rows not yet processed are read (incremental).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilverSpec {
    /// Table name `<database>.<table>`, e.g. `silver.orders`.
    pub table: String,
    /// Where rejected rows go (default `<silver table>_quarantine`). It holds the original
    /// record as JSON, the stage, rule, reason, column, source file and line, and run id.
    #[serde(default)]
    pub quarantine_table: Option<String>,
    /// Keep one row per key: the latest by `latest_by`. With dedupe, Silver is upserted by
    /// these keys (a newer record replaces the stored one); without, rows are appended.
    #[serde(default)]
    pub dedupe: Option<DedupeSpec>,
    /// Quality rules, checked in order.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Columns holding personal data and how to protect them before they reach Silver:
    /// `hash` (SHA-256 hex; HMAC-SHA-256 hex with the environment's `pii.hash_key_env` key),
    /// `mask` (all but the last 4 characters become `*`), `drop`. A schema column classified
    /// `pii` that the SQL reads without an action here is a plan warning.
    #[serde(default)]
    pub pii: BTreeMap<String, PiiAction>,
    /// Columns classified `pii` that Silver keeps raw on purpose, each with the written reason
    /// (`{ email: "support needs to reach the customer; access restricted" }`); the PII gate of
    /// `medallion promote` accepts them.
    #[serde(default)]
    pub pii_allow: BTreeMap<String, String>,
    /// How long the Silver table keeps rows (`medallion maintain`), overriding the environment's.
    #[serde(default)]
    pub retention: Option<TableRetention>,
    /// The transform, in SQL over the relation `input` (the typed, checked, deduplicated,
    /// masked rows, with the Bronze metadata columns). Default: `SELECT * FROM input`.
    #[serde(default)]
    pub sql: Option<String>,
    /// Table description for the catalog.
    #[serde(default)]
    pub description: Option<String>,
}

/// Dedupe settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeSpec {
    /// The key columns.
    pub keys: Vec<String>,
    /// The column that orders versions of a key; the largest wins. Default: the Bronze
    /// arrival order (`_ingest_time`, then `_source_file`, `_source_line`).
    #[serde(default)]
    pub latest_by: Option<String>,
}

/// How PII is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiAction {
    Hash,
    Mask,
    Drop,
}

/// A quality rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Rule name, unique within the pipeline; appears in reports and quarantine reasons.
    pub name: String,
    /// What must hold. A string is a SQL boolean expression over the typed columns;
    /// otherwise one of `not_null`, `unique`, `between` (alias `range`), `accepted_values`,
    /// `regex`, `row_count`. A null value passes every check but `not_null`.
    pub check: Check,
    /// What happens to rows that fail: `warn` (kept, counted), `drop` (removed, counted),
    /// `quarantine` (moved to the quarantine table with the reason), `fail` (the run stops
    /// and no table changes). Default `fail`.
    #[serde(default)]
    pub on_fail: OnFail,
    /// Why the rule exists.
    #[serde(default)]
    pub description: Option<String>,
}

/// On-fail policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFail {
    Warn,
    Drop,
    Quarantine,
    #[default]
    Fail,
}

impl fmt::Display for OnFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnFail::Warn => "warn",
            OnFail::Drop => "drop",
            OnFail::Quarantine => "quarantine",
            OnFail::Fail => "fail",
        })
    }
}

/// A rule's check.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// A SQL boolean expression, e.g. `amount >= 0`.
    Sql(String),
    Builtin(BuiltinCheck),
}

/// Built-in checks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BuiltinCheck {
    /// `sql: <expression>`: same as a plain string.
    Sql(String),
    /// `not_null: <column>`.
    NotNull(String),
    /// `unique: <column>` or `unique: [<columns>]`: the key appears once in the run's rows
    /// (after dedupe). All rows of a repeated key fail.
    Unique(OneOrMany),
    /// `between: { column, min, max }` (inclusive; either bound may be left out).
    #[serde(alias = "range")]
    Between(BetweenCheck),
    /// `accepted_values: { column, values: [...] }`.
    AcceptedValues(AcceptedValuesCheck),
    /// `regex: { column, pattern }`: the whole value must match (anchors are added).
    Regex(RegexCheck),
    /// `row_count: { min, max }`: the number of rows the run brings to Silver. Table-level:
    /// `on_fail` must be `warn` or `fail`.
    RowCount(RowCountCheck),
    /// `pii_scan: { columns: [notes], detectors: [email, phone] }`: fails a row when a column
    /// holds personal or payment data a detector finds anywhere in its text (default: every
    /// detector but `date_of_birth` and `person_name`). See docs/classification.md.
    PiiScan(PiiScanCheck),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiScanCheck {
    pub columns: Vec<String>,
    #[serde(default)]
    pub detectors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn columns(&self) -> Vec<String> {
        match self {
            OneOrMany::One(c) => vec![c.clone()],
            OneOrMany::Many(cs) => cs.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetweenCheck {
    pub column: String,
    #[serde(default)]
    pub min: Option<Scalar>,
    #[serde(default)]
    pub max: Option<Scalar>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedValuesCheck {
    pub column: String,
    pub values: Vec<Scalar>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexCheck {
    pub column: String,
    pub pattern: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowCountCheck {
    #[serde(default)]
    pub min: Option<u64>,
    #[serde(default)]
    pub max: Option<u64>,
}

/// A literal value in a check.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    /// The value as a SQL literal.
    pub fn sql(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => format!("{f:?}"),
            Scalar::Str(s) => sql_string(s),
        }
    }
}

/// Quotes a string as a SQL literal.
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quotes an identifier for SQL.
pub fn sql_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Check;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a SQL boolean expression, or one of not_null, unique, between, accepted_values, regex, row_count, sql",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Check, E> {
                Ok(Check::Sql(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Check, A::Error> {
                let b = BuiltinCheck::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(match b {
                    BuiltinCheck::Sql(s) => Check::Sql(s),
                    other => Check::Builtin(other),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A Gold table: a SQL query over Silver (or other Gold) tables, rewritten on every run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldSpec {
    /// Table name `<database>.<table>`, e.g. `gold.daily_revenue`.
    pub table: String,
    /// The query; refer to tables by `<database>.<table>`.
    pub sql: String,
    /// Table description for the catalog.
    #[serde(default)]
    pub description: Option<String>,
    /// How long the Gold table's versions keep files (`medallion maintain`). Gold rows are
    /// recomputed from Silver, so Silver's retention decides which rows Gold holds.
    #[serde(default)]
    pub retention: Option<TableRetention>,
}

/// A qualified table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TableName {
    pub database: String,
    pub table: String,
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl TableName {
    /// Parses `<database>.<table>` (lower-case letters, digits, `_`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once('.') {
            Some((d, t)) if is_identifier(d) && is_identifier(t) => {
                Ok(TableName { database: d.to_string(), table: t.to_string() })
            }
            _ => Err(format!(
                "`{s}` is not a table name; write `<database>.<table>` in lower case letters, digits and `_`, e.g. `silver.orders`"
            )),
        }
    }
}

/// A parsed job spec with its file.
#[derive(Debug, Clone)]
pub struct Job {
    pub file: String,
    pub spec: JobSpec,
    /// SHA-256 (hex) of the file's content as read to plan it (recorded in the audit trail).
    pub content_sha256: Option<String>,
}

/// Reads a job spec file.
pub fn load_job(path: &Path) -> Result<Job, SpecError> {
    let file = path.display().to_string();
    // One read: the text parsed is the text hashed (what was planned is what is recorded,
    // promoted and enforced, even if the file changes meanwhile).
    let text = std::fs::read_to_string(path)
        .map_err(|e| SpecError::new(&file, "", format!("cannot read the file: {e}")))?;
    let spec: JobSpec = crate::yaml::parse(&file, &text)?;
    Ok(Job {
        content_sha256: Some(crate::audit::sha256_hex(text.as_bytes())),
        file,
        spec,
    })
}

impl Job {
    pub fn bronze_table(&self) -> TableName {
        TableName::parse(&self.spec.bronze.table).expect("checked")
    }
    pub fn silver_table(&self) -> Option<TableName> {
        self.spec
            .silver
            .as_ref()
            .map(|s| TableName::parse(&s.table).expect("checked"))
    }
    /// Where rejected records go: `silver.quarantine_table`, else `<silver table>_quarantine`,
    /// else (a Bronze-only pipeline) `<bronze table>_quarantine`.
    pub fn quarantine_table(&self) -> TableName {
        if let Some(q) = self
            .spec
            .silver
            .as_ref()
            .and_then(|s| s.quarantine_table.as_ref())
        {
            return TableName::parse(q).expect("checked");
        }
        let base = self.silver_table().unwrap_or_else(|| self.bronze_table());
        TableName {
            database: base.database,
            table: format!("{}_quarantine", base.table),
        }
    }
    pub fn gold_tables(&self) -> Vec<TableName> {
        self.spec
            .gold
            .iter()
            .map(|g| TableName::parse(&g.table).expect("checked"))
            .collect()
    }

    /// Every table this pipeline writes.
    pub fn output_tables(&self) -> Vec<TableName> {
        let mut out = vec![self.bronze_table()];
        out.extend(self.silver_table());
        out.push(self.quarantine_table());
        out.extend(self.gold_tables());
        out
    }
}
