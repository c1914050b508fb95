//! The run's quarantine writer: records rejected by Bronze (unparseable) and Silver (schema,
//! rules) are buffered, written as staged files of the quarantine table, and reported as
//! [`RunEvent::RowsQuarantined`].
//!
//! Idempotence: the quarantine commit carries two bookmarks (Delta application
//! transactions) — the Bronze version whose unparseable records it holds, and the Bronze
//! version up to which it holds Silver's rejects. A run that repeats work after a crash
//! (Silver re-reading Bronze versions it already quarantined from) does not write them again.

use deltalake::DeltaTable;

use super::Run;
use crate::error::Result;
use crate::events::{RunEvent, Stage};
use crate::quarantine::{quarantine_batch, QuarantineRow};
use crate::table::{self, StagedWrite};

/// Bookmark: the Bronze version whose unparseable records the quarantine holds.
pub fn bronze_app_id(bronze: &str) -> String {
    format!("medallion.quarantine.bronze_version<{bronze}")
}

/// Bookmark: the Bronze version up to which the quarantine holds Silver's rejects.
pub fn silver_app_id(bronze: &str) -> String {
    format!("medallion.quarantine.silver_version<{bronze}")
}

/// Rows buffered before they are written (bounded memory).
const BUFFER_ROWS: usize = 4096;

/// Writes the run's rejected records to staged files of the quarantine table.
pub struct QuarantineWriter {
    pub name: String,
    /// The quarantine table as the run found it.
    pub table: Option<DeltaTable>,
    pub writer: StagedWrite,
    rows: Vec<QuarantineRow>,
    run_id: String,
    at: i64,
    /// Silver's rejects are not written again for rows of these Bronze versions (they are
    /// in the table already); see [`QuarantineWriter::suppress_silver`].
    pub silver_covered: Option<i64>,
    pub bronze_covered: Option<i64>,
    /// Source positions (`_source_file`, `_source_line`) of rows whose Silver rejects a
    /// previous run already committed (a replay after a crash).
    replayed: std::collections::HashSet<(String, i64)>,
    /// The Silver rejects the quarantine holds, per source file of replayed rows: (line, rule).
    held: std::collections::HashMap<String, std::collections::HashSet<(i64, String)>>,
    bronze_rows: u64,
    silver_written: u64,
    /// Rows buffered or written since the last report, per (stage, rule): reported as one
    /// `RowsQuarantined` event each at every flush (not one per batch: a run with rejects in
    /// every batch would log thousands of lines).
    unreported: std::collections::BTreeMap<(Stage, String), u64>,
}

impl QuarantineWriter {
    pub async fn open(run: &Run<'_>, at: i64) -> Result<Self> {
        let job = &run.plan.job;
        let name = job.quarantine_table();
        let loc = run.env().location(&name)?;
        let table = table::open_if_exists(&name.to_string(), &loc).await?;
        let bronze = job.bronze_table().to_string();
        let (bronze_covered, silver_covered) = match &table {
            Some(t) => (
                table::txn_version(t, &bronze_app_id(&bronze)).await?,
                table::txn_version(t, &silver_app_id(&bronze)).await?,
            ),
            None => (None, None),
        };
        let description = format!(
            "Records rejected by pipeline {}, with the reason",
            job.spec.pipeline
        );
        let writer = StagedWrite::new(&name.to_string(), &loc, crate::plan::quarantine_schema())?
            .with_properties(super::table_properties(
                run.plan,
                "quarantine",
                Some(description),
            ));
        Ok(Self {
            name: name.to_string(),
            table,
            writer,
            rows: Vec::new(),
            run_id: run.id.clone(),
            at,
            silver_covered,
            bronze_covered,
            replayed: Default::default(),
            held: Default::default(),
            bronze_rows: 0,
            silver_written: 0,
            unreported: Default::default(),
        })
    }

    /// Marks raw Bronze rows as replayed: their Silver rejects (schema, row rules and set
    /// rules alike) are counted but not written again.
    pub fn mark_replayed(&mut self, raw: &arrow::array::RecordBatch) {
        let files = super::silver::texts(raw, crate::plan::SOURCE_FILE);
        let lines = super::silver::ints(raw, crate::plan::SOURCE_LINE);
        for (f, l) in files.into_iter().zip(lines) {
            if let (Some(f), Some(l)) = (f, l) {
                self.replayed.insert((f, l));
            }
        }
    }

    /// Whether the quarantine already holds this reject: a replayed row (its Bronze version is
    /// within the quarantine's Silver bookmark) rejected by the same rule. A replayed row that a
    /// rule rejects now and no earlier run did (a spec changed since, a Silver rolled back) is
    /// written: it is nowhere else.
    async fn is_held(&mut self, row: &QuarantineRow) -> Result<bool> {
        let (Some(f), Some(l)) = (&row.source_file, row.source_line) else {
            return Ok(false);
        };
        if !self.replayed.contains(&(f.clone(), l)) {
            return Ok(false);
        }
        if !self.held.contains_key(f) {
            let held = held_rejects(self.table.as_ref(), f).await?;
            self.held.insert(f.clone(), held);
        }
        Ok(self.held[f].contains(&(l, row.rule.clone())))
    }

