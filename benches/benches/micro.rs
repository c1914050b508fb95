//! Micro benchmarks of medallion's hot paths, on synthetic lineitem-like data:
//! decode (NDJSON, CSV → Arrow), typing (text → schema types), quality rules per 1M rows,
//! Parquet + Delta write, and dedupe (the pipeline's hash dedupe, next to the SQL window query
//! it replaced).
//!
//!     cargo bench -p medallion-benches --bench micro [-- FILTER]
//!
//! Sizes are fixed so that numbers compare across commits; throughput is reported per row
//! (items) or per input byte.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use medallion_benches::{lineitem_rules, lineitem_schema, raw_batch, write_csv, write_ndjson};
use medallion_core::ingest::{self, Decoded, Origin, SourceFile};
use medallion_core::quality::{self, RuleKind};
use medallion_core::spec::{Compression, CsvOptions, FileFormat, FilesSource, UnknownFields};
use medallion_core::table::{Location, StagedWrite};
use medallion_core::typing;

const BATCH: u64 = 8192;
const DECODE_ROWS: u64 = 100_000;

fn main() {
    divan::main();
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn typed(batch: &RecordBatch) -> RecordBatch {
    let ds = lineitem_schema();
    let out = typing::output_schema(&ds.typed_schema(), &ds.raw_schema());
    typing::cast_batch(batch, ds.typed_schema().fields(), &out, "tpch_lineitem@1")
        .unwrap()
        .batch
}

/// 32 distinct typed batches (262,144 rows).
static TYPED: LazyLock<Vec<RecordBatch>> = LazyLock::new(|| {
    (0..32)
        .map(|i| typed(&raw_batch(i * BATCH, BATCH)))
        .collect()
});

static FILES: LazyLock<(tempfile::TempDir, PathBuf, PathBuf)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let nd = dir.path().join("l.ndjson");
    let csv = dir.path().join("l.csv");
    write_ndjson(&nd, DECODE_ROWS);
    write_csv(&csv, DECODE_ROWS);
    (dir, nd, csv)
});

fn decode_file(bencher: Bencher, format: FileFormat) {
    let path = match format {
        FileFormat::Ndjson => FILES.1.clone(),
        _ => FILES.2.clone(),
    };
    let size = std::fs::metadata(&path).unwrap().len();
    let source = FilesSource {
        path: path.display().to_string(),
        format,
        compression: Compression::None,
        csv: (format == FileFormat::Csv).then(CsvOptions::default),
        unknown_fields: UnknownFields::Quarantine,
    };
    let file = SourceFile {
        origin: Origin::Local(path),
        name: "l".into(),
        size,
    };
    let raw = lineitem_schema().raw_schema();
    let rt = rt();
    bencher.counter(BytesCount::new(size)).bench(|| {
        rt.block_on(async {
            let (mut rx, h) =
                ingest::spawn_decoder(vec![file.clone()], source.clone(), raw.clone());
            let mut n = 0;
            while let Some(m) = rx.recv().await {
                if let Decoded::Rows { batch, .. } = m.unwrap() {
                    n += batch.num_rows();
                }
            }
            h.join().await.unwrap();
            assert_eq!(n as u64, DECODE_ROWS);
        })
    });
}

/// NDJSON → Arrow (raw text columns), 100k lineitem rows, through `ingest::spawn_decoder`.
#[divan::bench(sample_count = 10)]
fn decode_ndjson_100k_rows(bencher: Bencher) {
    decode_file(bencher, FileFormat::Ndjson);
}

/// CSV → Arrow (raw text columns), 100k lineitem rows.
#[divan::bench(sample_count = 10)]
fn decode_csv_100k_rows(bencher: Bencher) {
    decode_file(bencher, FileFormat::Csv);
}

/// Raw text → the pinned schema's types (`typing::cast_batch`), 12 batches of 8192.
#[divan::bench(sample_count = 10)]
fn typing_cast_98k_rows(bencher: Bencher) {
    let batches: Vec<RecordBatch> = (0..12).map(|i| raw_batch(i * BATCH, BATCH)).collect();
    bencher.counter(ItemsCount::new(12 * BATCH)).bench(|| {
        for batch in &batches {
            divan::black_box(typed(batch));
        }
    });
}

/// The pipeline's four row rules (`quality::failing_rows`) over 1,048,576 rows.
#[divan::bench(sample_count = 10)]
fn rules_four_per_1m_rows(bencher: Bencher) {
    let batch = TYPED[0].clone();
    let compiled = quality::compile("micro", &lineitem_rules(), &batch.schema()).unwrap();
    let reps = (1 << 20) / BATCH;
    bencher.counter(ItemsCount::new(reps * BATCH)).bench(|| {
        let mut failed = 0;
        for _ in 0..reps {
            for r in &compiled {
                if let RuleKind::Row { expr, .. } = &r.kind {
                    failed += quality::failing_rows(expr, &batch).unwrap().true_count();
                }
            }
        }
        failed
    });
}

