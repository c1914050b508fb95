//! What the site shows, as data: written to `assets/data.js` for the page's script.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub environment: String,
    pub lake: String,
    pub catalog: String,
    pub retention_days: u32,
    /// When the site was generated (UTC, RFC 3339).
    pub generated_at: String,
    /// The audit trail shown covers this many days before `generated_at`.
    pub audit_days: i64,
    pub tables: Vec<TableDoc>,
    pub pipelines: Vec<PipelineDoc>,
    pub lineage: LineageDoc,
    pub audit: AuditDoc,
    /// Things the generator could not read (a table's Delta log, ...): shown on the front page.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableDoc {
    pub name: String,
    pub layer: String,
    pub pipeline: String,
    pub owner: Option<String>,
    pub description: Option<String>,
    pub location: String,
    pub schema_ref: Option<String>,
    pub columns: Vec<ColumnDoc>,
    /// In the catalog (false: the specs produce it but it has not been written yet).
    pub in_catalog: bool,
    pub delta_version: Option<i64>,
    pub files: Option<u64>,
    pub bytes: Option<u64>,
    /// None when unknown (a data file without a row count in its statistics).
    pub rows: Option<u64>,
    pub last_commit: Option<CommitDoc>,
    pub retention_days: u32,
    /// The column lineage around the table (its columns, what feeds them and what they feed).
    pub column_graph_svg: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnDoc {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
    pub classification: Option<String>,
    /// The PII action the spec applies before Silver (`hash`, `mask`, `drop`).
    pub pii: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommitDoc {
    pub version: i64,
    pub at: Option<String>,
    pub operation: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineDoc {
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub spec_file: String,
    pub spec_text: String,
    pub source: Vec<String>,
    pub tables: Vec<String>,
    pub rules: Vec<RuleDoc>,
    /// The last 20 runs in the whole trail, newest first.
    pub runs: Vec<RunDoc>,
    /// Rows failing each rule over those runs, as a small bar chart per rule.
    pub rules_chart_svg: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleDoc {
    pub name: String,
    pub check: String,
    pub on_fail: String,
    pub description: Option<String>,
    /// The outcome in the last run that reached the rule: `passed`, `12 rows quarantined`...
    pub last_outcome: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunDoc {
    pub run_id: String,
    pub at: String,
    /// `finished`, `failed` or `interrupted`.
    pub status: String,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    /// Rule → (checked, failed), as the trail recorded them.
    pub rules: BTreeMap<String, RuleRun>,
    /// `stage:rule` → rows quarantined.
    pub quarantined: BTreeMap<String, u64>,
    pub dropped: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct RuleRun {
    #[serde(default)]
    pub on_fail: String,
    #[serde(default)]
    pub checked: u64,
    #[serde(default)]
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineageDoc {
    /// Table-level graph of the whole project.
    pub tables_svg: String,
    /// Column-level graph of the whole project.
    pub columns_svg: String,
    pub edges: Vec<EdgeDoc>,
}

/// A column edge: `to` is computed from (DIRECT) or decided by (INDIRECT) `from`.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeDoc {
    pub from: String,
    pub from_column: String,
    pub to: String,
    pub to_column: Option<String>,
    pub kind: String,
    pub subtype: String,
    pub pipeline: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditDoc {
    /// Where the trail is.
    pub trail: String,
    /// `intact` or `BROKEN`, with what `audit verify` found.
    pub verdict: String,
    pub findings: Vec<String>,
    pub records_total: u64,
    pub records: Vec<AuditRow>,
}

/// The part of an audit record the site shows: not the command lines, queries or details
/// (a site may be hosted where the trail itself is not readable).
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub seq: u64,
    pub at: String,
    pub action: String,
    pub table: Option<String>,
    pub version: Option<i64>,
    pub pipeline: Option<String>,
    pub run_id: Option<String>,
    pub who: String,
}

impl From<&medallion_core::audit::Record> for AuditRow {
    fn from(r: &medallion_core::audit::Record) -> Self {
        let who = match &r.who.aws_arn {
            Some(arn) => format!("{}@{} {arn}", r.who.user, r.who.host),
            None => format!("{}@{}", r.who.user, r.who.host),
        };
        Self {
            seq: r.seq,
            at: r.at.clone(),
            action: r.action.clone(),
            table: r.table.clone(),
            version: r.version,
            pipeline: r.what.pipeline.clone(),
            run_id: r.run_id.clone(),
            who,
        }
    }
}
