//! Integration tests of the Glue catalog against moto, a real Glue Data Catalog API server on
//! loopback (start it with `. deploy/local/services/moto.sh`), and the catalog contract that the
//! embedded catalog and the Glue catalog both pass.
//!
//! Each test uses its own database prefix, so tests run in parallel on one moto server and
//! never reset it. Note: moto does not check Glue's `VersionId` on UpdateTable, so the
//! optimistic-concurrency retry cannot be provoked here; the tests check that `VersionId` is
//! read and passed and that concurrent writers all succeed.

mod catalog_id;
mod common;
mod contract;
mod glue;