/// Typed rows → staged Parquet + Delta commit (`table::StagedWrite`), 262k rows.
#[divan::bench(sample_count = 10)]
fn write_delta_parquet_262k_rows(bencher: Bencher) {
    let rt = rt();
    let schema = medallion_core::table::nullable(&TYPED[0].schema());
    bencher
        .counter(ItemsCount::new(32 * BATCH))
        .with_inputs(|| tempfile::tempdir().unwrap())
        .bench_values(|dir| {
            rt.block_on(async {
                let loc = Location::local(&dir.path().join("t")).unwrap();
                let mut w = StagedWrite::new("bench.t", &loc, schema.clone()).unwrap();
                for batch in TYPED.iter() {
                    w.write(batch.clone()).await.unwrap();
                }
                let staged = w.finish().await.unwrap();
                staged.commit(None, HashMap::new(), vec![]).await.unwrap();
            });
            dir
        });
}

/// Dedupe by (l_orderkey, l_linenumber) with the SQL window query the pipeline ran before
/// its hash dedupe (the reference for `dedupe_hash_295k_rows`), over 262k rows plus 32k
/// re-sent ones.
#[divan::bench(sample_count = 10)]
fn dedupe_window_295k_rows(bencher: Bencher) {
    let rt = rt();
    let batches = dedupe_rows();
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let schema = batches[0].schema();
    let sql = "SELECT count(*) FROM (SELECT *, row_number() OVER (PARTITION BY \"l_orderkey\", \"l_linenumber\" ORDER BY \"l_receiptdate\" DESC) AS __rn FROM t) WHERE __rn = 1";
    bencher.counter(ItemsCount::new(rows)).bench(|| {
        rt.block_on(async {
            let ctx = medallion_core::pipeline::new_session();
            let parts: Vec<Vec<RecordBatch>> = batches.chunks(18).map(|c| c.to_vec()).collect();
            ctx.register_table(
                "t",
                Arc::new(MemTable::try_new(schema.clone(), parts).unwrap()),
            )
            .unwrap();
            ctx.sql(sql).await.unwrap().collect().await.unwrap()
        })
    });
}

/// The dedupe benches' rows: the typed batches plus four re-sent ones (295k rows).
fn dedupe_rows() -> Vec<RecordBatch> {
    let mut batches: Vec<RecordBatch> = TYPED.clone();
    batches.extend((0..4).map(|i| TYPED[i * 8].clone()));
    batches
}

/// The pipeline's dedupe over `batches`: in memory, or with `spill` = (budget in bytes, spill
/// folder).
fn dedupe(batches: &[RecordBatch], spill: Option<(usize, PathBuf)>) -> arrow::array::BooleanArray {
    let keys = ["l_orderkey".to_string(), "l_linenumber".to_string()];
    let mut d =
        medallion_core::dedupe::Deduper::new(&batches[0].schema(), &keys, Some("l_receiptdate"))
            .unwrap();
    let spills = spill.is_some();
    if let Some((bytes, dir)) = spill {
        d = d.with_budget(bytes, dir);
    }
    for b in batches {
        d.push(b).unwrap();
    }
    assert_eq!(d.spilled(), spills);
    d.finish().unwrap()
}

/// The pipeline's dedupe (`dedupe::Deduper`) on the same rows as `dedupe_window_295k_rows`.
#[divan::bench(sample_count = 10)]
fn dedupe_hash_295k_rows(bencher: Bencher) {
    let batches = dedupe_rows();
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    bencher
        .counter(ItemsCount::new(rows))
        .bench(|| dedupe(&batches, None).true_count());
}

/// The same dedupe spilled from the first batch on (a budget of 0 bytes): every row to its
/// bucket file and back, the winners chosen one bucket per core.
#[divan::bench(sample_count = 10)]
fn dedupe_hash_spilled_295k_rows(bencher: Bencher) {
    let batches = dedupe_rows();
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let dir = tempfile::tempdir().unwrap();
    let in_memory = dedupe(&batches, None);
    bencher.counter(ItemsCount::new(rows)).bench(|| {
        let kept = dedupe(&batches, Some((0, dir.path().join("spill"))));
        assert_eq!(kept, in_memory, "the spilled dedupe keeps the same rows");
        kept.true_count()
    });
}
