use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use medallion_kafka::testkit::{self, bronze_counts, query_ints, wait_until};
use medallion_kafka::{Metrics, StreamSettings, StreamSummary};

const LIMIT: Duration = Duration::from_secs(180);

fn settings() -> StreamSettings {
    StreamSettings {
        brokers: testkit::brokers(),
        consumer_overrides: vec![
            ("session.timeout.ms".into(), "3000".into()),
            ("heartbeat.interval.ms".into(), "500".into()),
        ],
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    task: tokio::task::JoinHandle<medallion_kafka::Result<StreamSummary>>,
}

async fn start(dir: &std::path::Path, job: &std::path::Path) -> Running {
    let (env, catalog, plan) = testkit::plan(dir, job).await;
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::default());
    let task = tokio::spawn(medallion_kafka::run(
        env,
        catalog,
        plan,
        settings(),
        metrics.clone(),
        stop.clone(),
        vec![],
    ));
    Running {
        stop,
        metrics,
        task,
    }
}

impl Running {
    async fn stop(self) -> StreamSummary {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("join").expect("stream ran")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn n_messages_over_four_partitions_land_exactly_once_and_silver_follows() {
    let dir = tempfile::tempdir().unwrap();
    let topic = testkit::unique_topic("eo");
    testkit::create_topic(&topic, 4).await;
    let job = testkit::project(
        dir.path(),
        &format!("{{ topic: {topic}, group_id: {topic}, format: json, max_rows: 700, max_age: 300ms, silver_interval: 0s }}"),
        true,
    );
    let p = testkit::producer();
    const N: i64 = 2000;
    for i in 0..N / 2 {
        testkit::send(
            &p,
            &topic,
            (i % 4) as i32,
            &i.to_string(),
            &testkit::click(i, 200),
        )
        .await;
    }
    let run = start(dir.path(), &job).await;
    for i in N / 2..N {
        testkit::send(
            &p,
            &topic,
            (i % 4) as i32,
            &i.to_string(),
            &testkit::click(i, 200),
        )
        .await;
    }
    let bronze = dir.path().join("lake/test/bronze/clicks");
    wait_until(LIMIT, "all messages in Bronze", || async {
        bronze_counts(&bronze).await.0 >= N
    })
    .await;
    let silver = dir.path().join("lake/test/silver/clicks");
    wait_until(LIMIT, "Silver following Bronze", || async {
        query_ints(&silver, "SELECT count(*) FROM t")
            .await
            .is_some_and(|v| v[0] >= N)
    })
    .await;
    let summary = run.stop().await;
    assert!(summary.commits >= 1);
    assert_eq!(
        bronze_counts(&bronze).await,
        (N, N),
        "exactly once: rows and distinct (partition, offset)"
    );
    // Every partition holds offsets 0..N/4 with its key, header (exactly the text of the
    // producer's one header) and timestamp.
    let per = query_ints(
        &bronze,
        r#"SELECT count(DISTINCT _source_file), min(_source_line), max(_source_line), count(_kafka_key), sum(CASE WHEN _kafka_headers = '[{"key":"source","value":"test"}]' THEN 1 ELSE 0 END), count(_kafka_timestamp) FROM t"#,
    )
    .await
    .unwrap();
    assert_eq!(per, vec![4, 0, N / 4 - 1, N, N, N]);
    assert_eq!(
        query_ints(&silver, "SELECT count(*), count(DISTINCT id) FROM t")
            .await
            .unwrap(),
        vec![N, N]
    );
    // Restarting reads from the table's offsets: nothing new, nothing twice.
    let again = start(dir.path(), &job).await;
    testkit::send(&p, &topic, 0, "last", &testkit::click(N, 200)).await;
    wait_until(LIMIT, "the extra message", || async {
        bronze_counts(&bronze).await.0 >= N + 1
    })
    .await;
    again.stop().await;
    assert_eq!(bronze_counts(&bronze).await, (N + 1, N + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_messages_are_quarantined_with_coordinates_and_the_rest_flows() {
    let dir = tempfile::tempdir().unwrap();
    let topic = testkit::unique_topic("poison");
    testkit::create_topic(&topic, 2).await;
    let job = testkit::project(
        dir.path(),
        &format!("{{ topic: {topic}, group_id: {topic}, format: json, max_age: 300ms, max_message_bytes: 2000 }}"),
        false,
    );
    let p = testkit::producer();
    let run = start(dir.path(), &job).await;
    // Partition 0: good, bad JSON, good, unknown field, good, oversized, good.
    let msgs: Vec<Vec<u8>> = vec![
        testkit::click(1, 100),
        b"{not json".to_vec(),
        testkit::click(2, 100),
        br#"{"id": 3, "colour": "red"}"#.to_vec(),
        testkit::click(4, 100),
        testkit::click(5, 5000),
        testkit::click(6, 100),
    ];
    for (i, m) in msgs.iter().enumerate() {
        testkit::send(&p, &topic, 0, &i.to_string(), m).await;
    }
    for i in 0..5 {
        testkit::send(&p, &topic, 1, "k", &testkit::click(100 + i, 100)).await;
    }
    let bronze = dir.path().join("lake/test/bronze/clicks");
    let q = dir.path().join("lake/test/bronze/clicks_quarantine");
    wait_until(LIMIT, "good messages in Bronze", || async {
        bronze_counts(&bronze).await.0 >= 9
    })
    .await;
    wait_until(LIMIT, "poison in quarantine", || async {
        query_ints(&q, "SELECT count(*) FROM t")
            .await
            .is_some_and(|v| v[0] >= 3)
    })
    .await;
    run.stop().await;
    assert_eq!(bronze_counts(&bronze).await, (9, 9));
    let expected_file = format!("{topic}/0");
    let rows = query_ints(
        &q,
        &format!(
            "SELECT count(*), sum(_source_line), \
             sum(CASE WHEN _rule = 'oversized' THEN _source_line ELSE 0 END), \
             sum(CASE WHEN _reason LIKE '%colour%' THEN _source_line ELSE 0 END), \
             sum(CASE WHEN _source_file = '{expected_file}' AND _stage = 'bronze' AND _reason LIKE 'topic {topic} partition 0 offset %' THEN 1 ELSE 0 END) FROM t"
        ),
    )
    .await
    .unwrap();
    assert_eq!(rows, vec![3, 1 + 3 + 5, 5, 3, 3]);
    // The offsets after the poison were committed: Bronze holds partition 0's offsets 0,2,4,6.
    assert_eq!(
        query_ints(
            &bronze,
            &format!("SELECT sum(_source_line) FROM t WHERE _source_file = '{expected_file}'")
        )
        .await
        .unwrap(),
        vec![12]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quiet_topic_becomes_visible_within_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let topic = testkit::unique_topic("quiet");
    testkit::create_topic(&topic, 1).await;
    // Neither max_rows nor max_bytes can be reached by three messages: only age closes the file.
    let job = testkit::project(
        dir.path(),
        &format!("{{ topic: {topic}, group_id: {topic}, format: json, max_rows: 1000000, max_bytes: 1000000000, max_age: 1s }}"),
        false,
    );
    let run = start(dir.path(), &job).await;
    let p = testkit::producer();
    for i in 0..3 {
        testkit::send(&p, &topic, 0, "k", &testkit::click(i, 100)).await;
    }
    let bronze = dir.path().join("lake/test/bronze/clicks");
    wait_until(LIMIT, "quiet topic visible", || async {
        bronze_counts(&bronze).await.0 >= 3
    })
    .await;
    assert!(run.metrics.commits.load(Ordering::Relaxed) >= 1);
    let summary = run.stop().await;
    assert_eq!(bronze_counts(&bronze).await, (3, 3));
    assert_eq!(summary.rows_committed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_consumers_in_one_group_one_stopped_midway_still_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let topic = testkit::unique_topic("group");
    testkit::create_topic(&topic, 4).await;
    let job = testkit::project(
        dir.path(),
        &format!("{{ topic: {topic}, group_id: {topic}, format: json, max_rows: 200, max_age: 200ms, compact_interval: 1s, silver_interval: 0s }}"),
        true,
    );
    let p = testkit::producer();
    let bronze = dir.path().join("lake/test/bronze/clicks");
    let a = start(dir.path(), &job).await;
    let b = start(dir.path(), &job).await;
    const N: i64 = 3000;
    for i in 0..N / 2 {
        testkit::send(&p, &topic, (i % 4) as i32, "k", &testkit::click(i, 300)).await;
    }
    wait_until(LIMIT, "both consumers committed", || async {
        a.metrics.rows_committed.load(Ordering::Relaxed) > 0
            && b.metrics.rows_committed.load(Ordering::Relaxed) > 0
    })
    .await;
    // Stop B mid-stream (its partitions move to A) while producing continues.
    let producer_topic = topic.clone();
    let producing = tokio::spawn(async move {
        let p = testkit::producer();
        for i in N / 2..N {
            testkit::send(
                &p,
                &producer_topic,
                (i % 4) as i32,
                "k",
                &testkit::click(i, 300),
            )
            .await;
        }
    });
    let b_summary = b.stop().await;
    producing.await.unwrap();
    wait_until(LIMIT, "A drained every partition", || async {
        bronze_counts(&bronze).await.0 >= N
    })
    .await;
    // Compaction ran concurrently with A's appends and never made a commit fail.
    wait_until(LIMIT, "a compaction", || async {
        a.metrics.compactions.load(Ordering::Relaxed) > 0
    })
    .await;
    let a_failures = a.metrics.commit_failures.load(Ordering::Relaxed);
    let a_summary = a.stop().await;
    assert_eq!(
        bronze_counts(&bronze).await,
        (N, N),
        "exactly once across the hand-over"
    );
    assert!(b_summary.rows_committed > 0 && a_summary.rows_committed > 0);
    // Both processes ran Silver on the same table while their Bronze commits interleaved:
    // Silver still holds every message once (its bookmark is a Bronze version).
    let silver = dir.path().join("lake/test/silver/clicks");
    wait_until(LIMIT, "Silver caught up", || async {
        query_ints(&silver, "SELECT count(*) FROM t")
            .await
            .is_some_and(|v| v[0] >= N)
    })
    .await;
    assert_eq!(
        query_ints(&silver, "SELECT count(*), count(DISTINCT id) FROM t")
            .await
            .unwrap(),
        vec![N, N],
        "Silver exactly once across two writers"
    );
    assert_eq!(
        a_failures, 0,
        "compaction conflicted with the stream's commits"
    );
}
