//! Silver typing: cast Bronze's raw (text) columns to the pinned schema's types and find,
//! per row, the first column that does not fit (with the value and the reason).
//!
//! Casting is arrow's (`safe` mode: a value that does not convert becomes null); a failure is
//! a leaf that was present before the cast and null after it, or a null in a non-nullable
//! field. Empty text counts as null for non-text types (CSV writes nulls that way).

use std::sync::Arc;

use arrow::array::{
    make_array, Array, ArrayRef, AsArray, BooleanArray, GenericListArray, RecordBatch, StringArray,
    StructArray,
};
use arrow::buffer::NullBuffer;
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

use crate::error::Result;

/// Why a row did not fit the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeFailure {
    /// Column path, e.g. `reading.temperature_c`.
    pub column: String,
    pub reason: String,
}

/// The typed form of a raw batch: all rows (failed ones included, with nulls where the cast
/// failed) and the failure of each row, if any.
pub struct Typed {
    pub batch: RecordBatch,
    pub failures: Vec<Option<TypeFailure>>,
}

/// Casts the columns of `raw` named in `typed_fields` to their types; other columns
/// (metadata) are carried over unchanged. The output schema is `output_schema`
/// (typed fields made nullable, then the metadata fields).
pub fn cast_batch(
    raw: &RecordBatch,
    typed_fields: &[FieldRef],
    output_schema: &SchemaRef,
    schema_ref: &str,
) -> Result<Typed> {
    let n = raw.num_rows();
    let mut failures: Vec<Option<TypeFailure>> = vec![None; n];
    let mut columns = Vec::with_capacity(output_schema.fields().len());
    for out_field in output_schema.fields() {
        let raw_col = raw.column_by_name(out_field.name()).ok_or_else(|| {
            crate::error::Error::Internal(format!(
                "column `{}` missing from the Bronze batch",
                out_field.name()
            ))
        })?;
        match typed_fields.iter().find(|f| f.name() == out_field.name()) {
            Some(target) => {
                let normalized = empty_as_null(raw_col, target.data_type())?;
                let cast = cast_with_options(
                    &normalized,
                    target.data_type(),
                    &CastOptions {
                        safe: true,
                        ..Default::default()
                    },
                )?;
                let rows: Vec<usize> = (0..n).collect();
                find_failures(
                    &normalized,
                    &cast,
                    target,
                    target.name(),
                    None,
                    &rows,
                    &mut failures,
                    schema_ref,
                );
                columns.push(cast);
            }
            None => columns.push(if raw_col.data_type() == out_field.data_type() {
                raw_col.clone()
            } else {
                cast_with_options(raw_col, out_field.data_type(), &CastOptions::default())?
            }),
        }
    }
    let batch = RecordBatch::try_new(output_schema.clone(), columns)?;
    Ok(Typed { batch, failures })
}

/// The output schema of [`cast_batch`]: typed fields (nullable) then the other raw fields.
pub fn output_schema(typed: &SchemaRef, raw: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = typed
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    for f in raw.fields() {
        if typed.field_with_name(f.name()).is_err() {
            fields.push(f.as_ref().clone());
        }
    }
    Arc::new(Schema::new(fields))
}

