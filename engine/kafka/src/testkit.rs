//! Helpers for tests against a real broker (started by `deploy/local/services/kafka.sh`):
//! unique topics, an idempotent producer, and a temporary project with a streaming
//! environment. Not used by the engine itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// The broker under test: `MEDALLION_KAFKA_BROKERS`, default `127.0.0.1:9092`.
pub fn brokers() -> String {
    std::env::var("MEDALLION_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A topic name no other test uses.
pub fn unique_topic(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a topic with `partitions` partitions.
pub async fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let res = admin
        .create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topic (is the broker running? deploy/local/services/kafka.sh)");
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

/// An idempotent producer.
pub fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer")
}

/// Sends one message to a partition and waits for the acknowledgement.
pub async fn send(p: &FutureProducer, topic: &str, partition: i32, key: &str, payload: &[u8]) {
    let headers = OwnedHeaders::new().insert(Header {
        key: "source",
        value: Some("test"),
    });
    p.send(
        FutureRecord::to(topic)
            .partition(partition)
            .key(key)
            .payload(payload)
            .headers(headers),
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|(e, _)| panic!("produce to {topic}/{partition}: {e}"));
}

/// Flushes the producer.
pub fn flush(p: &FutureProducer) {
    p.flush(Duration::from_secs(30)).expect("flush");
}

/// Writes a project (environments.yaml with a streaming `test` environment, a schema and a
/// job) under `dir`; returns the job file. `source` is the YAML of `bronze.source.kafka`'s
/// body, e.g. `{ topic: t, format: json, max_age: 500ms }`.
pub fn project(dir: &Path, source: &str, silver: bool) -> PathBuf {
    std::fs::create_dir_all(dir.join("schemas/clicks")).unwrap();
    std::fs::create_dir_all(dir.join("jobs")).unwrap();
    std::fs::write(
        dir.join("environments.yaml"),
        "environments:\n  test: { lake: ./lake/test, catalog: embedded, retention_days: 1, streaming: true }\n  dev: { lake: ./lake/dev, catalog: embedded, retention_days: 1, streaming: false }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("schemas/clicks/v1.yaml"),
        "dataset: clicks\nversion: 1\nfields:\n  - { name: id, type: int64 }\n  - { name: user, type: string }\n  - { name: page, type: string }\n  - { name: sent_us, type: int64 }\n  - { name: pad, type: string }\n",
    )
    .unwrap();
    let silver_yaml = if silver {
        "silver:\n  table: silver.clicks\n  rules:\n    - { name: id_present, check: { not_null: id }, on_fail: quarantine }\n"
    } else {
        ""
    };
    let job = dir.join("jobs/clicks.yaml");
    std::fs::write(
        &job,
        format!(
            "pipeline: clicks\nbronze:\n  table: bronze.clicks\n  schema: clicks@1\n  source:\n    kafka: {source}\n{silver_yaml}"
        ),
    )
    .unwrap();
    job
}

/// A JSON click of about `size` bytes.
pub fn click(id: i64, size: usize) -> Vec<u8> {
    let sent = chrono::Utc::now().timestamp_micros();
    let head = format!(
        r#"{{"id": {id}, "user": "u{}", "page": "/p/{}", "sent_us": {sent}, "pad": ""#,
        id % 97,
        id % 13
    );
    let pad = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad)).into_bytes()
}

/// The environment `test`, its catalog and the plan of `job` (see [`project`]).
pub async fn plan(
    dir: &Path,
    job: &Path,
) -> (
    medallion_core::env::Environment,
    std::sync::Arc<dyn medallion_core::catalog::Catalog>,
    medallion_core::plan::JobPlan,
) {
    let env = medallion_core::env::load_environment(&dir.join("environments.yaml"), "test")
        .expect("environment");
    let catalog: std::sync::Arc<dyn medallion_core::catalog::Catalog> = std::sync::Arc::new(
        medallion_core::catalog::EmbeddedCatalog::for_lake(env.local_lake().expect("local lake")),
    );
    let plans = medallion_core::plan::plan_all(
        &[job.to_path_buf()],
        &dir.join("schemas"),
        Default::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    (env, catalog, plans.into_iter().next().expect("one plan"))
}

/// Runs a SQL query returning one row of integers over the Delta table at `location`
/// (registered as `t`); `None` while the table does not exist.
pub async fn query_ints(location: &Path, sql: &str) -> Option<Vec<i64>> {
    use arrow::array::AsArray;
    let location = medallion_core::table::Location::local(location).expect("absolute path");
    let t = medallion_core::table::open_if_exists("t", &location)
        .await
        .expect("open")?;
    let ctx = medallion_core::pipeline::new_session();
    ctx.register_table(
        "t",
        medallion_core::table::provider(&t, &ctx)
            .await
            .expect("provider"),
    )
    .expect("register");
    let batches = ctx
        .sql(sql)
        .await
        .expect("sql")
        .collect()
        .await
        .expect("query");
    let b = &batches[0];
    Some(
        (0..b.num_columns())
            .map(|i| {
                let c = arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Int64)
                    .expect("int");
                c.as_primitive::<arrow::datatypes::Int64Type>().value(0)
            })
            .collect(),
    )
}

/// `(rows, distinct (partition, offset) pairs)` of a Bronze table.
pub async fn bronze_counts(location: &Path) -> (i64, i64) {
    match query_ints(
        location,
        "SELECT count(*) AS n, (SELECT count(*) FROM (SELECT DISTINCT _source_file, _source_line FROM t)) AS d FROM t",
    )
    .await
    {
        Some(v) => (v[0], v[1]),
        None => (0, 0),
    }
}

/// Polls `f` every 200 ms until it returns true; panics with `what` after `limit`
/// (a bound so a broken test ends, not a timing assertion).
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !f().await {
        if start.elapsed() > limit {
            panic!("gave up waiting: {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
