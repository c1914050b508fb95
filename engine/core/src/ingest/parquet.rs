//! Parquet: row groups read with arrow's Parquet reader, cast to the schema's raw form
//! (text leaves; structs and lists kept). A file that cannot be read or decoded fails the
//! run (the rows read before the failure are not committed); a file with columns the schema
//! does not declare has every row quarantined under `unknown_fields: quarantine`.

use std::fs::File;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, Int64Array, RecordBatch, StructArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, SchemaRef};

use super::{BadRecord, Carries, Decoded, SourceFile, CHUNK_RECORDS};
use crate::error::{Error, Result};
use crate::spec::{FilesSource, UnknownFields};

/// Parquet carries structs and lists.
pub const CARRIES: Carries = Carries::Nested;

/// Decodes a Parquet file, emitting its rows (or, when its columns are refused, its rows as
/// bad records) batch by batch.
pub(super) fn decode_parquet(
    idx: usize,
    f: &SourceFile,
    source: &FilesSource,
    raw: &SchemaRef,
    emit: &dyn Fn(Decoded) -> Result<()>,
) -> Result<()> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let (path, _copy) = super::source::local_copy(&f.origin, f.size)?;
    let file = File::open(&path).map_err(|e| Error::io(f.origin.shown(), e))?;
    let bad_file = |m: String| Error::Source {
        path: f.name.clone(),
        message: m,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad_file(format!("not a readable Parquet file: {e}")))?;
    let reject = rejected_columns(builder.schema(), raw, source.unknown_fields);
    let reader = builder
        .with_batch_size(CHUNK_RECORDS)
        .build()
        .map_err(|e| bad_file(e.to_string()))?;
    let mut row: i64 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| {
            bad_file(format!(
                "cannot decode (after row {row}): {e}; the file may be truncated or corrupt"
            ))
        })?;
        let n = batch.num_rows();
        let lines = Int64Array::from_iter_values((row + 1)..=(row + n as i64));
        row += n as i64;
        if let Some(reason) = &reject {
            let records = crate::typing::rows_as_json(&batch)?
                .into_iter()
                .zip(lines.values().iter())
                .map(|(record, line)| BadRecord {
                    line: *line,
                    record,
                    reason: reason.clone(),
                    column: None,
                })
                .collect();
            emit(Decoded::Bad { file: idx, records })?;
            continue;
        }
        let columns = raw
            .fields()
            .iter()
            .map(|field| match batch.column_by_name(field.name()) {
                Some(col) => to_raw(col, field.data_type()).map_err(|e| {
                    bad_file(format!(
                        "column `{}` ({}) cannot be read as {}: {e}",
                        field.name(),
                        col.data_type(),
                        field.data_type()
                    ))
                }),
                None => Ok(new_null_array(field.data_type(), n)),
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(raw.clone(), columns)?;
        emit(Decoded::Rows {
            file: idx,
            batch,
            lines,
        })?;
    }
    Ok(())
}

/// The reason every row is refused when the file has columns the schema does not declare
/// (under `unknown_fields: quarantine`).
fn rejected_columns(file: &SchemaRef, raw: &SchemaRef, unknown: UnknownFields) -> Option<String> {
    let extra: Vec<String> = file
        .fields()
        .iter()
        .filter(|c| raw.field_with_name(c.name()).is_err())
        .map(|c| format!("`{}`", c.name()))
        .collect();
    (!extra.is_empty() && unknown == UnknownFields::Quarantine).then(|| {
        format!(
            "the file has column(s) {} that the pinned schema does not declare (add them in a new schema version, or set `unknown_fields: ignore`)",
            extra.join(", ")
        )
    })
}

/// Casts a typed column to its raw (text-leaf) form.
fn to_raw(
    col: &ArrayRef,
    raw_type: &DataType,
) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
    if let (DataType::Struct(raw_fields), Some(s)) =
        (raw_type, col.as_any().downcast_ref::<StructArray>())
    {
        let children = raw_fields
            .iter()
            .map(|rf| match s.column_by_name(rf.name()) {
                Some(c) => to_raw(c, rf.data_type()),
                None => Ok(new_null_array(rf.data_type(), s.len())),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        return Ok(Arc::new(StructArray::try_new(
            raw_fields.clone(),
            children,
            s.nulls().cloned(),
        )?));
    }
    cast_with_options(
        col,
        raw_type,
        &CastOptions {
            safe: false,
            ..Default::default()
        },
    )
}
