//! `medallion compliance report`: controls evaluated on an environment's configuration and
//! data, each PASS, FAIL or NOT-APPLICABLE with its evidence and the framework requirements it
//! supports (docs/compliance.md says what each control does and does not prove).
//!
//! Every control reuses the engine's own logic: a signed HEAD of the lake's objects
//! ([`encryption`]), the lake's storage options ([`transit`]), a dry run of `maintain` ([`retention`]), the promotion PII gate and the
//! classification detectors ([`pii`], [`classification`]), `audit verify` ([`audit_chain`]),
//! the column lineage ([`lineage`]), the promotion history ([`promotion`]), the run
//! summaries of the quality report ([`quarantine`]), the erasure receipts ([`erasure`]) and
//! the backup records ([`backups`]).
//! A control that cannot be evaluated FAILs with the reason; it never passes.

pub mod audit_chain;
pub mod backups;
pub mod classification;
pub mod encryption;
pub mod erasure;
pub mod html;
pub mod lineage;
pub mod pii;
pub mod promotion;
pub mod quarantine;
pub mod render;
pub mod retention;
pub mod sampled;
pub mod transit;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{AuditLog, Record};
use crate::catalog::{Catalog, TableEntry};
use crate::classify::ColumnFinding;
use crate::env::Environment;
use crate::lineage::Graph;
use crate::plan::JobPlan;
use crate::spec::TableName;

/// The report's `format_version`: bumped when a field changes meaning or goes away.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    /// The control cannot apply to this environment; the evidence says why.
    #[serde(rename = "NOT-APPLICABLE")]
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::NotApplicable => "NOT-APPLICABLE",
        }
    }
}

/// One control's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Control {
    /// Stable id (`encryption-at-rest`, `retention`, ...).
    pub id: &'static str,
    pub title: &'static str,
    /// Framework requirements it supports (`SOC2 CC6.1`, `GDPR Art. 32`, ...).
    pub frameworks: Vec<&'static str>,
    pub status: Status,
    /// What was checked: one line per table, pipeline or item, failures first.
    pub evidence: Vec<String>,
}

impl Control {
    /// PASS when nothing failed, else FAIL; failures first in the evidence.
    pub fn judged(id: &'static str, fail: Vec<String>, pass: Vec<String>) -> Self {
        let status = match fail.is_empty() {
            true => Status::Pass,
            false => Status::Fail,
        };
        Self::with(id, status, fail.into_iter().chain(pass).collect())
    }

    pub fn not_applicable(id: &'static str, why: String) -> Self {
        Self::with(id, Status::NotApplicable, vec![why])
    }

    fn with(id: &'static str, status: Status, evidence: Vec<String>) -> Self {
        let (title, frameworks) = catalogue(id);
        Self {
            id,
            title,
            frameworks: frameworks.to_vec(),
            status,
            evidence,
        }
    }
}

/// Each control: id, title, the framework requirements it supports evidence for. PCI DSS ids
/// follow v4.0's numbering (v3.2.1's differs: 3.4 there is 3.5.1 here, 4.1 is 4.2.1, 3.1 is
/// 3.2.1, 10.5 is 10.3, 6.4 is 6.5), and say so in every report.
pub const CONTROLS: &[(&str, &str, &[&str])] = &[
    (
        "encryption-at-rest",
        "Data at rest is encrypted with the environment's own KMS key",
        &[
            "SOC2 CC6.1",
            "SOC2 CC6.7",
            "GDPR Art. 32",
            "HIPAA 164.312(a)(2)(iv)",
            "PCI DSS v4.0 3.5.1",
        ],
    ),
    (
        "encryption-in-transit",
        "medallion reaches the lake's storage over HTTPS only",
        &[
            "HIPAA 164.312(e)(2)(ii)",
            "SOC2 CC6.7",
            "GDPR Art. 32",
            "PCI DSS v4.0 4.2.1",
        ],
    ),
    (
        "retention",
        "Retention is configured and enforced on every table",
        &["GDPR Art. 5(1)(e)", "SOC2 C1.2", "PCI DSS v4.0 3.2.1"],
    ),
    (
        "pii-protected",
        "No raw personal data in Silver or Gold",
        &[
            "GDPR Art. 25",
            "GDPR Art. 32",
            "SOC2 CC6.1",
            "PCI DSS v4.0 3.5.1",
        ],
    ),
    (
        "classification-coverage",
        "Every column holding personal or payment data is classified",
        &["GDPR Art. 30", "SOC2 C1.1"],
    ),
    (
        "audit-chain",
        "The audit trail is intact and matches every table's Delta log",
        &[
            "SOC2 CC7.2",
            "HIPAA 164.312(b)",
            "PCI DSS v4.0 10.2.1",
            "PCI DSS v4.0 10.3.2",
        ],
    ),
    (
        "lineage",
        "Every table has a producing pipeline and column lineage",
        &["GDPR Art. 30", "SOC2 CC8.1"],
    ),
    (
        "promotion-gates",
        "Every run ran a release promoted through the gates",
        &["SOC2 CC8.1", "PCI DSS v4.0 6.5.1"],
    ),
    (
        "quarantine-rate",
        "Quarantine rates are within the quality threshold",
        &["SOC2 PI1.3", "GDPR Art. 5(1)(d)"],
    ),
    (
        "erasure-sla",
        "Erasure requests completed within 30 days",
        &["GDPR Art. 17", "GDPR Art. 12(3)"],
    ),
    (
        "backups",
        "Every table is backed up within the recovery point objective",
        &[
            "SOC2 A1.2",
            "GDPR Art. 32(1)(c)",
            "HIPAA 164.308(a)(7)(ii)(A)",
            "PCI DSS v4.0 12.10.1",
        ],
    ),
];

