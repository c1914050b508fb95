//! Logs go to stderr. By default medallion's own `info` and `warn` events show, and only
//! errors of the libraries (deltalake, DataFusion, object_store, the AWS SDK warn about
//! things the user cannot act on). `MEDALLION_LOG`, else `RUST_LOG`, replaces the default
//! (`MEDALLION_LOG=debug`, `MEDALLION_LOG=warn,deltalake_core=info`).
//!
//! `MEDALLION_LOG_FORMAT=json` writes one JSON object per line with the event fields at the
//! top level (`{"event":"job_failed",...}`, `{"event":"records_quarantined","count":N,...}`):
//! the deploy alarms count these, so those event names and fields are an interface.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// medallion's crates (the binary is `medallion`) at `info`, every other target at `error`.
pub const DEFAULT_FILTER: &str =
    "error,medallion=info,medallion_core=info,medallion_kafka=info,medallion_glue=info";

/// Installs the global subscriber.
pub fn init() {
    let filter = filter();
    if std::env::var("MEDALLION_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(colour)
            .with_writer(std::io::stderr)
            .init();
    }
}

/// The first of `MEDALLION_LOG` and `RUST_LOG` that is set, else [`DEFAULT_FILTER`]. A filter
/// that does not parse is reported, not ignored silently.
fn filter() -> EnvFilter {
    let set = ["MEDALLION_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().map(|value| (var, value)));
    let Some((var, value)) = set else {
        return EnvFilter::new(DEFAULT_FILTER);
    };
    EnvFilter::try_new(&value).unwrap_or_else(|e| {
        eprintln!(
            "medallion: {var}={value} is not a log filter ({e}); using the default `{DEFAULT_FILTER}`"
        );
        EnvFilter::new(DEFAULT_FILTER)
    })
}
