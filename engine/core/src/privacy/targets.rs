//! Which tables hold a data subject's rows, and how each of their columns is matched.

use std::collections::{BTreeMap, HashMap};

use arrow::datatypes::SchemaRef;
use serde::Serialize;

use crate::error::Result;
use crate::lineage::columns::{Kind, Subtype};
use crate::lineage::graph::plan_sql;
use crate::plan::JobPlan;
use crate::spec::{PiiAction, TableName};

/// How a column holds the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// The value is the key (or, for a `hash`ed column, its hash).
    Value,
    /// Engine-written text naming values (a quarantine's `_reason`): the key as a token.
    Token,
    /// A record as delivered (a quarantine's `_record`): a JSON object whose field of one of
    /// these names is the key, or delimited text (a CSV line) one of whose fields is the key.
    Record(Vec<String>),
}

/// One table and the columns by which its rows about a subject are found.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub table: TableName,
    /// `bronze`, `quarantine`, `silver` or `gold`.
    pub layer: String,
    pub pipeline: String,
    pub columns: Vec<(String, Match)>,
    /// Columns derived from the subject's columns that cannot be matched (masked, dropped,
    /// or transformed by the SQL): said, never silently skipped.
    pub unmatched: Vec<String>,
}

impl Target {
    /// The columns whose statistics in the Delta log can hold the key: the matched ones, and
    /// a quarantine's `_reason` (it names the failing value: `customer_id = C123 ...`).
    pub fn log_columns(&self) -> Vec<(String, Match)> {
        let mut c = self.columns.clone();
        if self.layer == "quarantine" {
            c.push(("_reason".into(), Match::Token));
        }
        c
    }
}

/// Every table of `plans` that holds rows of `subject`, in the order they are erased
/// (Bronze, quarantine, Silver, then Gold, which is recomputed).
pub async fn targets(plans: &[JobPlan], subject: &str) -> Result<Vec<Target>> {
    let mut known: HashMap<String, SchemaRef> = HashMap::new();
    for p in plans {
        known.extend(p.output_schemas());
    }
    let mut out: Vec<Target> = Vec::new();
    let mut silver_cols: BTreeMap<(String, String), Match> = BTreeMap::new();
    for p in plans {
        let cols = p.schema.subject_columns(subject);
        if cols.is_empty() {
            continue;
        }
        let pipeline = p.job.spec.pipeline.clone();
        let target = |table: TableName, layer: &str, columns, unmatched| Target {
            table,
            layer: layer.into(),
            pipeline: pipeline.clone(),
            columns,
            unmatched,
        };
        let value = cols.iter().map(|c| (c.clone(), Match::Value)).collect();
        out.push(target(p.job.bronze_table(), "bronze", value, vec![]));
        let record = vec![("_record".to_string(), Match::Record(cols.clone()))];
        out.push(target(
            p.job.quarantine_table(),
            "quarantine",
            record,
            vec![],
        ));
        if let Some(silver) = p.job.silver_table() {
            let (columns, unmatched) = silver_columns(p, &cols, &known).await?;
            for (c, m) in &columns {
                silver_cols.insert((silver.to_string(), c.clone()), m.clone());
            }
            out.push(target(silver, "silver", columns, unmatched));
        }
    }
    for p in plans {
        for g in &p.gold {
            let l = plan_sql(&g.sql, &known, None).await?;
            let (columns, unmatched) = derived(&l.fields, |t, c| {
                silver_cols.get(&(t.to_string(), c.to_string())).cloned()
            });
            if !columns.is_empty() || !unmatched.is_empty() {
                let t = Target {
                    table: g.table.clone(),
                    layer: "gold".into(),
                    pipeline: p.job.spec.pipeline.clone(),
                    columns,
                    unmatched,
                };
                out.push(t);
            }
        }
    }
    Ok(out)
}

/// Silver's columns that hold a subject column of its input: as is (`Value`), hashed by
/// `silver.pii: hash` (`Value`: matched by the key's hash); masked or dropped ones cannot be.
async fn silver_columns(
    p: &JobPlan,
    subject_cols: &[String],
    known: &HashMap<String, SchemaRef>,
) -> Result<(Vec<(String, Match)>, Vec<String>)> {
    let pii = p
        .job
        .spec
        .silver
        .as_ref()
        .map(|s| s.pii.clone())
        .unwrap_or_default();
    let of_input = |t: &str, c: &str| -> Option<Match> {
        if t != "input" || !subject_cols.iter().any(|s| s == c) {
            return None;
        }
        match pii.get(c) {
            None | Some(PiiAction::Hash) => Some(Match::Value),
            Some(PiiAction::Mask) | Some(PiiAction::Drop) => None,
        }
    };
    let Some(sql) = &p.silver_sql else {
        let cols = subject_cols
            .iter()
            .filter(|c| of_input("input", c).is_some())
            .map(|c| (c.clone(), Match::Value))
            .collect();
        return Ok((cols, vec![]));
    };
    let l = plan_sql(sql, known, p.silver_input_schema.as_ref()).await?;
    let (cols, mut unmatched) = derived(&l.fields, of_input);
    // Masked or dropped subject columns are not identifying any more; said in the receipt.
    for c in subject_cols {
        if matches!(pii.get(c), Some(PiiAction::Mask) | Some(PiiAction::Drop)) {
            unmatched.push(format!("{c} (silver.pii: {:?})", pii[c]).to_lowercase());
        }
    }
    Ok((cols, unmatched))
}

type Fields = Vec<(String, crate::lineage::columns::Sources)>;

/// Output columns copied as they are (IDENTITY) from exactly one matchable input column, and
/// those computed from one in another way (they cannot be matched with the key).
fn derived(
    fields: &Fields,
    matchable: impl Fn(&str, &str) -> Option<Match>,
) -> (Vec<(String, Match)>, Vec<String>) {
    let mut cols = Vec::new();
    let mut unmatched = Vec::new();
    for (out, sources) in fields {
        let direct: Vec<_> = sources
            .iter()
            .filter(|(_, ts)| ts.iter().any(|t| t.kind == Kind::Direct))
            .collect();
        let hits: Vec<Match> = direct
            .iter()
            .filter_map(|((t, c), _)| matchable(t, c))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let identity = direct.len() == 1
            && direct[0]
                .1
                .iter()
                .all(|t| t.kind == Kind::Direct && t.subtype == Subtype::Identity && !t.masking);
        if identity {
            cols.push((out.clone(), hits[0].clone()));
        } else {
            unmatched.push(format!("{out} (computed from a subject column)"));
        }
    }
    (cols, unmatched)
}
