//! End-to-end numbers of `medallion stream` against the local broker:
//! throughput (msgs/s, MB/s) for 1 KB JSON messages, produce → visible-in-a-committed-version
//! latency (p50/p99) and the process's memory high-water mark (VmHWM).
//!
//! ```text
//! . deploy/local/services/kafka.sh
//! cargo build --release -p medallion-cli
//! MEDALLION_BIN=$CARGO_TARGET_DIR/release/medallion cargo run --release -p medallion-kafka --example stream_bench -- 1000000
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use medallion_kafka::testkit;
use rdkafka::producer::FutureProducer;

fn scrape(addr: &str, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// CPU seconds (user + system) used so far by a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of /proc/PID/stat (11 and 12 after the name).
    (ticks(11) + ticks(12)) / 100.0
}

fn vm_hwm_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (n, rate, size): (i64, i64, usize) = (arg(1, 1_000_000), arg(2, 2000), arg(3, 1024));
    let bin = std::env::var("MEDALLION_BIN").expect("MEDALLION_BIN=path of the medallion binary");
    let dir = tempfile::tempdir().unwrap();
    let topic = testkit::unique_topic("bench");
    testkit::create_topic(&topic, 4).await;
    let job = testkit::project(
        dir.path(),
        &format!("{{ topic: {topic}, format: json, max_age: 1s, compact_interval: 0s }}"),
        false,
    );
    // Phase 1: a backlog of n messages of `size` bytes, consumed as fast as possible.
    let p = testkit::producer();
    produce_backlog(&p, &topic, n, size).await;
    if std::env::var_os("STREAM_BENCH_CEILING").is_some() {
        return ceiling(&topic, n, size);
    }
    let addr = "127.0.0.1:19464";
    let mut child = Command::new(&bin)
        .args([
            "stream",
            job.to_str().unwrap(),
            "--env",
            "test",
            "--metrics-addr",
            addr,
        ])
        .current_dir(dir.path())
        .env("MEDALLION_KAFKA_BROKERS", testkit::brokers())
        .stdout(Stdio::null())
        .stderr(stream_log())
        .spawn()
        .expect("spawn");
    let backlog = time_backlog(addr, child.id(), n, size).await;
    // Phase 2: steady production at `rate` msgs/s for 20 s; latency = commit time of the
    // version holding the row − the producer's send time.
    let total = steady(&p, &topic, n, rate, size).await;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if scrape(addr, "medallion_stream_rows_committed_total").unwrap_or(0.0) >= total as f64 {
            break;
        }
    }
    let hwm = vm_hwm_kb(child.id());
    unsafe {
        libc_kill(child.id() as i32, 15);
    }
    let _ = child.wait();
    let table = dir.path().join("lake/test/bronze/clicks");
    let lat = latencies(&table, &commit_times(&table), n).await;
    report(&backlog, &lat, hwm, (n, rate, size));
}

/// The broker's ceiling (`STREAM_BENCH_CEILING` set): the backlog read by a plain consumer
/// with the stream's fetch settings (as at `max_age: 1s`) that only counts the messages and
/// their bytes, from the first message to the last. What `medallion stream` cannot beat
/// against this broker.
fn ceiling(topic: &str, n: i64, size: usize) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", testkit::brokers())
        .set("group.id", testkit::unique_topic("ceiling"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .set("fetch.queue.backoff.ms", "20")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let (mut read, mut bytes, mut first) = (0i64, 0u64, None);
    let cpu0 = cpu_seconds(std::process::id());
    while read < n {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                read += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
            }
            Some(Err(e)) => panic!("ceiling consumer: {e}"),
            None => {}
        }
    }
    let secs = first.expect("messages read").elapsed().as_secs_f64();
    let cpu = cpu_seconds(std::process::id()) - cpu0;
    println!(
        "ceiling: a plain consumer read {n} messages of {size} B in {secs:.2} s: {:.0} msgs/s, {:.1} MB/s, {cpu:.1} CPU-s",
        (n - 1) as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

/// The stream's log: the file `STREAM_BENCH_LOG` names (each flush's decode and write
/// times are in it), else discarded.
fn stream_log() -> Stdio {
    match std::env::var_os("STREAM_BENCH_LOG") {
        Some(path) => std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("STREAM_BENCH_LOG {}: {e}", path.to_string_lossy()))
            .into(),
        None => Stdio::null(),
    }
}

