//! Integration tests of the batch pipeline on real Delta tables in a temporary lake.

mod common;
mod decoder_failures;
mod golden;
mod incremental;
mod invalid_specs;
mod isolation;
mod readers;
mod s3;
