//! Silver, over the whole set of the run's rows (after dedupe): `unique` and `row_count`.
//! Their failures go through the same [`on_fail`](super::on_fail) as row rules. The result
//! is registered as the relation `__clean`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow::util::display::array_value_to_string;
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;

use super::super::quarantine::QuarantineWriter;
use super::super::scratch::{conform, dir_url, materialize};
use super::super::Run;
use super::on_fail::{self, Verdict};
use super::rows::{ints, texts};
use crate::error::Result;
use crate::events::Stage;
use crate::plan::{SOURCE_FILE, SOURCE_LINE};
use crate::quality::CompiledRule;
use crate::quarantine::QuarantineRow;
use crate::spec::sql_ident;
use crate::typing;

/// Applies the set rules to `relation` (holding `rows` rows); returns the rows left and,
/// when rules removed some, the local Parquet folder `__clean` was materialised into.
pub async fn apply(
    run: &Run<'_>,
    ctx: &SessionContext,
    table: &str,
    relation: &str,
    rows: u64,
    quarantine: &mut QuarantineWriter,
    tmp: &Path,
) -> Result<(u64, Option<PathBuf>)> {
    let mut current = relation.to_string();
    let mut removed = 0u64;
    for (i, set) in run
        .plan
        .rules
        .iter()
        .filter_map(CompiledRule::as_set)
        .enumerate()
    {
        let Some(cols) = set.unique_keys() else {
            continue;
        };
        let rule = set.rule();
        let dups = duplicates(ctx, &current, cols).await?;
        let failed: u64 = dups
            .iter()
            .filter_map(|b| {
                b.column_by_name("__n")
                    .and_then(|c| c.as_primitive_opt::<Int64Type>())
            })
            .map(|a| a.iter().flatten().sum::<i64>() as u64)
            .sum();
        let verdict = on_fail::judge(run, table, rule, rows, failed, || {
            format!("({}) appears more than once", key_text(cols, &dups))
        })?;
        let Verdict::Remove {
            quarantine: to_quarantine,
        } = verdict
        else {
            continue;
        };
        let name = format!("__dups_{i}");
        ctx.register_table(
            &name,
            Arc::new(MemTable::try_new(dups[0].schema(), vec![dups.clone()])?),
        )?;
        let on = cols
            .iter()
            .map(|k| format!("x.{0} = d.{0}", sql_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        if to_quarantine {
            let sql = format!("SELECT x.*, d.__n FROM {current} x JOIN {name} d ON {on}");
            quarantine_duplicates(run, ctx, &sql, rule, cols, quarantine).await?;
        }
        on_fail::removed(run, table, rule, verdict, failed);
        removed += failed;
        let view = format!("__unique_{i}");
        let df = ctx
            .sql(&format!(
                "SELECT x.* FROM {current} x LEFT ANTI JOIN {name} d ON {on}"
            ))
            .await?;
        ctx.register_table(&view, df.into_view())?;
        current = view;
    }
    let (clean, dir) = if current != relation {
        // Materialised once: the anti joins are not evaluated again by every reader.
        let dir = tmp.join("clean");
        let n = materialize(ctx.table(&current).await?, &dir).await?;
        let options = ParquetReadOptions::default().schema(&run.plan.typed_out_schema);
        ctx.register_parquet("__clean", dir_url(&dir)?, options)
            .await?;
        (n, Some(dir))
    } else {
        ctx.register_table("__clean", ctx.table(&current).await?.into_view())?;
        (rows, None)
    };
    debug_assert_eq!(clean + removed, rows);
    for set in run.plan.rules.iter().filter_map(CompiledRule::as_set) {
        if let Some((ok, bounds)) = set.row_count(clean) {
            // A row-count failure cannot remove rows: `drop`/`quarantine` act as `warn`.
            on_fail::judge(run, table, set.rule(), 1, u64::from(!ok), || {
                format!("the run brings {clean} row(s), expected {bounds}")
            })?;
        }
    }
    Ok((clean, dir))
}

/// Keys appearing more than once (nulls are not compared), with their count `__n`.
async fn duplicates(
    ctx: &SessionContext,
    relation: &str,
    cols: &[String],
) -> Result<Vec<RecordBatch>> {
    let keys = cols
        .iter()
        .map(|k| sql_ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    let not_null = cols
        .iter()
        .map(|k| format!("{} IS NOT NULL", sql_ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    Ok(ctx
        .sql(&format!(
            "SELECT {keys}, count(*) AS __n FROM {relation} WHERE {not_null} GROUP BY {keys} HAVING count(*) > 1"
        ))
        .await?
        .collect()
        .await?)
}

/// `col=value, …` of the first duplicated key.
fn key_text(cols: &[String], dups: &[RecordBatch]) -> String {
    let Some(b) = dups.iter().find(|b| b.num_rows() > 0) else {
        return String::new();
    };
    cols.iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "{c}={}",
                array_value_to_string(b.column(i), 0).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn quarantine_duplicates(
    run: &Run<'_>,
    ctx: &SessionContext,
    sql: &str,
    rule: &CompiledRule,
    cols: &[String],
    quarantine: &mut QuarantineWriter,
) -> Result<()> {
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    while let Some(b) = stream.next().await {
        let b = b?;
        let records = typing::rows_as_json(&conform(&b, &run.plan.typed_out_schema)?)?;
        let (files, lines, n) = (
            texts(&b, SOURCE_FILE),
            ints(&b, SOURCE_LINE),
            ints(&b, "__n"),
        );
        let rows = (0..b.num_rows())
            .map(|i| {
                let key = cols
                    .iter()
                    .map(|c| {
                        let v = b
                            .column_by_name(c)
                            .map(|a| array_value_to_string(a, i).unwrap_or_default());
                        format!("{c}={}", v.unwrap_or_default())
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                QuarantineRow {
                    stage: "silver",
                    rule: rule.name.clone(),
                    column: Some(cols.join(",")),
                    reason: format!(
                        "rule `{}` failed: ({key}) appears {} times",
                        rule.name,
                        n[i].unwrap_or(0)
                    ),
                    record: records[i].clone(),
                    source_file: files[i].clone(),
                    source_line: lines[i],
                }
            })
            .collect();
        quarantine
            .push(run, Stage::Silver, &rule.name, rows)
            .await?;
    }
    Ok(())
}
