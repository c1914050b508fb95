//! Glue-specific behaviour, checked through the raw Glue API of moto.

use std::collections::HashMap;

use aws_sdk_glue::types::{StorageDescriptor, TableInput};
use medallion_core::catalog::{Catalog, Database};
use medallion_core::env::GlueCatalogSpec;
use medallion_glue::{GlueCatalog, INPUT_FORMAT, OUTPUT_FORMAT, SERDE, TABLE_TYPE};

use crate::common::{config_for, entry, glue_catalog, moto_endpoint, unique_prefix};

async fn with_silver(cat: &GlueCatalog) {
    cat.create_database(&Database {
        name: "silver".into(),
        description: Some("Validated data".into()),
        location: "s3://acme-lake-test/silver".into(),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn tables_are_registered_as_athena_readable_delta_tables() {
    let cat = glue_catalog("staging").await;
    with_silver(&cat).await;
    let e = entry("silver", "orders");
    cat.upsert_table(&e).await.unwrap();
    let glue_db = cat.glue_database_name("silver");
    assert!(glue_db.ends_with("_staging_silver"), "{glue_db}");

    let db = cat
        .client()
        .get_database()
        .name(&glue_db)
        .send()
        .await
        .unwrap()
        .database
        .unwrap();
    assert_eq!(db.description.as_deref(), Some("Validated data"));
    assert_eq!(
        db.location_uri.as_deref(),
        Some("s3://acme-lake-test/silver")
    );
    let arn = format!("arn:aws:glue:us-east-1:123456789012:database/{glue_db}");
    let tags = cat
        .client()
        .get_tags()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert_eq!(tags.get("environment").map(String::as_str), Some("staging"));
    assert_eq!(tags.get("layer").map(String::as_str), Some("silver"));
    assert_eq!(tags.get("project").map(String::as_str), Some("medallion"));

    let t = cat
        .client()
        .get_table()
        .database_name(&glue_db)
        .name("orders")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(t.table_type.as_deref(), Some(TABLE_TYPE));
    assert_eq!(t.description.as_deref(), Some("The orders of the shop"));
    let p = t.parameters.clone().unwrap();
    for (k, v) in [
        ("table_type", "DELTA"),
        ("classification", "delta"),
        ("spark.sql.sources.provider", "delta"),
        ("EXTERNAL", "TRUE"),
        ("medallion.owner_pipeline", "orders"),
        ("medallion.schema_ref", "orders@2"),
        ("medallion.delta_version", "0"),
        ("medallion.layer", "silver"),
        ("medallion.environment", "staging"),
        ("medallion.classification.email", "pii"),
        ("medallion.classification.address", "pii"),
        ("environment", "test"),
        ("retention_days", "30"),
    ] {
        assert_eq!(p.get(k).map(String::as_str), Some(v), "parameter {k}");
    }
    let sd = t.storage_descriptor.unwrap();
    assert_eq!(
        sd.location.as_deref(),
        Some("s3://acme-lake-test/silver/orders")
    );
    assert_eq!(sd.input_format.as_deref(), Some(INPUT_FORMAT));
    assert_eq!(sd.output_format.as_deref(), Some(OUTPUT_FORMAT));
    let serde = sd.serde_info.clone().unwrap();
    assert_eq!(serde.serialization_library.as_deref(), Some(SERDE));
    assert_eq!(
        serde.parameters.unwrap().get("path").map(String::as_str),
        Some("s3://acme-lake-test/silver/orders")
    );
    let cols: Vec<(&str, &str)> = sd
        .columns()
        .iter()
        .map(|c| (c.name.as_str(), c.r#type.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        cols,
        vec![
            ("order_id", "bigint"),
            ("amount", "decimal(12,2)"),
            ("ordered_at", "timestamp"),
            (
                "address",
                "struct<street:string,geo:struct<lat:double,lon:double>>"
            ),
            (
                "lines",
                "array<struct<sku:string,qty:int,tags:array<string>>>"
            ),
            ("attributes", "map<string,bigint>"),
            ("email", "string"),
        ]
    );
    let order_id = &sd.columns()[0];
    assert_eq!(order_id.comment.as_deref(), Some("Order id"));
    let cp = order_id.parameters.clone().unwrap();
    assert_eq!(
        cp.get("medallion.nullable").map(String::as_str),
        Some("false")
    );
    let email = sd.columns()[6].parameters.clone().unwrap();
    assert_eq!(
        email.get("medallion.classification").map(String::as_str),
        Some("pii")
    );
    assert!(sd.columns()[1].comment.is_none());
}

#[tokio::test]
async fn delta_version_updates_go_through_the_glue_version() {
    let cat = glue_catalog("staging").await;
    with_silver(&cat).await;
    let glue_db = cat.glue_database_name("silver");
    let raw = |cat: &GlueCatalog| {
        let (client, db) = (cat.client().clone(), glue_db.clone());
        async move {
            client
                .get_table()
                .database_name(db)
                .name("orders")
                .send()
                .await
                .unwrap()
                .table
                .unwrap()
        }
    };
    let mut e = entry("silver", "orders");
    e.delta_version = 1;
    cat.upsert_table(&e).await.unwrap();
    let first = raw(&cat).await;
    let first_version = first.version_id.clone().expect("Glue keeps a VersionId");
    for v in 2..=4 {
        e.delta_version = v;
        e.created_at = format!("2031-01-0{v}T00:00:00.000Z");
        e.updated_at = format!("2031-01-0{v}T00:00:00.000Z");
        cat.upsert_table(&e).await.unwrap();
    }
    let last = raw(&cat).await;
    let p = last.parameters.clone().unwrap();
    assert_eq!(p["medallion.delta_version"], "4");
    assert_eq!(p["medallion.created_at"], "2026-01-01T00:00:00.000Z");
    assert_eq!(p["medallion.updated_at"], "2031-01-04T00:00:00.000Z");
    assert_ne!(
        last.version_id,
        Some(first_version),
        "each update is a new Glue table version"
    );
    assert_eq!(
        last.create_time, first.create_time,
        "the Glue table was updated, not re-created"
    );
    let got = cat.get_table("silver", "orders").await.unwrap().unwrap();
    assert_eq!(got.delta_version, 4);
    assert_eq!(got.created_at, "2026-01-01T00:00:00.000Z");
}

/// moto does not check `VersionId`, so this shows that concurrent registrations of one table
/// all succeed and leave one of the written versions, not that the Glue retry path is taken.
#[tokio::test]
async fn concurrent_upserts_of_one_table_all_succeed() {
    let cat = glue_catalog("staging").await;
    with_silver(&cat).await;
    let mut tasks = Vec::new();
    for v in 0..8 {
        let cat = cat.clone();
        tasks.push(tokio::spawn(async move {
            let mut e = entry("silver", "orders");
            e.delta_version = v;
            cat.upsert_table(&e).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let got = cat.get_table("silver", "orders").await.unwrap().unwrap();
    assert!((0..8).contains(&got.delta_version));
    assert_eq!(cat.list_tables(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn prefixes_isolate_environments() {
    let config = config_for(&moto_endpoint()).await;
    let run = unique_prefix("iso");
    let open = |env: &str| {
        GlueCatalog::with_config(
            &config,
            &GlueCatalogSpec {
                database_prefix: format!("{run}{env}_"),
                region: None,
                catalog_id: None,
            },
            env,
        )
        .unwrap()
    };
    let (dev, staging) = (open("dev"), open("staging"));
    with_silver(&dev).await;
    dev.upsert_table(&entry("silver", "orders")).await.unwrap();

    assert_eq!(dev.list_databases().await.unwrap().len(), 1);
    assert_eq!(dev.list_tables(None).await.unwrap().len(), 1);
    assert!(staging.list_databases().await.unwrap().is_empty());
    assert!(staging.list_tables(None).await.unwrap().is_empty());
    assert!(staging
        .list_tables(Some("silver"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(staging.get_table("silver", "orders").await.unwrap(), None);
    let err = staging
        .upsert_table(&entry("silver", "orders"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{run}staging_silver")), "{err}");

    with_silver(&staging).await;
    let mut e = entry("silver", "orders");
    e.delta_version = 9;
    staging.upsert_table(&e).await.unwrap();
    assert_eq!(
        dev.get_table("silver", "orders")
            .await
            .unwrap()
            .unwrap()
            .delta_version,
        0,
        "staging's registration does not touch dev's table"
    );
    assert_eq!(dev.list_tables(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_missing_database_is_one_actionable_line() {
    let cat = glue_catalog("prod").await;
    let err = cat
        .upsert_table(&entry("gold", "daily_revenue"))
        .await
        .unwrap_err()
        .to_string();
    let glue_db = cat.glue_database_name("gold");
    eprintln!("{err}");
    assert!(err.contains("environment `prod`"), "{err}");
    assert!(
        err.contains(&format!("Glue database `{glue_db}` does not exist")),
        "{err}"
    );
    assert!(err.contains("region us-east-1"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_one_actionable_line() {
    // Nothing listens on port 9 of loopback (discard): the connection is refused.
    let config = config_for("http://127.0.0.1:9").await;
    let cat = GlueCatalog::with_config(
        &config,
        &GlueCatalogSpec {
            database_prefix: "staging_".into(),
            region: Some("eu-central-1".into()),
            catalog_id: None,
        },
        "staging",
    )
    .unwrap();
    let err = cat.list_databases().await.unwrap_err().to_string();
    eprintln!("{err}");
    assert!(err.contains("environment `staging`"), "{err}");
    assert!(
        err.contains("cannot reach the Glue endpoint http://127.0.0.1:9 (region eu-central-1)"),
        "{err}"
    );
    assert!(err.contains("databases `staging_*`"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

#[tokio::test]
async fn tables_not_registered_by_medallion_are_left_alone() {
    let cat = glue_catalog("staging").await;
    with_silver(&cat).await;
    let glue_db = cat.glue_database_name("silver");
    cat.client()
        .create_table()
        .database_name(&glue_db)
        .table_input(
            TableInput::builder()
                .name("crawled")
                .table_type("EXTERNAL_TABLE")
                .set_parameters(Some(HashMap::from([(
                    "classification".to_string(),
                    "csv".to_string(),
                )])))
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .location("s3://elsewhere/crawled")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    cat.upsert_table(&entry("silver", "orders")).await.unwrap();

    let listed = cat.list_tables(Some("silver")).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        vec!["orders"]
    );
    let err = cat
        .get_table("silver", "crawled")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("was not registered by medallion"), "{err}");
    let err = cat
        .upsert_table(&entry("silver", "crawled"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("refusing to replace it"), "{err}");
}

#[tokio::test]
async fn from_env_takes_the_region_of_the_spec() {
    let cat = GlueCatalog::from_env(
        &GlueCatalogSpec {
            database_prefix: "prod_".into(),
            region: Some("ap-southeast-2".into()),
            catalog_id: None,
        },
        "prod",
    )
    .await
    .unwrap();
    assert_eq!(cat.glue_database_name("gold"), "prod_gold");
    assert_eq!(cat.environment(), "prod");
    assert_eq!(
        cat.client().config().region().map(|r| r.as_ref()),
        Some("ap-southeast-2")
    );
}
