//! The fast path against arrow's decoder: the same rows wherever the fast path decodes, and
//! arrow's decoder (with its reasons) wherever it does not.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use proptest::prelude::*;

use super::{decode, FlatFields};
use crate::ingest::json::JsonDecoder;
use crate::ingest::RecordDecoder;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        ["id", "amount", "note", "flag"]
            .map(|n| Field::new(n, DataType::Utf8, true))
            .to_vec(),
    ))
}

fn fast(lines: &[&str], strict: bool) -> Option<arrow::array::RecordBatch> {
    let schema = schema();
    let fields = FlatFields::of(&schema).expect("a flat schema");
    let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    decode(&schema, &fields, &records, strict)
}

fn arrow(lines: &[&[u8]], strict: bool) -> Result<arrow::array::RecordBatch, String> {
    JsonDecoder::new(schema(), strict).decode_with_arrow(lines)
}

/// The fast path decodes `line` and gives arrow's row.
fn same_as_arrow(line: &str, strict: bool) {
    let got = fast(&[line], strict).unwrap_or_else(|| panic!("fast path declined {line:?}"));
    let want = arrow(&[line.as_bytes()], strict).expect("arrow decodes it");
    assert_eq!(got, want, "{line}");
}

#[test]
fn common_records_take_the_fast_path_and_match_arrow() {
    for line in [
        r#"{"id": "a", "amount": 1.5, "note": "x", "flag": true}"#,
        r#"{"flag":false,"note":"reordered","amount":-0.25e+3,"id":"b"}"#,
        r#"  {"id": "missing keys"}  "#,
        "{\t\"id\" :\r\n\"ws\" , \"amount\" : null }",
        r#"{}"#,
        r#"{"id": "", "amount": 12345678901234567890, "note": null}"#,
        r#"{"note": "esc \" \\ \/ \b \f \n \r \t \u00e9 \u20AC end"}"#,
        r#"{"note": "raw unicode é € 𝄞 and a tab	inside"}"#,
        r#"{"amount": 1-2+3..e}"#,
    ] {
        same_as_arrow(line, true);
    }
}

#[test]
fn unknown_keys_are_skipped_unless_strict() {
    let line = r#"{"id": "a", "extra": "x\"y", "more": 1e5, "n": null, "t": true}"#;
    same_as_arrow(line, false);
    assert!(fast(&[line], true).is_none());
}

#[test]
fn records_outside_the_subset_go_to_arrow() {
    for line in [
        r#"{"id": "a" "amount": 1}"#,    // no comma: arrow accepts it
        r#"{,"id": "a"}"#,               // a leading comma: arrow accepts it
        r#"{"id": "a", "id": "b"}"#,     // a repeated key: the last wins in arrow
        r#"{"i\u0064": "escaped key"}"#, // an escaped key
        r#"{"note": "\ud83d\ude00"}"#,   // a surrogate pair
        r#"{"note": {"nested": 1}}"#,    // nested values
        r#"{"note": [1, 2]}"#,
        r#"{"id": "a"} trailing"#,
        r#"{"id": "a"}{"id": "b"}"#,
        r#"[1, 2]"#,
        r#"{"id": "#,
        r#"{"id": tru}"#,
        r#"{"id": "bad \q escape"}"#,
        r#"{"id": "bad \u12g4 escape"}"#,
        r#"{"extra": {"x": 1}}"#,
        "",
    ] {
        assert!(fast(&[line], false).is_none(), "{line}");
    }
    let bad_utf8: &[u8] = b"{\"id\": \"\xff\"}";
    let schema = schema();
    let fields = FlatFields::of(&schema).unwrap();
    assert!(decode(&schema, &fields, &[bad_utf8], true).is_none());
}

