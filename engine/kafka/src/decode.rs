//! Kafka messages → Bronze rows (the schema's raw form + metadata + `_kafka_*` columns) and
//! quarantine rows for messages that cannot be decoded (bad JSON, schema mismatch, oversized,
//! empty payload, non-UTF-8 raw payload).

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use medallion_core::ingest::{decode_records, CsvDecoder, JsonDecoder, RecordDecoder};
use medallion_core::quarantine::QuarantineRow;
use medallion_core::spec::KafkaFormat;

use crate::Result;

/// Bronze columns added for Kafka sources (after the standard metadata columns).
pub const KAFKA_KEY: &str = "_kafka_key";
pub const KAFKA_TIMESTAMP: &str = "_kafka_timestamp";
pub const KAFKA_HEADERS: &str = "_kafka_headers";

/// The Bronze schema of a Kafka source: the pipeline's Bronze schema (raw columns, then
/// `_ingest_time`, `_source_file` = `<topic>/<partition>`, `_source_line` = offset,
/// `_run_id`), then `_kafka_key` (text), `_kafka_timestamp` and `_kafka_headers` (JSON text).
pub fn bronze_schema(base: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(KAFKA_KEY, DataType::Utf8, true));
    fields.push(Field::new(
        KAFKA_TIMESTAMP,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        true,
    ));
    fields.push(Field::new(KAFKA_HEADERS, DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// One consumed message, copied out of librdkafka's buffer.
#[derive(Debug, Clone)]
pub struct Msg {
    pub offset: i64,
    pub payload: Option<Vec<u8>>,
    pub key: Option<Vec<u8>>,
    /// Message timestamp (create or log-append time), milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Headers as a JSON array of `{"key": .., "value": ..}` ([`crate::headers::json`];
    /// `None`: none), or why they could not be read (the message is quarantined,
    /// `_rule = headers`).
    pub headers: Result<Option<String>, String>,
    pub received: Instant,
}

/// A JSON decoder of one text column `id` (1 KiB messages at most), for tests.
#[cfg(test)]
pub fn test_decoder() -> Decoder {
    let raw = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, true)]));
    let mut base: Vec<Field> = raw.fields().iter().map(|f| f.as_ref().clone()).collect();
    base.extend(medallion_core::plan::bronze_meta_fields());
    Decoder {
        format: KafkaFormat::Json,
        bronze: bronze_schema(&Arc::new(Schema::new(base))),
        raw,
        strict: true,
        max_message_bytes: 1024,
        run_id: "r".into(),
    }
}

/// A message that goes to the quarantine table.
#[derive(Debug, Clone)]
pub struct BadMsg {
    pub offset: i64,
    pub rule: &'static str,
    pub column: Option<String>,
    pub reason: String,
    pub record: String,
}

/// What the quarantine keeps of a bad payload (at most 64 KiB of it).
fn shown(payload: &[u8]) -> String {
    const LIMIT: usize = 64 << 10;
    if payload.len() > LIMIT {
        format!(
            "{}… ({} bytes in all)",
            String::from_utf8_lossy(&payload[..LIMIT]),
            payload.len()
        )
    } else {
        String::from_utf8_lossy(payload).to_string()
    }
}

/// Settings of the decoder.
pub struct Decoder {
    pub format: KafkaFormat,
    /// The raw data columns.
    pub raw: SchemaRef,
    /// The full Bronze schema ([`bronze_schema`]).
    pub bronze: SchemaRef,
    pub strict: bool,
    pub max_message_bytes: u64,
    pub run_id: String,
}

