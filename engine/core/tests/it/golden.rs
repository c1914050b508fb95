//! Every example pipeline's Gold output and quarantine equal the committed golden files.

use crate::common::{assert_golden, csv, Project};

const QUARANTINE_COLUMNS: &str = "_stage, _rule, _column, _source_file, _source_line, _reason";

#[tokio::test]
async fn shop_pipelines_match_golden_outputs() {
    let p = Project::new();
    let outcomes = p
        .run(&["jobs/shop/orders.yaml", "jobs/shop/customers.yaml"])
        .await;
    // Planning orders customers first: orders' Gold reads silver.customers.
    assert_eq!(outcomes[0].report.pipeline, "customers");
    assert_eq!(outcomes[1].report.pipeline, "orders");

    assert_golden(
        "shop/daily_revenue.csv",
        &csv(&p
            .query("SELECT * FROM gold.daily_revenue ORDER BY day")
            .await),
    );
    assert_golden(
        "shop/revenue_by_country.csv",
        &csv(&p
            .query("SELECT * FROM gold.revenue_by_country ORDER BY country")
            .await),
    );
    assert_golden(
        "shop/orders_quarantine.csv",
        &csv(&p.query(&format!("SELECT {QUARANTINE_COLUMNS} FROM silver.orders_quarantine ORDER BY _source_file, _source_line")).await),
    );
    assert_golden(
        "shop/customers_quarantine.csv",
        &csv(&p.query(&format!("SELECT {QUARANTINE_COLUMNS} FROM silver.customers_quarantine ORDER BY _source_file, _source_line")).await),
    );
    assert_golden(
        "shop/silver_customers.csv",
        &csv(&p.query("SELECT customer_id, name, email_sha256, phone, country, signup_date FROM silver.customers ORDER BY customer_id").await),
    );

    // The counts the report gives agree with the tables.
    let orders = &outcomes[1].report;
    assert_eq!(orders.bronze.rows_read, 16);
    assert_eq!(orders.bronze.rows_quarantined, 2);
    let silver = orders.silver.as_ref().unwrap();
    assert_eq!(
        (
            silver.rows_schema_rejected,
            silver.rows_dropped,
            silver.rows_quarantined,
            silver.rows_deduplicated,
            silver.rows_written
        ),
        (2, 1, 2, 3, 6)
    );
    assert_eq!(p.count("silver.orders").await, 6);
    assert_eq!(p.count("silver.orders_quarantine").await, 6);
    let warn = silver
        .rules
        .iter()
        .find(|r| r.name == "known_status")
        .unwrap();
    assert_eq!(
        (warn.checked, warn.failed),
        (10, 1),
        "warn rules count but keep rows"
    );
    assert_eq!(p.count("silver.orders WHERE status = 'returned'").await, 1);
}

#[tokio::test]
async fn iot_pipeline_matches_golden_outputs() {
    let p = Project::new();
    let outcomes = p.run(&["jobs/iot/sensor_readings.yaml"]).await;
    assert_golden(
        "iot/hourly_device_stats.csv",
        &csv(&p
            .query("SELECT * FROM gold.hourly_device_stats ORDER BY device_id, hour")
            .await),
    );
    assert_golden(
        "iot/sensor_readings_quarantine.csv",
        &csv(&p.query(&format!("SELECT {QUARANTINE_COLUMNS} FROM silver.sensor_readings_quarantine ORDER BY _source_file, _source_line")).await),
    );
    // The re-sent reading keeps the value received last; the late one is kept.
    let b = p.query("SELECT temperature_c FROM silver.sensor_readings WHERE device_id = 'd-001' AND reading_ts = '2026-11-01T10:05:00Z'").await;
    assert_eq!(csv(&b), "temperature_c\n21.8\n");
    assert_eq!(p.count("silver.sensor_readings WHERE device_id = 'd-002' AND reading_ts < '2026-11-01T10:00:00Z'").await, 1);
    let s = outcomes[0].report.silver.as_ref().unwrap();
    assert_eq!(
        (
            s.rows_read,
            s.rows_schema_rejected,
            s.rows_quarantined,
            s.rows_deduplicated,
            s.rows_written
        ),
        (13, 2, 1, 2, 8)
    );
    // Nested types reach Silver typed.
    let b = p
        .query("SELECT arrow_typeof(tags) AS t FROM silver.sensor_readings LIMIT 1")
        .await;
    assert!(csv(&b).contains("List"), "{}", csv(&b));
}

#[tokio::test]
async fn catalog_registers_every_table_with_schema_and_version() {
    let p = Project::new();
    p.run(&["jobs/shop/customers.yaml"]).await;
    let engine = p.engine("dev");
    let tables = engine.catalog.list_tables(None).await.unwrap();
    let names: Vec<String> = tables.iter().map(|t| t.qualified_name()).collect();
    assert_eq!(
        names,
        vec![
            "bronze.customers",
            "silver.customers",
            "silver.customers_quarantine"
        ]
    );
    let silver = engine
        .catalog
        .get_table("silver", "customers")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(silver.owner_pipeline, "customers");
    assert_eq!(silver.schema_ref.as_deref(), Some("customers@2"));
    assert_eq!(silver.delta_version, 0);
    let email = silver.columns.iter().find(|c| c.name == "name").unwrap();
    assert_eq!(email.classification.as_deref(), Some("pii"));
    let bronze = engine
        .catalog
        .get_table("bronze", "customers")
        .await
        .unwrap()
        .unwrap();
    let cols: Vec<&str> = bronze.columns.iter().map(|c| c.name.as_str()).collect();
    assert!(
        cols.ends_with(&["_ingest_time", "_source_file", "_source_line", "_run_id"]),
        "{cols:?}"
    );
    assert!(
        bronze
            .columns
            .iter()
            .all(|c| c.name.starts_with('_') || c.ty == "string"),
        "Bronze keeps values as text"
    );
    let dbs: Vec<String> = engine
        .catalog
        .list_databases()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(dbs, vec!["bronze", "silver"]);
}
