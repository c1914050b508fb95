//! Silver and Gold SQL on a Ballista cluster.
//!
//! An environment with `engine: { ballista: { scheduler: "df://host:50050" } }` sends the
//! Silver dedupe (a distributed aggregate on the keys), the Silver SQL and every Gold query
//! to that cluster as logical plans; the run (the driver) keeps everything else: reading
//! sources, typing and row rules, set rules, the Delta commits, bookmarks, quarantine and
//! audit. The cluster reads Delta tables as the Parquet files of their current snapshot
//! (the run lists them from the Delta log, never from a directory listing), and the run's
//! intermediate rows from where the cluster can read them (see [`share`]). Its nodes are
//! `medallion cluster scheduler|executor` (the `medallion-cluster` crate), which know
//! medallion's SQL functions ([`functions`]) but never a secret: a job hashing PII with the
//! environment's key runs its Silver SQL in the driver.

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;
use serde::Deserialize;

#[cfg(feature = "cluster")]
mod client;
#[cfg(feature = "cluster")]
pub use client::{register_delta, register_files, session};

mod session;
mod share;
pub use session::ClusterSession;
pub use share::Shared;

/// `environments.<env>.engine`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// `{ scheduler: "df://host:50050" }`.
    #[serde(default)]
    pub ballista: Option<BallistaSpec>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallistaSpec {
    /// The scheduler's address, `df://host:port`.
    pub scheduler: String,
}

impl EngineSpec {
    /// The scheduler URL, when the environment uses a cluster.
    pub fn scheduler(&self) -> Option<&str> {
        self.ballista.as_ref().map(|b| b.scheduler.as_str())
    }

    /// Refuses a scheduler address that is not `df://host:port`.
    pub fn check(&self) -> std::result::Result<(), String> {
        let Some(s) = self.scheduler() else {
            return Ok(());
        };
        let bad =
            || format!("`{s}`: expected `df://host:port`, e.g. `df://ballista-scheduler:50050`");
        let url = url::Url::parse(s).map_err(|_| bad())?;
        if url.scheme() != "df" || url.host_str().is_none_or(str::is_empty) || url.port().is_none()
        {
            return Err(bad());
        }
        if !url.path().is_empty() && url.path() != "/" {
            return Err(bad());
        }
        Ok(())
    }
}

/// The SQL functions every node of a medallion cluster knows besides DataFusion's: those
/// Silver rules and PII actions call, none bound to a secret.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(crate::pii::hmac_udf()),
        Arc::new(crate::classify::rule::udf()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> EngineSpec {
        EngineSpec {
            ballista: Some(BallistaSpec {
                scheduler: s.into(),
            }),
        }
    }

    #[test]
    fn scheduler_addresses() {
        assert!(spec("df://localhost:50050").check().is_ok());
        assert!(EngineSpec::default().check().is_ok());
        for bad in [
            "localhost:50050",
            "http://h:50050",
            "df://h",
            "df://:5/",
            "df://h:1/x",
        ] {
            let e = spec(bad).check().unwrap_err();
            assert!(e.contains("df://host:port"), "{bad}: {e}");
        }
    }
}
