//! The Kafka source of a job spec (`bronze.source.kafka`) and the environment's Kafka
//! settings (`environments.<name>.kafka`). The consumer itself lives in the
//! `medallion-kafka` crate; this module only describes and checks the settings (no IO).

use std::time::Duration;

use serde::Deserialize;

use crate::spec::{OneOrMany, UnknownFields};

/// Messages of one or more Kafka topics, consumed by `medallion stream` into Bronze exactly
/// once (offsets are stored in the same Delta commit as the rows).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSource {
    /// Topic name, or a list of topic names.
    pub topic: OneOrMany,
    /// Message payload format: `json` (one JSON object per message), `csv_lines` (one CSV
    /// record per message, columns in schema order, no header) or `raw` (the payload as
    /// UTF-8 text in the schema's single column).
    pub format: KafkaFormat,
    /// Consumer group (default `medallion.<environment>.<pipeline>`). Processes with the same
    /// group share the partitions.
    #[serde(default)]
    pub group_id: Option<String>,
    /// JSON fields the schema does not declare: `quarantine` (default) or `ignore`.
    #[serde(default)]
    pub unknown_fields: UnknownFields,
    /// A Bronze file is committed when this many messages are buffered (default 100000).
    #[serde(default = "default_max_rows")]
    pub max_rows: u64,
    /// ... or when this many payload bytes are buffered (default 64 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// ... or when the oldest buffered message is this old, e.g. `500ms`, `5s`, `1m`
    /// (default `5s`): a quiet topic's data is visible in Bronze within about this bound.
    #[serde(default = "default_max_age")]
    pub max_age: String,
    /// Messages larger than this many bytes go to the quarantine table (default 1 MiB).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
    /// How often Silver processes the new Bronze rows, e.g. `10s` (default `10s`; `0s` means
    /// after every Bronze commit).
    #[serde(default = "default_silver_interval")]
    pub silver_interval: String,
    /// How often Gold tables are refreshed (only when their inputs changed), e.g. `1m`
    /// (default `1m`).
    #[serde(default = "default_gold_interval")]
    pub gold_interval: String,
    /// How often the Bronze table is compacted (Delta optimize; `0s` turns it off;
    /// default `10m`).
    #[serde(default = "default_compact_interval")]
    pub compact_interval: String,
    /// Extra librdkafka consumer settings (e.g. `security.protocol: SSL`,
    /// `session.timeout.ms: "6000"`). Settings medallion relies on (`group.id`,
    /// `enable.auto.commit`, `enable.auto.offset.store`, `bootstrap.servers`) are refused.
    #[serde(default)]
    pub consumer_options: std::collections::BTreeMap<String, String>,
}

/// Kafka payload formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaFormat {
    /// One JSON object per message.
    Json,
    /// One CSV record per message (no header; columns in schema order).
    CsvLines,
    /// The payload as text, in the schema's only column.
    Raw,
}

/// Kafka settings of an environment (`environments.<name>.kafka`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaEnvSpec {
    /// Bootstrap brokers, `host:port,host:port`. The environment variable
    /// `MEDALLION_KAFKA_BROKERS` overrides it.
    #[serde(default)]
    pub brokers: Option<String>,
    /// How the consumer authenticates (default: plaintext, no authentication):
    /// `msk_iam` = Amazon MSK IAM access control (TLS + SASL/OAUTHBEARER, tokens signed with
    /// the process's AWS credentials; the role's `kafka-cluster:*` permissions decide which
    /// topics and groups it may use). The platform's Terraform renders `msk_iam`.
    #[serde(default)]
    pub auth: Option<KafkaAuth>,
}

/// Kafka authentication methods (`environments.<name>.kafka.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaAuth {
    /// Amazon MSK IAM: TLS + SASL/OAUTHBEARER with a SigV4-signed token.
    MskIam,
}

fn default_max_rows() -> u64 {
    100_000
}
fn default_max_bytes() -> u64 {
    64 << 20
}
fn default_max_age() -> String {
    "5s".into()
}
fn default_max_message_bytes() -> u64 {
    1 << 20
}
fn default_silver_interval() -> String {
    "10s".into()
}
fn default_gold_interval() -> String {
    "1m".into()
}
fn default_compact_interval() -> String {
    "10m".into()
}

/// Parses a duration such as `250ms`, `5s`, `2m`, `1h`, `7d` (a whole number and a unit).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; write e.g. `500ms`, `5s`, `1m`, `1h`"))?;
    Ok(match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86400),
        _ => {
            return Err(format!(
                "`{s}` is not a duration; write e.g. `500ms`, `5s`, `1m`, `1h`"
            ))
        }
    })
}

