//! CSV (files `format: csv`, and Kafka `csv_lines`): RFC 4180 records decoded by arrow's CSV
//! decoder into the schema's raw form. Columns are matched by header name (or by position
//! without a header). A CSV cell is text, so CSV carries text columns only: a schema with a
//! struct or list column is refused at plan time ([`super::check_types`]). Records of the
//! common shape (fields unquoted, or quoted as a whole; the file's number of fields) take
//! `csv_flat`'s fast path; it gives arrow's rows or declines.

use std::io::BufRead;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::csv_flat::FlatCsv;
use super::{Carries, RecordDecoder, SourceFile};
use crate::error::{Error, Result};
use crate::spec::{CsvOptions, UnknownFields};

/// CSV carries text columns only.
pub const CARRIES: Carries = Carries::Text;

/// How a CSV file's columns map to the raw schema.
pub(super) struct CsvLayout {
    /// The schema the CSV decoder reads (all text).
    file_schema: SchemaRef,
    /// For each raw-schema field, the file column index.
    mapping: Vec<Option<usize>>,
    /// Set when every record must go to quarantine (unknown columns under `quarantine`).
    reject: Option<String>,
}

pub(super) fn csv_layout<R: BufRead>(
    reader: &mut R,
    opts: &CsvOptions,
    raw: &SchemaRef,
    unknown: UnknownFields,
    f: &SourceFile,
) -> Result<(CsvLayout, i64)> {
    let names: Vec<String> = if opts.header {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| Error::io(f.origin.shown(), e))?;
        let header = header.trim_end_matches(['\n', '\r']);
        let mut rdr = csv_header_split(header, opts.delimiter);
        rdr.iter_mut().for_each(|s| *s = s.trim().to_string());
        rdr
    } else {
        raw.fields().iter().map(|f| f.name().clone()).collect()
    };
    let file_schema = text_schema(names.iter());
    let mapping = raw
        .fields()
        .iter()
        .map(|field| names.iter().position(|n| n == field.name()))
        .collect();
    let unknown_cols: Vec<&String> = names
        .iter()
        .filter(|n| raw.field_with_name(n).is_err())
        .collect();
    let reject = (!unknown_cols.is_empty() && unknown == UnknownFields::Quarantine).then(|| {
        format!(
            "the file has column(s) {} that the pinned schema does not declare (add them in a new schema version, or set `unknown_fields: ignore`)",
            unknown_cols.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        )
    });
    Ok((
        CsvLayout {
            file_schema,
            mapping,
            reject,
        },
        if opts.header { 1 } else { 0 },
    ))
}

