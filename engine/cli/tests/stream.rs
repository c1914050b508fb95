//! `medallion stream` as a process against the real broker (deploy/local/services/kafka.sh):
//! SIGKILL at random moments while a producer writes, then drain: every message exactly once.
//! Also: SIGTERM flushes and exits 0; a `streaming: false` environment is refused.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use medallion_kafka::testkit::{self, bronze_counts, wait_until};

const LIMIT: Duration = Duration::from_secs(240);

/// The binary under test. `MEDALLION_BIN` overrides cargo's path: on a machine where several
/// checkouts share one CARGO_TARGET_DIR, `target/debug/medallion` may be another checkout's.
fn bin() -> String {
    std::env::var("MEDALLION_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_medallion").to_string())
}

fn spawn(dir: &Path, job: &Path, env: &str) -> Child {
    spawn_at(dir, job, env, "127.0.0.1:0")
}

fn spawn_at(dir: &Path, job: &Path, env: &str, metrics_addr: &str) -> Child {
    Command::new(bin())
        .args([
            "stream",
            job.to_str().unwrap(),
            "--env",
            env,
            "--metrics-addr",
            metrics_addr,
        ])
        .current_dir(dir)
        .env("MEDALLION_KAFKA_BROKERS", testkit::brokers())
        .env(
            "MEDALLION_KAFKA_OPTIONS",
            "session.timeout.ms=3000,heartbeat.interval.ms=500",
        )
        .env("MEDALLION_LOG", "medallion_kafka=info,medallion=info")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("stream.log"))
                .expect("log file"),
        )
        .spawn()
        .expect("spawn medallion stream")
}

/// Kills the child when the test ends, whatever happens; on failure shows its log.
struct Guard(Option<Child>, std::path::PathBuf);
impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.1.join("stream.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- last lines of medallion stream's log ---");
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn random_ms(lo: u64, hi: u64) -> u64 {
    let r = uuid::Uuid::new_v4().as_u128() as u64;
    lo + r % (hi - lo)
}

fn sigterm(child: &Child) {
    // SAFETY: sending a signal to our own child process by its id.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let topic = testkit::unique_topic("crash");
    testkit::create_topic(&topic, 4).await;
    let job = testkit::project(
        dir.path(),
        &format!("{{ topic: {topic}, group_id: {topic}, format: json, max_rows: 300, max_age: 200ms, silver_interval: 1s }}"),
        true,
    );
    const N: i64 = 6000;
    let producer_topic = topic.clone();
    let producing = tokio::spawn(async move {
        let p = testkit::producer();
        for i in 0..N {
            testkit::send(
                &p,
                &producer_topic,
                (i % 4) as i32,
                &i.to_string(),
                &testkit::click(i, 500),
            )
            .await;
            // About 30 s of production, so that the kills land while it goes on.
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let bronze = dir.path().join("lake/test/bronze/clicks");
    let mut guard = Guard(None, dir.path().to_path_buf());
    let mut before = 0;
    for round in 0..5 {
        guard.0 = Some(spawn(dir.path(), &job, "test"));
        // Kill at a random moment once this process is consuming: after it has committed
        // something (unless the producer is done and everything is in), plus 0-1.5 s.
        wait_until(LIMIT, "the restarted stream commits", || async {
            let rows = bronze_counts(&bronze).await.0;
            rows > before || rows >= N
        })
        .await;
        tokio::time::sleep(Duration::from_millis(random_ms(0, 1500))).await;
        let mut c = guard.0.take().unwrap();
        c.kill().expect("SIGKILL"); // Child::kill sends SIGKILL
        c.wait().unwrap();
        let (rows, distinct) = bronze_counts(&bronze).await;
        eprintln!("round {round}: killed; Bronze has {rows} rows ({distinct} distinct)");
        assert_eq!(rows, distinct, "a duplicate after kill {round}");
        before = rows;
    }
    producing.await.unwrap();
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    guard.0 = Some(spawn_at(dir.path(), &job, "test", &addr));
    wait_until(LIMIT, "drain after the last restart", || async {
        bronze_counts(&bronze).await.0 >= N
    })
    .await;
    // Silver (appended, no dedupe) followed the restarts without losing or repeating rows.
    let silver = dir.path().join("lake/test/silver/clicks");
    wait_until(LIMIT, "Silver caught up", || async {
        testkit::query_ints(&silver, "SELECT count(*) FROM t")
            .await
            .is_some_and(|v| v[0] >= N)
    })
    .await;
    // Observability while it runs.
    wait_until(LIMIT, "/health answers 200", || async {
        http_get(&addr, "/health").starts_with("HTTP/1.1 200")
    })
    .await;
    wait_until(LIMIT, "all 4 partitions assigned", || async {
        http_get(&addr, "/metrics").contains("medallion_stream_assigned_partitions 4")
    })
    .await;
    let metrics = http_get(&addr, "/metrics");
    for name in [
        "medallion_stream_messages_consumed_total",
        "medallion_stream_rows_committed_total",
        "medallion_stream_quarantined_total",
        "medallion_stream_commit_latency_seconds_bucket",
        "medallion_stream_files_written_total",
        "medallion_stream_partition_committed_offset{topic=",
    ] {
        assert!(
            metrics.contains(name),
            "{name} missing from /metrics:\n{metrics}"
        );
    }
    let c = guard.0.take().unwrap();
    sigterm(&c);
    let status = c.wait_with_output().unwrap().status;
    assert!(status.success(), "SIGTERM must flush and exit 0: {status}");
    assert_eq!(
        bronze_counts(&bronze).await,
        (N, N),
        "every message exactly once"
    );
    assert_eq!(
        testkit::query_ints(&silver, "SELECT count(*), count(DISTINCT id) FROM t")
            .await
            .unwrap(),
        vec![N, N]
    );
    // Every commit of the five killed processes and of the last one is in the audit trail
    // (a kill between a commit and its record is recovered by the next process).
    let out = std::process::Command::new(bin())
        .args(["audit", "verify", "--env", "test"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("intact"), "{text}");
    // Lineage: the stream runs emitted START (and COMPLETE for the one stopped by SIGTERM);
    // every Silver/Gold follow run names its stream run as parent, and that run has events.
    let mut starts = std::collections::HashSet::new();
    let mut parents = Vec::new();
    let mut stack = vec![dir.path().join("lake/test/_medallion/lineage")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                let ev: serde_json::Value = serde_json::from_str(line).unwrap();
                if ev["eventType"] == "START" {
                    starts.insert(ev["run"]["runId"].as_str().unwrap().to_string());
                }
                if let Some(parent) = ev["run"]["facets"]["parent"]["run"]["runId"].as_str() {
                    parents.push(parent.to_string());
                }
            }
        }
    }
    assert!(!parents.is_empty(), "follow runs carry a parent facet");
    for p in &parents {
        assert!(starts.contains(p), "parent run {p} has no START event");
    }
}

#[test]
fn streaming_false_environments_and_file_sources_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let job = testkit::project(dir.path(), "{ topic: t, format: json }", false);
    let out = Command::new(bin())
        .args([
            "stream",
            job.to_str().unwrap(),
            "--env",
            "dev",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("environments.dev.streaming"), "{err}");
    assert!(err.contains("streaming: true"), "{err}");
}
