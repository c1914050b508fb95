//! Property tests (issue 10, silent loss #13, the decoder half): whatever bytes the NDJSON,
//! CSV and Kafka record decoders get, nothing panics or errors, and every record ends up
//! exactly once in the good rows or in the bad records: never both, never neither.

use std::collections::BTreeSet;
use std::sync::Mutex;

use proptest::prelude::*;

use super::chunk::decode_parallel;
use super::frame::Framing;
use super::tests::raw_schema;
use super::*;

/// A small bound, so that generated inputs cross it.
const MAX: usize = 48;

/// The line numbers of the good rows and of the bad records of a text file.
fn decode_text(decoder: &dyn RecordDecoder, text: &[u8], csv: bool) -> (Vec<i64>, Vec<i64>) {
    let out = Mutex::new((Vec::new(), Vec::new()));
    let framing = Framing {
        csv_delimiter: csv.then_some(b','),
        max_record_bytes: MAX,
    };
    let emit = |d: Decoded| {
        let mut out = out.lock().unwrap();
        match d {
            Decoded::Rows { batch, lines, .. } => {
                assert_eq!(batch.num_rows(), lines.len());
                out.0.extend(lines.values().iter().copied());
            }
            Decoded::Bad { records, .. } => out.1.extend(records.iter().map(|r| r.line)),
            Decoded::FileDone { .. } => {}
        }
        Ok(())
    };
    let res = decode_parallel(text, framing, 0, 0, decoder, &emit, 2);
    assert!(res.is_ok(), "decoding never fails as a whole");
    out.into_inner().unwrap()
}

/// The lines that hold a record: not blank, or over the bound.
fn record_lines(text: &[u8]) -> BTreeSet<i64> {
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = BTreeSet::new();
    for (i, l) in lines.iter().enumerate() {
        let mut end = l.len();
        while end > 0 && l[end - 1] == b'\r' {
            end -= 1;
        }
        if end > MAX || !l[..end].iter().all(|b| b.is_ascii_whitespace()) {
            out.insert(i as i64 + 1);
        }
    }
    out
}

/// Good and bad are disjoint, without duplicates; returns their union.
fn covered(good: &[i64], bad: &[i64]) -> BTreeSet<i64> {
    let all: BTreeSet<i64> = good.iter().chain(bad).copied().collect();
    assert_eq!(
        all.len(),
        good.len() + bad.len(),
        "a record in two places: {good:?} {bad:?}"
    );
    all
}

/// A line of a structured input and whether it is a good record (`None`: blank).
fn json_line() -> impl Strategy<Value = (String, Option<bool>)> {
    prop_oneof![
        "[a-z0-9]{0,8}".prop_map(|s| (format!("{{\"id\": \"{s}\", \"amount\": 1.5}}"), Some(true))),
        "[0-9]{1,5}".prop_map(|s| (format!("{{\"id\": {s}}}"), Some(true))),
        Just(("{\"id\": \"a\", \"extra\": 1}".to_string(), Some(false))),
        Just(("{\"id\": \"a\"}{\"id\": \"b\"}".to_string(), Some(false))),
        Just(("{\"id\":".to_string(), Some(false))),
        Just(("\"x\"}".to_string(), Some(false))),
        "[a-z ]{1,10}".prop_map(|s| (format!("{s}!"), Some(false))),
        Just((format!("{{\"id\": \"{}\"}}", "x".repeat(MAX)), Some(false))),
        "[ \t\r]{0,3}".prop_map(|s| (s, None)),
    ]
}

fn csv_line() -> impl Strategy<Value = (String, Option<bool>)> {
    prop_oneof![
        "[a-z0-9]{0,8},[0-9]{0,4}".prop_map(|s| (s, Some(true))),
        "[a-z ]{0,5}".prop_map(|s| (format!("\"{s},x\",1"), Some(true))),
        "[a-z]{0,5}".prop_map(|s| (format!("\"{s}\"\"q\",2\r"), Some(true))),
        "[a-z]{1,5}".prop_map(|s| (format!("{s}\"{s},3"), Some(false))),
        "[a-z]{0,5}".prop_map(|s| (format!("{s},{s},{s}"), Some(false))),
        Just(("a\rb,1".to_string(), Some(false))),
        Just((format!("{},1", "y".repeat(MAX)), Some(false))),
        "[ \t]{0,3}".prop_map(|s| (s, None)),
    ]
}

