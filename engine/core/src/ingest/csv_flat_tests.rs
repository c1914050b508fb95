//! The fast path against arrow's decoder: the same rows wherever the fast path decodes, and
//! arrow's decoder (with its reasons) wherever it does not.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use proptest::prelude::*;

use crate::ingest::csv::CsvDecoder;
use crate::ingest::RecordDecoder;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        ["id", "amount", "note"]
            .map(|n| Field::new(n, DataType::Utf8, true))
            .to_vec(),
    ))
}

fn decoder(delimiter: u8) -> CsvDecoder {
    CsvDecoder::with_header(schema(), &["id", "amount", "note"], delimiter)
}

fn bytes(lines: &[&str]) -> Vec<Vec<u8>> {
    lines.iter().map(|l| l.as_bytes().to_vec()).collect()
}

fn refs(lines: &[Vec<u8>]) -> Vec<&[u8]> {
    lines.iter().map(Vec::as_slice).collect()
}

/// The fast path's rows, or `None` where it declines.
fn fast(d: &CsvDecoder, lines: &[&[u8]]) -> Option<RecordBatch> {
    d.flat.as_ref().expect("a fast path").decode(lines)
}

#[test]
fn common_records_take_the_fast_path_and_match_arrow() {
    let d = decoder(b',');
    let lines = bytes(&[
        "1,2.5,plain",
        ",,",
        " 1 , x ,  ",
        "é,€,𝄞 and a tab\tinside",
        "a;b,c|d,NULL",
        "0,,null",
        "\"1\",\"a, b\",\"\"",
        "\"é,€\",,x",
        "7,8,\"\"",
    ]);
    let got = fast(&d, &refs(&lines)).expect("the fast path decodes them");
    assert_eq!(got, d.decode_with_arrow(&refs(&lines)).unwrap());
    assert_eq!(got.num_rows(), 9);
    assert_eq!(got.column(0).null_count(), 1, "an empty field is a null");
    assert_eq!(got.column(2).null_count(), 3, "so is a quoted empty one");
}

#[test]
fn records_outside_the_subset_go_to_arrow() {
    let d = decoder(b',');
    for line in [
        "\"a\"\"b\",2,3",
        "\"a\"x,2,3",
        "\"open,2,3",
        "1,2,\"open",
        "1,x\"y,3",
        "1,2,\"\"\"\"",
        "1,2\r,3",
        "1,2\n,3",
        "",
        "1,2",
        "1,2,3,4",
        "1,2,3,",
    ] {
        assert!(fast(&d, &[line.as_bytes()]).is_none(), "{line:?}");
    }
    assert!(fast(&d, &[b"1,\xff,3"]).is_none(), "bad UTF-8");
}

#[test]
fn one_record_outside_the_subset_sends_the_whole_set_to_arrow() {
    let d = decoder(b',');
    let lines = bytes(&["1,2,3", "4,5\"5,6"]);
    assert!(fast(&d, &refs(&lines)).is_none());
    let got = d.decode(&refs(&lines));
    assert_eq!(got, d.decode_with_arrow(&refs(&lines)));
    assert_eq!(got.unwrap().num_rows(), 2);
}

/// Columns matched by header name: reordered, a file column the schema does not read, a
/// schema field the file does not have (all null).
#[test]
fn header_mapping_matches_arrow() {
    let d = CsvDecoder::with_header(schema(), &["note", "skip", "id"], b';');
    let lines = bytes(&["n1;s1;1", ";s2;", "n3;;3"]);
    let got = fast(&d, &refs(&lines)).expect("fast path");
    assert_eq!(got, d.decode_with_arrow(&refs(&lines)).unwrap());
    assert_eq!(got.column(1).null_count(), 3, "amount is not in the file");
}

#[test]
fn a_delimiter_that_cannot_stand_between_fields_has_no_fast_path() {
    for delimiter in [b'"', b'\r', b'\n', 0xa7] {
        assert!(decoder(delimiter).flat.is_none(), "{delimiter}");
    }
    assert!(decoder(b'\t').flat.is_some());
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9 .é€-]{0,6}",
        1 => Just(String::new()),
        1 => Just("\"q\"".to_string()),
        1 => Just("\"a,b\"".to_string()),
        1 => Just("\"\"\"\"".to_string()),
        1 => Just("x\"y".to_string()),
        1 => Just("\r".to_string()),
        1 => Just("a\nb".to_string()),
        1 => Just("\"open".to_string()),
        1 => Just("\u{0}".to_string()),
        1 => Just(" ".to_string()),
    ]
}

/// Mostly the file's three fields (so that whole sets often take the fast path), else any
/// number.
fn record() -> impl Strategy<Value = String> {
    let fields = prop_oneof![
        3 => prop::collection::vec(field(), 3),
        1 => prop::collection::vec(field(), 0..5),
    ];
    fields.prop_map(|f| f.join(","))
}

