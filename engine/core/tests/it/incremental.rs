//! Incremental ingestion and the all-or-nothing run.

use crate::common::{csv, Project};
use medallion_core::Error;

const TABLES: [&str; 5] = [
    "bronze.orders",
    "silver.orders",
    "silver.orders_quarantine",
    "gold.daily_revenue",
    "gold.revenue_by_country",
];
const JOBS: [&str; 2] = ["jobs/shop/customers.yaml", "jobs/shop/orders.yaml"];

async fn versions(p: &Project) -> Vec<i64> {
    let mut v = Vec::new();
    for t in TABLES {
        v.push(p.version(t).await);
    }
    v
}

fn parquet_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn rerun_without_new_files_changes_nothing() {
    let p = Project::new();
    p.run(&JOBS).await;
    let before = versions(&p).await;
    let rows = p.count("bronze.orders").await;
    let again = p.run(&JOBS).await;
    assert_eq!(versions(&p).await, before, "no table got a new version");
    assert_eq!(p.count("bronze.orders").await, rows);
    let orders = &again[1].report;
    assert_eq!(orders.bronze.files_skipped, 2);
    assert!(orders.bronze.files_ingested.is_empty());
    assert!(orders.gold.iter().all(|g| !g.refreshed));
}

#[tokio::test]
async fn a_new_file_is_the_only_file_read() {
    let p = Project::new();
    p.run(&JOBS).await;
    let bronze_before = p.count("bronze.orders").await;
    std::fs::write(
        p.path().join("testdata/shop/orders/orders-2026-11-03.ndjson"),
        concat!(
            r#"{"order_id":"O1011","customer_id":"C004","amount":59.99,"currency":"EUR","status":"cancelled","ordered_at":"2026-11-02T09:00:00Z","updated_at":"2026-11-03T07:00:00Z","items":[]}"#,
            "\n",
            r#"{"order_id":"O1014","customer_id":"C001","amount":10.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-03T08:00:00Z","updated_at":"2026-11-03T08:00:00Z","items":[]}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = p.run(&["jobs/shop/orders.yaml"]).await;
    let r = &out[0].report;
    assert_eq!(
        r.bronze.files_ingested,
        vec!["testdata/shop/orders/orders-2026-11-03.ndjson"]
    );
    assert_eq!(r.bronze.rows_read, 2);
    assert_eq!(p.count("bronze.orders").await, bronze_before + 2);
    let s = r.silver.as_ref().unwrap();
    assert_eq!(s.rows_read, 2, "Silver reads only the new Bronze rows");
    // O1011 was cancelled (merged by key, newer updated_at), O1014 is new.
    assert_eq!(p.count("silver.orders").await, 7);
    let b = p
        .query("SELECT status FROM silver.orders WHERE order_id = 'O1011'")
        .await;
    assert_eq!(csv(&b), "status\ncancelled\n");
    let b = p
        .query("SELECT * FROM gold.daily_revenue ORDER BY day")
        .await;
    assert_eq!(
        csv(&b),
        "day,orders,revenue\n2026-11-01,4,295.75\n2026-11-03,1,10.00\n"
    );
    // An older version of a key does not overwrite a newer one.
    std::fs::write(
        p.path().join("testdata/shop/orders/orders-2026-10-31.ndjson"),
        concat!(r#"{"order_id":"O1011","customer_id":"C004","amount":1.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-02T09:00:00Z","updated_at":"2026-11-02T08:00:00Z","items":[]}"#, "\n"),
    )
    .unwrap();
    p.run(&["jobs/shop/orders.yaml"]).await;
    let b = p
        .query("SELECT status, amount FROM silver.orders WHERE order_id = 'O1011'")
        .await;
    assert_eq!(csv(&b), "status,amount\ncancelled,59.99\n");
}

#[tokio::test]
async fn a_failing_fail_rule_leaves_every_table_at_its_previous_version() {
    let p = Project::new();
    p.run(&JOBS).await;
    let before = versions(&p).await;
    let bronze_files = parquet_files(&p.path().join("lake/dev/bronze/orders"));
    let q_files = parquet_files(&p.path().join("lake/dev/silver/orders_quarantine"));
    // Same pipeline, but negative amounts now fail the run.
    let spec = std::fs::read_to_string(p.path().join("jobs/shop/orders.yaml")).unwrap();
    let strict = spec.replace(
        r#"check: "amount >= 0", on_fail: drop"#,
        r#"check: "amount >= 0", on_fail: fail"#,
    );
    assert_ne!(spec, strict);
    std::fs::write(p.path().join("jobs/shop/orders_strict.yaml"), strict).unwrap();
    std::fs::write(
        p.path().join("testdata/shop/orders/orders-2026-11-03.ndjson"),
        concat!(
            r#"{"order_id":"O2001","customer_id":"C001","amount":10.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-03T08:00:00Z","updated_at":"2026-11-03T08:00:00Z","items":[]}"#,
            "\n{not json\n",
            r#"{"order_id":"O2002","customer_id":"C001","amount":-1.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-03T08:00:00Z","updated_at":"2026-11-03T08:00:00Z","items":[]}"#,
            "\n"
        ),
    )
    .unwrap();
    let engine = p.engine("dev");
    let plans = p.plans(&engine, &["jobs/shop/orders_strict.yaml"]).await;
    let outcome = engine.run(&plans[0]).await;
    let err = outcome.error.expect("the run fails");
    assert!(matches!(err, Error::QualityFailed { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("amount_non_negative") && msg.contains("orders-2026-11-03.ndjson:3"),
        "{msg}"
    );
    assert!(err.is_user_failure());
    assert_eq!(outcome.report.status, "failed");
    assert_eq!(versions(&p).await, before, "no table changed");
    assert_eq!(
        parquet_files(&p.path().join("lake/dev/bronze/orders")),
        bronze_files,
        "staged files were removed"
    );
    assert_eq!(
        parquet_files(&p.path().join("lake/dev/silver/orders_quarantine")),
        q_files
    );
    assert!(std::fs::read_dir(p.path().join("lake/dev/_medallion/tmp"))
        .unwrap()
        .next()
        .is_none());
    // The normal spec then ingests the file (nothing of it was recorded as ingested).
    let out = p.run(&["jobs/shop/orders.yaml"]).await;
    assert_eq!(out[0].report.bronze.files_ingested.len(), 1);
    assert_eq!(out[0].report.bronze.rows_quarantined, 1);
    assert_eq!(out[0].report.silver.as_ref().unwrap().rows_dropped, 1);
}

#[tokio::test]
async fn parquet_sources_and_schema_evolution() {
    use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("schemas/events")).unwrap();
    std::fs::create_dir_all(p.path().join("landing/events")).unwrap();
    std::fs::write(
        p.path().join("schemas/events/v1.yaml"),
        "dataset: events\nversion: 1\nfields:\n  - { name: id, type: long, nullable: false }\n  - { name: name, type: string }\n",
    )
    .unwrap();
    std::fs::write(
        p.path().join("schemas/events/v2.yaml"),
        "dataset: events\nversion: 2\nfields:\n  - { name: id, type: long, nullable: false }\n  - { name: name, type: string }\n  - { name: score, type: double }\n",
    )
    .unwrap();
    let job = |v: u32| {
        format!(
            "pipeline: events\nbronze:\n  table: bronze.events\n  schema: events@{v}\n  source: {{ files: {{ path: landing/events/*.parquet, format: parquet }} }}\nsilver:\n  table: silver.events\n  dedupe: {{ keys: [id] }}\n"
        )
    };
    std::fs::write(p.path().join("jobs/events.yaml"), job(1)).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
    ]));
    let write = |name: &str, ids: Vec<i64>| {
        let n = ids.len();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(StringArray::from(
                    ids.iter().map(|i| format!("e{i}")).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(vec![0.5; n])),
            ],
        )
        .unwrap();
        let f = std::fs::File::create(p.path().join("landing/events").join(name)).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema.clone(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    };
    write("a.parquet", vec![1, 2, 3]);
    // v1 does not declare `score`: every row of the file is quarantined, not silently trimmed.
    let out = p.run(&["jobs/events.yaml"]).await;
    assert_eq!(out[0].report.bronze.rows_quarantined, 3);
    assert_eq!(p.count("bronze.events").await, 0);
    // v2 declares it; a new file flows through, Bronze and Silver gain the column.
    std::fs::write(p.path().join("jobs/events.yaml"), job(2)).unwrap();
    write("b.parquet", vec![3, 4]);
    let out = p.run(&["jobs/events.yaml"]).await;
    assert_eq!(out[0].report.bronze.rows_written, 2);
    let b = p
        .query("SELECT id, name, score FROM silver.events ORDER BY id")
        .await;
    assert_eq!(csv(&b), "id,name,score\n3,e3,0.5\n4,e4,0.5\n");
}

/// Several writers (e.g. two `medallion stream` processes) can commit Bronze rows stamped
/// earlier after rows stamped later. Silver's bookmark is a Bronze version, so such rows
/// are still processed, exactly once.
#[tokio::test]
async fn silver_processes_rows_committed_late_with_an_older_ingest_time() {
    use arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray};
    use medallion_core::table::{self, Location, StagedWrite};
    use std::sync::Arc;

    let p = Project::new();
    p.run(&JOBS).await;
    let silver_before = p.count("silver.orders").await;
    // Another writer's commit: a copy of order O1001 as new order O2001, stamped a day
    // before every row Silver has already processed.
    let rows = p
        .query("SELECT * FROM bronze.orders WHERE order_id = 'O1001' LIMIT 1")
        .await;
    let loc = Location::local(&p.path().join("lake/dev/bronze/orders")).unwrap();
    let bronze = table::open_if_exists("bronze.orders", &loc)
        .await
        .unwrap()
        .unwrap();
    let schema = table::arrow_schema(&bronze).unwrap();
    let batch = medallion_core::pipeline::conform(&rows[0], &schema).unwrap();
    let min_stamp = p
        .query("SELECT CAST(min(_ingest_time) AS BIGINT) AS m FROM bronze.orders")
        .await;
    let min_stamp = arrow::array::cast::as_primitive_array::<arrow::datatypes::Int64Type>(
        min_stamp[0].column(0),
    )
    .value(0);
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| -> ArrayRef {
            match f.name().as_str() {
                "order_id" => Arc::new(StringArray::from(vec!["O2001"])),
                "_ingest_time" => Arc::new(
                    TimestampMicrosecondArray::from(vec![min_stamp - 86_400_000_000])
                        .with_timezone("UTC"),
                ),
                "_source_file" => Arc::new(StringArray::from(vec!["another-writer"])),
                _ => c.clone(),
            }
        })
        .collect();
    let late = arrow::array::RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut w = StagedWrite::new("bronze.orders", &loc, schema).unwrap();
    w.write(late).await.unwrap();
    w.finish()
        .await
        .unwrap()
        .commit(Some(bronze), Default::default(), vec![])
        .await
        .unwrap();

    let out = p.run(&["jobs/shop/orders.yaml"]).await;
    let s = out[0].report.silver.as_ref().unwrap();
    assert_eq!(
        s.rows_read, 1,
        "only the late commit's row is new to Silver"
    );
    assert_eq!(p.count("silver.orders").await, silver_before + 1);
    let b = p
        .query("SELECT order_id FROM silver.orders WHERE order_id = 'O2001'")
        .await;
    assert_eq!(csv(&b), "order_id\nO2001\n");
    // And it is not processed twice.
    let again = p.run(&["jobs/shop/orders.yaml"]).await;
    assert_eq!(again[0].report.silver.as_ref().unwrap().rows_read, 0);
    assert_eq!(p.count("silver.orders").await, silver_before + 1);
}

