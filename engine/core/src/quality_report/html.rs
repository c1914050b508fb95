//! The quality report as one self-contained HTML page (no script, no external resource);
//! every value from the project or the trail is escaped.

use super::freshness::human_age;
use super::render::pct;
use super::{PipelineQuality, QualityReport};

/// Text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page around `body` (already HTML), with a small inline style sheet.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}.FAIL,.stale{{color:#b00;font-weight:bold}}\
         .PASS,.fresh{{color:#070}}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}

/// A table: header cells and rows of cells (each cell escaped here).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in header {
        s.push_str(&format!("<th>{}</th>", escape(h)));
    }
    s.push_str("</tr>\n");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            s.push_str(&format!("<td>{}</td>", escape(c)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

pub fn html(r: &QualityReport) -> String {
    let mut b = format!(
        "<h1>Data quality: {}</h1>\n<p>Runs since {} (generated {}). {}</p>\n<h2>Freshness</h2>\n",
        escape(&r.environment),
        escape(&r.since),
        escape(&r.generated_at),
        escape(&super::render::thresholds(&r.thresholds))
    );
    let rows: Vec<Vec<String>> = r
        .tables
        .iter()
        .map(|t| {
            vec![
                t.table.clone(),
                t.pipeline.clone().unwrap_or_else(|| "-".into()),
                t.last_commit.clone().unwrap_or_else(|| "-".into()),
                t.age_s.map_or("-".into(), human_age),
                t.expect_every.clone().unwrap_or_else(|| "-".into()),
                t.status.as_str().to_string(),
            ]
        })
        .collect();
    b.push_str(&table(
        &[
            "table",
            "pipeline",
            "last commit",
            "age",
            "expected every",
            "status",
        ],
        &rows,
    ));
    for p in &r.pipelines {
        b.push_str(&pipeline(p));
    }
    page(&format!("Data quality: {}", r.environment), &b)
}

fn pipeline(p: &PipelineQuality) -> String {
    let t = &p.totals;
    let mut b = format!(
        "<h2>{}</h2>\n<p>{}</p>\n",
        escape(&p.pipeline),
        escape(&super::render::summary(t))
    );
    b.push_str(&rules_and_reasons(p));
    let runs: Vec<Vec<String>> = p
        .runs
        .iter()
        .map(|r| {
            vec![
                r.run_id.clone(),
                r.started_at.clone(),
                super::render::end_and_kind(r),
                r.input_rows.to_string(),
                r.quarantined.to_string(),
                r.schema_rejected.to_string(),
                r.dropped.to_string(),
                super::render::rule_counts(r),
            ]
        })
        .collect();
    b.push_str(&table(
        &[
            "run",
            "started",
            "end",
            "input",
            "quarantined",
            "schema-rejected",
            "dropped",
            "rules failed/checked",
        ],
        &runs,
    ));
    for a in &p.anomalies {
        b.push_str(&format!(
            "<p class=\"stale\">anomaly ({}): {}</p>\n",
            escape(&a.kind),
            escape(&a.message)
        ));
    }
    b
}

/// The rules and the quarantine reasons of a pipeline.
fn rules_and_reasons(p: &PipelineQuality) -> String {
    let mut b = String::new();
    let rules: Vec<Vec<String>> = p
        .rules
        .iter()
        .map(|r| {
            vec![
                r.rule.clone(),
                r.on_fail.clone(),
                r.checked.to_string(),
                r.failed.to_string(),
                pct(r.failure_rate),
            ]
        })
        .collect();
    b.push_str(&table(
        &["rule", "on_fail", "checked", "failed", "failure rate"],
        &rules,
    ));
    let reasons: Vec<Vec<String>> = p
        .quarantine_reasons
        .iter()
        .map(|q| vec![q.reason.clone(), q.rows.to_string(), pct(q.rate)])
        .collect();
    b.push_str(&table(
        &["quarantine reason", "rows", "share of input"],
        &reasons,
    ));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        let t = table(&["a"], &[vec!["<script>".into()]]);
        assert!(!t.contains("<script>") && t.contains("&lt;script&gt;"));
    }
}