/// Phase 1's input: `n` messages of `size` bytes over four partitions.
async fn produce_backlog(p: &FutureProducer, topic: &str, n: i64, size: usize) {
    let started = Instant::now();
    let mut pending = Vec::new();
    for i in 0..n {
        let payload = testkit::click(i, size);
        let topic = topic.to_string();
        let p = p.clone();
        pending.push(tokio::spawn(async move {
            testkit::send(&p, &topic, (i % 4) as i32, "k", &payload).await
        }));
        if pending.len() >= 5000 {
            for h in pending.drain(..) {
                h.await.unwrap();
            }
        }
    }
    for h in pending.drain(..) {
        h.await.unwrap();
    }
    eprintln!(
        "produced {n} messages in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Phase 1's figures: from the first committed rows to the commit holding message `n`.
struct Backlog {
    secs: f64,
    cpu: f64,
    /// Rows of the first commit (not timed).
    rows0: f64,
    /// Commits in the timed interval (NaN: not scraped).
    intervals: f64,
}

/// Timed from the first committed rows (start-up, group join and the first roll are not
/// throughput) to the commit holding the last message.
async fn time_backlog(addr: &str, pid: u32, n: i64, size: usize) -> Backlog {
    let mut t0 = None;
    let (mut rows0, mut cpu0, mut commits0) = (0.0, 0.0, None);
    let commits = || scrape(addr, "medallion_stream_commits_total");
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Commits first: one landing between the two scrapes counts one interval too many
        // (the warning below errs towards silence by one, not towards a false alarm).
        let c = commits();
        let rows = scrape(addr, "medallion_stream_rows_committed_total").unwrap_or(0.0);
        if t0.is_none() && rows > 0.0 {
            t0 = Some(Instant::now());
            rows0 = rows;
            cpu0 = cpu_seconds(pid);
            commits0 = c;
        }
        if rows >= n as f64 {
            break;
        }
    }
    let secs = t0.unwrap().elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    // The figure is rows between the first and the last commit over the time between them:
    // with few commits in between it measures roll boundaries more than throughput.
    let intervals = match (commits0, commits()) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    if !(intervals >= 5.0) {
        // A roll closes at max_rows (100,000) or max_bytes (64 MiB), whichever comes first.
        let per_roll = 100_000.min((64usize << 20) / size.max(1));
        eprintln!(
            "warning: {intervals} commits after the first (fewer than 5, or not scraped); the \
             throughput below is dominated by roll boundaries: use at least {} messages of \
             {size} B (a roll holds at most {per_roll})",
            6 * per_roll
        );
    }
    Backlog {
        secs,
        cpu,
        rows0,
        intervals,
    }
}

/// Phase 2: `rate` messages per second for 20 s, ids from `from`; returns the next id.
async fn steady(p: &FutureProducer, topic: &str, from: i64, rate: i64, size: usize) -> i64 {
    let until = Instant::now() + Duration::from_secs(20);
    let mut i = from;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while Instant::now() < until {
        tick.tick().await;
        for _ in 0..rate / 100 {
            testkit::send(p, topic, (i % 4) as i32, "k", &testkit::click(i, size)).await;
            i += 1;
        }
    }
    i
}

/// Commit timestamp (ms) of each data file, from the table's Delta log.
fn commit_times(table: &Path) -> HashMap<String, i64> {
    let mut file_commit: HashMap<String, i64> = HashMap::new();
    for e in std::fs::read_dir(table.join("_delta_log")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p).unwrap();
            let mut ts = 0i64;
            let mut adds = Vec::new();
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(c) = v.get("commitInfo") {
                    ts = c["timestamp"].as_i64().unwrap_or(0);
                }
                if let Some(a) = v.get("add") {
                    adds.push(a["path"].as_str().unwrap().to_string());
                }
            }
            for a in adds {
                file_commit.insert(a, ts);
            }
        }
    }
    file_commit
}

/// Produce → visible latency (ms, sorted) of every phase-2 message (id ≥ `n`).
async fn latencies(table: &Path, file_commit: &HashMap<String, i64>, n: i64) -> Vec<f64> {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Int64Type};
    let ctx = medallion_core::pipeline::new_session();
    let mut lat = Vec::new();
    for (file, ts) in file_commit {
        let path = table.join(file);
        let df = ctx
            .read_parquet(path.to_str().unwrap(), Default::default())
            .await
            .unwrap();
        let batches = df
            .select_columns(&["id", "sent_us"])
            .unwrap()
            .collect()
            .await
            .unwrap();
        for b in batches {
            let ids = arrow::compute::cast(b.column(0), &DataType::Int64).unwrap();
            let sent = arrow::compute::cast(b.column(1), &DataType::Int64).unwrap();
            let ids = ids.as_primitive::<Int64Type>();
            let sent = sent.as_primitive::<Int64Type>();
            for r in 0..b.num_rows() {
                if ids.value(r) >= n {
                    lat.push((ts * 1000 - sent.value(r)) as f64 / 1000.0);
                }
            }
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    lat
}

/// Prints the figures and writes them to `STREAM_BENCH_JSON` when set.
fn report(b: &Backlog, lat: &[f64], hwm_kb: u64, (n, rate, size): (i64, i64, usize)) {
    let msgs = (n as f64 - b.rows0) / b.secs;
    let per_core = (n as f64 - b.rows0) / b.cpu.max(1e-9);
    println!(
        "throughput: {msgs:.0} msgs/s, {:.1} MB/s ({size} B JSON, {n} messages, after the first commit); \
         {per_core:.0} msgs per CPU-second of the stream process ({:.1} CPU-s over {:.1} s, \
         {} commits)",
        msgs * size as f64 / 1e6,
        b.cpu,
        b.secs,
        b.intervals
    );
    let pct = |q: f64| lat[((lat.len() as f64 - 1.0) * q) as usize];
    println!(
        "latency produce → visible (max_age 1s, {rate} msgs/s, {} messages): p50 {:.0} ms, p99 {:.0} ms",
        lat.len(),
        pct(0.5),
        pct(0.99)
    );
    println!(
        "memory high-water mark (VmHWM) of medallion stream: {:.0} MB",
        hwm_kb as f64 / 1024.0
    );
    if let Ok(path) = std::env::var("STREAM_BENCH_JSON") {
        let result = serde_json::json!({
            "messages": n,
            "message_bytes": size,
            "wall_s": b.secs,
            "cpu_s": b.cpu,
            "msgs_per_s": msgs,
            "mb_per_s": msgs * size as f64 / 1e6,
            "msgs_per_cpu_s": per_core,
            "commits_timed": b.intervals,
            "latency_rate_msgs_per_s": rate,
            "latency_ms": { "p50": pct(0.5), "p99": pct(0.99), "max": lat[lat.len() - 1], "samples": lat.len() },
            "vm_hwm_mb": hwm_kb as f64 / 1024.0,
            "max_age": "1s",
        });
        std::fs::write(&path, serde_json::to_string_pretty(&result).unwrap()).unwrap();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
