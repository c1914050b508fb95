//! Our Delta tables are readable by other readers: the deltalake reader API (with time
//! travel) and a minimal reader of our own that follows the Delta protocol (JSON log + Parquet)
//! without deltalake.

use std::collections::BTreeSet;

use crate::common::Project;

/// Active files per the Delta protocol: replay add/remove actions of the JSON commits.
fn active_files(table: &std::path::Path) -> BTreeSet<String> {
    let mut logs: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    logs.sort();
    let mut files = BTreeSet::new();
    for log in logs {
        for line in std::fs::read_to_string(log).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(add) = action.get("add") {
                files.insert(add["path"].as_str().unwrap().to_string());
            }
            if let Some(remove) = action.get("remove") {
                files.remove(remove["path"].as_str().unwrap());
            }
        }
    }
    files
}

fn rows_in(table: &std::path::Path) -> usize {
    active_files(table)
        .iter()
        .map(|f| {
            let file = std::fs::File::open(table.join(f)).unwrap();
            let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
            parquet::file::reader::FileReader::metadata(&reader)
                .file_metadata()
                .num_rows() as usize
        })
        .sum()
}

#[tokio::test]
async fn tables_are_readable_without_medallion() {
    let p = Project::new();
    p.run(&["jobs/shop/customers.yaml", "jobs/shop/orders.yaml"])
        .await;
    p.run(&["jobs/shop/orders.yaml"]).await;
    for t in [
        "bronze.orders",
        "silver.orders",
        "silver.orders_quarantine",
        "gold.daily_revenue",
        "silver.customers",
    ] {
        let (db, name) = t.split_once('.').unwrap();
        let dir = p.path().join("lake/dev").join(db).join(name);
        assert_eq!(
            rows_in(&dir) as i64,
            p.count(t).await,
            "{t}: protocol reader and DataFusion disagree"
        );
    }

    // deltalake's reader: open, inspect history, time-travel.
    std::fs::write(
        p.path().join("testdata/shop/orders/orders-2026-11-03.ndjson"),
        concat!(r#"{"order_id":"O3001","customer_id":"C001","amount":1.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-03T08:00:00Z","updated_at":"2026-11-03T08:00:00Z","items":[]}"#, "\n"),
    )
    .unwrap();
    p.run(&["jobs/shop/orders.yaml"]).await;
    let url = url::Url::from_directory_path(p.path().join("lake/dev/silver/orders")).unwrap();
    let table = deltalake::open_table(url.clone()).await.unwrap();
    assert_eq!(table.version(), Some(1));
    let old = deltalake::open_table_with_version(url, 0).await.unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_table("v0", old.table_provider().await.unwrap())
        .unwrap();
    let n = ctx
        .sql("SELECT count(*) FROM v0")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        arrow::array::cast::as_primitive_array::<arrow::datatypes::Int64Type>(n[0].column(0))
            .value(0),
        6
    );
    assert_eq!(p.count("silver.orders").await, 7);
}
