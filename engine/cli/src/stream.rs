//! `medallion stream JOB --env ENV`: the long-running Kafka → Bronze consumer (exactly once),
//! with Silver/Gold following, `/metrics` and `/health`. Runs until SIGTERM or SIGINT, then
//! commits what is buffered and exits 0.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use medallion_core::plan;
use medallion_kafka::{Metrics, StreamSettings};

/// A setting problem as a spec error (exit code 1, names the file).
fn user_error(file: &Path, field: &str, e: impl std::fmt::Display) -> anyhow::Error {
    medallion_core::Error::Spec(vec![medallion_core::SpecError::new(
        file.display().to_string(),
        field,
        e.to_string(),
    )])
    .into()
}

pub struct Args<'a> {
    pub envs_file: &'a Path,
    pub schemas: &'a Path,
    pub path: &'a Path,
    pub metrics_addr: SocketAddr,
    pub break_glass: Option<&'a str>,
}

pub async fn stream(
    engine: medallion_core::pipeline::Engine,
    a: Args<'_>,
) -> anyhow::Result<ExitCode> {
    let Args {
        envs_file,
        schemas,
        path,
        metrics_addr,
        break_glass,
    } = a;
    let env = engine.env.clone();
    if !env.streaming {
        return Err(user_error(
            envs_file,
            &format!("environments.{}.streaming", env.name),
            format!(
                "is false: environment `{}` does not allow `medallion stream`; use an environment with `streaming: true`",
                env.name
            ),
        ));
    }
    let known = engine.known_schemas().await?;
    let plans = plan::plan_all(&[path.to_path_buf()], schemas, known.clone())
        .await
        .map_err(medallion_core::Error::Spec)?;
    crate::commands::print_warnings(&plans);
    crate::commands::promotion_gate(&env, &plans, break_glass).await?;
    let plan = plans
        .into_iter()
        .next()
        .ok_or_else(|| medallion_core::Error::Input {
            path: path.display().to_string(),
            message: "holds no job spec".into(),
        })?;
    medallion_kafka::kafka_source(&env, &plan).map_err(|e| user_error(path, "bronze.source", e))?;
    let brokers = medallion_kafka::brokers(&env).map_err(|e| {
        user_error(
            envs_file,
            &format!("environments.{}.kafka.brokers", env.name),
            e,
        )
    })?;

    let metrics = Arc::new(Metrics::default());
    let (bound, server) = medallion_kafka::metrics::serve(metrics_addr, metrics.clone())
        .await
        .with_context(|| format!("serving /metrics on {metrics_addr}"))?;
    eprintln!(
        "medallion stream: pipeline {} in `{}`; metrics on http://{bound}/metrics, health on http://{bound}/health",
        plan.job.spec.pipeline, env.name
    );

    let stop = Arc::new(AtomicBool::new(false));
    let signals = {
        let stop = stop.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
            tokio::select! {
                _ = term.recv() => tracing::info!(signal = "SIGTERM", "Stopping."),
                _ = int.recv() => tracing::info!(signal = "SIGINT", "Stopping."),
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    let settings = StreamSettings {
        brokers,
        consumer_overrides: std::env::var("MEDALLION_KAFKA_OPTIONS")
            .ok()
            .map(|s| {
                s.split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut sinks = engine.sinks.clone();
    let lineage =
        crate::project::lineage_sink(&env, std::slice::from_ref(&plan), known, true).await;
    if let Some(l) = &lineage {
        sinks.push(l.clone());
    }
    let result = medallion_kafka::run(
        env,
        engine.catalog.clone(),
        plan,
        settings,
        metrics,
        stop,
        sinks,
    )
    .await;
    if let Some(http) = lineage.as_ref().and_then(|l| l.http()) {
        http.drain(std::time::Duration::from_secs(5)).await;
    }
    signals.abort();
    server.abort();
    let summary = result?;
    eprintln!(
        "medallion stream: stopped after {} message(s): {} row(s) committed to Bronze in {} commit(s), {} quarantined",
        summary.messages, summary.rows_committed, summary.commits, summary.quarantined
    );
    Ok(ExitCode::SUCCESS)
}