/// Joins lines; returns the text and the expected good and bad line numbers.
fn assemble(lines: &[(String, Option<bool>)]) -> (String, Vec<i64>, Vec<i64>) {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for (i, (_, kind)) in lines.iter().enumerate() {
        match kind {
            Some(true) => good.push(i as i64 + 1),
            Some(false) => bad.push(i as i64 + 1),
            None => {}
        }
    }
    let text = lines
        .iter()
        .map(|l| l.0.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    (text, good, bad)
}

/// Good and bad indexes of independent records (Kafka payloads).
fn decode_payloads(decoder: &dyn RecordDecoder, payloads: &[Vec<u8>]) -> (Vec<i64>, Vec<i64>) {
    let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
    let (good, bad) = decode_records(decoder, &refs).expect("decoding never fails as a whole");
    let good = good
        .iter()
        .flat_map(|(b, l)| {
            assert_eq!(b.num_rows(), l.len());
            l.values().to_vec()
        })
        .collect();
    (good, bad.iter().map(|b| b.line).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn ndjson_bytes_every_line_once(text in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (good, bad) = decode_text(&JsonDecoder::new(raw_schema(), true), &text, false);
        prop_assert_eq!(covered(&good, &bad), record_lines(&text));
    }

    #[test]
    fn csv_bytes_every_record_once(text in proptest::collection::vec(
        prop_oneof![any::<u8>(), Just(b'"'), Just(b','), Just(b'\n')], 0..600)) {
        let (good, bad) = decode_text(&CsvDecoder::lines(raw_schema()), &text, true);
        let all = covered(&good, &bad);
        let lines = record_lines(&text);
        prop_assert!(all.is_subset(&lines), "{:?} not in {:?}", all, lines);
        prop_assert_eq!(all.first(), lines.first(), "the first record is always there");
        if !text.contains(&b'"') {
            prop_assert_eq!(all, lines, "without quotes a record is a line");
        }
    }

    #[test]
    fn ndjson_lines_land_where_they_belong(lines in proptest::collection::vec(json_line(), 0..40)) {
        let (text, want_good, want_bad) = assemble(&lines);
        let (mut good, bad) = decode_text(&JsonDecoder::new(raw_schema(), true), text.as_bytes(), false);
        good.sort();
        prop_assert_eq!(good, want_good);
        prop_assert_eq!(bad, want_bad);
    }

    #[test]
    fn csv_lines_land_where_they_belong(lines in proptest::collection::vec(csv_line(), 0..40)) {
        let (text, want_good, want_bad) = assemble(&lines);
        let (mut good, bad) = decode_text(&CsvDecoder::lines(raw_schema()), text.as_bytes(), true);
        good.sort();
        prop_assert_eq!(good, want_good);
        prop_assert_eq!(bad, want_bad);
    }

    #[test]
    fn kafka_payloads_every_message_once(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..30),
        structured in proptest::collection::vec(prop_oneof![json_line(), csv_line()], 0..30),
    ) {
        let mut payloads = payloads;
        payloads.extend(structured.into_iter().map(|(l, _)| l.into_bytes()));
        let want: BTreeSet<i64> = (0..payloads.len() as i64).collect();
        let json = JsonDecoder::new(raw_schema(), true);
        let csv = CsvDecoder::lines(raw_schema());
        for decoder in [&json as &dyn RecordDecoder, &csv] {
            let (good, bad) = decode_payloads(decoder, &payloads);
            prop_assert!(good.windows(2).all(|w| w[0] < w[1]), "rows keep their order");
            prop_assert_eq!(covered(&good, &bad), want.clone());
        }
    }
}
