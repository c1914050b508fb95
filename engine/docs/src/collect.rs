//! Gathers what the site shows from the environment: its catalog and tables' Delta logs,
//! the project's specs and their lineage, and the audit trail.

use chrono::{DateTime, Utc};
use medallion_core::audit::{Record, Severity, Verification};
use medallion_core::catalog::Catalog;
use medallion_core::env::{CatalogSpec, Environment};
use medallion_core::lineage::Graph;
use medallion_core::plan::JobPlan;
use serde::Serialize;

use crate::model::{AuditDoc, AuditRow, EdgeDoc, LineageDoc, Site};
use crate::{graph_svg, pipelines, tables};

pub struct Sources<'a> {
    pub env: &'a Environment,
    pub catalog: &'a dyn Catalog,
    /// The project's specs, planned (in dependency order).
    pub plans: &'a [JobPlan],
    /// The Delta tables found in the lake (`db.table`), listed or not in the catalog.
    pub lake_tables: &'a [String],
    pub graph: &'a Graph,
    /// Where the audit trail is, its records (all of them, in order) and what `audit verify`
    /// found.
    pub trail: String,
    pub records: Vec<Record>,
    /// Records that could not be read (a damaged trail): shown as problems.
    pub unreadable_records: Vec<String>,
    pub verification: Verification,
    /// The audit trail shown covers this many days before `now`.
    pub days: i64,
    pub now: DateTime<Utc>,
}

pub async fn collect(s: Sources<'_>) -> medallion_core::Result<Site> {
    let mut problems = s.unreadable_records.clone();
    let tables = tables::tables(&s, &mut problems).await?;
    let pipelines = pipelines::pipelines(&s, &mut problems);
    let lineage = lineage(s.graph, &mut problems);
    let audit = audit(&s);
    Ok(Site {
        environment: s.env.name.clone(),
        lake: s.env.lake.to_string(),
        catalog: match &s.env.catalog {
            CatalogSpec::Embedded => "embedded".to_string(),
            CatalogSpec::Glue(g) => format!(
                "AWS Glue (databases `{}<layer>`, region {})",
                g.database_prefix,
                g.region.as_deref().unwrap_or("from the AWS configuration")
            ),
        },
        retention_days: s.env.retention_days,
        generated_at: s.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        audit_days: s.days,
        tables,
        pipelines,
        lineage,
        audit,
        problems,
    })
}

/// A serde enum's name (`DIRECT`, `IDENTITY`).
fn name(v: impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn lineage(g: &Graph, problems: &mut Vec<String>) -> LineageDoc {
    let mut svg = |r: Result<String, String>, what: &str| {
        r.unwrap_or_else(|e| {
            problems.push(format!("the {what} lineage graph: {e}"));
            String::new()
        })
    };
    LineageDoc {
        tables_svg: svg(graph_svg::tables(g, "tables-"), "table-level"),
        columns_svg: svg(graph_svg::columns(g, None, "columns-"), "column-level"),
        edges: g
            .edges
            .iter()
            .map(|e| EdgeDoc {
                from: e.from.0.clone(),
                from_column: e.from.1.clone(),
                to: e.to.0.clone(),
                to_column: e.to.1.clone(),
                kind: name(e.transform.kind),
                subtype: name(e.transform.subtype),
                pipeline: e.pipeline.clone(),
            })
            .collect(),
    }
}

fn audit(s: &Sources<'_>) -> AuditDoc {
    let since = s
        .now
        .checked_sub_signed(chrono::Duration::days(s.days))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let in_window = |r: &Record| {
        DateTime::parse_from_rfc3339(&r.at).map_or(true, |at| at.with_timezone(&Utc) >= since)
    };
    let v = &s.verification;
    AuditDoc {
        trail: s.trail.clone(),
        verdict: if v.ok() { "intact" } else { "BROKEN" }.to_string(),
        findings: v
            .findings
            .iter()
            .map(|f| {
                let sev = match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                format!("{sev}: {}", f.message)
            })
            .collect(),
        records_total: s.records.len() as u64,
        records: s
            .records
            .iter()
            .rev()
            .filter(|r| in_window(r))
            .map(AuditRow::from)
            .collect(),
    }
}
