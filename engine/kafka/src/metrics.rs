//! Metrics of a running stream, served in the Prometheus text format on `/metrics`, and
//! `/health`. What was committed, quarantined or failed is counted from the run's event
//! stream ([`Metrics`] is an [`EventSink`] of the stream and of its Silver/Gold follow runs);
//! the consumer's own gauges (polls, lag, rebalances, commit latency) are set by the consumer. A tiny HTTP/1.1 responder on tokio (two GET routes do not justify an HTTP
//! framework; no HTTP server crate is in the dependency graph).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use medallion_core::events::{EventSink, RunEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Commit latency histogram buckets, seconds.
const BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Counters and gauges of one `medallion stream` process.
#[derive(Default)]
pub struct Metrics {
    pub messages_consumed: AtomicU64,
    pub bytes_consumed: AtomicU64,
    pub rows_committed: AtomicU64,
    pub quarantined: AtomicU64,
    pub commits: AtomicU64,
    pub commit_failures: AtomicU64,
    /// Commit attempts that found another commit (another consumer's, or compaction's) on the
    /// version they were built on; re-checked and retried, not failures.
    pub commit_conflicts: AtomicU64,
    /// Whether this process is the group's compactor: it owns partition 0 of the first topic.
    pub compactor: std::sync::atomic::AtomicBool,
    /// Buffered rows dropped because another consumer had already committed them.
    pub stale_dropped: AtomicU64,
    pub files_written: AtomicU64,
    pub silver_runs: AtomicU64,
    pub silver_failures: AtomicU64,
    pub gold_runs: AtomicU64,
    pub compactions: AtomicU64,
    pub kafka_errors: AtomicU64,
    pub rebalances: AtomicU64,
    /// Unix milliseconds of the consumer loop's last poll.
    pub last_poll_ms: AtomicU64,
    pub running: AtomicBool,
    /// The stream's own run id: its events are Bronze's; other runs' are follow runs.
    stream_run: std::sync::OnceLock<String>,
    commit_latency: Mutex<Histogram>,
    partitions: Mutex<BTreeMap<(String, i32), PartitionGauges>>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default, Clone, Copy)]
