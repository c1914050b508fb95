//! Shared helpers: the moto endpoint, unique prefixes, sample entries.

use std::collections::BTreeMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_glue::config::Credentials;
use medallion_core::catalog::{Column, TableEntry};
use medallion_core::env::GlueCatalogSpec;
use medallion_glue::GlueCatalog;

/// The moto endpoint (`MEDALLION_MOTO_ENDPOINT`, default `http://127.0.0.1:5000`). Panics with
/// what to do when nothing answers there: these tests must not pass without a Glue API.
pub fn moto_endpoint() -> String {
    let endpoint = std::env::var("MEDALLION_MOTO_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:5000".to_string());
    let authority = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let reachable = authority
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut addrs| {
            let addr = addrs.next().ok_or("no address")?;
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())
        });
    if let Err(e) = reachable {
        panic!(
            "moto (the local Glue API server) is not reachable at {endpoint}: {e}. Start it from the \
             repository root with `. deploy/local/services/moto.sh` (sets MEDALLION_MOTO_ENDPOINT), then \
             re-run the tests"
        );
    }
    endpoint
}

/// An AWS configuration pointing at `endpoint` with static test credentials.
pub async fn config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "medallion-tests",
        ))
        .load()
        .await
}

/// A database prefix no other test uses: `t<random>_<label>_`.
pub fn unique_prefix(label: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}_{label}_", &id[..12])
}

/// A Glue catalog on moto for environment `environment` with its own unique prefix.
pub async fn glue_catalog(environment: &str) -> GlueCatalog {
    let config = config_for(&moto_endpoint()).await;
    GlueCatalog::with_config(
        &config,
        &GlueCatalogSpec {
            database_prefix: unique_prefix(environment),
            region: None,
            catalog_id: None,
        },
        environment,
    )
    .expect("catalog")
}

/// Columns with nested Hive types.
pub fn nested_columns() -> Vec<Column> {
    let col = |name: &str, ty: &str| Column {
        name: name.into(),
        ty: ty.into(),
        nullable: true,
        description: None,
        classification: None,
    };
    vec![
        Column {
            nullable: false,
            description: Some("Order id".into()),
            ..col("order_id", "bigint")
        },
        col("amount", "decimal(12,2)"),
        col("ordered_at", "timestamp"),
        Column {
            description: Some("Where it goes".into()),
            classification: Some("pii".into()),
            ..col(
                "address",
                "struct<street:string,geo:struct<lat:double,lon:double>>",
            )
        },
        col(
            "lines",
            "array<struct<sku:string,qty:int,tags:array<string>>>",
        ),
        col("attributes", "map<string,bigint>"),
        Column {
            classification: Some("pii".into()),
            ..col("email", "string")
        },
    ]
}

/// A table entry of `database.name` as the pipeline would register it.
pub fn entry(database: &str, name: &str) -> TableEntry {
    TableEntry {
        database: database.into(),
        name: name.into(),
        location: format!("s3://acme-lake-test/{database}/{name}"),
        format: "delta".into(),
        layer: database.into(),
        columns: nested_columns(),
        delta_version: 0,
        owner_pipeline: "orders".into(),
        schema_ref: Some("orders@2".into()),
        description: Some(format!("The {name} of the shop")),
        parameters: BTreeMap::from([
            ("environment".to_string(), "test".to_string()),
            ("retention_days".to_string(), "30".to_string()),
        ]),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-01T00:00:00.000Z".into(),
    }
}