/// A control's title and framework mapping (an unknown id has none: a test checks each).
pub fn catalogue(id: &str) -> (&'static str, &'static [&'static str]) {
    CONTROLS
        .iter()
        .find(|(c, _, _)| *c == id)
        .map_or(("(unknown control)", &[]), |(_, t, f)| (*t, *f))
}

/// What the controls read.
pub struct Inputs<'a> {
    pub env: &'a Environment,
    pub catalog: &'a dyn Catalog,
    pub log: &'a AuditLog,
    pub records: &'a [Record],
    /// Every spec of the project, planned.
    pub plans: &'a [JobPlan],
    pub graph: &'a Graph,
    pub lake_tables: &'a [TableName],
    pub entries: &'a [TableEntry],
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComplianceReport {
    pub format_version: u32,
    pub environment: String,
    pub generated_at: String,
    pub controls: Vec<Control>,
}

impl ComplianceReport {
    /// The ids of the controls that FAILed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.controls
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.id)
            .collect()
    }

    pub fn count(&self, s: Status) -> usize {
        self.controls.iter().filter(|c| c.status == s).count()
    }
}

/// Evaluates every control; one whose evaluation fails is a FAIL naming the error.
pub async fn evaluate(i: &Inputs<'_>) -> ComplianceReport {
    let scanned = classification::scan(i).await;
    let findings = scanned.as_deref().map_err(String::as_str);
    let controls = vec![
        or_fail("encryption-at-rest", encryption::check(i).await),
        or_fail("encryption-in-transit", transit::check(i)),
        or_fail("retention", retention::check(i).await),
        or_fail("pii-protected", pii::check(i, findings)),
        or_fail(
            "classification-coverage",
            classification::check(i, findings),
        ),
        or_fail("audit-chain", audit_chain::check(i).await),
        or_fail("lineage", lineage::check(i).await),
        or_fail("promotion-gates", promotion::check(i)),
        or_fail("quarantine-rate", quarantine::check(i)),
        or_fail("erasure-sla", erasure::check(i)),
        or_fail("backups", backups::check(i)),
    ];
    ComplianceReport {
        format_version: FORMAT_VERSION,
        environment: i.env.name.clone(),
        generated_at: i.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        controls,
    }
}

fn or_fail(id: &'static str, r: Result<Control, String>) -> Control {
    r.unwrap_or_else(|e| {
        Control::judged(id, vec![format!("could not be evaluated: {e}")], Vec::new())
    })
}

/// The classification findings, or why they could not be made.
pub type Findings = Result<Vec<ColumnFinding>, String>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A control whose evaluation failed is a FAIL naming why, never a PASS.
    #[test]
    fn a_control_that_cannot_be_evaluated_fails() {
        let c = or_fail(
            "encryption-at-rest",
            Err("HEAD lake/x: 403 Forbidden".into()),
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            ["could not be evaluated: HEAD lake/x: 403 Forbidden"]
        );
        assert!(c.frameworks.contains(&"GDPR Art. 32"));
    }

    #[test]
    fn every_control_has_a_title_and_frameworks() {
        for id in [
            "encryption-at-rest",
            "encryption-in-transit",
            "retention",
            "pii-protected",
            "classification-coverage",
            "audit-chain",
            "lineage",
            "promotion-gates",
            "quarantine-rate",
            "erasure-sla",
            "backups",
        ] {
            let (title, frameworks) = catalogue(id);
            assert!(!title.starts_with('(') && !frameworks.is_empty(), "{id}");
        }
    }

    /// PCI DSS ids name their version (v4.0 numbering); HIPAA 164.312(a)(2)(iv) is encryption,
    /// evidenced by encryption-at-rest only, not by classification.
    #[test]
    fn framework_ids_name_their_version_and_fit_the_control() {
        for (id, _, frameworks) in CONTROLS {
            for f in frameworks.iter().filter(|f| f.starts_with("PCI")) {
                assert!(f.starts_with("PCI DSS v4.0 "), "{id}: {f}");
            }
        }
        let (_, f) = catalogue("classification-coverage");
        assert!(!f.contains(&"HIPAA 164.312(a)(2)(iv)"), "{f:?}");
        assert_eq!(CONTROLS.len(), 11);
    }
}
