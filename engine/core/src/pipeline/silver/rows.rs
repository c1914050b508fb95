//! Silver, row by row: Bronze's raw text is typed against the pinned schema (rows that do
//! not fit are quarantined with the column path and reason), then every row rule judges
//! each batch. Surviving rows go to the run's typed temporary file and the deduper.

use arrow::array::{Array, AsArray, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::{cast, not};
use arrow::datatypes::DataType;
use datafusion::dataframe::DataFrame;
use futures::StreamExt;

use super::super::quarantine::QuarantineWriter;
use super::super::scratch::{conform, TempParquet};
use super::super::{fault_error, Run};
use super::on_fail::{self, Verdict};
use crate::dedupe::Deduper;
use crate::error::Result;
use crate::events::{RunEvent, Stage};
use crate::plan::{SOURCE_FILE, SOURCE_LINE};
use crate::privacy::suppress::{Suppression, RULE as ERASED};
use crate::quality::{CompiledRule, RowRule};
use crate::quarantine::QuarantineRow;
use crate::report::SCHEMA_RULE;
use crate::typing;

/// Where typed rows go.
pub struct RowSinks<'a> {
    pub typed: &'a mut TempParquet,
    pub deduper: Option<&'a mut Deduper>,
    pub quarantine: &'a mut QuarantineWriter,
    /// Erased people kept out of Silver, and the (subject, column) pairs to match them by.
    pub suppress: Option<(&'a Suppression, &'a [(String, String)])>,
}

/// Types and checks every batch of one input: on every core when the runtime has more than
/// one worker thread (see [`super::parallel`]), batch after batch otherwise. Either way the
/// batches reach the sinks in their order (the deduper's "latest arrival" depends on it).
/// Returns the number of Bronze rows read.
pub async fn process(
    run: &Run<'_>,
    table: &str,
    input: DataFrame,
    replayed: bool,
    out: &mut RowSinks<'_>,
) -> Result<u64> {
    let mut stream = input.execute_stream().await?;
    if let Some(workers) = super::parallel::workers() {
        return tokio::task::block_in_place(|| {
            super::parallel::process(run, table, stream, replayed, out, workers)
        });
    }
    let mut read = 0;
    while let Some(b) = stream.next().await {
        let judged = judge(run, table, b?, replayed, out.suppress);
        read += judged.read;
        apply(run, table, judged, out).await?;
    }
    Ok(read)
}

/// What typing and the row rules made of one Bronze batch. Computed on any core (it only
/// reads the run), applied to the sinks in the batches' order by [`apply`].
pub struct Judged {
    /// Bronze rows read.
    pub read: u64,
    /// The batch's raw rows, when the input is a replay (their quarantine records may exist).
    replayed: Option<RecordBatch>,
    /// Rule outcomes and dropped rows, reported when applied.
    events: Vec<RunEvent>,
    /// Quarantine records by rule (the schema's first), pushed when applied.
    quarantine: Vec<(String, Vec<QuarantineRow>)>,
    /// The typed rows that passed, or what stops the run (e.g. `on_fail: fail`).
    outcome: Result<RecordBatch>,
}

/// Types and checks one batch of Bronze rows (no sink is touched).
pub fn judge(
    run: &Run<'_>,
    table: &str,
    raw: RecordBatch,
    replayed: bool,
    suppress: Option<(&Suppression, &[(String, String)])>,
) -> Judged {
    let read = raw.num_rows() as u64;
    let (mut events, mut quarantine, mut replayed_raw) = (Vec::new(), Vec::new(), None);
    let outcome = conform(&raw, &run.plan.bronze_schema).and_then(|raw| {
        if replayed {
            replayed_raw = Some(raw.clone());
        }
        judge_rows(run, table, raw, suppress, &mut events, &mut quarantine)
    });
    Judged {
        read,
        replayed: replayed_raw,
        events,
        quarantine,
        outcome,
    }
}