fn valid_record() -> impl Strategy<Value = String> {
    let field = prop_oneof!["[a-z0-9 .é€𝄞\t;-]{0,8}", "\"[a-z0-9 ,.é€𝄞\t;-]{0,8}\"",];
    prop::collection::vec(field, 3).prop_map(|f| f.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the records, the decoder (fast path first) answers as arrow's decoder alone.
    #[test]
    fn the_decoder_answers_as_arrow_alone(lines in prop::collection::vec(record(), 1..4)) {
        let lines: Vec<Vec<u8>> = lines.into_iter().map(String::into_bytes).collect();
        let d = decoder(b',');
        prop_assert_eq!(d.decode(&refs(&lines)), d.decode_with_arrow(&refs(&lines)));
    }

    /// Records of the common shape take the fast path, and give arrow's rows.
    #[test]
    fn valid_records_take_the_fast_path(lines in prop::collection::vec(valid_record(), 1..6)) {
        let lines: Vec<Vec<u8>> = lines.into_iter().map(String::into_bytes).collect();
        let d = decoder(b',');
        let got = fast(&d, &refs(&lines));
        prop_assert!(got.is_some(), "declined {:?}", lines);
        prop_assert_eq!(got.unwrap(), d.decode_with_arrow(&refs(&lines)).expect("arrow decodes it"));
    }

    /// A byte of a record replaced by one that breaks UTF-8 (or by a quote, a line end, the
    /// delimiter): the decoder still answers as arrow's decoder alone.
    #[test]
    fn corrupted_bytes_answer_as_arrow(
        line in valid_record(),
        at in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(0xffu8), Just(0xc3), Just(0x80), Just(b'"'), Just(b'\r'), Just(b',')],
    ) {
        let mut bytes = line.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let d = decoder(b',');
        prop_assert_eq!(d.decode(&[&bytes]), d.decode_with_arrow(&[&bytes]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Another delimiter and columns matched by name in another order (one the schema does
    /// not read, one the file does not have): the same answers as arrow's decoder alone.
    #[test]
    fn reordered_columns_and_another_delimiter_answer_as_arrow(
        lines in prop::collection::vec(record(), 1..4),
    ) {
        let lines: Vec<Vec<u8>> = lines.into_iter().map(|l| l.replace(',', ";").into_bytes()).collect();
        let d = CsvDecoder::with_header(schema(), &["note", "skip", "id"], b';');
        prop_assert_eq!(d.decode(&refs(&lines)), d.decode_with_arrow(&refs(&lines)));
    }
}

/// arrow's decoder checks UTF-8 on the values joined together: a character split by the
/// delimiter, within a record or across two, would pass as strings that are not UTF-8.
/// Each such record is bad; the records around them are kept.
#[test]
fn a_character_split_by_the_delimiter_is_a_bad_record() {
    let lines: Vec<&[u8]> = vec![
        b"1,2,3",
        b"a\xC3,\xA9b,c",
        b"4,5,x\xC3",
        b"\xA9,6,7",
        b"8,9,10",
    ];
    let (good, bad) = crate::ingest::decode_records(&decoder(b','), &lines).unwrap();
    let rows: usize = good.iter().map(|(b, _)| b.num_rows()).sum();
    assert_eq!(rows, 2);
    assert_eq!(bad.len(), 3);
    assert!(
        bad[0].reason.contains("not valid UTF-8"),
        "{}",
        bad[0].reason
    );
    for (batch, _) in &good {
        for column in batch.columns() {
            let strings = column
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            assert!(std::str::from_utf8(strings.value_data()).is_ok());
        }
    }
}

/// arrow's decoder alone, as a `RecordDecoder`: the reference for the chunk path.
struct ArrowOnly(CsvDecoder);

impl RecordDecoder for ArrowOnly {
    fn decode(&self, records: &[&[u8]]) -> Result<RecordBatch, String> {
        self.0.decode_with_arrow(records)
    }
}

/// Through the chunk path (bisection of bad records): the same rows, row numbers, bad
/// records and reasons with the fast path as with arrow's decoder alone.
#[test]
fn the_chunk_path_gives_arrows_rows_and_bad_records() {
    let lines: Vec<&[u8]> = vec![
        b"1,2.5,a",
        b"2,\"3,5\",quoted",
        b"3,4",
        b"4,\xff,bad utf-8",
        b"5,6,7,8",
        b"6,,",
        b"7,x\"y,stray", // a quote inside an unquoted field: arrow takes it
    ];
    let with = crate::ingest::decode_records(&decoder(b','), &lines).unwrap();
    let without = crate::ingest::decode_records(&ArrowOnly(decoder(b',')), &lines).unwrap();
    assert_eq!(with.0, without.0);
    let bad = |b: &[crate::ingest::BadRecord]| -> Vec<(i64, String, String)> {
        b.iter()
            .map(|r| (r.line, r.record.clone(), r.reason.clone()))
            .collect()
    };
    assert_eq!(bad(&with.1), bad(&without.1));
    assert_eq!(with.1.len(), 3, "{:?}", bad(&with.1));
}