struct PartitionGauges {
    /// Next offset committed to Bronze (the table's txn version).
    committed: Option<i64>,
    /// Broker high watermark seen in fetch responses (librdkafka statistics).
    high_watermark: Option<i64>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Metrics {
    /// Marks `run_id` as the stream's own run (see [`EventSink`] below).
    pub fn set_stream_run(&self, run_id: &str) {
        let _already_set = self.stream_run.set(run_id.to_string());
    }

    fn is_stream(&self, run_id: &str) -> bool {
        self.stream_run.get().is_some_and(|r| r == run_id)
    }

    pub fn observe_commit(&self, took: Duration) {
        let s = took.as_secs_f64();
        let mut h = self.commit_latency.lock().expect("metrics lock");
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += s;
    }

    pub fn set_committed(&self, topic: &str, partition: i32, next: Option<i64>) {
        let mut p = self.partitions.lock().expect("metrics lock");
        p.entry((topic.to_string(), partition))
            .or_default()
            .committed = next;
    }

    pub fn set_high_watermark(&self, topic: &str, partition: i32, hwm: i64) {
        let mut p = self.partitions.lock().expect("metrics lock");
        if let Some(g) = p.get_mut(&(topic.to_string(), partition)) {
            if hwm >= 0 {
                g.high_watermark = Some(hwm);
            }
        }
    }

    pub fn forget_partition(&self, topic: &str, partition: i32) {
        self.partitions
            .lock()
            .expect("metrics lock")
            .remove(&(topic.to_string(), partition));
    }

    /// Partitions currently assigned to this process.
    pub fn assigned(&self) -> usize {
        self.partitions.lock().expect("metrics lock").len()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_counters(&mut out);
        self.render_latency(&mut out);
        self.render_partitions(&mut out);
        out
    }

    fn render_counters(&self, out: &mut String) {
        let counters: [(&str, &str, &AtomicU64); 15] = [
            (
                "medallion_stream_messages_consumed_total",
                "Kafka messages consumed.",
                &self.messages_consumed,
            ),
            (
                "medallion_stream_bytes_consumed_total",
                "Payload bytes consumed.",
                &self.bytes_consumed,
            ),
            (
                "medallion_stream_rows_committed_total",
                "Rows committed to Bronze.",
                &self.rows_committed,
            ),
            (
                "medallion_stream_quarantined_total",
                "Messages committed to the quarantine table.",
                &self.quarantined,
            ),
            (
                "medallion_stream_commits_total",
                "Bronze commits.",
                &self.commits,
            ),
            (
                "medallion_stream_commit_failures_total",
                "Failed Bronze commit attempts (retried).",
                &self.commit_failures,
            ),
            (
                "medallion_stream_commit_conflicts_total",
                "Bronze commit attempts that met a concurrent commit (re-checked and retried).",
                &self.commit_conflicts,
            ),
            (
                "medallion_stream_stale_dropped_total",
                "Buffered messages dropped because another consumer committed them first.",
                &self.stale_dropped,
            ),
            (
                "medallion_stream_files_written_total",
                "Bronze data files committed.",
                &self.files_written,
            ),
            (
                "medallion_stream_silver_runs_total",
                "Follow runs (Silver, with Gold when due; or Gold alone).",
                &self.silver_runs,
            ),
            (
                "medallion_stream_silver_failures_total",
                "Failed Silver/Gold follow runs.",
                &self.silver_failures,
            ),
            (
                "medallion_stream_gold_runs_total",
                "Gold tables checked by follow runs (refreshed, or skipped as up to date).",
                &self.gold_runs,
            ),
            (
                "medallion_stream_compactions_total",
                "Bronze compactions (Delta optimize).",
                &self.compactions,
            ),
            (
                "medallion_stream_kafka_errors_total",
                "Errors reported by the Kafka client.",
                &self.kafka_errors,
            ),
            (
                "medallion_stream_rebalances_total",
                "Partition assignments and revocations.",
                &self.rebalances,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
    }

    fn render_latency(&self, out: &mut String) {
        {
            let h = self.commit_latency.lock().expect("metrics lock");
            let name = "medallion_stream_commit_latency_seconds";
            let _ = writeln!(out, "# HELP {name} Bronze commit latency (stage files + Delta commit).\n# TYPE {name} histogram");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
                h.count, h.sum, h.count
            );
        }
    }

    fn render_partitions(&self, out: &mut String) {
        let parts = self.partitions.lock().expect("metrics lock");
        let name = "medallion_stream_partition_lag";
        let _ = writeln!(out, "# HELP {name} Messages between the broker's fetch high watermark and the next offset committed to Bronze.\n# TYPE {name} gauge");
        for ((t, p), g) in parts.iter() {
            if let (Some(h), c) = (g.high_watermark, g.committed) {
                let lag = (h - c.unwrap_or(0)).max(0);
                let _ = writeln!(out, "{name}{{topic=\"{t}\",partition=\"{p}\"}} {lag}");
            }
        }
        let name = "medallion_stream_partition_committed_offset";
        let _ = writeln!(
            out,
            "# HELP {name} Next offset committed to Bronze per partition.\n# TYPE {name} gauge"
        );
        for ((t, p), g) in parts.iter() {
            if let Some(c) = g.committed {
                let _ = writeln!(out, "{name}{{topic=\"{t}\",partition=\"{p}\"}} {c}");
            }
        }
        let _ = writeln!(out, "# HELP medallion_stream_assigned_partitions Partitions assigned to this process.\n# TYPE medallion_stream_assigned_partitions gauge\nmedallion_stream_assigned_partitions {}", parts.len());
    }

    /// Healthy while the consumer loop runs and has polled within the last 30 s.
    pub fn healthy(&self) -> bool {
        self.running.load(Relaxed)
            && now_ms().saturating_sub(self.last_poll_ms.load(Relaxed)) < 30_000
    }
}

/// Binds `addr` and serves `/metrics` and `/health` until the task is dropped. Returns the
/// bound address (useful with port 0).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                while n < buf.len() {
                    match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf[n..]))
                        .await
                    {
                        Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                        Ok(Ok(k)) => {
                            n += k;
                            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/");
                let (status, ctype, body) = match path {
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                    "/health" if metrics.healthy() => (
                        "200 OK",
                        "application/json",
                        format!(
                            "{{\"status\":\"ok\",\"assigned_partitions\":{}}}\n",
                            metrics.assigned()
                        ),
                    ),
                    "/health" => (
                        "503 Service Unavailable",
                        "application/json",
                        "{\"status\":\"unavailable\"}\n".to_string(),
                    ),
                    _ => (
                        "404 Not Found",
                        "text/plain",
                        "not found; try /metrics or /health\n".into(),
                    ),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok((local, handle))
}

impl EventSink for Metrics {
    fn emit(&self, run_id: &str, event: &RunEvent) {
        let stream = self.is_stream(run_id);
        match event {
            RunEvent::TableCommitted { operation, .. } if stream && operation == "optimize" => {
                self.compactions.fetch_add(1, Relaxed);
            }
            RunEvent::TableCommitted {
                layer,
                operation,
                rows,
                files,
                ..
            } if stream && layer == "bronze" && operation == "append" => {
                self.commits.fetch_add(1, Relaxed);
                self.rows_committed.fetch_add(*rows, Relaxed);
                self.files_written.fetch_add(*files, Relaxed);
            }
            RunEvent::RowsQuarantined { rows, .. } if stream => {
                self.quarantined.fetch_add(*rows, Relaxed);
            }
            RunEvent::CommitRetried { conflict: true, .. } if stream => {
                self.commit_conflicts.fetch_add(1, Relaxed);
            }
            RunEvent::CommitRetried {
                conflict: false, ..
            } if stream => {
                self.commit_failures.fetch_add(1, Relaxed);
            }
            RunEvent::RunFinished { .. } if !stream => {
                self.silver_runs.fetch_add(1, Relaxed);
            }
            RunEvent::RunFailed { .. } if !stream => {
                self.silver_runs.fetch_add(1, Relaxed);
                self.silver_failures.fetch_add(1, Relaxed);
            }
            RunEvent::GoldRefreshed { .. } | RunEvent::GoldSkipped { .. } if !stream => {
                self.gold_runs.fetch_add(1, Relaxed);
            }
            _ => {}
        }
    }
}
