//! Content-based classification: `medallion classify` samples each table's text and date
//! columns, runs the [`detect`] detectors, and reports per column what it found against the
//! classification the catalog records: personal data in an unclassified column is flagged
//! (`UNCLASSIFIED`), a classified column where nothing is found is reported too (drift, unless
//! its values are hashed or masked: `protected`). The `pii_scan` rule kind applies the same
//! detectors to rows as they arrive in Silver.

pub mod detect;
pub mod rule;

use std::collections::BTreeMap;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use serde::Serialize;

pub use detect::Detector;

use crate::catalog::TableEntry;
use crate::error::Result;
use crate::table::{self, Location};

/// What a column holds, judged on a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Personal data found and the column is classified.
    Classified,
    /// Personal data found in a column with no classification.
    Unclassified,
    /// Classified, and its values are hashed or masked.
    Protected,
    /// Classified, but the sample shows none of the detected kinds.
    NothingFound,
    /// Neither classified nor holding anything detected.
    Clean,
    /// No value to sample (an empty table or an all-null column).
    NoValues,
}

/// One column's finding.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnFinding {
    pub table: String,
    pub column: String,
    pub classification: Option<String>,
    /// Non-null values sampled.
    pub sampled: u64,
    pub detector: Option<Detector>,
    /// Share of the sampled values the detector matched.
    pub ratio: f64,
    /// Up to three matching values, masked (all but the last 4 characters).
    pub examples: Vec<String>,
    /// The classification to declare (`pii`, `pci`).
    pub suggested: Option<String>,
    pub status: Status,
}

/// How to sample and judge.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub sample: usize,
    /// The share of values a detector must match for the column to hold that kind.
    pub min_ratio: f64,
}

/// Samples one table and judges each of its text and date columns.
pub async fn classify_table(
    name: &str,
    loc: &Location,
    entry: Option<&TableEntry>,
    o: Options,
) -> Result<Vec<ColumnFinding>> {
    let Some(t) = table::open_if_exists(name, loc).await? else {
        return Ok(Vec::new());
    };
    let ctx = SessionContext::new();
    ctx.register_table("t", table::provider(&t, &ctx).await?)?;
    let batches = ctx
        .sql(&format!("SELECT * FROM t LIMIT {}", o.sample))
        .await?
        .collect()
        .await?;
    let schema = table::arrow_schema(&t)?;
    let mut out = Vec::new();
    for f in schema.fields() {
        let textual = matches!(
            f.data_type(),
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Date32
                | DataType::Date64
                | DataType::Int64
                | DataType::UInt64
        );
        // Nested values and the quarantine's `_record` (a record as delivered) are judged as
        // text holding values; other metadata columns are the engine's.
        let nested = f.data_type().is_nested();
        let record = f.name() == "_record" || nested;
        if !(textual || nested) || (f.name().starts_with('_') && f.name() != "_record") {
            continue;
        }
        let values = column_values(&batches, f.name())?;
        let class = entry.and_then(|e| {
            e.columns
                .iter()
                .find(|c| &c.name == f.name())
                .and_then(|c| c.classification.clone())
        });
        out.push(match record {
            true => judge_text(name, f.name(), class, &values, o),
            false => judge(name, f.name(), class, &values, o),
        });
    }
    Ok(out)
}

fn column_values(batches: &[RecordBatch], column: &str) -> Result<Vec<String>> {
    let mut values = Vec::new();
    for b in batches {
        let Some(c) = b.column_by_name(column) else {
            continue;
        };
        if c.data_type().is_nested() {
            let f = arrow::util::display::ArrayFormatter::try_new(
                c.as_ref(),
                &arrow::util::display::FormatOptions::default(),
            )?;
            values.extend(
                (0..c.len())
                    .filter(|i| c.is_valid(*i))
                    .map(|i| f.value(i).to_string()),
            );
            continue;
        }
        let c = arrow::compute::cast(c, &DataType::Utf8)?;
        let a = arrow::array::cast::as_string_array(&c);
        values.extend(
            (0..a.len())
                .filter(|i| a.is_valid(*i))
                .map(|i| a.value(i).to_string()),
        );
    }
    Ok(values)
}

