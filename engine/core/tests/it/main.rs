//! Integration tests of the batch pipeline on real Delta tables in a temporary lake.

mod catalog_concurrency;
mod common;
mod decoder_failures;
mod gold_incremental;
mod golden;
mod incremental;
mod invalid_specs;
mod isolation;
mod plan_checks;
mod protection;
mod readers;
mod s3;
mod schema_evolution;
