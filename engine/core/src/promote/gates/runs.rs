//! The gates judged on the release's runs upstream: quality and performance.

use super::*;

/// The successful runs of the release in `from` that read rows (the rules met data), each
/// with the rows its follow runs (a stream's Silver and Gold, `parent_run_id`) quarantined
/// ([`history::judged`]: the reading the quality report and the compliance report share).
fn judged_runs(records: &[Record], r: &ReleasedPipeline) -> Vec<RunSummary> {
    let runs: Vec<RunSummary> = history::runs(records, &r.pipeline)
        .into_iter()
        .filter(|x| x.matches(r))
        .collect();
    history::judged(&runs, RunSummary::succeeded)
}

/// What the quality gate judges, stated in its evidence (the quality report and the compliance
/// report judge every committed run in their window instead).
const JUDGED: &str =
    "judged: the release's successful runs that read rows, each with its follow runs' \
    quarantine; failed runs are not judged (the quality and compliance reports count every run \
    that committed, of any release, in their window)";

pub(super) fn quality(i: &Inputs<'_>, tested: &[(&ReleasedPipeline, Option<RunSummary>)]) -> Gate {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for (r, _) in tested {
        let plan = i.plans.iter().find(|p| p.job.spec.pipeline == r.pipeline);
        // A pipeline may set a stricter limit than the environment's, never a looser one.
        let own = plan
            .and_then(|p| p.job.spec.gates.as_ref())
            .and_then(|g| g.max_quarantine_ratio);
        let limit = match (own, i.to.gates.max_quarantine_ratio) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let failed_runs: Vec<String> = history::runs(i.from_records, &r.pipeline)
            .into_iter()
            .filter(|x| x.matches(r) && !x.failed_fail_rules.is_empty())
            .map(|x| format!("{} ({})", short(&x.run_id), x.failed_fail_rules.join(", ")))
            .collect();
        if !failed_runs.is_empty() {
            fail.push(format!(
                "{}: `on_fail: fail` rules failed in {} runs of this release in {}: {}",
                r.pipeline,
                failed_runs.len(),
                i.from.name,
                failed_runs.join("; ")
            ));
        }
        let judged = judged_runs(i.from_records, r);
        if judged.is_empty() {
            fail.push(format!(
                "{}: no run of this release in {} read any rows, so its rules were never applied to data; \
                 run it on new input there (its runs so far found no new files or messages)",
                r.pipeline, i.from.name
            ));
            continue;
        }
        let (quarantined, input) = history::quarantine_of(&judged);
        let ratio = quarantined as f64 / input as f64;
        let line = format!(
            "{}: {quarantined} of {input} input rows quarantined ({:.2}%) in {} successful run(s) of this release in {}",
            r.pipeline,
            ratio * 100.0,
            judged.len(),
            i.from.name
        );
        match limit {
            Some(max) if ratio > max => {
                fail.push(format!("{line}: over the limit of {:.2}%", max * 100.0))
            }
            Some(max) => pass.push(format!("{line}: within {:.2}%", max * 100.0)),
            None => pass.push(format!("{line}: no limit set")),
        }
    }
    if !pass.is_empty() || !fail.is_empty() {
        pass.push(JUDGED.to_string());
    }
    Gate::of("quality", fail, pass)
}

pub(super) fn performance(
    i: &Inputs<'_>,
    tested: &[(&ReleasedPipeline, Option<RunSummary>)],
) -> Gate {
    let policy: &GatePolicy = &i.to.gates;
    if policy.max_duration_s.is_none() && policy.max_peak_memory_mib.is_none() {
        return Gate {
            name: "performance",
            status: Status::Skip,
            evidence: vec![format!(
                "no budget set for {} (gates.max_duration_s, gates.max_peak_memory_mib)",
                i.to.name
            )],
        };
    }
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for (r, _) in tested {
        // The runs that did work (read rows); the slowest and the largest of them.
        let judged = judged_runs(i.from_records, r);
        if judged.is_empty() {
            fail.push(format!(
                "{}: no run of this release read rows: nothing to measure",
                r.pipeline
            ));
            continue;
        }
        if let Some(max) = policy.max_duration_s {
            let slowest = judged
                .iter()
                .max_by_key(|x| x.duration_ms.unwrap_or(u64::MAX))
                .expect("not empty");
            let s = slowest.duration_ms.unwrap_or(u64::MAX) as f64 / 1000.0;
            let line = format!(
                "{}: the slowest of {} run(s), {}, took {s:.1} s (budget {max} s)",
                r.pipeline,
                judged.len(),
                short(&slowest.run_id)
            );
            if s > max {
                fail.push(line)
            } else {
                pass.push(line)
            }
        }
        if let Some(max) = policy.max_peak_memory_mib {
            match judged
                .iter()
                .map(|x| x.peak_rss_bytes)
                .collect::<Option<Vec<u64>>>()
            {
                Some(peaks) => {
                    let mib = peaks.into_iter().max().unwrap_or(0) / (1024 * 1024);
                    let line = format!("{}: peak memory {mib} MiB (budget {max} MiB)", r.pipeline);
                    if mib > max {
                        fail.push(line)
                    } else {
                        pass.push(line)
                    }
                }
                None => fail.push(format!("{}: a run recorded no peak memory", r.pipeline)),
            }
        }
    }
    Gate::of("performance", fail, pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{What, Who};

    fn record(seq: u64, action: &str, run: &str, detail: serde_json::Value) -> Record {
        Record {
            seq,
            prev: String::new(),
            at: format!("2026-12-01T00:00:{seq:02}Z"),
            environment: "staging".into(),
            action: action.into(),
            run_id: Some(run.into()),
            table: None,
            version: None,
            who: Who::default(),
            what: What {
                pipeline: Some("clicks".into()),
                spec_sha256: Some("s".into()),
                schema_sha256: Some("h".into()),
                ..Default::default()
            },
            detail,
        }
    }

    /// A stream's run commits Bronze; its Silver follow runs quarantine rows: the ratio counts
    /// both, on the stream run's input.
    #[test]
    fn a_streams_follow_runs_count_in_its_quarantine_ratio() {
        let r = ReleasedPipeline {
            pipeline: "clicks".into(),
            spec_file: "j.yaml".into(),
            spec_sha256: "s".into(),
            schema: "clicks@1".into(),
            schema_sha256: "h".into(),
            spec_text: String::new(),
            schema_text: String::new(),
        };
        let records = vec![
            record(0, "run_started", "stream", serde_json::json!({})),
            record(
                1,
                "table_committed",
                "stream",
                serde_json::json!({ "layer": "bronze", "rows": 100 }),
            ),
            record(
                2,
                "run_started",
                "follow",
                serde_json::json!({ "parent_run_id": "stream" }),
            ),
            record(
                3,
                "run_finished",
                "follow",
                serde_json::json!({
                "quarantined_by_rule": { "silver:schema": 7 },
                "rules": { "must": { "on_fail": "fail", "checked": 93, "failed": 0 } } }),
            ),
            record(
                4,
                "run_finished",
                "stream",
                serde_json::json!({ "quarantined_by_rule": { "bronze:parse": 3 } }),
            ),
        ];
        let judged = judged_runs(&records, &r);
        assert_eq!(judged.len(), 1);
        assert_eq!(judged[0].run_id, "stream");
        assert_eq!(
            judged[0].quarantined, 10,
            "the follow run's 7 and the stream's 3"
        );
        assert_eq!(judged[0].bronze_rows + judged[0].bronze_quarantined, 103);
    }
}