/// The best-matching detector of a column's values, and the column's status.
pub fn judge(
    table: &str,
    column: &str,
    classification: Option<String>,
    values: &[String],
    o: Options,
) -> ColumnFinding {
    let n = values.len().max(1) as f64;
    // Each value counts once, for the first detector taking it; the column's detector is
    // the most frequent, its ratio the share of values any detector took (a column mixing
    // e-mails and phone numbers holds personal data as a whole).
    let mut counts: BTreeMap<Detector, usize> = BTreeMap::new();
    for v in values {
        if let Some(d) = Detector::ALL.into_iter().find(|d| d.is(v, column)) {
            *counts.entry(d).or_insert(0) += 1;
        }
    }
    let any: usize = counts.values().sum();
    let best: Option<(Detector, usize)> = counts.into_iter().max_by_key(|(_, c)| *c);
    let ratio = best.map_or(0.0, |_| any as f64 / n);
    let found = best.filter(|_| ratio >= o.min_ratio && !values.is_empty());
    let examples = found
        .map(|(d, _)| {
            values
                .iter()
                .filter(|v| d.is(v, column))
                .take(3)
                .map(|v| mask(v))
                .collect()
        })
        .unwrap_or_default();
    let protected = values.iter().filter(|v| is_protected(v)).count() as f64 / n >= o.min_ratio;
    let sensitive = classification
        .as_deref()
        .is_some_and(|c| matches!(c, "pii" | "pci" | "phi" | "sensitive" | "confidential"));
    let status = match (found.is_some(), &classification) {
        _ if values.is_empty() => Status::NoValues,
        // A classification that does not say sensitive (`public`, `internal`) is none.
        (true, Some(_)) if sensitive => Status::Classified,
        (true, _) => Status::Unclassified,
        (false, Some(_)) if sensitive && protected => Status::Protected,
        (false, Some(_)) if sensitive => Status::NothingFound,
        _ => Status::Clean,
    };
    ColumnFinding {
        table: table.to_string(),
        column: column.to_string(),
        classification,
        sampled: values.len() as u64,
        detector: found.map(|(d, _)| d),
        ratio: (ratio * 1000.0).round() / 1000.0,
        examples,
        suggested: found.map(|(d, _)| d.classification().to_string()),
        status,
    }
}

/// A column of whole records (text holding fields): the detector found inside the most
/// values, and the column's status.
fn judge_text(
    table: &str,
    column: &str,
    classification: Option<String>,
    values: &[String],
    o: Options,
) -> ColumnFinding {
    let inside: Vec<String> = values
        .iter()
        .map(|v| {
            Detector::ALL
                .into_iter()
                .find(|d| d.within(v))
                .map_or(String::new(), |d| d.name().to_string())
        })
        .collect();
    let mut f = judge(table, column, classification, values, o);
    f.status = match f.status {
        Status::NoValues => Status::NoValues,
        _ if f.classification.is_some() => Status::NothingFound,
        _ => Status::Clean,
    };
    (f.detector, f.suggested, f.examples, f.ratio) = (None, None, Vec::new(), 0.0);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in inside.iter().filter(|d| !d.is_empty()) {
        *counts.entry(d.as_str()).or_insert(0) += 1;
    }
    let Some((name, hits)) = counts.into_iter().max_by_key(|(_, n)| *n) else {
        return f;
    };
    let d = Detector::parse(name).expect("a detector's name");
    // Any record holding personal data is enough: a quarantine holds few, varied records.
    f.detector = Some(d);
    f.ratio = ((hits as f64 / values.len().max(1) as f64) * 1000.0).round() / 1000.0;
    f.suggested = Some(d.classification().to_string());
    f.examples = vec![format!("{hits} record(s) hold {}", d.name())];
    f.status = match f.classification {
        Some(_) => Status::Classified,
        None => Status::Unclassified,
    };
    f
}

/// A 64-hex-digit hash (`pii: hash`) or a masked value (`pii: mask`).
fn is_protected(v: &str) -> bool {
    (v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit())) || v.starts_with("***")
}

/// All but the last 4 characters become `*` (at least half of a short value).
pub fn mask(v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    let keep = 4.min(chars.len() / 2);
    let hidden = chars.len() - keep;
    format!(
        "{}{}",
        "*".repeat(hidden),
        chars[hidden..].iter().collect::<String>()
    )
}

/// Counts per status, for summaries and the audit record.
pub fn summary(findings: &[ColumnFinding]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for f in findings {
        let k = serde_json::to_value(f.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: Options = Options {
        sample: 100,
        min_ratio: 0.5,
    };

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn an_unclassified_column_of_emails_is_flagged_with_masked_examples() {
        let f = judge(
            "t",
            "contact",
            None,
            &s(&["ada@example.com", "bob@example.org", "n/a"]),
            O,
        );
        assert_eq!(f.status, Status::Unclassified);
        assert_eq!(f.detector, Some(Detector::Email));
        assert_eq!(f.suggested.as_deref(), Some("pii"));
        assert_eq!(f.examples[0], "***********.com");
        assert!(f.examples.iter().all(|e| !e.contains("ada")));
    }

    #[test]
    fn mixed_columns_and_non_sensitive_classifications_are_flagged() {
        let mixed = s(&[
            "ada@example.com",
            "+44 20 7946 0001",
            "n/a",
            "bob@example.org",
            "+1 212 555 0102",
        ]);
        let f = judge("t", "contact", None, &mixed, O);
        assert_eq!(
            f.status,
            Status::Unclassified,
            "80% personal data, 40% each kind"
        );
        let f = judge(
            "t",
            "phone",
            Some("public".into()),
            &s(&["+44 20 7946 0001"]),
            O,
        );
        assert_eq!(f.status, Status::Unclassified);
    }

    #[test]
    fn hashed_and_masked_classified_columns_are_protected_not_drift() {
        let h = "a".repeat(64);
        let f = judge("t", "email", Some("pii".into()), &s(&[&h, &h]), O);
        assert_eq!(f.status, Status::Protected);
        let f = judge("t", "notes", Some("pii".into()), &s(&["hello", "world"]), O);
        assert_eq!(f.status, Status::NothingFound);
        let f = judge("t", "country", None, &s(&["GB", "US"]), O);
        assert_eq!(f.status, Status::Clean);
    }
}