/// librdkafka settings medallion sets itself (or whose default exactly-once depends on) and
/// that neither a spec's `consumer_options` nor `MEDALLION_KAFKA_OPTIONS` may override:
/// offsets live in the Bronze table, so auto commits/stores, a different group, offset reset,
/// read-uncommitted or another assignment protocol would lose or duplicate data.
pub const RESERVED_CONSUMER_SETTINGS: [&str; 10] = [
    "group.id",
    "bootstrap.servers",
    "metadata.broker.list",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "isolation.level",
    "enable.partition.eof",
    "partition.assignment.strategy",
    "group.protocol",
];
use RESERVED_CONSUMER_SETTINGS as RESERVED;

impl KafkaSource {
    /// The topics.
    pub fn topics(&self) -> Vec<String> {
        self.topic.columns()
    }
    pub fn max_age(&self) -> Duration {
        parse_duration(&self.max_age).expect("checked")
    }
    pub fn silver_interval(&self) -> Duration {
        parse_duration(&self.silver_interval).expect("checked")
    }
    pub fn gold_interval(&self) -> Duration {
        parse_duration(&self.gold_interval).expect("checked")
    }
    pub fn compact_interval(&self) -> Duration {
        parse_duration(&self.compact_interval).expect("checked")
    }
    /// The consumer group: `group_id`, else `medallion.<environment>.<pipeline>`.
    pub fn group(&self, environment: &str, pipeline: &str) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("medallion.{environment}.{pipeline}"))
    }

    /// Static checks; `(field path, message)` per problem.
    pub fn check(&self) -> Vec<(String, String)> {
        let p = "bronze.source.kafka";
        let mut out = Vec::new();
        let topics = self.topics();
        if topics.is_empty() {
            out.push((format!("{p}.topic"), "name at least one topic".into()));
        }
        for (i, t) in topics.iter().enumerate() {
            let ok = !t.is_empty()
                && t.len() <= 249
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !ok {
                let path = match &self.topic {
                    OneOrMany::One(_) => format!("{p}.topic"),
                    OneOrMany::Many(_) => format!("{p}.topic[{i}]"),
                };
                out.push((
                    path,
                    format!("`{t}` is not a Kafka topic name (letters, digits, `.`, `_`, `-`)"),
                ));
            }
        }
        if let Some(g) = &self.group_id {
            if g.trim().is_empty() {
                out.push((format!("{p}.group_id"), "must not be empty".into()));
            }
        }
        for (name, v) in [("max_rows", self.max_rows), ("max_bytes", self.max_bytes)] {
            if v == 0 {
                out.push((format!("{p}.{name}"), "must be at least 1".into()));
            }
        }
        if self.max_message_bytes == 0 {
            out.push((
                format!("{p}.max_message_bytes"),
                "must be at least 1".into(),
            ));
        }
        for (name, v) in [
            ("max_age", &self.max_age),
            ("silver_interval", &self.silver_interval),
            ("gold_interval", &self.gold_interval),
            ("compact_interval", &self.compact_interval),
        ] {
            match parse_duration(v) {
                Err(m) => out.push((format!("{p}.{name}"), m)),
                Ok(d) if name == "max_age" && d.is_zero() => {
                    out.push((format!("{p}.max_age"), "must be more than 0".into()))
                }
                Ok(_) => {}
            }
        }
        for k in self.consumer_options.keys() {
            if RESERVED.contains(&k.as_str()) {
                out.push((
                    format!("{p}.consumer_options.{k}"),
                    format!("`{k}` is set by medallion and may not be overridden"),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn kafka_source_parses_and_checks() {
        let text = "pipeline: p\nbronze:\n  table: bronze.p\n  schema: p@1\n  source:\n    kafka:\n      topic: [a.b, \"bad topic\"]\n      format: csv_lines\n      max_age: 5 sec\n      consumer_options: { group.id: x }\n";
        let spec: crate::spec::JobSpec = crate::yaml::parse("jobs/t.yaml", text).unwrap();
        let job = crate::spec::Job {
            file: "jobs/t.yaml".into(),
            spec,
            content_sha256: None,
        };
        let paths: Vec<String> = job.check().into_iter().map(|e| e.path).collect();
        for expected in [
            "bronze.source.kafka.topic[1]",
            "bronze.source.kafka.max_age",
            "bronze.source.kafka.consumer_options.group.id",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} in {paths:?}"
            );
        }
        let bad = "pipeline: p\nbronze:\n  table: bronze.p\n  schema: p@1\n  source: { kafka: { topic: t, format: avro } }\n";
        let e = crate::yaml::parse::<crate::spec::JobSpec>("jobs/t.yaml", bad).unwrap_err();
        assert_eq!(e.path, "bronze.source.kafka.format");
    }
}