/// Types the batch, then runs every row rule in the spec's order over the rows still in
/// it. Rows are removed from a mask, not copied per rule: the typed rows are filtered once
/// at the end, and the raw text only for the rows that go to the quarantine.
fn judge_rows(
    run: &Run<'_>,
    table: &str,
    raw: RecordBatch,
    suppress: Option<(&Suppression, &[(String, String)])>,
    events: &mut Vec<RunEvent>,
    quarantine: &mut Vec<(String, Vec<QuarantineRow>)>,
) -> Result<RecordBatch> {
    // Before typing: an erased person's row that does not fit the schema must not reach
    // the quarantine either.
    let raw = match suppress {
        Some((list, columns)) => suppress_erased(events, table, list, columns, raw)?,
        None => raw,
    };
    let (batch, mut alive) = type_rows(run, &raw, quarantine)?;
    for check in run.plan.rules.iter().filter_map(CompiledRule::as_row) {
        let rule = check.rule();
        let fails = failing_among(&check, &batch, &alive)?;
        let failed = fails.true_count() as u64;
        let checked = alive.true_count() as u64;
        let verdict = on_fail::decide(events, table, rule, checked, failed, || {
            example(&check, &batch, &fails)
        })?;
        if let Verdict::Remove {
            quarantine: to_quarantine,
        } = verdict
        {
            if to_quarantine {
                let rows = rejected(&check, &batch, &raw, &fails)?;
                quarantine.push((rule.name.clone(), rows));
            }
            events.extend(on_fail::removed_event(table, rule, verdict, failed));
            alive = BooleanArray::new(alive.values() & &!fails.values(), None);
        }
    }
    typing::filter(&batch, &alive)
}

/// The rows among `alive` that fail the rule. The rule is evaluated over the whole batch
/// (a row's result depends on that row only) and masked; if that evaluation fails (e.g. a
/// division by zero in a row removed before), it is evaluated over the live rows alone, as
/// a rule always has been, so that an error is only ever about a row the rule checks.
fn failing_among(
    check: &dyn RowRule,
    batch: &RecordBatch,
    alive: &BooleanArray,
) -> Result<BooleanArray> {
    if alive.true_count() == alive.len() {
        return check.failing(batch);
    }
    if let Ok(fails) = check.failing(batch) {
        return Ok(BooleanArray::new(fails.values() & alive.values(), None));
    }
    let live = check.failing(&typing::filter(batch, alive)?)?;
    if live.len() != alive.true_count() {
        return Err(crate::error::Error::Internal(format!(
            "rule `{}` judged {} rows of {}",
            check.rule().name,
            live.len(),
            alive.true_count()
        )));
    }
    let mut live = live.values().iter();
    Ok(alive
        .values()
        .iter()
        .map(|a| Some(a && live.next() == Some(true)))
        .collect())
}

/// Hands a judged batch to the sinks: its events, its quarantine records, then its typed
/// rows to the typed file and the deduper; or the error that stops the run.
pub async fn apply(
    run: &Run<'_>,
    table: &str,
    judged: Judged,
    out: &mut RowSinks<'_>,
) -> Result<()> {
    let batch = report(run, table, judged, out.quarantine).await?;
    write_typed(out.typed, &batch)?;
    if let Some(d) = out.deduper.as_deref_mut() {
        dedupe(d, &batch)?;
    }
    Ok(())
}

/// Appends typed rows to the run's typed file (test hook of debug builds:
/// `MEDALLION_FAULT=error:typed_write` fails it once the file has taken rows).
pub fn write_typed(file: &mut TempParquet, batch: &RecordBatch) -> Result<()> {
    if file.rows() > 0 {
        fault_error("typed_write")?;
    }
    file.write(batch)
}

/// Offers typed rows to the deduper (test hook of debug builds:
/// `MEDALLION_FAULT=error:dedupe_push` fails it once it has seen rows).
pub fn dedupe(d: &mut Deduper, batch: &RecordBatch) -> Result<()> {
    if d.rows() > 0 {
        fault_error("dedupe_push")?;
    }
    d.push(batch)
}

/// The first part of [`apply`]: a judged batch's events and quarantine records; returns its
/// typed rows (or the error that stops the run).
pub async fn report(
    run: &Run<'_>,
    table: &str,
    judged: Judged,
    quarantine: &mut QuarantineWriter,
) -> Result<RecordBatch> {
    if let Some(raw) = &judged.replayed {
        quarantine.mark_replayed(raw);
    }
    run.emit(RunEvent::RowsRead {
        table: table.to_string(),
        rows: judged.read,
    });
    for e in judged.events {
        run.emit(e);
    }
    for (rule, rows) in judged.quarantine {
        quarantine.push(run, Stage::Silver, &rule, rows).await?;
    }
    judged.outcome
}

