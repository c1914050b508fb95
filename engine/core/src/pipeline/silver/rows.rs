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
use super::super::Run;
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

/// Types and checks every batch of one input.
/// Returns the number of Bronze rows read.
pub async fn process(
    run: &Run<'_>,
    table: &str,
    input: DataFrame,
    replayed: bool,
    out: &mut RowSinks<'_>,
) -> Result<u64> {
    let plan = run.plan;
    let mut read = 0;
    let mut stream = input.execute_stream().await?;
    while let Some(b) = stream.next().await {
        let raw = conform(&b?, &plan.bronze_schema)?;
        if replayed {
            out.quarantine.mark_replayed(&raw);
        }
        read += raw.num_rows() as u64;
        run.emit(RunEvent::RowsRead {
            table: table.to_string(),
            rows: raw.num_rows() as u64,
        });
        // Before typing: an erased person's row that does not fit the schema must not reach
        // the quarantine either.
        let raw = match out.suppress {
            Some((list, columns)) => suppress(run, table, list, columns, raw)?,
            None => raw,
        };
        let (mut batch, mut raw) = type_rows(run, raw, out.quarantine).await?;
        for check in plan.rules.iter().filter_map(CompiledRule::as_row) {
            let rule = check.rule();
            let fails = check.failing(&batch)?;
            let failed = fails.true_count() as u64;
            let verdict =
                on_fail::judge(run, table, rule, batch.num_rows() as u64, failed, || {
                    example(&check, &batch, &fails)
                })?;
            if let Verdict::Remove { quarantine } = verdict {
                if quarantine {
                    let rows = rejected(&check, &batch, &raw, &fails)?;
                    out.quarantine
                        .push(run, Stage::Silver, &rule.name, rows)
                        .await?;
                }
                on_fail::removed(run, table, rule, verdict, failed);
                let keep = not(&fails)?;
                batch = typing::filter(&batch, &keep)?;
                raw = typing::filter(&raw, &keep)?;
            }
        }
        out.typed.write(&batch)?;
        if let Some(d) = out.deduper.as_deref_mut() {
            d.push(&batch)?;
        }
    }
    Ok(read)
}

/// Types a raw batch; rows that do not fit the schema are quarantined. Returns the typed
/// rows and their raw text (row for row).
async fn type_rows(
    run: &Run<'_>,
    raw: RecordBatch,
    quarantine: &mut QuarantineWriter,
) -> Result<(RecordBatch, RecordBatch)> {
    let plan = run.plan;
    let schema_ref = plan.schema.reference();
    let typed = typing::cast_batch(
        &raw,
        plan.typed_schema.fields(),
        &plan.typed_out_schema,
        &schema_ref,
    )?;
    let keep: BooleanArray = typed.failures.iter().map(|f| Some(f.is_none())).collect();
    if keep.false_count() > 0 {
        let bad_raw = typing::filter(&raw, &not(&keep)?)?;
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
        quarantine
            .push(run, Stage::Silver, SCHEMA_RULE, rows)
            .await?;
    }
    Ok((
        typing::filter(&typed.batch, &keep)?,
        typing::filter(&raw, &keep)?,
    ))
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
fn suppress(
    run: &Run<'_>,
    table: &str,
    list: &Suppression,
    columns: &[(String, String)],
    raw: RecordBatch,
) -> Result<RecordBatch> {
    let hit = list.mask(&raw, columns)?;
    let rows = hit.true_count() as u64;
    // Reported as a rule of its own, so that a report says why the rows were dropped.
    run.emit(RunEvent::RuleOutcome {
        table: table.to_string(),
        rule: ERASED.to_string(),
        on_fail: crate::spec::OnFail::Drop,
        checked: raw.num_rows() as u64,
        failed: rows,
    });
    if rows == 0 {
        return Ok(raw);
    }
    run.emit(RunEvent::RowsDropped {
        table: table.to_string(),
        rule: ERASED.to_string(),
        rows,
    });
    Ok(typing::filter(&raw, &not(&hit)?)?)
}