impl Decoder {
    /// Decodes one partition's messages into Bronze batches and bad messages.
    pub fn decode(
        &self,
        topic: &str,
        partition: i32,
        msgs: &[Msg],
        ingest_time: i64,
    ) -> Result<(Vec<RecordBatch>, Vec<BadMsg>)> {
        let mut bad = Vec::new();
        let mut ok: Vec<usize> = Vec::with_capacity(msgs.len());
        for (i, m) in msgs.iter().enumerate() {
            match &m.payload {
                None => bad.push(BadMsg {
                    offset: m.offset,
                    rule: "parse",
                    column: None,
                    reason: "the message has no payload (a tombstone)".into(),
                    record: String::new(),
                }),
                Some(p) if p.len() as u64 > self.max_message_bytes => bad.push(BadMsg {
                    offset: m.offset,
                    rule: "oversized",
                    column: None,
                    reason: format!(
                        "the message has {} bytes, more than max_message_bytes ({})",
                        p.len(),
                        self.max_message_bytes
                    ),
                    record: shown(p),
                }),
                Some(p) => match &m.headers {
                    Err(e) => bad.push(BadMsg {
                        offset: m.offset,
                        rule: "headers",
                        column: None,
                        reason: e.clone(),
                        record: shown(p),
                    }),
                    Ok(_) => ok.push(i),
                },
            }
        }
        let mut out = Vec::new();
        match self.format {
            KafkaFormat::Raw => {
                let mut col = StringBuilder::new();
                let mut rows = Vec::new();
                for &i in &ok {
                    let p = msgs[i].payload.as_deref().unwrap_or_default();
                    match std::str::from_utf8(p) {
                        Ok(s) => {
                            col.append_value(s);
                            rows.push(i);
                        }
                        Err(e) => bad.push(BadMsg {
                            offset: msgs[i].offset,
                            rule: "parse",
                            column: None,
                            reason: format!("the payload is not UTF-8 text: {e}"),
                            record: shown(p),
                        }),
                    }
                }
                if !rows.is_empty() {
                    let batch =
                        RecordBatch::try_new(self.raw.clone(), vec![Arc::new(col.finish())])?;
                    out.push(self.with_meta(topic, partition, msgs, &rows, batch, ingest_time)?);
                }
            }
            KafkaFormat::Json | KafkaFormat::CsvLines => {
                // The same record decoders as files (one row per message, or a bad record).
                let decoder: Box<dyn RecordDecoder> = if self.format == KafkaFormat::Json {
                    Box::new(JsonDecoder::new(self.raw.clone(), self.strict))
                } else {
                    Box::new(CsvDecoder::lines(self.raw.clone()))
                };
                let payloads: Vec<&[u8]> = ok
                    .iter()
                    .map(|&i| msgs[i].payload.as_deref().unwrap_or_default())
                    .collect();
                let (good, bad_records) = decode_records(decoder.as_ref(), &payloads)?;
                for (batch, lines) in good {
                    let rows: Vec<usize> = lines.values().iter().map(|&l| ok[l as usize]).collect();
                    out.push(self.with_meta(topic, partition, msgs, &rows, batch, ingest_time)?);
                }
                for b in bad_records {
                    let m = &msgs[ok[b.line as usize]];
                    bad.push(BadMsg {
                        offset: m.offset,
                        rule: "parse",
                        column: b.column,
                        reason: b.reason,
                        record: b.record,
                    });
                }
            }
        }
        bad.sort_by_key(|b| b.offset);
        Ok((out, bad))
    }

    fn with_meta(
        &self,
        topic: &str,
        partition: i32,
        msgs: &[Msg],
        rows: &[usize],
        batch: RecordBatch,
        ingest_time: i64,
    ) -> Result<RecordBatch> {
        let n = rows.len();
        let source = format!("{topic}/{partition}");
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns.extend(medallion_core::quarantine::bronze_metadata_columns(
            n,
            ingest_time,
            Arc::new(StringArray::from(vec![source.as_str(); n])),
            Int64Array::from_iter_values(rows.iter().map(|&i| msgs[i].offset)),
            &self.run_id,
        ));
        columns.push(Arc::new(
            rows.iter()
                .map(|&i| msgs[i].key.as_deref().map(String::from_utf8_lossy))
                .collect::<StringArray>(),
        ));
        columns.push(Arc::new(
            rows.iter()
                .map(|&i| msgs[i].timestamp_ms.map(|t| t * 1000))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ));
        columns.push(Arc::new(
            rows.iter()
                .map(|&i| msgs[i].headers.as_ref().ok().and_then(|h| h.as_deref()))
                .collect::<StringArray>(),
        ));
        Ok(RecordBatch::try_new(self.bronze.clone(), columns)?)
    }
}