    /// Adds rejected records of one rule and reports them.
    pub async fn push(
        &mut self,
        run: &Run<'_>,
        stage: Stage,
        rule: &str,
        rows: Vec<QuarantineRow>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let rejected = rows.len();
        let rows: Vec<QuarantineRow> = match stage {
            Stage::Bronze => {
                self.bronze_rows += rows.len() as u64;
                rows
            }
            _ if self.replayed.is_empty() => rows,
            _ => {
                let mut fresh = Vec::with_capacity(rows.len());
                for r in rows {
                    if !self.is_held(&r).await? {
                        fresh.push(r);
                    }
                }
                fresh
            }
        };
        if stage != Stage::Bronze {
            self.silver_written += rows.len() as u64;
        }
        // Rows a crashed run already committed to the quarantine are not written, nor counted
        // as quarantined by this run, again.
        if rows.len() < rejected {
            tracing::info!(
                table = %self.name,
                rule,
                rows = rejected - rows.len(),
                "rejected rows already in the quarantine (an earlier run rejected the same rows by the same rule) are not written again"
            );
        }
        if !rows.is_empty() {
            *self
                .unreported
                .entry((stage, rule.to_string()))
                .or_default() += rows.len() as u64;
        }
        self.rows.extend(rows);
        if self.rows.len() >= BUFFER_ROWS {
            self.flush(run).await?;
        }
        Ok(())
    }

    /// Unparseable records of this run (Bronze stage).
    pub fn bronze_rows(&self) -> u64 {
        self.bronze_rows
    }

    /// Silver's rejects this run writes (not counting suppressed ones).
    pub fn silver_rows_written(&self) -> u64 {
        self.silver_written
    }

    /// The run failed before the quarantine commit: delete what was written (its counts are
    /// reported: they are what the failed run would have quarantined).
    pub async fn abandon(mut self, run: &Run<'_>) {
        self.report(run);
        self.rows.clear();
        if let Ok(staged) = self.writer.finish().await {
            staged.discard().await;
        }
    }

    /// Writes the buffered rows and reports what was quarantined since the last flush.
    pub async fn flush(&mut self, run: &Run<'_>) -> Result<()> {
        // Reported first: a write that fails fails the run, whose report still shows what
        // it would have quarantined.
        self.report(run);
        if !self.rows.is_empty() {
            let batch = quarantine_batch(&self.rows, &self.run_id, self.at)?;
            self.rows.clear();
            self.writer.write(batch).await?;
        }
        Ok(())
    }

    /// One `RowsQuarantined` event per (stage, rule) with rows since the last report.
    fn report(&mut self, run: &Run<'_>) {
        for ((stage, rule), rows) in std::mem::take(&mut self.unreported) {
            run.emit(RunEvent::RowsQuarantined {
                table: self.name.clone(),
                stage,
                rule,
                rows,
            });
        }
    }
}

/// The lines of `file` whose unparseable record the quarantine already holds (written by
/// a shard run, or by a run whose Bronze bookmark was then lost).
pub async fn held_unparseable(
    table: Option<&DeltaTable>,
    file: &str,
) -> Result<std::collections::HashSet<i64>> {
    let held = held_for_file(table, file, "_stage = 'bronze'").await?;
    Ok(held.into_iter().map(|(line, _)| line).collect())
}

/// The Silver-stage rejects the quarantine holds for one source file: (line, rule).
async fn held_rejects(
    table: Option<&DeltaTable>,
    file: &str,
) -> Result<std::collections::HashSet<(i64, String)>> {
    held_for_file(table, file, "_stage <> 'bronze'").await
}

/// The (line, rule) of the quarantine's records of source file `file` that match `stage`.
async fn held_for_file(
    table: Option<&DeltaTable>,
    file: &str,
    stage: &str,
) -> Result<std::collections::HashSet<(i64, String)>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Int64Type};
    let mut out = std::collections::HashSet::new();
    let Some(t) = table else {
        return Ok(out);
    };
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_table("q", table::provider(t, &ctx).await?)?;
    let sql = format!(
        "SELECT _source_line, _rule FROM q WHERE {stage} AND _source_file = '{}'",
        file.replace('\'', "''")
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    for b in batches {
        let lines = arrow::compute::cast(b.column(0), &DataType::Int64)?;
        let rules = arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        let (lines, rules) = (lines.as_primitive::<Int64Type>(), rules.as_string::<i32>());
        for i in 0..b.num_rows() {
            if lines.is_valid(i) && rules.is_valid(i) {
                out.insert((lines.value(i), rules.value(i).to_string()));
            }
        }
    }
    Ok(out)
}
