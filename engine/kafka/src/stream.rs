//! The long-running stream: a Kafka consumer (one per process; processes with the same group
//! share partitions) feeding the Bronze [`Sink`], plus a follower that brings Silver and Gold
//! up to date and compacts Bronze.
//!
//! Threads: the consumer loop runs on its own OS thread (librdkafka's poll and rebalance
//! callbacks are synchronous); it drives the async Delta IO with the runtime's handle. The
//! follower and the metrics endpoint are tokio tasks.
//!
//! Rebalance (eager protocol): on revoke, everything buffered is committed before the
//! partitions are released (what cannot be committed is discarded and re-read by the next
//! owner from the table's offsets); on assign, each partition is positioned at the offset
//! recorded in the Bronze table, never at Kafka's committed offset.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medallion_core::catalog::Catalog;
use medallion_core::env::Environment;
use medallion_core::events::{EventSink, Events, RunEvent};
use medallion_core::pipeline::Engine;
use medallion_core::plan::JobPlan;
use medallion_core::spec::{KafkaSource, SourceSpec, UnknownFields};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::decode::{self, Decoder, Msg};
use crate::metrics::{now_ms, Metrics};
use crate::sink::{Failed, Flushed, Limits, Sink, Tp};
use crate::writer::Writer;
use crate::{Error, Result};

/// Settings of one stream process that do not come from the job spec.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Bootstrap brokers.
    pub brokers: String,
    /// Extra librdkafka settings layered over the spec's `consumer_options` (tests use it
    /// for short session timeouts).
    pub consumer_overrides: Vec<(String, String)>,
}

/// What a stream did, returned when it stops.
#[derive(Debug, Default, Clone)]
pub struct StreamSummary {
    pub messages: u64,
    pub rows_committed: u64,
    pub quarantined: u64,
    pub commits: u64,
}

/// Refuses librdkafka settings medallion owns (see
/// [`medallion_core::kafka_spec::RESERVED_CONSUMER_SETTINGS`]) in extra consumer settings;
/// `origin` names where they came from (`MEDALLION_KAFKA_OPTIONS`, a spec field).
pub fn check_consumer_settings<'a>(
    origin: &str,
    settings: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<()> {
    let refused: Vec<&str> = settings
        .into_iter()
        .map(|(k, _)| k.trim())
        .filter(|k| medallion_core::kafka_spec::RESERVED_CONSUMER_SETTINGS.contains(k))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{origin}: {} may not be set: medallion sets {} itself (offsets are stored in the Bronze table; \
         changing them would lose or duplicate messages). Remove {} from {origin}. Reserved: {}",
        refused
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
        if refused.len() == 1 { "it" } else { "them" },
        if refused.len() == 1 { "it" } else { "them" },
        medallion_core::kafka_spec::RESERVED_CONSUMER_SETTINGS.join(", ")
    )))
}

/// Resolves the brokers: `MEDALLION_KAFKA_BROKERS`, else the environment's `kafka.brokers`.
pub fn brokers(env: &Environment) -> Result<String> {
    if let Ok(b) = std::env::var("MEDALLION_KAFKA_BROKERS") {
        if !b.trim().is_empty() {
            return Ok(b);
        }
    }
    env.kafka
        .as_ref()
        .and_then(|k| k.brokers.clone())
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| {
            Error::Config(format!(
                "no Kafka brokers for environment `{}`: set `kafka: {{ brokers: \"host:port\" }}` in environments.yaml or MEDALLION_KAFKA_BROKERS",
                env.name
            ))
        })
}

/// Checks that `plan` can be streamed in `env`; returns its Kafka source.
pub fn kafka_source<'a>(env: &Environment, plan: &'a JobPlan) -> Result<&'a KafkaSource> {
    if !env.streaming {
        return Err(Error::Config(format!(
            "environment `{}` does not allow streaming (`streaming: false` in environments.yaml); use an environment with `streaming: true`",
            env.name
        )));
    }
    match &plan.job.spec.bronze.source {
        SourceSpec::Kafka(k) => {
            if k.format == medallion_core::spec::KafkaFormat::Raw && plan.raw_schema.fields().len() != 1 {
                return Err(Error::Config(format!(
                    "{}: bronze.source.kafka.format: `raw` needs a schema with exactly one column; {} has {}",
                    plan.job.file,
                    plan.schema.reference(),
                    plan.raw_schema.fields().len()
                )));
            }
            Ok(k)
        }
        _ => Err(Error::Config(format!(
            "{}: `medallion stream` needs a Kafka source (bronze.source.kafka); this pipeline reads files, use `medallion run`",
            plan.job.file
        ))),
    }
}