#[test]
fn one_record_outside_the_subset_sends_the_whole_set_to_arrow() {
    let lines = [r#"{"id": "a"}"#, r#"{"id": "b" "amount": 1}"#];
    assert!(fast(&lines, true).is_none());
    let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let decoder = JsonDecoder::new(schema(), true);
    assert_eq!(decoder.decode(&records), arrow(&records, true));
    assert_eq!(decoder.decode(&records).unwrap().num_rows(), 2);
}

#[test]
fn nested_or_required_fields_are_not_flat() {
    let nested = Schema::new(vec![Field::new(
        "s",
        DataType::Struct(vec![Field::new("x", DataType::Utf8, true)].into()),
        true,
    )]);
    assert!(FlatFields::of(&Arc::new(nested)).is_none());
    let required = Schema::new(vec![Field::new("id", DataType::Utf8, false)]);
    assert!(FlatFields::of(&Arc::new(required)).is_none());
}

/// Pieces records are made of: valid, lenient and broken JSON.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"id\"".to_string()),
        Just("\"amount\"".to_string()),
        Just("\"note\"".to_string()),
        Just("\"flag\"".to_string()),
        Just("\"other\"".to_string()),
        Just("\"n\\u006fte\"".to_string()),
        Just("\"".to_string()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\"[a-z é€\"\\\\/]{0,8}\"".prop_map(|s| s),
        "-?[0-9]{1,5}(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
        Just("true".into()),
        Just("false".into()),
        Just("null".into()),
        Just("nul".into()),
        Just("\"\\u00e9\\n\\\"\"".into()),
        Just("\"\\ud83d\\ude00\"".into()),
        Just("\"\\x\"".into()),
        Just("{\"a\": 1}".into()),
        Just("[1]".into()),
        Just("\"unterminated".into()),
        Just("\"\\u0000 \\uABCD \\u00e9\"".into()),
        Just("\"\\udc00\"".into()),
        Just("\"\\ud800\\n\"".into()),
        Just("\"ctl \u{1} \u{1f} \u{7f}\"".into()),
        Just("-".into()),
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => Just(","),
        1 => Just(", "),
        1 => Just(" ,\t"),
        1 => Just(" "),
        1 => Just(",,"),
        1 => Just(",\u{c}"),
        1 => Just(",\r\n"),
    ]
}

