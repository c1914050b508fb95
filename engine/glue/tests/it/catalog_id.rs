//! `catalog.glue.catalog_id`: every Glue request of the environment names that account's
//! catalog. moto's Glue ignores `CatalogId` (it answers from the caller's account), so this
//! test puts a recording HTTP server in the Glue endpoint's place and reads the requests as
//! they went over the wire; the contract with a catalog id runs on moto (`glue.rs`).

use std::sync::{Arc, Mutex};

use medallion_core::catalog::Catalog;
use medallion_core::env::GlueCatalogSpec;
use medallion_glue::GlueCatalog;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::common::{config_for, entry};

/// One request as received: its `X-Amz-Target` and JSON body.
type Seen = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// The answer of the recording endpoint to a Glue action: empty lists, "not found" for a
/// table (so an upsert creates it), success otherwise.
fn answer(target: &str) -> (u16, &'static str) {
    match target.rsplit('.').next().unwrap_or("") {
        "GetDatabases" => (200, r#"{"DatabaseList":[]}"#),
        "GetTables" => (200, r#"{"TableList":[]}"#),
        "GetTable" => (
            400,
            r#"{"__type":"EntityNotFoundException","Message":"no such table"}"#,
        ),
        _ => (200, "{}"),
    }
}

/// Serves HTTP/1.1 requests on `listener` (keep-alive), recording each.
async fn serve(listener: TcpListener, seen: Seen) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let seen = seen.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            loop {
                let (mut target, mut length) = (String::new(), 0usize);
                loop {
                    let mut line = String::new();
                    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    match name.to_ascii_lowercase().as_str() {
                        "x-amz-target" => target = value.trim().to_string(),
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                read.read_exact(&mut body).await.unwrap();
                let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                let (status, reply) = answer(&target);
                seen.lock().unwrap().push((target, json));
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n",
                    reply.len()
                );
                write.write_all(head.as_bytes()).await.unwrap();
                write.write_all(reply.as_bytes()).await.unwrap();
            }
        });
    }
}

#[tokio::test]
async fn every_glue_request_names_the_catalog_of_the_environment() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    tokio::spawn(serve(listener, seen.clone()));
    let spec = GlueCatalogSpec {
        database_prefix: "medallion_staging_".into(),
        region: Some("eu-west-1".into()),
        catalog_id: Some("222222222222".into()),
    };
    let cat = GlueCatalog::with_config(&config_for(&endpoint).await, &spec, "staging").unwrap();
    cat.create_database(&medallion_core::catalog::Database {
        name: "silver".into(),
        description: None,
        location: "s3://lake/silver".into(),
    })
    .await
    .unwrap();
    cat.upsert_table(&entry("silver", "orders")).await.unwrap();
    assert!(cat.list_databases().await.unwrap().is_empty());
    assert!(cat.list_tables(Some("silver")).await.unwrap().is_empty());

    let seen = seen.lock().unwrap().clone();
    let actions: Vec<&str> = seen
        .iter()
        .map(|(t, _)| t.rsplit('.').next().unwrap())
        .collect();
    for action in ["CreateDatabase", "GetTable", "CreateTable", "GetDatabases"] {
        assert!(actions.contains(&action), "{action} not sent: {actions:?}");
    }
    for (target, body) in &seen {
        assert_eq!(body["CatalogId"], "222222222222", "{target}: {body}");
    }
}

#[tokio::test]
async fn a_catalog_id_that_is_not_an_account_is_refused() {
    let config = config_for("http://127.0.0.1:9").await;
    for bad in [
        "22222222222",
        "22222222222a",
        "arn:aws:glue:eu-west-1:222222222222:catalog",
    ] {
        let spec = GlueCatalogSpec {
            database_prefix: "prod_".into(),
            region: Some("eu-west-1".into()),
            catalog_id: Some(bad.into()),
        };
        let err = GlueCatalog::with_config(&config, &spec, "prod")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("environment `prod`: Glue catalog_id `{bad}`")),
            "{err}"
        );
        assert!(err.contains("12 digits"), "{err}");
    }
}