/// The librdkafka context: positions partitions at the table's offsets on assignment and
/// commits pending rows before partitions are revoked.
pub struct StreamContext {
    sink: Arc<Mutex<Sink>>,
    metrics: Arc<Metrics>,
    /// Signs OAUTHBEARER tokens when the environment's `kafka.auth` is `msk_iam`.
    msk_iam: Option<Arc<crate::auth::MskIamSigner>>,
}

impl ClientContext for StreamContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> std::result::Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        match &self.msk_iam {
            Some(signer) => signer.oauth_token().map_err(|e| e.into()),
            None => Err(
                "SASL/OAUTHBEARER is configured but the environment's kafka.auth is not msk_iam"
                    .into(),
            ),
        }
    }

    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (p, s) in &t.partitions {
                if *p >= 0 {
                    self.metrics.set_high_watermark(topic, *p, s.hi_offset);
                }
            }
        }
    }
}

fn tps_of(tpl: &TopicPartitionList) -> Vec<Tp> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

/// Commits next offsets to Kafka (for lag tools only; never read back by medallion).
fn commit_to_kafka(consumer: &BaseConsumer<StreamContext>, f: &Flushed, mode: CommitMode) {
    if f.offsets.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for ((t, p), next) in &f.offsets {
        let _ = tpl.add_partition_offset(t, *p, Offset::Offset(*next));
    }
    if let Err(e) = consumer.commit(&tpl, mode) {
        warn!(error = %e, "Committing offsets to Kafka failed (used for lag monitoring only).");
    }
}

impl ConsumerContext for StreamContext {
    fn rebalance(
        &self,
        base_consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        self.metrics.rebalances.fetch_add(1, Relaxed);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let tps = tps_of(tpl);
                let starts = self.sink.lock().expect("sink lock").assign(&tps);
                match starts {
                    Ok(starts) => {
                        for ((t, p), start) in starts {
                            let off = start.map_or(Offset::Beginning, Offset::Offset);
                            let _ = tpl.set_partition_offset(&t, p, off);
                        }
                        if let Err(e) = base_consumer.assign(tpl) {
                            error!(error = %e, "Assigning partitions failed.");
                        }
                    }
                    Err(e) => {
                        // Without the table's offsets we must not read: take nothing; the
                        // session times out and the group rebalances.
                        error!(error = %e, "Reading partition offsets from the Bronze table failed; not taking the partitions.");
                        self.sink.lock().expect("sink lock").release(&tps);
                        let _ = base_consumer.assign(&TopicPartitionList::new());
                    }
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let tps = tps_of(tpl);
                let mut sink = self.sink.lock().expect("sink lock");
                match sink.flush() {
                    Ok(f) => {
                        commit_to_kafka(base_consumer, &f, CommitMode::Async);
                        if let Some(e) = &f.events_error {
                            // Kept by the audit sink and written with the next flush.
                            error!(error = %e, "Committed before revocation, but its audit record is not written yet.");
                        }
                    }
                    Err(e) => {
                        error!(error = %e, "Committing before revocation failed; the next owner re-reads those messages.")
                    }
                }
                sink.release(&tps);
                drop(sink);
                info!(partitions = tps.len(), "Partitions revoked.");
                let _ = base_consumer.unassign();
            }
            other => {
                error!(error = ?other, "Rebalance error; releasing every partition.");
                let tps = tps_of(tpl);
                self.sink.lock().expect("sink lock").release(&tps);
                let _ = base_consumer.unassign();
            }
        }
    }
}