/// Types a raw batch; rows that do not fit the schema become quarantine records. Returns
/// every typed row (a row that did not fit has nulls where its values did not convert) and
/// the mask of the rows that fit.
fn type_rows(
    run: &Run<'_>,
    raw: &RecordBatch,
    quarantine: &mut Vec<(String, Vec<QuarantineRow>)>,
) -> Result<(RecordBatch, BooleanArray)> {
    let plan = run.plan;
    let schema_ref = plan.schema.reference();
    let typed = typing::cast_batch(
        raw,
        plan.typed_schema.fields(),
        &plan.typed_out_schema,
        &schema_ref,
    )?;
    let keep: BooleanArray = typed.failures.iter().map(|f| Some(f.is_none())).collect();
    if keep.false_count() > 0 {
        let bad_raw = typing::filter(raw, &not(&keep)?)?;
        let records = typing::rows_as_json(&bad_raw)?;
        let (files, lines) = (texts(&bad_raw, SOURCE_FILE), ints(&bad_raw, SOURCE_LINE));
        let rows = typed
            .failures
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, f)| QuarantineRow {
                stage: "silver",
                rule: SCHEMA_RULE.into(),
                column: Some(f.column.clone()),
                reason: format!("does not fit {schema_ref}: {}", f.reason),
                record: records[i].clone(),
                source_file: files[i].clone(),
                source_line: lines[i],
            })
            .collect();
        quarantine.push((SCHEMA_RULE.to_string(), rows));
    }
    Ok((typed.batch, keep))
}

/// The quarantine records of a row rule's failing rows (the raw text is the record).
fn rejected(
    check: &dyn RowRule,
    batch: &RecordBatch,
    raw: &RecordBatch,
    fails: &BooleanArray,
) -> Result<Vec<QuarantineRow>> {
    let bad_raw = typing::filter(raw, fails)?;
    let records = typing::rows_as_json(&bad_raw)?;
    let (files, lines) = (texts(&bad_raw, SOURCE_FILE), ints(&bad_raw, SOURCE_LINE));
    let column = check.column().map(str::to_string);
    let failing = (0..fails.len()).filter(|&i| fails.value(i));
    Ok(failing
        .enumerate()
        .map(|(i, row)| QuarantineRow {
            stage: "silver",
            rule: check.rule().name.clone(),
            column: column.clone(),
            reason: check.reason(batch, row),
            record: records[i].clone(),
            source_file: files[i].clone(),
            source_line: lines[i],
        })
        .collect())
}

/// One failing row, with its source position (for `on_fail: fail`).
fn example(check: &dyn RowRule, batch: &RecordBatch, fails: &BooleanArray) -> String {
    let row = (0..fails.len()).find(|&i| fails.value(i)).unwrap_or(0);
    let file = texts(batch, SOURCE_FILE)[row].clone().unwrap_or_default();
    let line = ints(batch, SOURCE_LINE)[row].unwrap_or_default();
    format!("{} ({file}:{line})", check.reason(batch, row))
}

/// A column as text values (None where absent or null).
pub fn texts(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    match batch
        .column_by_name(name)
        .and_then(|c| cast(c, &DataType::Utf8).ok())
    {
        Some(c) => c
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        None => vec![None; batch.num_rows()],
    }
}

/// An Int64 column's values (None where absent or null).
pub fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    match batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
    {
        Some(c) => c.iter().collect(),
        None => vec![None; batch.num_rows()],
    }
}

/// Removes the rows of erased people (counted as dropped by `erased_subject`).
fn suppress_erased(
    events: &mut Vec<RunEvent>,
    table: &str,
    list: &Suppression,
    columns: &[(String, String)],
    raw: RecordBatch,
) -> Result<RecordBatch> {
    let hit = list.mask(&raw, columns)?;
    let rows = hit.true_count() as u64;
    // Reported as a rule of its own, so that a report says why the rows were dropped.
    events.push(RunEvent::RuleOutcome {
        table: table.to_string(),
        rule: ERASED.to_string(),
        on_fail: crate::spec::OnFail::Drop,
        checked: raw.num_rows() as u64,
        failed: rows,
    });
    if rows == 0 {
        return Ok(raw);
    }
    events.push(RunEvent::RowsDropped {
        table: table.to_string(),
        rule: ERASED.to_string(),
        rows,
    });
    Ok(typing::filter(&raw, &not(&hit)?)?)
}
