//! Unit tests of ingestion: bad records are isolated, lines keep their numbers, and a
//! decoder that fails or panics (a thread of `spawn_decoder` or a chunk worker) is an error
//! from `DecodeHandle::join`, never a silently shorter file.

use std::fs::File;
use std::io::BufReader;
use std::sync::Mutex;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::chunk::{decode_parallel, read_chunks, ChunkError};
use super::frame::Framing;
use super::*;

pub(super) fn raw_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("amount", DataType::Utf8, true),
    ]))
}

/// Decoded rows (first column, line) and bad records of `text`.
pub(super) fn run(
    decoder: &dyn RecordDecoder,
    text: &[u8],
    csv: bool,
    threads: usize,
) -> (Vec<(String, i64)>, Vec<BadRecord>) {
    let out = Mutex::new((Vec::new(), Vec::new()));
    let framing = Framing {
        csv_delimiter: csv.then_some(b','),
        max_record_bytes: 256,
    };
    let emit = |d: Decoded| {
        let mut out = out.lock().unwrap();
        match d {
            Decoded::Rows { batch, lines, .. } => {
                let ids = batch.column(0).as_string::<i32>();
                for (i, line) in lines.values().iter().enumerate() {
                    out.0.push((ids.value(i).to_string(), *line));
                }
            }
            Decoded::Bad { records, .. } => out.1.extend(records),
            Decoded::FileDone { .. } => {}
        }
        Ok(())
    };
    let res = decode_parallel(text, framing, 0, 0, decoder, &emit, threads);
    assert!(res.is_ok());
    let (mut good, mut bad) = out.into_inner().unwrap();
    good.sort_by_key(|g| g.1);
    bad.sort_by_key(|b| b.line);
    (good, bad)
}

#[test]
fn json_bad_lines_are_isolated_and_good_lines_keep_order() {
    let dec = JsonDecoder::new(raw_schema(), true);
    let text = "{\"id\": \"a\", \"amount\": 1.5}\n\n{\"id\": \"b\", \"amount\": \nnot json\n{\"id\": \"c\", \"amount\": 3, \"extra\": 1}\n{\"id\": 4, \"amount\": \"x\"}\n";
    let (good, bad) = run(&dec, text.as_bytes(), false, 1);
    assert_eq!(
        good,
        vec![("a".into(), 1), ("4".into(), 6)],
        "numbers are kept as text in Bronze"
    );
    let bad_lines: Vec<i64> = bad.iter().map(|b| b.line).collect();
    assert_eq!(bad_lines, vec![3, 4, 5]);
    assert!(bad[2].reason.contains("extra"), "{}", bad[2].reason);
    assert_eq!(bad[1].record, "not json");
}

/// A record never continues into the next line: before, `{"id":` and `"x"}` on two lines
/// made one row (numbered as line 1) and line 3's two objects made two, so every row after
/// them carried the wrong line.
#[test]
fn json_values_split_or_joined_across_lines_are_bad_records() {
    let dec = JsonDecoder::new(raw_schema(), true);
    let text = "{\"id\":\n\"x\"}\n{\"id\": \"a\"}{\"id\": \"b\"}\n{\"id\": \"c\"}\n";
    let (good, bad) = run(&dec, text.as_bytes(), false, 1);
    assert_eq!(good, vec![("c".into(), 4)]);
    let bad_lines: Vec<i64> = bad.iter().map(|b| b.line).collect();
    assert_eq!(bad_lines, vec![1, 2, 3]);
}

fn csv_decoder() -> CsvDecoder {
    CsvDecoder::lines(raw_schema())
}

#[test]
fn csv_quoted_newlines_and_wrong_field_counts() {
    let (good, bad) = run(
        &csv_decoder(),
        b"a,1\n\"b\nb\",2\nc,3,extra\nd,4\n",
        true,
        1,
    );
    let ids: Vec<&str> = good.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(ids, vec!["a", "b\nb", "d"]);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 4);
    assert_eq!(bad[0].record, "c,3,extra");
}

