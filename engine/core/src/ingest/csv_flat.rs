//! The fast path of CSV decoding, for the common shape: records without carriage returns or
//! line feeds, each with exactly the file's number of columns, whose fields are unquoted
//! (and without a quote) or quoted as a whole (`"a, b"`, without `""` inside). Each value is
//! copied once, from the record into its column; arrow's decoder (csv-core) copies the
//! record into its own buffer, finds the fields byte by byte, and copies each value again
//! into the column.
//!
//! It accepts a strict subset of what arrow's decoder accepts and gives the same rows for
//! it: fields split at the delimiter, a quoted field's text between its quotes, an empty
//! field a null (arrow's default null rule, also for `""`), every other field its text as
//! written (spaces kept). On any record outside the subset (a quote inside an unquoted
//! field, `""` or text after a closing quote, a `\r` or `\n`, an empty record, another
//! number of fields, bytes that are not UTF-8), [`FlatCsv::decode`] returns `None` and the
//! caller hands the whole set to arrow's decoder, which also words the reasons of bad
//! records. `tests` compares the two on generated records.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::SchemaRef;

/// A set of records larger than this goes to arrow's decoder (string offsets are `i32`).
const MAX_BYTES: usize = (i32::MAX / 2) as usize;

/// Where a file's columns go: the raw schema's text columns, each from one file column.
pub(super) struct FlatCsv {
    raw: SchemaRef,
    /// The file's number of columns.
    width: usize,
    /// For each raw field, the file column it is read from (`None`: all null).
    mapping: Vec<Option<usize>>,
    delimiter: u8,
}

impl FlatCsv {
    /// `mapping`: for each raw field, the file column it is read from, if any (the caller
    /// maps only text fields). `None` when the delimiter is not one ASCII byte that may
    /// stand between fields.
    pub fn of(
        raw: SchemaRef,
        width: usize,
        mapping: Vec<Option<usize>>,
        delimiter: u8,
    ) -> Option<Self> {
        let usable = delimiter.is_ascii() && !matches!(delimiter, b'"' | b'\r' | b'\n');
        let in_file = mapping.iter().flatten().all(|&i| i < width);
        (usable && in_file && width > 0).then_some(FlatCsv {
            raw,
            width,
            mapping,
            delimiter,
        })
    }

    /// Decodes `records` (one CSV record each, without its line end) into rows of the raw
    /// schema, or `None` if one of them is outside the subset this path decodes.
    pub fn decode(&self, records: &[&[u8]]) -> Option<RecordBatch> {
        let bytes: usize = records.iter().map(|r| r.len()).sum();
        if bytes > MAX_BYTES {
            return None;
        }
        let per_column = bytes / self.width;
        let mut columns: Vec<Option<StringBuilder>> = (0..self.width).map(|_| None).collect();
        for &i in self.mapping.iter().flatten() {
            columns[i] = Some(StringBuilder::with_capacity(records.len(), per_column));
        }
        for record in records {
            self.record(record, &mut columns)?;
        }
        let arrays: Vec<ArrayRef> = self
            .raw
            .fields()
            .iter()
            .zip(&self.mapping)
            .map(
                |(field, from)| match from.and_then(|i| columns[i].as_mut()) {
                    Some(column) => Arc::new(column.finish()) as ArrayRef,
                    None => new_null_array(field.data_type(), records.len()),
                },
            )
            .collect();
        RecordBatch::try_new(self.raw.clone(), arrays).ok()
    }

    /// Appends one record's fields to the columns read; `None` if it is outside the subset
    /// (what it appended before that is dropped with the whole set).
    fn record(&self, record: &[u8], columns: &mut [Option<StringBuilder>]) -> Option<()> {
        if record.is_empty() || memchr::memchr2(b'\r', b'\n', record).is_some() {
            return None;
        }
        let text = simdutf8::basic::from_utf8(record).ok()?;
        let mut pos = 0;
        let mut fields = 0;
        loop {
            let (value, next) = self.field(record, pos)?;
            if let Some(column) = columns.get_mut(fields)? {
                match text.get(value)? {
                    "" => column.append_null(),
                    value => column.append_value(value),
                }
            }
            fields += 1;
            match next {
                Some(next) => pos = next,
                None => return (fields == self.width).then_some(()),
            }
        }
    }

    /// The field starting at `pos`: the range of its value, and where the next field starts
    /// (`None` at the record's end). A quoted field is taken only when its closing quote is
    /// followed by the delimiter or the end, with no `""` inside; an unquoted one only
    /// without a quote in it (`None` for the rest: arrow's decoder takes them).
    fn field(&self, record: &[u8], pos: usize) -> Option<(std::ops::Range<usize>, Option<usize>)> {
        let after = |end: usize| match record.get(end) {
            None => Some(None),
            Some(&b) if b == self.delimiter => Some(Some(end + 1)),
            Some(_) => None,
        };
        if record.get(pos) == Some(&b'"') {
            let close = pos + 1 + memchr::memchr(b'"', &record[pos + 1..])?;
            return Some((pos + 1..close, after(close + 1)?));
        }
        let end =
            memchr::memchr2(self.delimiter, b'"', &record[pos..]).map_or(record.len(), |i| pos + i);
        Some((pos..end, after(end)?))
    }
}

#[cfg(test)]
#[path = "csv_flat_tests.rs"]
mod tests;
