//! Streaming tests against the real Kafka-protocol broker started by
//! `deploy/local/services/kafka.sh` (MEDALLION_KAFKA_BROKERS). Each test creates its own topic.
//! No timing assertions: waits are bounded only so that a broken test ends.

mod stream;
