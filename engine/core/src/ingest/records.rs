//! The record-decoder trait that every text format implements (NDJSON, CSV), the types each
//! source format can carry (checked at plan time), and [`decode_records`] for independent
//! records such as Kafka message payloads.
//!
//! Guarantee: a decoder turns `n` records into exactly `n` rows, one per record and in order,
//! or fails; [`decode_records`] (like file ingestion) then isolates the bad records by
//! bisection, so every record ends up exactly once in the good rows or in the bad records.

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::DataType;

use super::chunk::{decode_chunk_with, Chunk};
use super::{BadRecord, Decoded, CHUNK_RECORDS};
use crate::error::{Result, SpecError};
use crate::schema::DatasetSchema;
use crate::spec::{FileFormat, Job, KafkaFormat, SourceSpec};

/// Decodes records of one text format into rows of the raw schema (text leaves).
pub trait RecordDecoder: Send + Sync {
    /// Decodes `records` (each without its line end) into a batch of the raw schema with
    /// exactly one row per record, in order; or says, for a person, why they cannot be
    /// decoded. A caller splits a failing set until the bad record stands alone.
    fn decode(&self, records: &[&[u8]]) -> std::result::Result<RecordBatch, String>;
}

/// The raw (Bronze) Arrow types a format can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carries {
    /// Text leaves, structs and lists (NDJSON, Parquet).
    Nested,
    /// Text columns only: a CSV cell or a raw payload is one string.
    Text,
}

impl Carries {
    /// Whether a column of this raw type keeps its values in this format.
    pub fn carries(self, raw: &DataType) -> bool {
        match self {
            Carries::Nested => true,
            Carries::Text => !raw.is_nested(),
        }
    }
}

/// What a source format can carry, and its name for messages.
fn source_carries(source: &SourceSpec) -> (Carries, &'static str, &'static str) {
    match source {
        SourceSpec::Files(f) => {
            let carries = match f.format {
                FileFormat::Ndjson => super::json::CARRIES,
                FileFormat::Csv => super::csv::CARRIES,
                FileFormat::Parquet => super::parquet::CARRIES,
            };
            let name = match f.format {
                FileFormat::Ndjson => "ndjson",
                FileFormat::Csv => "csv",
                FileFormat::Parquet => "parquet",
            };
            (carries, name, "bronze.source.files.format")
        }
        SourceSpec::Kafka(k) => match k.format {
            KafkaFormat::Json => (super::json::CARRIES, "json", "bronze.source.kafka.format"),
            KafkaFormat::CsvLines => (
                super::csv::CARRIES,
                "csv_lines",
                "bronze.source.kafka.format",
            ),
            KafkaFormat::Raw => (Carries::Text, "raw", "bronze.source.kafka.format"),
        },
    }
}

/// Plan-time check that the job's source format can carry every column of its schema (a
/// CSV cell cannot hold a struct or a list: it would be read as null).
pub fn check_types(job: &Job, ds: &DatasetSchema) -> Vec<SpecError> {
    let (carries, format, path) = source_carries(&job.spec.bronze.source);
    let raw = ds.raw_schema();
    let typed = ds.typed_schema();
    raw.fields()
        .iter()
        .zip(typed.fields())
        .filter(|(r, _)| !carries.carries(r.data_type()))
        .map(|(_, t)| {
            SpecError::new(
                &job.file,
                path,
                format!(
                    "format `{format}` cannot carry column `{}` of {} (type {}): its values would be lost. \
                     Read this source as NDJSON or Parquet, or declare `{}` as `string` in a new schema version",
                    t.name(),
                    ds.reference(),
                    type_text(t.data_type()),
                    t.name()
                ),
            )
        })
        .collect()
}

/// A type as a person reads it: `list<struct<sku: Utf8, qty: Int32>>`.
fn type_text(t: &DataType) -> String {
    match t {
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), type_text(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::List(item) | DataType::LargeList(item) => {
            format!("list<{}>", type_text(item.data_type()))
        }
        other => other.to_string(),
    }
}

/// Decodes independent records (one value each, e.g. Kafka message payloads) into batches
/// of the raw schema, with the same bisection as file ingestion: a bad record is isolated
/// and reported without taking good records with it. Rows come back in input order with
/// their 0-based record indexes (in `lines`); bad records carry their index in `line`.
/// Every record is in exactly one of the two outputs.
pub fn decode_records(
    decoder: &dyn RecordDecoder,
    records: &[&[u8]],
) -> Result<(Vec<(RecordBatch, Int64Array)>, Vec<BadRecord>)> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (start, part) in records.chunks(CHUNK_RECORDS).enumerate() {
        let base = (start * CHUNK_RECORDS) as i64;
        let mut chunk = Chunk::with_capacity(part.iter().map(|r| r.len() + 1).sum(), part.len());
        for (i, r) in part.iter().enumerate() {
            let mut end = r.len();
            while end > 0 && matches!(r[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            chunk.push(&r[..end], base + i as i64);
        }
        decode_chunk_with(0, chunk, decoder, &mut |d| {
            match d {
                Decoded::Rows { batch, lines, .. } => good.push((batch, lines)),
                Decoded::Bad { records, .. } => bad.extend(records),
                Decoded::FileDone { .. } => {}
            }
            Ok(())
        })?;
    }
    bad.sort_by_key(|b| b.line);
    Ok((good, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str) -> Vec<String> {
        let file = "jobs/x.yaml";
        let text = format!(
            "pipeline: x\nbronze:\n  table: bronze.x\n  schema: orders@1\n  source:\n    {source}\n"
        );
        let job = Job {
            file: file.into(),
            spec: crate::yaml::parse(file, &text).unwrap(),
            content_sha256: None,
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let ds = crate::schema::load_schema(&root, "orders@1", file, "bronze.schema").unwrap();
        check_types(&job, &ds)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    /// Issue 10, silent loss #3: CSV turned the struct/list column `items` into nulls.
    #[test]
    fn csv_and_raw_refuse_nested_columns_json_and_parquet_carry_them() {
        let csv = check("files: { path: in/*.csv, format: csv }");
        assert_eq!(csv.len(), 1);
        assert!(
            csv[0].starts_with("jobs/x.yaml: bronze.source.files.format: format `csv` cannot carry column `items` of orders@1 (type list<struct<sku: Utf8, qty: Int32>>)"),
            "{}",
            csv[0]
        );
        let kafka = check("kafka: { topic: orders, format: csv_lines }");
        assert_eq!(kafka.len(), 1);
        assert!(
            kafka[0].contains(
                "bronze.source.kafka.format: format `csv_lines` cannot carry column `items`"
            ),
            "{}",
            kafka[0]
        );
        assert!(check("files: { path: in/*.ndjson, format: ndjson }").is_empty());
        assert!(check("files: { path: in/*.parquet, format: parquet }").is_empty());
        assert!(check("kafka: { topic: orders, format: json }").is_empty());
    }
}