fn record() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((key(), value(), separator()), 0..6),
        prop_oneof![8 => Just(""), 1 => Just(" x"), 1 => Just("{}")],
        prop_oneof![8 => Just(""), 1 => Just("\u{feff}"), 1 => Just("null"), 1 => Just("\"s\" ")],
    )
        .prop_map(|(members, tail, head)| {
            let body: Vec<String> = members
                .iter()
                .enumerate()
                .map(|(i, (k, v, sep))| {
                    let sep = if i + 1 < members.len() { *sep } else { "" };
                    format!("{k}: {v}{sep}")
                })
                .collect();
            format!("{head}{{{}}}{tail}", body.concat())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the records, the decoder (fast path first) answers as arrow's decoder alone.
    #[test]
    fn the_decoder_answers_as_arrow_alone(
        lines in prop::collection::vec(record(), 1..4),
        strict in any::<bool>(),
    ) {
        let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        let decoder = JsonDecoder::new(schema(), strict);
        prop_assert_eq!(decoder.decode(&records), arrow(&records, strict));
    }
}

/// A valid record of the common shape: distinct keys in any order, scalar values, JSON
/// whitespace anywhere it may be.
fn valid_record(strict: bool) -> impl Strategy<Value = String> {
    // Strict: only declared keys (an undeclared one makes the record bad).
    let keys: usize = if strict { 4 } else { 5 };
    let value = prop_oneof![
        "\"[a-z é€𝄞\t]{0,12}\"".prop_map(|s| s),
        "\"([a-z]{0,3}(\\\\[\"\\\\/bfnrt]|\\\\u00[0-7][0-9a-fA-F]|\\\\u20[aA][cC])){0,3}\"",
        "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,3})?",
        Just("true".to_string()),
        Just("false".to_string()),
        Just("null".to_string()),
    ];
    let ws = "[ \t\r\n]{0,2}";
    (
        Just(["id", "amount", "note", "flag", "extra"]).prop_shuffle(),
        0..=keys,
        prop::collection::vec((value, ws, ws, ws), 5),
        ws,
    )
        .prop_map(move |(order, len, values, outer)| {
            let order: Vec<&str> = order
                .into_iter()
                .filter(|k| keys == 5 || *k != "extra")
                .collect();
            let members: Vec<String> = order[..len]
                .iter()
                .zip(&values)
                .map(|(k, (v, a, b, c))| format!("{a}\"{k}\"{b}:{c}{v}"))
                .collect();
            format!("{outer}{{{}}}{outer}", members.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Valid records of the common shape take the fast path, and give arrow's rows.
    #[test]
    fn valid_records_take_the_fast_path(
        (strict, lines) in any::<bool>()
            .prop_flat_map(|strict| (Just(strict), prop::collection::vec(valid_record(strict), 1..6))),
    ) {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let got = fast(&refs, strict);
        prop_assert!(got.is_some(), "declined {:?}", lines);
        let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        prop_assert_eq!(got.unwrap(), arrow(&records, strict).expect("arrow decodes it"));
    }

    /// A byte of a record replaced by one that breaks UTF-8 (or by a control byte): the
    /// decoder still answers as arrow's decoder alone.
    #[test]
    fn corrupted_bytes_answer_as_arrow(
        line in valid_record(false),
        at in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(0xffu8), Just(0xc3), Just(0x80), Just(0x00), Just(0x0c)],
    ) {
        let mut bytes = line.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let records = [bytes.as_slice()];
        let decoder = JsonDecoder::new(schema(), false);
        prop_assert_eq!(decoder.decode(&records), arrow(&records, false));
    }
}

/// lineitem's width: arrow's decoder finds keys through a hash map from 16 fields on; the fast
/// path's "the field after the last one" misses on every key of a shuffled record.
#[test]
fn a_wide_schema_in_any_key_order_matches_arrow() {
    let names: Vec<String> = (0..17).map(|i| format!("c{i}")).collect();
    let wide: SchemaRef = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let record = |order: &[usize]| {
        let members: Vec<String> = order
            .iter()
            .map(|&i| format!("\"c{i}\": \"v{i}\""))
            .collect();
        format!("{{{}}}", members.join(", "))
    };
    let in_order: Vec<usize> = (0..17).collect();
    let reversed: Vec<usize> = (0..17).rev().collect();
    let sparse: Vec<usize> = vec![16, 3, 4, 0, 9];
    let lines = [record(&in_order), record(&reversed), record(&sparse)];
    let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let fields = FlatFields::of(&wide).expect("flat");
    let got = decode(&wide, &fields, &records, true).expect("fast path");
    let want = JsonDecoder::new(wide.clone(), true)
        .decode_with_arrow(&records)
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(got.num_rows(), 3);
}

#[test]
fn a_schema_without_fields_is_not_flat() {
    assert!(FlatFields::of(&Arc::new(Schema::empty())).is_none());
}

/// arrow's decoder alone, as a `RecordDecoder`: the reference for the chunk path.
struct ArrowOnly(JsonDecoder);

impl RecordDecoder for ArrowOnly {
    fn decode(&self, records: &[&[u8]]) -> Result<arrow::array::RecordBatch, String> {
        self.0.decode_with_arrow(records)
    }
}

/// Through the chunk path (bisection of bad records): the same rows, row numbers, bad
/// records and reasons with the fast path as with arrow's decoder alone.
#[test]
fn the_chunk_path_gives_arrows_rows_and_bad_records() {
    let lines: Vec<&[u8]> = vec![
        br#"{"id": "1", "amount": 2.5}"#,
        br#"{"id": "2" "amount": 3}"#,       // lenient: arrow takes it
        br#"{"id": "3", "amount": }"#,       // bad
        b"{\"id\": \"4\xff\"}",              // bad UTF-8
        br#"{"id": "5", "note": {"x": 1}}"#, // bad: nested into text
        br#"{"id": "6", "extra": 1}"#,       // bad when strict
        br#"{"id": "7", "flag": true}"#,
    ];
    for strict in [false, true] {
        let with =
            crate::ingest::decode_records(&JsonDecoder::new(schema(), strict), &lines).unwrap();
        let without =
            crate::ingest::decode_records(&ArrowOnly(JsonDecoder::new(schema(), strict)), &lines)
                .unwrap();
        assert_eq!(with.0, without.0, "strict {strict}");
        let bad = |b: &[crate::ingest::BadRecord]| -> Vec<(i64, String, String)> {
            b.iter()
                .map(|r| (r.line, r.record.clone(), r.reason.clone()))
                .collect()
        };
        assert_eq!(bad(&with.1), bad(&without.1), "strict {strict}");
        assert_eq!(
            with.1.len(),
            if strict { 4 } else { 3 },
            "{:?}",
            bad(&with.1)
        );
    }
}
