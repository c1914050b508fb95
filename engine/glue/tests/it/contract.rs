//! The catalog contract: what every `Catalog` implementation does, checked on the embedded
//! catalog and on the Glue catalog (against moto) by the same code.

use medallion_core::catalog::{Catalog, Column, Database, EmbeddedCatalog};

use crate::common::{entry, glue_catalog};

/// Runs the contract on an empty catalog.
pub async fn contract(cat: &dyn Catalog) {
    assert!(
        cat.list_databases().await.unwrap().is_empty(),
        "a fresh catalog has no databases"
    );

    // Databases: created once, idempotent, listed by name.
    let bronze = Database {
        name: "bronze".into(),
        description: Some("Raw data, as ingested".into()),
        location: "s3://acme-lake-test/bronze".into(),
    };
    let silver = Database {
        name: "silver".into(),
        description: None,
        location: "s3://acme-lake-test/silver".into(),
    };
    for _ in 0..2 {
        cat.create_database(&silver).await.unwrap();
        cat.create_database(&bronze).await.unwrap();
    }
    assert_eq!(
        cat.list_databases().await.unwrap(),
        vec![bronze.clone(), silver.clone()]
    );

    // Tables: upsert then get round-trips every field, nested column types included.
    let orders = entry("silver", "orders");
    let mut customers = entry("silver", "customers");
    customers.schema_ref = None;
    customers.description = None;
    customers.parameters.clear();
    customers.columns = vec![Column {
        name: "customer_id".into(),
        ty: "string".into(),
        nullable: false,
        description: None,
        classification: None,
    }];
    let raw = entry("bronze", "orders");
    for t in [&orders, &customers, &raw] {
        cat.upsert_table(t).await.unwrap();
    }
    assert_eq!(
        cat.get_table("silver", "orders").await.unwrap().as_ref(),
        Some(&orders)
    );
    assert_eq!(
        cat.get_table("silver", "customers").await.unwrap().as_ref(),
        Some(&customers)
    );
    assert_eq!(cat.get_table("silver", "missing").await.unwrap(), None);
    assert_eq!(cat.get_table("gold", "orders").await.unwrap(), None);

    // Listing: per database, and all ordered by database and name.
    assert_eq!(
        cat.list_tables(Some("silver")).await.unwrap(),
        vec![customers.clone(), orders.clone()]
    );
    assert_eq!(
        cat.list_tables(Some("bronze")).await.unwrap(),
        vec![raw.clone()]
    );
    assert_eq!(cat.list_tables(Some("gold")).await.unwrap(), vec![]);
    assert_eq!(
        cat.list_tables(None).await.unwrap(),
        vec![raw.clone(), customers.clone(), orders.clone()]
    );

    // Update: every field changes except created_at, which the first registration fixed.
    let mut v2 = orders.clone();
    v2.delta_version = 7;
    v2.columns.push(Column {
        name: "coupon".into(),
        ty: "array<map<string,string>>".into(),
        nullable: true,
        description: Some("Applied coupons".into()),
        classification: None,
    });
    v2.columns[1].ty = "decimal(14,2)".into();
    v2.description = Some("Orders, deduplicated".into());
    v2.schema_ref = Some("orders@3".into());
    v2.parameters.insert("owner".into(), "shop-team".into());
    v2.parameters.remove("retention_days");
    v2.created_at = "2030-01-01T00:00:00.000Z".into();
    v2.updated_at = "2030-01-01T00:00:00.000Z".into();
    cat.upsert_table(&v2).await.unwrap();
    let got = cat.get_table("silver", "orders").await.unwrap().unwrap();
    let mut expected = v2.clone();
    expected.created_at = orders.created_at.clone();
    assert_eq!(
        got, expected,
        "an update keeps created_at and replaces the rest"
    );
    assert_eq!(cat.list_tables(Some("silver")).await.unwrap().len(), 2);

    // A table in a database that does not exist is refused, and nothing is registered.
    let daily = entry("gold", "daily_revenue");
    let err = cat.upsert_table(&daily).await.unwrap_err().to_string();
    assert!(
        err.contains("gold") && err.contains("does not exist"),
        "names the missing database: {err}"
    );
    assert_eq!(cat.get_table("gold", "daily_revenue").await.unwrap(), None);
    assert_eq!(cat.list_databases().await.unwrap(), vec![bronze, silver]);
}

#[tokio::test]
async fn embedded_catalog_passes_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&EmbeddedCatalog::for_lake(dir.path())).await;
}

#[tokio::test]
async fn glue_catalog_passes_the_contract() {
    contract(&glue_catalog("contract").await).await;
}

/// With `catalog_id` set to the caller's own account (moto's default, 123456789012) the
/// catalog works as without it: AWS and moto accept the parameter on every call.
#[tokio::test]
async fn glue_catalog_with_a_catalog_id_passes_the_contract() {
    let config = crate::common::config_for(&crate::common::moto_endpoint()).await;
    let spec = medallion_core::env::GlueCatalogSpec {
        database_prefix: crate::common::unique_prefix("catalogid"),
        region: None,
        catalog_id: Some("123456789012".into()),
    };
    let cat = medallion_glue::GlueCatalog::with_config(&config, &spec, "contract").unwrap();
    contract(&cat).await;
}
