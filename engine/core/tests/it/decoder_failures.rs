//! Issue 10, silent losses #1 and #4 in a real run: a file that cannot be decoded to its
//! end fails the run with nothing committed (the file is read whole by a later run), and a
//! stray CSV quote costs its own line only.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use crate::common::{csv, Project};

const TABLES: [&str; 3] = ["bronze.events", "silver.events", "silver.events_quarantine"];

fn events_project() -> Project {
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("schemas/events")).unwrap();
    std::fs::create_dir_all(p.path().join("landing/events")).unwrap();
    std::fs::write(
        p.path().join("schemas/events/v1.yaml"),
        "dataset: events\nversion: 1\nfields:\n  - { name: id, type: long, nullable: false }\n  - { name: name, type: string }\n",
    )
    .unwrap();
    std::fs::write(
        p.path().join("jobs/events.yaml"),
        "pipeline: events\nbronze:\n  table: bronze.events\n  schema: events@1\n  source: { files: { path: landing/events/*.parquet, format: parquet } }\nsilver:\n  table: silver.events\n  dedupe: { keys: [id] }\n",
    )
    .unwrap();
    p
}

/// A Parquet file of `rows` rows in row groups of 100.
fn parquet_bytes(first: i64, rows: i64) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let ids: Vec<i64> = (first..first + rows).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from(
                ids.iter()
                    .map(|i| format!("event number {i}"))
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .set_compression(parquet::basic::Compression::UNCOMPRESSED)
        .build();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    buf
}

async fn versions(p: &Project) -> Vec<i64> {
    let mut v = Vec::new();
    for t in TABLES {
        v.push(p.version(t).await);
    }
    v
}

/// Runs the events job; the error, if any.
async fn run_events(p: &Project) -> Option<String> {
    let engine = p.engine("dev");
    let plans = p.plans(&engine, &["jobs/events.yaml"]).await;
    engine.run(&plans[0]).await.error.map(|e| e.to_string())
}

#[tokio::test]
async fn a_parquet_file_truncated_in_a_row_group_fails_the_run_and_commits_nothing() {
    let p = events_project();
    let dir = p.path().join("landing/events");
    std::fs::write(dir.join("a.parquet"), parquet_bytes(0, 50)).unwrap();
    assert_eq!(run_events(&p).await, None);
    let before = versions(&p).await;
    assert_eq!(p.count("bronze.events").await, 50);

    // b.parquet: 500 rows in 5 row groups; keep its bytes up to the middle of the third
    // row group, then its footer (the file a copy cut short would leave, the footer intact),
    // and then the same without the footer.
    let whole = parquet_bytes(1000, 500);
    let footer_len =
        u32::from_le_bytes(whole[whole.len() - 8..whole.len() - 4].try_into().unwrap());
    let footer_at = whole.len() - 8 - footer_len as usize;
    let mid = footer_at / 2;
    let cut_with_footer = [&whole[..mid], &whole[footer_at..]].concat();
    for broken in [cut_with_footer, whole[..mid].to_vec()] {
        std::fs::write(dir.join("b.parquet"), &broken).unwrap();
        let e = run_events(&p)
            .await
            .expect("a truncated file must fail the run");
        assert!(e.contains("landing/events/b.parquet"), "{e}");
        assert!(e.contains("committed nothing"), "{e}");
        assert_eq!(versions(&p).await, before, "no table changed");
        assert_eq!(p.count("bronze.events").await, 50);
    }

    // Fixed, the file is read whole by the next run.
    std::fs::write(dir.join("b.parquet"), &whole).unwrap();
    assert_eq!(run_events(&p).await, None);
    assert_eq!(p.count("bronze.events").await, 550);
    assert_eq!(p.count("silver.events").await, 550);
    let b = p
        .query("SELECT count(*) AS n FROM bronze.events WHERE _source_file = 'landing/events/b.parquet'")
        .await;
    assert_eq!(csv(&b), "n\n500\n");
}

/// Silent loss #4: before, the stray quote of line 3 made lines 3 to 10 one record,
/// quarantined whole.
#[tokio::test]
async fn a_stray_csv_quote_quarantines_its_line_and_keeps_the_others() {
    let p = events_project();
    std::fs::write(
        p.path().join("jobs/events.yaml"),
        "pipeline: events\nbronze:\n  table: bronze.events\n  schema: events@1\n  source: { files: { path: landing/events/*.csv, format: csv, csv: { header: false } } }\nsilver:\n  table: silver.events\n  dedupe: { keys: [id] }\n",
    )
    .unwrap();
    let mut text = String::new();
    for i in 1..=10 {
        let name = if i == 3 {
            "a 12\" record".to_string()
        } else {
            format!("event {i}")
        };
        text.push_str(&format!("{i},{name}\n"));
    }
    std::fs::write(p.path().join("landing/events/e.csv"), text).unwrap();
    assert_eq!(run_events(&p).await, None);
    let b = p
        .query("SELECT _source_line FROM bronze.events ORDER BY _source_line")
        .await;
    assert_eq!(csv(&b), "_source_line\n1\n2\n4\n5\n6\n7\n8\n9\n10\n");
    let q = p
        .query("SELECT _source_line, _record, _reason FROM silver.events_quarantine")
        .await;
    let shown = csv(&q);
    assert!(
        shown.starts_with("_source_line,_record,_reason\n3,"),
        "{shown}"
    );
    assert!(shown.contains("unbalanced quote"), "{shown}");
    assert_eq!(p.count("silver.events").await, 9);
}
