//! The same example pipelines on an S3 lake with SSE-KMS, against a real S3/KMS API server
//! (moto on loopback, started by deploy/local/services/moto.sh).

use std::sync::Arc;

use futures::TryStreamExt;
use medallion_core::table::{self, StagedWrite};

use crate::common::{assert_golden, csv, Project};

pub fn endpoint() -> String {
    std::env::var("MEDALLION_MOTO_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// Points the AWS configuration of this test process at the local server (same values for
/// every test, so setting them from parallel tests is harmless).
fn aws_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (k, v) in [
            ("AWS_ENDPOINT_URL", endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ] {
            // SAFETY: set once, before any thread of this process reads these variables for S3.
            unsafe { std::env::set_var(k, v) };
        }
    });
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn reachable() {
    if http()
        .get(format!("{}/moto-api/", endpoint()))
        .send()
        .await
        .is_err()
    {
        panic!(
            "the S3/KMS/Glue test server is not reachable at {}: start it with `. deploy/local/services/moto.sh` \
             (deploy/local/test.sh does this)",
            endpoint()
        );
    }
}

/// A fresh bucket and KMS key; returns (bucket, key id).
pub async fn bucket_and_key(tag: &str) -> (String, String) {
    aws_env();
    reachable().await;
    let bucket = format!("medallion-{tag}-{}", uuid::Uuid::new_v4().simple())
        .chars()
        .take(62)
        .collect::<String>();
    let r = http()
        .put(format!("{}/{bucket}", endpoint()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    let r = http()
        .post(format!("{}/", endpoint()))
        .header("X-Amz-Target", "TrentService.CreateKey")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0")
        .body("{}")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    (
        bucket,
        v["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("KMS key id")
            .to_string(),
    )
}

fn s3_project(bucket: &str, key: &str) -> Project {
    let p = Project::new();
    std::fs::write(
        p.path().join("environments.yaml"),
        format!(
            "environments:\n  dev: {{ lake: ./lake/dev, retention_days: 30 }}\n  staging: {{ lake: s3://{bucket}/lake, catalog: embedded, kms_key: {key}, retention_days: 90, streaming: true }}\n"
        ),
    )
    .unwrap();
    p
}

#[tokio::test]
async fn example_pipelines_on_s3_match_golden_outputs_and_every_object_is_kms_encrypted() {
    let (bucket, key) = bucket_and_key("golden").await;
    let p = s3_project(&bucket, &key);
    p.run_in(
        "staging",
        &[
            "jobs/shop/customers.yaml",
            "jobs/shop/orders.yaml",
            "jobs/iot/sensor_readings.yaml",
        ],
    )
    .await;
    assert_golden(
        "shop/daily_revenue.csv",
        &csv(&p
            .query_in("staging", "SELECT * FROM gold.daily_revenue ORDER BY day")
            .await),
    );
    assert_golden(
        "shop/revenue_by_country.csv",
        &csv(&p
            .query_in(
                "staging",
                "SELECT * FROM gold.revenue_by_country ORDER BY country",
            )
            .await),
    );
    assert_golden(
        "iot/hourly_device_stats.csv",
        &csv(&p
            .query_in(
                "staging",
                "SELECT * FROM gold.hourly_device_stats ORDER BY device_id, hour",
            )
            .await),
    );
    assert!(
        !p.path().join("lake").exists(),
        "nothing was written locally"
    );

    // A re-run adds nothing.
    let again = p.run_in("staging", &["jobs/shop/orders.yaml"]).await;
    assert!(again[0].report.bronze.files_ingested.is_empty());
    a_new_order_is_merged_into_the_partials_kept_on_s3(&p).await;

    // HEAD every object the runs wrote: SSE-KMS with this environment's key.
    let engine = p.engine("staging");
    let lake = engine.env.lake_location().unwrap();
    let (store, root) = lake.object_store().unwrap();
    let objects: Vec<_> = store.list(Some(&root)).try_collect().await.unwrap();
    assert!(
        objects.len() > 20,
        "expected the tables' data and logs, found {}",
        objects.len()
    );
    let state = objects
        .iter()
        .filter(|o| {
            o.location
                .as_ref()
                .contains("_medallion/gold_state/gold.daily_revenue/")
        })
        .count();
    assert_eq!(state, 2, "state.json and one partials file");
    let signer = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&bucket)
        .with_endpoint(endpoint())
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap();
    for o in &objects {
        use object_store::signer::Signer as _;
        let url = signer
            .signed_url(
                reqwest::Method::HEAD,
                &o.location,
                std::time::Duration::from_secs(300),
            )
            .await
            .unwrap();
        let r = http().head(url).send().await.unwrap();
        assert!(
            r.status().is_success(),
            "HEAD {}: {}",
            o.location,
            r.status()
        );
        let h = r.headers();
        assert_eq!(
            h.get("x-amz-server-side-encryption")
                .and_then(|v| v.to_str().ok()),
            Some("aws:kms"),
            "{}",
            o.location
        );
        let kid = h
            .get("x-amz-server-side-encryption-aws-kms-key-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            kid.contains(&key),
            "{}: key {kid}, expected {key}",
            o.location
        );
    }

    // The catalog can be rebuilt from the lake alone.
    let (store, root) = lake.object_store().unwrap();
    use object_store::ObjectStoreExt as _;
    store
        .delete(&object_store::path::Path::from(format!(
            "{root}/_catalog/catalog.json"
        )))
        .await
        .unwrap();
    assert!(engine.catalog.list_tables(None).await.unwrap().is_empty());
    let synced = engine
        .sync_catalog(Some(&p.path().join("schemas")))
        .await
        .unwrap();
    assert_eq!(synced.len(), 12, "{synced:?}");
    let silver = engine
        .catalog
        .get_table("silver", "orders")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            silver.layer.as_str(),
            silver.owner_pipeline.as_str(),
            silver.schema_ref.as_deref()
        ),
        ("silver", "orders", Some("orders@2"))
    );
    assert!(engine
        .drift()
        .await
        .unwrap()
        .iter()
        .all(|(_, d)| *d == medallion_core::sync::Drift::InSync));
}

#[tokio::test]
async fn concurrent_appends_to_one_s3_table_all_land() {
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    let (bucket, key) = bucket_and_key("race").await;
    let p = s3_project(&bucket, &key);
    let env = p.engine("staging").env;
    let name = medallion_core::spec::TableName::parse("bronze.race").unwrap();
    let loc = env.location(&name).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "writer",
        DataType::Int64,
        true,
    )]));
    let batch = |w: i64| {
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![w; 10]))],
        )
        .unwrap()
    };
    // Version 0.
    let mut first = StagedWrite::new("bronze.race", &loc, schema.clone()).unwrap();
    first.write(batch(0)).await.unwrap();
    first
        .finish()
        .await
        .unwrap()
        .commit(None, Default::default(), vec![])
        .await
        .unwrap();
    const N: i64 = 6;
    let mut tasks = Vec::new();
    for w in 1..=N {
        let (loc, schema, b) = (loc.clone(), schema.clone(), batch(w));
        tasks.push(tokio::spawn(async move {
            let t = table::open_if_exists("bronze.race", &loc).await.unwrap();
            let mut sw = StagedWrite::new("bronze.race", &loc, schema).unwrap();
            sw.write(b).await.unwrap();
            sw.finish()
                .await
                .unwrap()
                .commit(t, Default::default(), vec![])
                .await
                .unwrap()
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.expect("every writer commits");
    }
    let t = table::open_if_exists("bronze.race", &loc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        table::version(&t),
        N,
        "one version per commit, no version lost or duplicated"
    );
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_table("race", table::provider(&t, &ctx).await.unwrap())
        .unwrap();
    let b = ctx
        .sql("SELECT writer, count(*) AS n FROM race GROUP BY writer ORDER BY writer")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let expected: String = std::iter::once("writer,n\n".to_string())
        .chain((0..=N).map(|w| format!("{w},10\n")))
        .collect();
    assert_eq!(csv(&b), expected);
}

/// A new order: Gold merges it into the partials kept on S3 (their objects are checked for
/// SSE-KMS with the others), and equals its SQL recomputed from Silver.
async fn a_new_order_is_merged_into_the_partials_kept_on_s3(p: &Project) {
    std::fs::write(
        p.path().join("testdata/shop/orders/orders-2026-11-09.ndjson"),
        concat!(r#"{"order_id":"O5001","customer_id":"C001","amount":5.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-09T09:00:00Z","updated_at":"2026-11-09T09:00:00Z","items":[]}"#, "\n"),
    )
    .unwrap();
    let third = p.run_in("staging", &["jobs/shop/orders.yaml"]).await;
    let daily = third[0]
        .report
        .gold
        .iter()
        .find(|g| g.table == "gold.daily_revenue")
        .unwrap();
    assert_eq!(daily.mode, "incremental", "{}", daily.reason);
    let gold = csv(&p
        .query_in("staging", "SELECT * FROM gold.daily_revenue ORDER BY day")
        .await);
    let recomputed = csv(&p
        .query_in(
            "staging",
            "SELECT CAST(ordered_at AS DATE) AS day, COUNT(*) AS orders, SUM(amount) AS revenue \
             FROM silver.orders WHERE status <> 'cancelled' GROUP BY 1 ORDER BY day",
        )
        .await);
    assert_eq!(gold, recomputed);
    assert!(gold.contains("2026-11-09,1,5.00"), "{gold}");
}
