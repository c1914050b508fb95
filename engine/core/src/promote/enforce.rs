//! In an environment with `promote_from`, `run` and `stream` run only what was promoted
//! there: each pipeline's spec and schema must be exactly those of the newest promotion that
//! holds the pipeline, and the environment's entry in environments.yaml must be the one that
//! promotion was made for. `--break-glass "reason"` runs anyway, after recording why.

use serde_json::json;

use super::history;
use crate::audit::{AuditLog, Entry};
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::plan::JobPlan;

/// Refuses (before anything is read or written) plans that are not promoted to `env`.
pub async fn check(env: &Environment, log: &AuditLog, plans: &[JobPlan]) -> Result<()> {
    let Some(from) = &env.promote_from else {
        return Ok(());
    };
    let problems = problems(env, log, plans).await?;
    if problems.is_empty() {
        return Ok(());
    }
    let files: Vec<&str> = plans.iter().map(|p| p.job.file.as_str()).collect();
    Err(Error::NotPromoted(format!(
        "environment `{}` runs only releases promoted from `{from}`:\n  {}\n\
         Test them in {from}, then: medallion promote --from {from} --to {} {} --apply\n\
         (in an emergency: --break-glass \"<reason>\" runs them anyway and records it in the audit trail)",
        env.name,
        problems.join("\n  "),
        env.name,
        files.join(" ")
    )))
}

/// What is not promoted, one line each (empty: all of it is).
pub async fn problems(env: &Environment, log: &AuditLog, plans: &[JobPlan]) -> Result<Vec<String>> {
    let records = log.records().await?;
    let promotions = history::promotions(&records).map_err(Error::Config)?;
    let current = history::current(&promotions);
    let mut out = Vec::new();
    for p in plans {
        let name = &p.job.spec.pipeline;
        let spec = p.job.content_sha256.as_deref().unwrap_or("");
        let schema = &p.schema.content_sha256;
        match current.get(name) {
            None => out.push(format!("{name} ({}) was never promoted here", p.job.file)),
            Some((promo, r)) if r.spec_sha256 != spec || &r.schema_sha256 != schema => out.push(format!(
                "{name} ({}): spec {} / schema {} {} is not what release {} promoted on {} (spec {} / schema {} {})",
                p.job.file,
                short(spec),
                p.schema.reference(),
                short(schema),
                short(&promo.release),
                promo.at,
                short(&r.spec_sha256),
                r.schema,
                short(&r.schema_sha256)
            )),
            Some((promo, _)) => out.extend(entry_problems(env, name, promo)),
        }
    }
    Ok(out)
}

/// The environment's entry, and its `promote_from`'s, must be those the pipeline's promotion
/// was made with: a promotion from another definition of `from` (another lake) does not count.
fn entry_problems(env: &Environment, pipeline: &str, promo: &history::Promotion) -> Vec<String> {
    let mut out = Vec::new();
    if promo.environment_sha256 != env.spec_sha256 {
        out.push(format!(
            "{pipeline}: the entry of `{}` in environments.yaml changed since release {} promoted it ({}): promote again",
            env.name,
            short(&promo.release),
            promo.at
        ));
    }
    if let (Some(now), Some(then)) = (&env.promote_from_sha256, &promo.from_environment_sha256) {
        if now != then {
            out.push(format!(
                "{pipeline}: release {} was promoted from a `{}` defined otherwise than in this file \
                 (entry {} then, {} here): promote it again from the real `{}`",
                short(&promo.release),
                promo.from,
                short(then),
                short(now),
                promo.from
            ));
        }
    }
    out
}

/// Whether the trail holds promotions: the environment's runs are gated, whatever the
/// environments file in use says.
pub async fn governed(log: &AuditLog) -> Result<bool> {
    Ok(log
        .records()
        .await?
        .iter()
        .any(|r| r.action == history::PROMOTED))
}

/// Records a break-glass run of `plans` (who and why, and what is not promoted) before it
/// starts; no record, no run.
pub async fn break_glass(
    env: &Environment,
    log: &AuditLog,
    plans: &[JobPlan],
    reason: &str,
) -> Result<Vec<String>> {
    if reason.trim().is_empty() {
        return Err(Error::Input {
            path: "--break-glass".into(),
            message: "give the reason (it is recorded in the audit trail)".into(),
        });
    }
    let problems = problems(env, log, plans).await?;
    let pipelines: Vec<_> = plans
        .iter()
        .map(|p| {
            json!({ "pipeline": p.job.spec.pipeline, "spec_file": p.job.file,
            "spec_sha256": p.job.content_sha256, "schema": p.schema.reference(),
            "schema_sha256": p.schema.content_sha256 })
        })
        .collect();
    let detail = json!({ "reason": reason, "pipelines": pipelines, "not_promoted": problems });
    log.append(vec![Entry::new("break_glass", detail)]).await?;
    Ok(problems)
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}
