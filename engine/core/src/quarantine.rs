//! The row model shared by batch runs and the Kafka stream: quarantine records and Bronze's
//! metadata columns are built here, once.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::SchemaRef;

use crate::error::Result;
use crate::plan::quarantine_schema;

/// One quarantined record, with where it came from and why it was rejected.
#[derive(Debug, Clone)]
pub struct QuarantineRow {
    /// `bronze` (could not be parsed) or `silver` (schema or rule).
    pub stage: &'static str,
    pub rule: String,
    pub column: Option<String>,
    pub reason: String,
    /// The record as delivered (text) or as JSON.
    pub record: String,
    /// The source file, or `topic/partition` for Kafka.
    pub source_file: Option<String>,
    /// The 1-based line (text), row (Parquet) or offset (Kafka).
    pub source_line: Option<i64>,
}

/// The quarantine table's rows for `rows`, stamped with the run and time.
pub fn quarantine_batch(rows: &[QuarantineRow], run_id: &str, at: i64) -> Result<RecordBatch> {
    let n = rows.len();
    let text = |f: &dyn Fn(&QuarantineRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(vec![at; n]).with_timezone("UTC")),
        Arc::new(StringArray::from(vec![run_id; n])),
        text(&|r| Some(r.stage)),
        text(&|r| Some(r.rule.as_str())),
        text(&|r| r.column.as_deref()),
        text(&|r| Some(r.reason.as_str())),
        text(&|r| Some(r.record.as_str())),
        text(&|r| r.source_file.as_deref()),
        Arc::new(rows.iter().map(|r| r.source_line).collect::<Int64Array>()),
    ];
    Ok(RecordBatch::try_new(quarantine_schema(), columns)?)
}

/// Bronze's metadata columns, appended to `data`'s columns: `_ingest_time`, `_source_file`,
/// `_source_line`, `_run_id` (see [`crate::plan::bronze_meta_fields`]).
pub fn with_bronze_metadata(
    data: &RecordBatch,
    bronze: &SchemaRef,
    ingest_time: i64,
    source: ArrayRef,
    lines: Int64Array,
    run_id: &str,
) -> Result<RecordBatch> {
    let mut columns = data.columns().to_vec();
    columns.extend(bronze_metadata_columns(
        data.num_rows(),
        ingest_time,
        source,
        lines,
        run_id,
    ));
    Ok(RecordBatch::try_new(bronze.clone(), columns)?)
}

/// The four metadata columns of `n` Bronze rows, in [`crate::plan::bronze_meta_fields`] order.
pub fn bronze_metadata_columns(
    n: usize,
    ingest_time: i64,
    source: ArrayRef,
    lines: Int64Array,
    run_id: &str,
) -> Vec<ArrayRef> {
    vec![
        Arc::new(TimestampMicrosecondArray::from(vec![ingest_time; n]).with_timezone("UTC")),
        source,
        Arc::new(lines),
        Arc::new(StringArray::from(vec![run_id; n])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_rows_keep_every_field() {
        let rows = vec![QuarantineRow {
            stage: "silver",
            rule: "positive".into(),
            column: Some("amount".into()),
            reason: "amount is -1".into(),
            record: "{\"amount\":-1}".into(),
            source_file: Some("a.ndjson".into()),
            source_line: Some(7),
        }];
        let b = quarantine_batch(&rows, "run-1", 5).unwrap();
        assert_eq!(b.num_rows(), 1);
        let col = |name: &str| {
            arrow::util::display::array_value_to_string(b.column_by_name(name).unwrap(), 0).unwrap()
        };
        assert_eq!(col("_rule"), "positive");
        assert_eq!(col("_column"), "amount");
        assert_eq!(col("_source_line"), "7");
        assert_eq!(col("_run_id"), "run-1");
    }
}
