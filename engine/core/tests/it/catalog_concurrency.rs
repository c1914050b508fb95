//! Issue 10, silent loss 5b: the embedded catalog loses no update when several processes
//! change it at once. Two child processes (this test binary, re-executed) each register
//! their own tables in one catalog at the same time; every entry must be there afterwards,
//! with the Delta version its writer gave it.
//!
//! On object stores the catalog relies on conditional puts (`If-Match`), which S3 applies
//! atomically; moto checks the condition and then stores the object without a lock, so two
//! racing puts can both pass there. The S3 code path is therefore tested deterministically on
//! an in-memory store with atomic conditional puts (catalog.rs unit tests), and against moto
//! sequentially by the S3 pipeline tests (their environment uses the embedded catalog).

use std::collections::BTreeMap;
use std::process::Command;

use medallion_core::catalog::{Catalog, Database, EmbeddedCatalog, TableEntry};
use medallion_core::table::Location;

const CHILD: &str = "MEDALLION_TEST_CATALOG_WRITER";
const TABLES: usize = 40;

fn entry(writer: usize, i: usize) -> TableEntry {
    TableEntry {
        database: "silver".into(),
        name: format!("w{writer}_t{i}"),
        location: format!("/lake/silver/w{writer}_t{i}"),
        format: "delta".into(),
        layer: "silver".into(),
        columns: vec![],
        delta_version: (writer * 1000 + i) as i64,
        owner_pipeline: format!("writer{writer}"),
        schema_ref: None,
        description: None,
        parameters: BTreeMap::new(),
        created_at: "t0".into(),
        updated_at: "t0".into(),
    }
}

fn catalog(url: &str) -> EmbeddedCatalog {
    EmbeddedCatalog::for_location(Location {
        url: url::Url::parse(url).unwrap(),
        options: Default::default(),
    })
}

/// The child's work; does nothing unless started by [`two_writers`] (the variable is set).
#[tokio::test]
async fn catalog_writer_child() {
    let Ok(arg) = std::env::var(CHILD) else {
        return;
    };
    let (writer, url) = arg.split_once(' ').unwrap();
    let writer: usize = writer.parse().unwrap();
    let cat = catalog(url);
    for i in 0..TABLES {
        cat.upsert_table(&entry(writer, i)).await.unwrap();
    }
}

async fn two_writers(url: &str) {
    let cat = catalog(url);
    cat.create_database(&Database {
        name: "silver".into(),
        description: None,
        location: format!("{url}/silver"),
    })
    .await
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|w| {
            Command::new(&exe)
                .args([
                    "catalog_concurrency::catalog_writer_child",
                    "--exact",
                    "--test-threads=1",
                ])
                .env(CHILD, format!("{w} {url}"))
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer process failed");
    }
    let tables = cat.list_tables(Some("silver")).await.unwrap();
    let got: BTreeMap<String, i64> = tables
        .iter()
        .map(|t| (t.name.clone(), t.delta_version))
        .collect();
    for w in 0..2 {
        for i in 0..TABLES {
            let e = entry(w, i);
            assert_eq!(
                got.get(&e.name),
                Some(&e.delta_version),
                "entry `{}` lost by concurrent catalog updates; have {} of {} entries",
                e.name,
                got.len(),
                2 * TABLES
            );
        }
    }
}

#[tokio::test]
async fn two_processes_updating_a_local_embedded_catalog_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(dir.path()).unwrap();
    two_writers(url.as_str()).await;
}
