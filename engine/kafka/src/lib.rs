//! medallion's streaming source: Kafka topics into the Bronze Delta table, **exactly once**.
//!
//! Delivery semantics (see [`sink`] for the rules):
//! - The Bronze table is the source of truth for progress. Every Bronze commit holds the rows
//!   and, in the same atomic Delta commit, one application transaction per topic-partition
//!   (`medallion.kafka.<topic>.<partition>`, version = next offset to read).
//! - On start and on every assignment the consumer seeks to those versions; Kafka's committed
//!   offsets are written after each Delta commit only so that lag tools work.
//! - A crash (even `kill -9`) at any moment loses nothing and duplicates nothing: uncommitted
//!   rows are re-read, committed ones are skipped.
//! - Processes of one consumer group share partitions; on revocation buffered rows are
//!   committed first, and a commit is refused for a partition whose offsets another consumer
//!   moved (checked on the commit's own snapshot and by Delta's conflict checker).
//! - Messages that cannot be decoded are quarantined with topic/partition/offset and reason;
//!   they never stall their partition.
//!
//! Files roll by rows, bytes and age (`max_rows` / `max_bytes` / `max_age`); Silver follows
//! Bronze incrementally, Gold on its own interval; Bronze is compacted periodically.

pub mod auth;
pub mod compact;
pub mod decode;
pub mod encode;
pub mod headers;
pub mod metrics;
pub mod sink;
pub mod stream;
pub mod testkit;
pub mod writer;

pub use metrics::Metrics;
pub use stream::{brokers, kafka_source, run, StreamSettings, StreamSummary};

/// Errors of the streaming source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table, planning or IO error from the core.
    #[error(transparent)]
    Core(#[from] medallion_core::Error),
    /// The Kafka client refused something.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A setting is missing or not usable.
    #[error("{0}")]
    Config(String),
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Core(e.into())
    }
}

impl Error {
    /// Whether the user can fix it (settings, environment), as opposed to a failure.
    pub fn is_user_failure(&self) -> bool {
        match self {
            Error::Config(_) => true,
            Error::Core(e) => e.is_user_failure(),
            Error::Kafka(_) => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn table_error(table: &str, source: deltalake::DeltaTableError) -> Error {
    Error::Core(medallion_core::Error::Table {
        table: table.to_string(),
        source,
    })
}
