//! What a failed rule does — one implementation for row rules and set rules.
//!
//! `warn` keeps the rows (they are counted), `fail` stops the run before any commit with an
//! example, `drop` removes the rows, `quarantine` removes them into the quarantine table.

use crate::error::{Error, Result};
use crate::events::RunEvent;
use crate::quality::CompiledRule;
use crate::spec::OnFail;

use super::super::Run;

/// What happens to the failing rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Remove { quarantine: bool },
}

/// Reports the rule's outcome and decides what its failures do. `example` describes one
/// failing row, for the error of `on_fail: fail`.
pub fn judge(
    run: &Run<'_>,
    table: &str,
    rule: &CompiledRule,
    checked: u64,
    failed: u64,
    example: impl FnOnce() -> String,
) -> Result<Verdict> {
    let mut events = Vec::with_capacity(1);
    let verdict = decide(&mut events, table, rule, checked, failed, example);
    for e in events {
        run.emit(e);
    }
    verdict
}

/// [`judge`] with the outcome event collected instead of emitted (a batch judged on another
/// core reports its events when it is applied, in the batches' order).
pub fn decide(
    events: &mut Vec<RunEvent>,
    table: &str,
    rule: &CompiledRule,
    checked: u64,
    failed: u64,
    example: impl FnOnce() -> String,
) -> Result<Verdict> {
    events.push(RunEvent::RuleOutcome {
        table: table.to_string(),
        rule: rule.name.clone(),
        on_fail: rule.on_fail,
        checked,
        failed,
    });
    if failed == 0 {
        return Ok(Verdict::Keep);
    }
    match rule.on_fail {
        OnFail::Warn => Ok(Verdict::Keep),
        OnFail::Fail => Err(Error::QualityFailed {
            table: table.to_string(),
            rule: rule.name.clone(),
            failed,
            example: example(),
        }),
        OnFail::Drop => Ok(Verdict::Remove { quarantine: false }),
        OnFail::Quarantine => Ok(Verdict::Remove { quarantine: true }),
    }
}

/// Reports rows a rule removed (dropped or quarantined rows are reported by the
/// quarantine writer).
pub fn removed(run: &Run<'_>, table: &str, rule: &CompiledRule, verdict: Verdict, rows: u64) {
    if let Some(e) = removed_event(table, rule, verdict, rows) {
        run.emit(e);
    }
}

/// The event of [`removed`], if any.
pub fn removed_event(
    table: &str,
    rule: &CompiledRule,
    verdict: Verdict,
    rows: u64,
) -> Option<RunEvent> {
    (verdict == (Verdict::Remove { quarantine: false }) && rows > 0).then(|| {
        RunEvent::RowsDropped {
            table: table.to_string(),
            rule: rule.name.clone(),
            rows,
        }
    })
}
