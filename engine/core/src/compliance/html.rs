//! The compliance report as one self-contained HTML page, every value escaped.

use super::{ComplianceReport, Status};
use crate::quality_report::html::{escape, page, table};

pub fn html(r: &ComplianceReport) -> String {
    let mut b = format!(
        "<h1>Compliance: {}</h1>\n<p>Generated {}: {} PASS, {} FAIL, {} NOT-APPLICABLE.</p>\n",
        escape(&r.environment),
        escape(&r.generated_at),
        r.count(Status::Pass),
        r.count(Status::Fail),
        r.count(Status::NotApplicable)
    );
    let rows: Vec<Vec<String>> = r
        .controls
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.status.as_str().to_string(),
                c.frameworks.join(", "),
            ]
        })
        .collect();
    b.push_str(&table(&["control", "status", "frameworks"], &rows));
    for c in &r.controls {
        b.push_str(&format!(
            "<h2>{} <span class=\"{}\">{}</span></h2>\n<p>{}</p>\n<ul>\n",
            escape(c.id),
            escape(c.status.as_str()),
            escape(c.status.as_str()),
            escape(c.title)
        ));
        for e in &c.evidence {
            b.push_str(&format!("<li>{}</li>\n", escape(e)));
        }
        b.push_str("</ul>\n");
    }
    page(&format!("Compliance: {}", r.environment), &b)
}