/// Replaces empty strings by nulls in text leaves whose target type is not text.
fn empty_as_null(col: &ArrayRef, target: &DataType) -> Result<ArrayRef> {
    Ok(match (col.data_type(), target) {
        (DataType::Utf8, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => col.clone(),
        (DataType::Utf8, _) => {
            let s = col.as_string::<i32>();
            if s.iter().any(|v| v.is_some_and(blank)) {
                Arc::new(
                    s.iter()
                        .map(|v| v.filter(|v| !blank(v)))
                        .collect::<StringArray>(),
                )
            } else {
                col.clone()
            }
        }
        (DataType::Struct(fields), DataType::Struct(targets)) => {
            let s = col.as_struct();
            let children = fields
                .iter()
                .zip(s.columns())
                .map(
                    |(f, c)| match targets.iter().find(|t| t.name() == f.name()) {
                        Some(t) => empty_as_null(c, t.data_type()),
                        None => Ok(c.clone()),
                    },
                )
                .collect::<Result<Vec<_>>>()?;
            Arc::new(StructArray::try_new(
                fields.clone(),
                children,
                s.nulls().cloned(),
            )?)
        }
        (DataType::List(item), DataType::List(target_item)) => {
            let l = col.as_list::<i32>();
            let values = empty_as_null(l.values(), target_item.data_type())?;
            Arc::new(GenericListArray::<i32>::try_new(
                item.clone(),
                l.offsets().clone(),
                values,
                l.nulls().cloned(),
            )?)
        }
        _ => col.clone(),
    })
}

/// Whether a text is empty or only white space. Most values start with a byte that is
/// neither a control or space character nor the start of a multi-byte character: those are
/// not blank without a look at the rest.
fn blank(v: &str) -> bool {
    match v.as_bytes().first() {
        None => true,
        Some(&b) if b > b' ' && b < 0x80 => false,
        Some(_) => v.trim().is_empty(),
    }
}

fn value_text(a: &ArrayRef, i: usize) -> String {
    let s = arrow::util::display::array_value_to_string(a, i).unwrap_or_default();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Walks `raw` and `cast` together; `rows[i]` is the row of value `i`; `parent` marks values
/// whose parent is null (their nullability is not checked).
#[allow(clippy::too_many_arguments)]
fn find_failures(
    raw: &ArrayRef,
    cast: &ArrayRef,
    field: &Field,
    path: &str,
    parent: Option<&NullBuffer>,
    rows: &[usize],
    out: &mut [Option<TypeFailure>],
    schema_ref: &str,
) {
    let parent_valid = |i: usize| parent.is_none_or(|p| p.is_valid(i));
    for i in suspects(raw, cast, field) {
        if out[rows[i]].is_some() || !parent_valid(i) {
            continue;
        }
        if raw.is_valid(i) && cast.is_null(i) {
            out[rows[i]] = Some(TypeFailure {
                column: path.to_string(),
                reason: format!(
                    "column `{path}`: `{}` is not a valid {}",
                    value_text(raw, i),
                    crate::catalog::hive_type(field.data_type())
                ),
            });
        } else if cast.is_null(i) && !field.is_nullable() {
            out[rows[i]] = Some(TypeFailure {
                column: path.to_string(),
                reason: format!(
                    "column `{path}`: missing (null), but {schema_ref} declares it not nullable"
                ),
            });
        }
    }
    match (raw.data_type(), field.data_type()) {
        (DataType::Struct(_), DataType::Struct(targets)) => {
            let (rs, cs) = (raw.as_struct(), cast.as_struct());
            let nulls = cs.nulls().cloned();
            let combined = NullBuffer::union(nulls.as_ref(), parent);
            for (j, t) in targets.iter().enumerate() {
                find_failures(
                    rs.column(j),
                    cs.column(j),
                    t,
                    &format!("{path}.{}", t.name()),
                    combined.as_ref(),
                    rows,
                    out,
                    schema_ref,
                );
            }
        }
        (DataType::List(_), DataType::List(item)) => {
            let (rl, cl) = (raw.as_list::<i32>(), cast.as_list::<i32>());
            let offsets = cl.offsets();
            let mut value_rows = Vec::with_capacity(cl.values().len());
            let mut valid = Vec::with_capacity(cl.values().len());
            for i in 0..cl.len() {
                let (a, b) = (offsets[i] as usize, offsets[i + 1] as usize);
                for _ in a..b {
                    value_rows.push(rows[i]);
                    valid.push(cl.is_valid(i) && parent_valid(i));
                }
            }
            let value_parent = NullBuffer::from(valid);
            let first = offsets[0] as usize;
            let len = offsets[cl.len()] as usize - first;
            let rv = rl.values().slice(first, len);
            let cv = cl.values().slice(first, len);
            find_failures(
                &rv,
                &cv,
                item,
                &format!("{path}[]"),
                Some(&value_parent),
                &value_rows,
                out,
                schema_ref,
            );
        }
        _ => {}
    }
}

/// The positions where a value may not fit: nulls after the cast (a safe cast turns
/// values into nulls, never the other way). None when the cast made no null the raw column
/// did not have and the field may be null: then no value is looked at one by one.
fn suspects(raw: &ArrayRef, cast: &ArrayRef, field: &Field) -> Vec<usize> {
    let Some(nulls) = cast.nulls().filter(|n| n.null_count() > 0) else {
        return Vec::new();
    };
    if field.is_nullable() && raw.nulls() == Some(nulls) {
        return Vec::new();
    }
    (0..cast.len()).filter(|&i| nulls.is_null(i)).collect()
}

/// Keeps the rows where `keep` is true.
pub fn filter(batch: &RecordBatch, keep: &BooleanArray) -> Result<RecordBatch> {
    // Most batches keep every row: no copy then.
    if keep.null_count() == 0 && keep.true_count() == keep.len() {
        return Ok(batch.clone());
    }
    Ok(arrow::compute::filter_record_batch(batch, keep)?)
}

/// Each row of a batch as one JSON object (nulls left out).
pub fn rows_as_json(batch: &RecordBatch) -> Result<Vec<String>> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
        w.write(batch)?;
        w.finish()?;
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<String> = text.lines().map(|l| l.to_string()).collect();
    lines.resize(batch.num_rows(), "{}".to_string());
    Ok(lines)
}

#[allow(dead_code)]
fn rebuild(a: &ArrayRef) -> ArrayRef {
    make_array(a.to_data())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::raw_data_type;
    use arrow::array::{Int64Array, ListArray};
    use arrow::datatypes::{Fields, Int32Type};

    #[test]
    fn finds_the_failing_column_per_row() {
        let reading =
            DataType::Struct(Fields::from(vec![Field::new("t", DataType::Float64, true)]));
        let typed = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Decimal128(12, 2), true),
            Field::new("reading", reading.clone(), true),
        ]));
        let raw_schema = Arc::new(Schema::new(
            typed
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), raw_data_type(f.data_type()), true))
                .collect::<Vec<_>>(),
        ));
        let DataType::Struct(raw_reading_fields) = raw_data_type(&reading) else {
            unreachable!()
        };
        let raw_reading = StructArray::try_new(
            raw_reading_fields,
            vec![Arc::new(StringArray::from(vec![
                Some("1.5"),
                Some("hot"),
                None,
                Some("2"),
            ]))],
            None,
        )
        .unwrap();
        let raw = RecordBatch::try_new(
            raw_schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("1"),
                    Some("2"),
                    None,
                    Some("4"),
                ])),
                Arc::new(StringArray::from(vec![
                    Some("9.99"),
                    Some(""),
                    Some("1"),
                    Some("abc"),
                ])),
                Arc::new(raw_reading),
            ],
        )
        .unwrap();
        let out = output_schema(&typed, &raw_schema);
        let t = cast_batch(&raw, typed.fields().as_ref(), &out, "x@1").unwrap();
        assert_eq!(t.failures[0], None);
        assert_eq!(
            t.failures[1].as_ref().unwrap().column,
            "reading.t",
            "empty amount is a null, not a failure"
        );
        assert!(t.failures[1]
            .as_ref()
            .unwrap()
            .reason
            .contains("`hot` is not a valid double"));
        assert!(t.failures[2]
            .as_ref()
            .unwrap()
            .reason
            .contains("missing (null), but x@1 declares it not nullable"));
        assert_eq!(t.failures[3].as_ref().unwrap().column, "amount");
        assert_eq!(
            t.batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            1
        );
    }

    #[test]
    fn list_elements_map_to_their_rows() {
        let typed_list = DataType::List(Arc::new(Field::new("element", DataType::Int32, true)));
        let raw = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1)]),
            Some(vec![Some(2), Some(3)]),
        ]);
        let raw_text = cast_with_options(
            &(Arc::new(raw) as ArrayRef),
            &raw_data_type(&typed_list),
            &CastOptions::default(),
        )
        .unwrap();
        // Replace element "3" by a bad value.
        let l = raw_text.as_list::<i32>();
        let values: ArrayRef = Arc::new(StringArray::from(vec!["1", "2", "x"]));
        let bad = Arc::new(
            ListArray::try_new(
                Arc::new(Field::new("element", DataType::Utf8, true)),
                l.offsets().clone(),
                values,
                None,
            )
            .unwrap(),
        ) as ArrayRef;
        let field = Field::new("xs", typed_list.clone(), true);
        let cast = cast_with_options(
            &bad,
            &typed_list,
            &CastOptions {
                safe: true,
                ..Default::default()
            },
        )
        .unwrap();
        let mut out = vec![None, None];
        find_failures(&bad, &cast, &field, "xs", None, &[0, 1], &mut out, "x@1");
        assert!(out[0].is_none());
        assert_eq!(out[1].as_ref().unwrap().column, "xs[]");
    }
}