fn csv_header_split(header: &str, delimiter: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = header.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == delimiter && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Decodes CSV records into rows of the raw schema.
pub struct CsvDecoder {
    layout: CsvLayout,
    raw: SchemaRef,
    delimiter: u8,
    /// The fast path (`None` for a delimiter that cannot stand between fields, or a file
    /// without columns).
    pub(super) flat: Option<FlatCsv>,
}

impl CsvDecoder {
    /// For records without a header whose columns are the raw schema's, in order, separated
    /// by commas (Kafka `csv_lines`).
    pub fn lines(raw: SchemaRef) -> Self {
        let layout = CsvLayout {
            file_schema: text_schema(raw.fields().iter().map(|f| f.name())),
            mapping: (0..raw.fields().len()).map(Some).collect(),
            reject: None,
        };
        Self::for_file(layout, raw, b',')
    }

    /// For a file whose header holds `header` (tests: the layout [`csv_layout`] reads).
    #[cfg(test)]
    pub(super) fn with_header(raw: SchemaRef, header: &[&str], delimiter: u8) -> Self {
        let layout = CsvLayout {
            file_schema: text_schema(
                header
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .iter(),
            ),
            mapping: raw
                .fields()
                .iter()
                .map(|f| header.iter().position(|h| h == f.name()))
                .collect(),
            reject: None,
        };
        Self::for_file(layout, raw, delimiter)
    }

    /// For a file whose header was read by [`csv_layout`].
    pub(super) fn for_file(layout: CsvLayout, raw: SchemaRef, delimiter: u8) -> Self {
        let text_mapping = raw
            .fields()
            .iter()
            .zip(&layout.mapping)
            .map(|(field, idx)| idx.filter(|_| field.data_type() == &DataType::Utf8))
            .collect();
        let width = layout.file_schema.fields().len();
        CsvDecoder {
            flat: FlatCsv::of(raw.clone(), width, text_mapping, delimiter),
            layout,
            raw,
            delimiter,
        }
    }

    /// Feeds one record to arrow's decoder; false unless it made exactly one row and left
    /// no quoted field open (a record with a line end before an unclosed quote makes one
    /// row, and the next record would close the field: its text would run into that row).
    fn feed(
        decoder: &mut arrow::csv::reader::Decoder,
        record: &[u8],
        delimiter: u8,
    ) -> std::result::Result<bool, String> {
        if super::frame::ends_quoted(record, delimiter) {
            return Ok(false);
        }
        let before = decoder.capacity();
        for bytes in [record, b"\n"] {
            let mut off = 0;
            while off < bytes.len() {
                let read = decoder
                    .decode(&bytes[off..])
                    .map_err(|e| csv_reason(&e.to_string()))?;
                if read == 0 {
                    break;
                }
                off += read;
            }
        }
        Ok(before - decoder.capacity() == 1)
    }
}

impl RecordDecoder for CsvDecoder {
    fn decode(&self, records: &[&[u8]]) -> std::result::Result<RecordBatch, String> {
        if let Some(reason) = &self.layout.reject {
            return Err(reason.clone());
        }
        if let Some(batch) = self.flat.as_ref().and_then(|flat| flat.decode(records)) {
            return Ok(batch);
        }
        self.decode_with_arrow(records)
    }
}

impl CsvDecoder {
    /// arrow's decoder: every record, and the reasons of bad ones.
    pub(super) fn decode_with_arrow(
        &self,
        records: &[&[u8]],
    ) -> std::result::Result<RecordBatch, String> {
        let mut decoder = arrow::csv::ReaderBuilder::new(self.layout.file_schema.clone())
            .with_header(false)
            .with_delimiter(self.delimiter)
            .with_batch_size(records.len() + 1)
            .build_decoder();
        for record in records {
            if !Self::feed(&mut decoder, record, self.delimiter)? {
                return Err("invalid CSV record: expected one CSV record on this line (a quoted field is not closed, or a carriage return splits it)".into());
            }
        }
        let batch = decoder.flush().map_err(|e| csv_reason(&e.to_string()))?;
        let batch =
            batch.unwrap_or_else(|| RecordBatch::new_empty(self.layout.file_schema.clone()));
        if let Some(field) = split_character(&batch) {
            return Err(format!(
                "invalid CSV record: field `{field}` is not valid UTF-8 (a character is split by the delimiter)"
            ));
        }
        let columns: Vec<ArrayRef> = self
            .raw
            .fields()
            .iter()
            .zip(&self.layout.mapping)
            .map(|(field, idx)| match (idx, field.data_type()) {
                (Some(i), DataType::Utf8) => batch.column(*i).clone(),
                _ => new_null_array(field.data_type(), batch.num_rows()),
            })
            .collect();
        RecordBatch::try_new(self.raw.clone(), columns).map_err(|e| e.to_string())
    }
}

/// The first column with a value that is not UTF-8. arrow's decoder checks UTF-8 on a set's
/// values joined together, so a character that a delimiter splits (`a\xC3,\xA9b`, also
/// across two records) passes as two strings that are not UTF-8.
fn split_character(batch: &RecordBatch) -> Option<&str> {
    let schema = batch.schema_ref();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let Some(strings) = column.as_any().downcast_ref::<StringArray>() else {
            continue;
        };
        let data = strings.value_data();
        let bad = strings
            .value_offsets()
            .windows(2)
            .any(|w| simdutf8::basic::from_utf8(&data[w[0] as usize..w[1] as usize]).is_err());
        if bad {
            return Some(field.name());
        }
    }
    None
}

fn text_schema<'a>(names: impl Iterator<Item = &'a String>) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

fn csv_reason(msg: &str) -> String {
    let msg = msg
        .trim_start_matches("Csv error: ")
        .trim_start_matches("Parser error: ");
    // arrow counts lines within the decoded chunk; the quarantine row has the file line.
    let msg = regex::Regex::new(r" for line \d+, ")
        .expect("regex")
        .replace(msg, ": ");
    let msg = regex::Regex::new(r" for line \d+ and ")
        .expect("regex")
        .replace(&msg, " in ");
    format!("invalid CSV record: {msg}")
}
