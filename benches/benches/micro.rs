//! Micro benchmarks of medallion's hot paths, on synthetic lineitem-like data:
//! decode (NDJSON, CSV → Arrow), typing (text → schema types), quality rules per 1M rows,
//! Parquet + Delta write, and dedupe (the window query the pipeline runs).
//!
//!     cargo bench -p medallion-benches --bench micro [-- FILTER]
//!
//! Sizes are fixed so that numbers compare across commits; throughput is reported per row
//! (elements) or per input byte.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use datafusion::datasource::MemTable;
use medallion_benches::{lineitem_rules, lineitem_schema, raw_batch, write_csv, write_ndjson};
use medallion_core::ingest::{self, Decoded, SourceFile};
use medallion_core::quality::{self, RuleKind};
use medallion_core::spec::{CsvOptions, FileFormat, FilesSource, UnknownFields};
use medallion_core::table::StagedWrite;
use medallion_core::typing;

const BATCH: u64 = 8192;

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

fn decode(c: &mut Criterion) {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let rows = 100_000u64;
    let mut g = c.benchmark_group("decode");
    g.sample_size(10);
    for format in [FileFormat::Ndjson, FileFormat::Csv] {
        let path = dir.path().join(match format {
            FileFormat::Ndjson => "l.ndjson",
            _ => "l.csv",
        });
        match format {
            FileFormat::Ndjson => write_ndjson(&path, rows),
            _ => write_csv(&path, rows),
        }
        let size = std::fs::metadata(&path).unwrap().len();
        let source = FilesSource {
            path: path.display().to_string(),
            format,
            csv: (format == FileFormat::Csv).then(CsvOptions::default),
            unknown_fields: UnknownFields::Quarantine,
        };
        let file = SourceFile {
            path: path.clone(),
            name: "l".into(),
            size,
        };
        let raw = lineitem_schema().raw_schema();
        g.throughput(Throughput::Bytes(size));
        g.bench_function(format!("{format:?}_100k_rows").to_lowercase(), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let (mut rx, h) =
                        ingest::spawn_decoder(vec![file.clone()], source.clone(), raw.clone());
                    let mut n = 0;
                    while let Some(m) = rx.recv().await {
                        if let Decoded::Rows { batch, .. } = m.unwrap() {
                            n += batch.num_rows();
                        }
                    }
                    h.await.unwrap();
                    assert_eq!(n as u64, rows);
                })
            })
        });
    }
    g.finish();
}

fn typing_cast(c: &mut Criterion) {
    let batches: Vec<RecordBatch> = (0..12).map(|i| raw_batch(i * BATCH, BATCH)).collect();
    let mut g = c.benchmark_group("typing");
    g.sample_size(10);
    g.throughput(Throughput::Elements(12 * BATCH));
    g.bench_function("cast_98k_rows", |b| {
        b.iter(|| {
            for batch in &batches {
                std::hint::black_box(typed(batch));
            }
        })
    });
    g.finish();
}

fn rules(c: &mut Criterion) {
    let batch = typed(&raw_batch(0, BATCH));
    let compiled = quality::compile("micro", &lineitem_rules(), &batch.schema()).unwrap();
    let reps = (1 << 20) / BATCH; // 1,048,576 rows
    let mut g = c.benchmark_group("rules");
    g.sample_size(10);
    g.throughput(Throughput::Elements(reps * BATCH));
    g.bench_function("four_rules_per_1M_rows", |b| {
        b.iter(|| {
            let mut failed = 0;
            for _ in 0..reps {
                for r in &compiled {
                    if let RuleKind::Row { expr, .. } = &r.kind {
                        failed += quality::failing_rows(expr, &batch).unwrap().true_count();
                    }
                }
            }
            std::hint::black_box(failed)
        })
    });
    g.finish();
}

fn write(c: &mut Criterion) {
    let rt = rt();
    let batches: Vec<RecordBatch> = (0..32).map(|i| typed(&raw_batch(i * BATCH, BATCH))).collect();
    let schema = medallion_core::table::nullable(&batches[0].schema());
    let rows = 32 * BATCH;
    let mut g = c.benchmark_group("write");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rows));
    g.bench_function("delta_parquet_262k_rows", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                rt.block_on(async {
                    let loc = dir.path().join("t");
                    let mut w = StagedWrite::new("bench.t", &loc, schema.clone()).unwrap();
                    for batch in &batches {
                        w.write(batch.clone()).await.unwrap();
                    }
                    let staged = w.finish().await.unwrap();
                    staged.commit(None, HashMap::new(), vec![]).await.unwrap();
                });
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn dedupe(c: &mut Criterion) {
    let rt = rt();
    // 262k rows plus 1 in 8 sent again: the same window query the pipeline runs.
    let mut batches: Vec<RecordBatch> = (0..32).map(|i| typed(&raw_batch(i * BATCH, BATCH))).collect();
    batches.extend((0..4).map(|i| typed(&raw_batch(i * 8 * BATCH, BATCH))));
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let schema = batches[0].schema();
    let sql = "SELECT count(*) FROM (SELECT *, row_number() OVER (PARTITION BY \"l_orderkey\", \"l_linenumber\" ORDER BY \"l_receiptdate\" DESC) AS __rn FROM t) WHERE __rn = 1";
    let mut g = c.benchmark_group("dedupe");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rows));
    g.bench_function("window_row_number_295k_rows", |b| {
        b.iter(|| {
            rt.block_on(async {
                let ctx = medallion_core::pipeline::new_session();
                let parts: Vec<Vec<RecordBatch>> = batches.chunks(18).map(|c| c.to_vec()).collect();
                ctx.register_table("t", Arc::new(MemTable::try_new(schema.clone(), parts).unwrap()))
                    .unwrap();
                let out = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                std::hint::black_box(out);
            })
        })
    });
    g.finish();
}

criterion_group!(micro, decode, typing_cast, rules, write, dedupe);
criterion_main!(micro);