/// Runs the stream until `stop` becomes true: consumes, commits Bronze with offsets, follows
/// with Silver/Gold and compacts Bronze. On stop it commits what is buffered and returns.
///
/// The stream is one run: its start, every commit (Bronze, quarantine, compaction) and its
/// end are events to `metrics` and to `sinks` (the audit trail); Silver/Gold follow runs are
/// runs of their own with the same sinks.
pub async fn run(
    env: Environment,
    catalog: Arc<dyn Catalog>,
    plan: JobPlan,
    settings: StreamSettings,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    sinks: Vec<Arc<dyn EventSink>>,
) -> Result<StreamSummary> {
    let run_id = uuid::Uuid::new_v4().to_string();
    metrics.set_stream_run(&run_id);
    let mut all: Vec<Arc<dyn EventSink>> = vec![metrics.clone()];
    all.extend(sinks.iter().cloned());
    let events = Events::new(&run_id, all);
    let started = Instant::now();
    if let Err(e) = events
        .record(medallion_core::pipeline::run_started(
            &run_id, &plan, &env, None,
        ))
        .await
    {
        // Its start is known to some sinks (lineage): end the run there too.
        events.emit(RunEvent::RunFailed {
            error: e.to_string(),
            error_class: e.class().name().to_string(),
            duration_ms: 0,
            committed: false,
        });
        if let Err(again) = events.flush().await {
            warn!(error = %again, "Could not record the stream's failed start.");
        }
        return Err(e.into());
    }
    let result = stream(
        env,
        catalog,
        plan,
        settings,
        metrics.clone(),
        stop,
        sinks,
        &events,
    )
    .await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let end = events
        .record(match &result {
            Ok(_) => RunEvent::RunFinished { duration_ms },
            Err(e) => RunEvent::RunFailed {
                error: e.to_string(),
                error_class: match e {
                    Error::Core(c) => c.class().name().to_string(),
                    Error::Config(_) => "config".into(),
                    Error::Kafka(_) => "io".into(),
                },
                duration_ms,
                committed: metrics.commits.load(Relaxed) > 0,
            },
        })
        .await;
    let summary = result?;
    end?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
async fn stream(
    env: Environment,
    catalog: Arc<dyn Catalog>,
    plan: JobPlan,
    settings: StreamSettings,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    sinks: Vec<Arc<dyn EventSink>>,
    events: &Events,
) -> Result<StreamSummary> {
    let src = kafka_source(&env, &plan)?.clone();
    check_consumer_settings(
        "bronze.source.kafka.consumer_options",
        &src.consumer_options,
    )?;
    check_consumer_settings(
        "MEDALLION_KAFKA_OPTIONS",
        settings.consumer_overrides.iter().map(|(k, v)| (k, v)),
    )?;
    let pipeline = plan.job.spec.pipeline.clone();
    let group = src.group(&env.name, &pipeline);
    let sink = open_sink(&env, &plan, &src, &metrics, events).await?;
    let consumer = subscribe(&env, &src, &settings, &group, sink.clone(), metrics.clone()).await?;
    let topics = src.topics();
    info!(pipeline = %pipeline, environment = %env.name, group = %group, topics = ?topics, brokers = %settings.brokers, "Streaming started.");

    let (commit_tx, commit_rx) = watch::channel(0u64);
    let follower = tokio::spawn(follow(
        Follow {
            env: env.clone(),
            catalog: catalog.clone(),
            plan: plan.clone(),
            src: src.clone(),
            sinks,
            events: events.clone(),
        },
        commit_rx,
        stop.clone(),
        metrics.clone(),
    ));

    metrics.running.store(true, Relaxed);
    let loop_stop = stop.clone();
    let loop_metrics = metrics.clone();
    let consumer_thread = std::thread::Builder::new()
        .name("medallion-kafka".into())
        .spawn(move || consume(consumer, sink, loop_stop, loop_metrics, commit_tx))
        .map_err(|e| Error::Config(format!("cannot start the consumer thread: {e}")))?;
    // Wait for the consumer thread without blocking the runtime.
    let result = loop {
        if consumer_thread.is_finished() {
            break consumer_thread
                .join()
                .unwrap_or_else(|_| Err(Error::Config("the consumer thread panicked".into())));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    metrics.running.store(false, Relaxed);
    stop.store(true, Relaxed);
    // The follower ends when `stop` is set; a panic in it is reported, not swallowed (the
    // Bronze commits stand; the next run brings Silver and Gold up to date).
    if let Err(e) = follower.await {
        error!(error = %e, "the Silver/Gold follower of the stream failed");
    }
    let summary = StreamSummary {
        messages: metrics.messages_consumed.load(Relaxed),
        rows_committed: metrics.rows_committed.load(Relaxed),
        quarantined: metrics.quarantined.load(Relaxed),
        commits: metrics.commits.load(Relaxed),
    };
    result.map(|_| summary)
}

/// The Bronze and quarantine writer of the stream, its tables created if missing.
async fn open_sink(
    env: &Environment,
    plan: &JobPlan,
    src: &KafkaSource,
    metrics: &Arc<Metrics>,
    events: &Events,
) -> Result<Arc<Mutex<Sink>>> {
    let run_id = events.run_id().to_string();
    let job = &plan.job;
    let bronze_name = job.bronze_table();
    let q_name = job.quarantine_table();
    let metadata = medallion_core::table::commit_metadata(
        &run_id,
        &job.spec.pipeline,
        &env.name,
        vec![("medallion.source", "kafka".into())],
    );
    let decoder = Decoder {
        format: src.format,
        raw: plan.raw_schema.clone(),
        bronze: decode::bronze_schema(&plan.bronze_schema),
        strict: src.unknown_fields == UnknownFields::Quarantine,
        max_message_bytes: src.max_message_bytes,
        run_id,
    };
    let limits = Limits {
        max_rows: src.max_rows,
        max_bytes: src.max_bytes,
        max_age: src.max_age(),
    };
    let mut writer = Writer::new(
        tokio::runtime::Handle::current(),
        decoder,
        (bronze_name.to_string(), env.location(&bronze_name)?),
        (q_name.to_string(), env.location(&q_name)?),
        metadata,
        metrics.clone(),
    );
    writer.properties = medallion_core::pipeline::table_properties(
        plan,
        "bronze",
        plan.job.spec.bronze.description.clone(),
    );
    writer.q_properties = medallion_core::pipeline::table_properties(plan, "quarantine", None);
    writer.events = events.clone();
    writer.ensure_table().await?;
    let mut sink = Sink::new(writer, limits);
    sink.compactor_key = src.topics().into_iter().min().map(|t| (t, 0));
    Ok(Arc::new(Mutex::new(sink)))
}

/// The consumer of the stream's group, subscribed to its topics.
async fn subscribe(
    env: &Environment,
    src: &KafkaSource,
    settings: &StreamSettings,
    group: &str,
    sink: Arc<Mutex<Sink>>,
    metrics: Arc<Metrics>,
) -> Result<BaseConsumer<StreamContext>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", "5000")
        .set("partition.assignment.strategy", "range,roundrobin")
        // The broker may hold a fetch this long waiting for data; at librdkafka's 500 ms
        // default it added up to half a second to the roll age (measured p99 2.9 s → 1.2 s at
        // max_age 1s). A twentieth of max_age, 10..500 ms; `consumer_options` can override.
        .set(
            "fetch.wait.max.ms",
            fetch_wait_ms(src.max_age()).to_string(),
        )
        // While a roll is written librdkafka keeps fetching into its queue (the consumer
        // thread waits when the next roll is due before the one in flight has landed);
        // once the queue is full it waits this long before fetching again. At the 1000 ms default that wait stalled every backlog roll (1 KB messages,
        // this setting alone at 10 or 50 ms: 111k → 216k msgs/s; benches/README.md); the
        // queue's size limits still bound the memory.
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    for (k, v) in &src.consumer_options {
        config.set(k, v);
    }
    for (k, v) in &settings.consumer_overrides {
        config.set(k, v);
    }
    let auth = env.kafka.as_ref().and_then(|k| k.auth);
    crate::auth::apply(&mut config, auth.as_ref());
    let msk_iam = match auth {
        Some(medallion_core::kafka_spec::KafkaAuth::MskIam) => Some(Arc::new(
            crate::auth::MskIamSigner::from_env(&env.name).await?,
        )),
        None => None,
    };
    let context = StreamContext {
        sink,
        metrics,
        msk_iam,
    };
    let consumer: BaseConsumer<StreamContext> = config.create_with_context(context)?;
    let topics = src.topics();
    let topic_refs: Vec<&str> = topics.iter().map(|s| s.as_str()).collect();
    consumer.subscribe(&topic_refs)?;
    Ok(consumer)
}

/// How long librdkafka waits to fetch again after its local queue filled up.
const FETCH_QUEUE_BACKOFF_MS: &str = "20";

/// How long the broker may hold a fetch, from the roll age.
fn fetch_wait_ms(max_age: Duration) -> u128 {
    (max_age.as_millis() / 20).clamp(10, 500)
}

fn copy_message(m: &BorrowedMessage<'_>) -> Msg {
    Msg {
        offset: m.offset(),
        payload: m.payload().map(|p| p.to_vec()),
        key: m.key().map(|k| k.to_vec()),
        timestamp_ms: m.timestamp().to_millis(),
        headers: crate::headers::of_message(m),
        received: Instant::now(),
    }
}

/// Applies a flush: commits its offsets to Kafka (lag tools only) and signals the follower,
/// then re-seeks the partitions another consumer had taken. A re-seek that fails stops the
/// stream: reading on from where the consumer stands would skip the messages between the
/// table's offset and there (a restart reads from the table's offsets).
fn handle_flush(
    consumer: &BaseConsumer<StreamContext>,
    f: &Flushed,
    commits: &watch::Sender<u64>,
    mode: CommitMode,
) -> Result<()> {
    if f.rows > 0 || f.quarantined > 0 || !f.offsets.is_empty() {
        commit_to_kafka(consumer, f, mode);
        commits.send_modify(|v| *v += 1);
    }
    for ((t, p), next) in &f.reseek {
        let off = next.map_or(Offset::Beginning, Offset::Offset);
        if let Err(e) = consumer.seek(t, *p, off, Duration::from_secs(5)) {
            error!(topic = %t, partition = p, error = %e, "Re-seeking a partition to the table's offset failed; stopping.");
            return Err(e.into());
        }
    }
    Ok(())
}

/// Applies what became of a roll: its re-seeks and Kafka offsets; a failed roll (its
/// messages are buffered again) counts towards stopping after five in a row.
fn on_settled(
    consumer: &BaseConsumer<StreamContext>,
    settled: std::result::Result<Flushed, Failed>,
    commits: &watch::Sender<u64>,
    failures: &mut u32,
) -> Result<()> {
    match settled {
        Ok(f) => {
            *failures = 0;
            handle_flush(consumer, &f, commits, CommitMode::Async)?;
            if let Some(e) = f.events_error {
                error!(error = %e, "The commit landed but its audit record could not be written; stopping.");
                return Err(e);
            }
        }
        Err(Failed { error, reseek }) => {
            *failures += 1;
            error!(error = %error, failures = *failures, "Bronze commit failed.");
            let f = Flushed {
                reseek,
                ..Flushed::default()
            };
            handle_flush(consumer, &f, commits, CommitMode::Async)?;
            if *failures >= 5 {
                return Err(error);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    Ok(())
}

fn consume(
    consumer: BaseConsumer<StreamContext>,
    sink: Arc<Mutex<Sink>>,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    commits: watch::Sender<u64>,
) -> Result<()> {
    let mut failures = 0u32;
    while !stop.load(Relaxed) {
        metrics.last_poll_ms.store(now_ms(), Relaxed);
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                metrics.messages_consumed.fetch_add(1, Relaxed);
                metrics
                    .bytes_consumed
                    .fetch_add(m.payload().map_or(0, |p| p.len()) as u64, Relaxed);
                let msg = copy_message(&m);
                sink.lock()
                    .expect("sink lock")
                    .push(m.topic(), m.partition(), msg);
            }
            Some(Err(e)) => {
                metrics.kafka_errors.fetch_add(1, Relaxed);
                warn!(error = %e, "Kafka error.");
            }
            None => {}
        }
        // A roll committed meanwhile is settled as soon as it is done; a due roll waits for
        // the one in flight (at most one), then is handed over while polling goes on.
        let (settled, due) = {
            let mut s = sink.lock().expect("sink lock");
            (s.settle(false), s.due())
        };
        if let Some(r) = settled {
            on_settled(&consumer, r, &commits, &mut failures)?;
        }
        if due {
            let settled = sink.lock().expect("sink lock").settle(true);
            if let Some(r) = settled {
                on_settled(&consumer, r, &commits, &mut failures)?;
            }
            sink.lock().expect("sink lock").start_flush();
        }
    }
    info!("Stopping: committing what is buffered.");
    let res = sink.lock().expect("sink lock").flush();
    let mut f = res?;
    // Nothing more is read: no re-seek.
    f.reseek.clear();
    handle_flush(&consumer, &f, &commits, CommitMode::Sync)?;
    if let Some(e) = f.events_error {
        return Err(e);
    }
    // Leave the group now (the revoke callback finds nothing left to commit).
    consumer.unsubscribe();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && metrics.assigned() > 0 {
        let _ = consumer.poll(Duration::from_millis(50));
    }
    drop(consumer);
    Ok(())
}

/// What the follow task works with.
struct Follow {
    env: Environment,
    catalog: Arc<dyn Catalog>,
    plan: JobPlan,
    src: KafkaSource,
    sinks: Vec<Arc<dyn EventSink>>,
    /// The stream's own events (compaction commits are the stream's).
    events: Events,
}

/// Silver after Bronze commits (at most every `silver_interval`), Gold every
/// `gold_interval` (refreshed only when inputs changed), Bronze compaction every
/// `compact_interval`.
async fn follow(
    f: Follow,
    mut commits: watch::Receiver<u64>,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) {
    let Follow {
        env,
        catalog,
        plan,
        src,
        sinks,
        events,
    } = f;
    let mut engine = Engine::new(env.clone(), catalog)
        .with_sink(metrics.clone())
        .with_parent(events.run_id());
    for s in sinks {
        engine = engine.with_sink(s);
    }
    let mut silver_plan = plan.clone();
    silver_plan.gold.clear();
    let (silver_every, gold_every, compact_every) = (
        src.silver_interval(),
        src.gold_interval(),
        src.compact_interval(),
    );
    let mut last_silver = Instant::now()
        .checked_sub(silver_every)
        .unwrap_or_else(Instant::now);
    let mut last_gold = Instant::now();
    let mut last_compact = Instant::now();
    // Start with a catch-up run: Bronze may hold rows an earlier process committed but
    // did not get to process into Silver (e.g. it was killed).
    let mut seen = u64::MAX;
    let mut silver_changed = false;
    loop {
        let stopping = stop.load(Relaxed);
        let current = *commits.borrow();
        let new_commits = current != seen;
        if new_commits && (stopping || last_silver.elapsed() >= silver_every) {
            seen = current;
            last_silver = Instant::now();
            let gold_due = !plan.gold.is_empty() && last_gold.elapsed() >= gold_every;
            let p = if gold_due || stopping {
                &plan
            } else {
                &silver_plan
            };
            let outcome = engine.run(p).await;
            if p.gold.is_empty() {
                silver_changed = true;
            } else {
                last_gold = Instant::now();
                silver_changed = false;
            }
            match outcome.error {
                None => info!(
                    pipeline = %plan.job.spec.pipeline,
                    silver_rows = outcome.report.silver.as_ref().map_or(0, |s| s.rows_written),
                    "Silver followed Bronze."
                ),
                Some(e) => {
                    warn!(error = %e, "Silver/Gold follow run failed; retrying at the next interval.");
                }
            }
        } else if silver_changed && !plan.gold.is_empty() && last_gold.elapsed() >= gold_every {
            last_gold = Instant::now();
            silver_changed = false;
            let outcome = engine.run(&plan).await;
            if let Some(e) = outcome.error {
                warn!(error = %e, "Gold follow run failed.");
            }
        }
        // One process of the group compacts (the owner of partition 0 of the first topic):
        // deltalake rebases an OPTIMIZE over a concurrent one, which would add the same rows
        // twice, so two processes must never compact at once.
        if !compact_every.is_zero()
            && last_compact.elapsed() >= compact_every
            && !stopping
            && metrics.compactor.load(Relaxed)
        {
            last_compact = Instant::now();
            match crate::compact::compact(&env, &plan, &events).await {
                Ok(Some(m)) => {
                    info!(files_removed = m.0, files_added = m.1, "Compacted Bronze.");
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "Bronze compaction failed; trying again later."),
            }
        }
        if stopping && *commits.borrow() == seen {
            break;
        }
        tokio::select! {
            _ = commits.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Keeps `KafkaResult` in scope for callers matching on client errors.
pub type ClientResult<T> = KafkaResult<T>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10 item 10: `MEDALLION_KAFKA_OPTIONS` (and a spec's `consumer_options`) may not
    /// override the settings exactly-once depends on; other settings pass.
    #[test]
    fn reserved_consumer_settings_are_refused() {
        let opts = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        for key in [
            "group.id",
            "enable.auto.commit",
            "enable.auto.offset.store",
            "isolation.level",
            "auto.offset.reset",
        ] {
            let o = opts(&[("session.timeout.ms", "6000"), (key, "x")]);
            let err =
                check_consumer_settings("MEDALLION_KAFKA_OPTIONS", o.iter().map(|(k, v)| (k, v)))
                    .unwrap_err()
                    .to_string();
            assert!(err.starts_with("MEDALLION_KAFKA_OPTIONS: "), "{err}");
            assert!(err.contains(&format!("`{key}` may not be set")), "{err}");
            assert!(!err.contains("`session.timeout.ms`"), "{err}");
        }
        let ok = opts(&[("session.timeout.ms", "6000"), ("fetch.wait.max.ms", "50")]);
        assert!(
            check_consumer_settings("MEDALLION_KAFKA_OPTIONS", ok.iter().map(|(k, v)| (k, v)))
                .is_ok()
        );
    }
}