/// Kafka messages are decoded together, without framing: a message with a line end before
/// an unclosed quote (`a,1\n"c`) made its row and left the field open, and the next message
/// closed it, so that message's row took the first one's text (`c\nd`) and the first one's
/// tail was lost. Such a message is now a bad record, and the next one its own row.
#[test]
fn a_message_that_leaves_a_quoted_field_open_is_a_bad_record() {
    for first in [&b"a,1\n\"c"[..], b"a,1\r\"c", b"a,\"b\"\n\"c"] {
        let records: Vec<&[u8]> = vec![first, b"d\",2", b"e,3"];
        let (good, bad) = decode_records(&csv_decoder(), &records).unwrap();
        let ids: Vec<String> = good
            .iter()
            .flat_map(|(batch, _)| {
                let ids = batch.column(0).as_string::<i32>();
                (0..ids.len())
                    .map(|i| ids.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(ids, vec!["d\"", "e"], "{first:?}");
        assert_eq!(bad.len(), 1, "{first:?}");
        assert!(
            bad[0].reason.contains("quoted field is not closed"),
            "{}",
            bad[0].reason
        );
    }
}

/// Issue 10, silent loss #4: one stray `"` in line 3 of 10 took lines 3 to 10 into one
/// record, quarantined whole. Now line 3 alone is quarantined and the 9 others are rows.
#[test]
fn a_stray_quote_costs_its_line_only() {
    let mut text = String::new();
    for i in 1..=10 {
        if i == 3 {
            text.push_str("r3,12\"5\n");
        } else {
            text.push_str(&format!("r{i},{i}\n"));
        }
    }
    for threads in [1, 3] {
        let (good, bad) = run(&csv_decoder(), text.as_bytes(), true, threads);
        let lines: Vec<i64> = good.iter().map(|g| g.1).collect();
        assert_eq!(lines, vec![1, 2, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(good[2].0, "r4");
        assert_eq!(bad.len(), 1);
        assert_eq!((bad[0].line, bad[0].record.as_str()), (3, "r3,12\"5"));
        assert!(
            bad[0].reason.contains("unbalanced quote"),
            "{}",
            bad[0].reason
        );
    }
}

#[test]
fn a_record_over_the_bound_is_quarantined_and_reading_goes_on() {
    let text = format!("a,1\nb,{}\nc,3\n", "9".repeat(1000));
    let (good, bad) = run(&csv_decoder(), text.as_bytes(), true, 1);
    assert_eq!(good, vec![("a".into(), 1), ("c".into(), 3)]);
    assert_eq!(bad[0].line, 2);
    assert!(
        bad[0].reason.contains("maximum record size"),
        "{}",
        bad[0].reason
    );
}

/// Panics when it decodes a record holding `boom`.
struct Panicky;

impl RecordDecoder for Panicky {
    fn decode(&self, records: &[&[u8]]) -> std::result::Result<RecordBatch, String> {
        if records.iter().any(|r| r.windows(4).any(|w| w == b"boom")) {
            panic!("forced decoder panic");
        }
        JsonDecoder::new(raw_schema(), true).decode(records)
    }
}

/// Issue 10, silent loss #1: a chunk worker that panics was lost with its rows; now the
/// file fails.
#[test]
fn a_chunk_worker_panic_fails_the_file() {
    let mut text = String::new();
    for i in 0..(3 * CHUNK_RECORDS) {
        text.push_str(&format!("{{\"id\": \"{i}\"}}\n"));
    }
    text.push_str("{\"id\": \"boom\"}\n");
    for threads in [1, 3] {
        let res = std::panic::catch_unwind(|| {
            let framing = Framing {
                csv_delimiter: None,
                max_record_bytes: 256,
            };
            let emit = |_: Decoded| Ok(());
            decode_parallel(text.as_bytes(), framing, 0, 0, &Panicky, &emit, threads)
        });
        match res {
            Ok(Err(ChunkError::Engine(e))) => {
                assert!(e.to_string().contains("forced decoder panic"), "{e}")
            }
            Ok(_) => panic!("a worker panic must fail the file ({threads} threads)"),
            // On the reading thread itself (1 thread) the panic reaches spawn_decoder's task.
            Err(_) => assert_eq!(threads, 1),
        }
    }
}

fn files(n: usize) -> Vec<SourceFile> {
    (0..n)
        .map(|i| {
            SourceFile::local(
                format!("/nowhere/f{i}.ndjson").into(),
                format!("landing/f{i}.ndjson"),
                1,
            )
        })
        .collect()
}

async fn drain(mut rx: mpsc::Receiver<Result<Decoded>>) -> usize {
    let mut done = 0;
    while let Some(d) = rx.recv().await {
        if let Ok(Decoded::FileDone { .. }) = d {
            done += 1;
        }
    }
    done
}

/// Issue 10, silent loss #1: a panic in the decoding task was dropped (`let _ =
/// handle.await`) and the run committed what had been decoded.
#[tokio::test]
async fn a_decoder_panic_is_an_error_from_join_naming_the_file() {
    let (rx, handle) = spawn_with(files(3), |i, _, _| {
        if i == 1 {
            panic!("forced decoder panic");
        }
        Ok(())
    });
    assert_eq!(drain(rx).await, 1, "the channel just closes");
    let e = handle.join().await.expect_err("a panic must fail the run");
    let shown = e.to_string();
    assert!(shown.contains("landing/f1.ndjson"), "{shown}");
    assert!(shown.contains("forced decoder panic"), "{shown}");
    assert!(shown.contains("committed nothing"), "{shown}");
}

#[tokio::test]
async fn a_decoder_error_is_an_error_from_join_naming_the_file() {
    let (rx, handle) = spawn_with(files(3), |i, f, _| match i {
        2 => Err(Error::Source {
            path: f.name.clone(),
            message: "cannot decode".into(),
        }),
        _ => Ok(()),
    });
    assert_eq!(drain(rx).await, 2);
    let shown = handle.join().await.unwrap_err().to_string();
    assert!(
        shown.starts_with("source landing/f2.ndjson: decoding failed: cannot decode."),
        "{shown}"
    );
    let (rx, handle) = spawn_with(files(3), |_, _, _| Ok(()));
    assert_eq!(drain(rx).await, 3);
    handle.join().await.unwrap();
}

/// A real file whose chunk worker panics: the panic reaches `join` as an error.
#[tokio::test]
async fn a_panic_while_decoding_a_real_file_fails_join() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ndjson");
    std::fs::write(&path, "{\"id\": \"1\"}\n{\"id\": \"boom\"}\n").unwrap();
    let file = SourceFile::local(path.clone(), "a.ndjson".into(), 1);
    let (rx, handle) = spawn_with(vec![file], move |i, _, emit| {
        let reader = BufReader::new(File::open(&path).unwrap());
        let framing = Framing {
            csv_delimiter: None,
            max_record_bytes: 256,
        };
        read_chunks(reader, framing, |c| {
            chunk::decode_chunk_with(i, c, &Panicky, &mut |d| emit(d))
        })
        .map_err(|_| Error::Internal("read".into()))
    });
    drain(rx).await;
    let shown = handle.join().await.unwrap_err().to_string();
    assert!(
        shown.contains("a.ndjson") && shown.contains("panicked"),
        "{shown}"
    );
}
