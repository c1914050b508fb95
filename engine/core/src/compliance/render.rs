//! The compliance report as Markdown.

use super::{ComplianceReport, Status};

use crate::markdown::text as cell;

pub fn markdown(r: &ComplianceReport) -> String {
    let mut s = format!(
        "# Compliance: {}\n\nGenerated {}: {} PASS, {} FAIL, {} NOT-APPLICABLE.\n\n| control | status | frameworks |\n|---|---|---|\n",
        cell(&r.environment),
        r.generated_at,
        r.count(Status::Pass),
        r.count(Status::Fail),
        r.count(Status::NotApplicable)
    );
    for c in &r.controls {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            c.id,
            c.status.as_str(),
            c.frameworks.join(", ")
        ));
    }
    for c in &r.controls {
        s.push_str(&format!(
            "\n## {} — {}\n\n{}: {}\n\n",
            c.id,
            c.status.as_str(),
            c.title,
            c.frameworks.join(", ")
        ));
        for e in &c.evidence {
            s.push_str(&format!("- {}\n", cell(e)));
        }
    }
    s
}