/// Bronze recreated under a Silver table that has processed it: the run is refused (Silver
/// would skip the new Bronze's rows and move its bookmark backwards) and says what to do.
#[tokio::test]
async fn a_silver_bookmark_ahead_of_bronze_is_refused() {
    let p = Project::new();
    p.run(&["jobs/shop/customers.yaml"]).await;
    let silver = p.version("silver.customers").await;
    std::fs::remove_dir_all(p.path().join("lake/dev/bronze/customers")).unwrap();
    // The quarantine goes too: its own bookmark of Bronze would otherwise refuse the run
    // first, and Silver's check would go untested.
    std::fs::remove_dir_all(p.path().join("lake/dev/silver/customers_quarantine")).unwrap();
    let engine = p.engine("dev");
    let plans = p.plans(&engine, &["jobs/shop/customers.yaml"]).await;
    let outcome = engine.run(&plans[0]).await;
    let err = outcome.error.expect("refused").to_string();
    assert!(
        err.contains("silver.customers has processed bronze.customers up to version")
            && err.contains("recreated or restored")
            && err.contains("nothing was committed"),
        "{err}"
    );
    assert_eq!(p.version("silver.customers").await, silver);
    assert_eq!(
        p.version("bronze.customers").await,
        -1,
        "Bronze was not recreated by the refused run"
    );
}