/// Quarantine rows (the quarantine table's schema) for bad messages of one partition.
pub fn quarantine_batch(
    topic: &str,
    partition: i32,
    bad: &[BadMsg],
    run_id: &str,
    at: i64,
) -> Result<RecordBatch> {
    let source = format!("{topic}/{partition}");
    let rows: Vec<QuarantineRow> = bad
        .iter()
        .map(|b| QuarantineRow {
            stage: "bronze",
            rule: b.rule.to_string(),
            column: b.column.clone(),
            reason: format!(
                "topic {topic} partition {partition} offset {}: {}",
                b.offset, b.reason
            ),
            record: b.record.clone(),
            source_file: Some(source.clone()),
            source_line: Some(b.offset),
        })
        .collect();
    Ok(medallion_core::quarantine::quarantine_batch(
        &rows, run_id, at,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;

    fn decoder(format: KafkaFormat, fields: &[&str]) -> Decoder {
        let raw = Arc::new(Schema::new(
            fields
                .iter()
                .map(|f| Field::new(*f, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let mut base: Vec<Field> = raw.fields().iter().map(|f| f.as_ref().clone()).collect();
        base.extend(medallion_core::plan::bronze_meta_fields());
        Decoder {
            format,
            bronze: bronze_schema(&Arc::new(Schema::new(base))),
            raw,
            strict: true,
            max_message_bytes: 64,
            run_id: "r".into(),
        }
    }

    fn msg(offset: i64, payload: &str) -> Msg {
        Msg {
            offset,
            payload: Some(payload.as_bytes().to_vec()),
            key: Some(b"k".to_vec()),
            timestamp_ms: Some(1_700_000_000_000),
            headers: Ok(crate::headers::json([("h", Some(&b"v"[..]))].into_iter())),
            received: Instant::now(),
        }
    }

    #[test]
    fn poison_messages_are_isolated_with_their_offsets() {
        let d = decoder(KafkaFormat::Json, &["id", "n"]);
        let msgs = vec![
            msg(10, r#"{"id": "a", "n": 1}"#),
            msg(11, "not json"),
            msg(12, r#"{"id": "b", "extra": 1}"#),
            msg(13, &format!(r#"{{"id": "{}"}}"#, "x".repeat(100))),
            Msg {
                payload: None,
                ..msg(14, "")
            },
            msg(15, r#"{"id": "c", "n": 3}"#),
            Msg {
                headers: Err("librdkafka cannot read the message's headers".into()),
                ..msg(16, r#"{"id": "d", "n": 4}"#)
            },
        ];
        let (good, bad) = d.decode("t", 2, &msgs, 5).unwrap();
        let offsets: Vec<i64> = good
            .iter()
            .flat_map(|b| {
                b.column_by_name("_source_line")
                    .unwrap()
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(offsets, vec![10, 15]);
        let bad_offsets: Vec<i64> = bad.iter().map(|b| b.offset).collect();
        assert_eq!(bad_offsets, vec![11, 12, 13, 14, 16]);
        assert_eq!(bad[2].rule, "oversized");
        // Unreadable headers: quarantined, not committed without them.
        assert_eq!(bad[4].rule, "headers");
        assert_eq!(bad[4].record, r#"{"id": "d", "n": 4}"#);
        let q = quarantine_batch("t", 2, &bad, "r", 5).unwrap();
        assert_eq!(q.num_rows(), 5);
        let file = q.column_by_name("_source_file").unwrap().as_string::<i32>();
        assert_eq!(file.value(0), "t/2");
        let b = &good[0];
        assert_eq!(
            b.column_by_name(KAFKA_KEY)
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "k"
        );
        assert_eq!(
            b.column_by_name("_source_file")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "t/2"
        );
    }

    #[test]
    fn csv_lines_and_raw() {
        let d = decoder(KafkaFormat::CsvLines, &["id", "n"]);
        let (good, bad) = d
            .decode(
                "t",
                0,
                &[msg(0, "a,1\n"), msg(1, "b,2,3"), msg(2, "\"c,c\",3")],
                0,
            )
            .unwrap();
        assert_eq!(good.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].offset, 1);
        let d = decoder(KafkaFormat::Raw, &["line"]);
        let mut m = msg(1, "");
        m.payload = Some(vec![0xff, 0xfe]);
        let (good, bad) = d.decode("t", 0, &[msg(0, "hello"), m], 0).unwrap();
        assert_eq!(good[0].num_rows(), 1);
        assert_eq!(bad[0].offset, 1);
    }
}
