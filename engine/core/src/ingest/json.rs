//! NDJSON (and Kafka `json`): one JSON object per record, decoded by arrow's JSON decoder
//! into the schema's raw form. Numbers and booleans are kept as text (coerced); nested
//! objects and arrays are carried as structs and lists. A schema of text fields only (the
//! common raw form) tries `json_flat`'s fast path first; it gives arrow's rows or declines.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::chunk::column_in_reason;
use super::json_flat::{self, FlatFields};
use super::{Carries, RecordDecoder};

/// JSON carries structs and lists.
pub const CARRIES: Carries = Carries::Nested;

/// Decodes JSON objects into rows of the raw schema.
pub struct JsonDecoder {
    schema: SchemaRef,
    /// A field the schema does not declare makes the record bad (else it is dropped).
    strict: bool,
    /// Set when every field is text: records of the common shape skip arrow's decoder.
    flat: Option<FlatFields>,
}

impl JsonDecoder {
    pub fn new(raw: SchemaRef, strict: bool) -> Self {
        JsonDecoder {
            flat: FlatFields::of(&raw),
            schema: raw,
            strict,
        }
    }
}

impl RecordDecoder for JsonDecoder {
    fn decode(&self, records: &[&[u8]]) -> Result<RecordBatch, String> {
        if let Some(flat) = &self.flat {
            if let Some(batch) = json_flat::decode(&self.schema, flat, records, self.strict) {
                return Ok(batch);
            }
        }
        self.decode_with_arrow(records)
    }
}

impl JsonDecoder {
    /// arrow's decoder: every shape, and the reasons of bad records.
    pub(super) fn decode_with_arrow(&self, records: &[&[u8]]) -> Result<RecordBatch, String> {
        let mut decoder = arrow::json::ReaderBuilder::new(self.schema.clone())
            .with_batch_size(records.len() + 1)
            .with_coerce_primitive(true)
            .with_strict_mode(self.strict)
            .build_decoder()
            .map_err(|e| e.to_string())?;
        for (i, record) in records.iter().enumerate() {
            for bytes in [*record, b"\n"] {
                let mut off = 0;
                while off < bytes.len() {
                    let read = decoder
                        .decode(&bytes[off..])
                        .map_err(|e| json_reason(&e.to_string()))?;
                    if read == 0 {
                        break;
                    }
                    off += read;
                }
            }
            // One value per record: a record never continues into the next one.
            if decoder.has_partial_record() {
                // arrow says why ("Truncated record whilst reading value").
                return Err(match decoder.flush() {
                    Err(e) => json_reason(&e.to_string()),
                    Ok(_) => "invalid JSON record: the line ends inside a JSON value".into(),
                });
            }
            if decoder.len() != i + 1 {
                return Err(format!(
                    "expected one JSON object per line, found {} value(s) on this line",
                    decoder.len() as i64 - i as i64
                ));
            }
        }
        let batch = decoder
            .flush()
            .map_err(|e| json_reason(&e.to_string()))?
            .unwrap_or_else(|| RecordBatch::new_empty(self.schema.clone()));
        Ok(batch)
    }
}

fn json_reason(msg: &str) -> String {
    let msg = msg
        .trim_start_matches("Json error: ")
        .trim_start_matches("Parser error: ");
    if msg.contains("missing from schema") || msg.contains("not present in the schema") {
        let field = column_in_reason(msg).unwrap_or_default();
        format!("field `{field}` is not in the pinned schema (add it in a new schema version, or set `unknown_fields: ignore`)")
    } else {
        format!("invalid JSON record: {msg}")
    }
}