/// A source name longer than Parquet's default statistics truncation (64 bytes): its data
/// file's statistics hold the whole name (the bookmark settles it without reading), and a
/// rerun skips it.
#[tokio::test]
async fn a_long_source_name_is_ingested_once() {
    let p = Project::new();
    p.run(&JOBS).await;
    let long = format!("orders-2026-11-09-{}.ndjson", "x".repeat(80));
    std::fs::write(
        p.path().join("testdata/shop/orders").join(&long),
        concat!(
            r#"{"order_id":"O7001","customer_id":"C001","amount":3.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-09T08:00:00Z","updated_at":"2026-11-09T08:00:00Z","items":[]}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = p.run(&["jobs/shop/orders.yaml"]).await;
    assert_eq!(out[0].report.bronze.files_ingested.len(), 1);
    let rows = p.count("bronze.orders").await;
    let v = p.version("bronze.orders").await;
    let log = std::fs::read_to_string(
        p.path()
            .join(format!("lake/dev/bronze/orders/_delta_log/{v:020}.json")),
    )
    .unwrap();
    let name = format!("testdata/shop/orders/{long}");
    assert!(
        log.contains(&format!(r#"\"minValues\":{{"#)) && log.matches(name.as_str()).count() >= 2,
        "the commit's statistics hold the whole name as minimum and maximum: {log}"
    );
    let again = p.run(&["jobs/shop/orders.yaml"]).await;
    assert!(again[0].report.bronze.files_ingested.is_empty());
    assert_eq!(again[0].report.bronze.files_skipped, 3);
    assert_eq!(p.count("bronze.orders").await, rows);
}
