//! Silver's output: PII actions, then the Silver SQL over the relation `input`, written
//! once as staged (uncommitted) files of the Silver table. Appended or creating the table,
//! they are the commit; merged by key, they are the merge's source.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::super::scratch::conform;
use super::super::Run;
use crate::error::{Error, Result, SpecError};
use crate::spec::{SilverSpec, TableName};
use crate::table::{self, Staged, StagedWrite};

/// Rows from which Silver's output is written by one writer per output partition of the
/// Silver SQL (a file each, written on every core); fewer rows make one file.
/// `MEDALLION_WRITER_ROWS` overrides it.
fn rows_per_writer() -> u64 {
    const DEFAULT: u64 = 1_000_000;
    match std::env::var("MEDALLION_WRITER_ROWS") {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            tracing::warn!(value = %v, "MEDALLION_WRITER_ROWS is not a number of rows; using {DEFAULT}.");
            DEFAULT
        }),
        Err(_) => DEFAULT,
    }
}

/// Runs the Silver SQL over `__clean` (`rows` rows) and stages its output. `local`: the
/// query runs in this process (not on a cluster), so its partitions can be written apart.
#[allow(clippy::too_many_arguments)]
pub async fn stage(
    run: &Run<'_>,
    ctx: &SessionContext,
    silver: &SilverSpec,
    name: &TableName,
    existing: Option<&deltalake::DeltaTable>,
    key: Option<&crate::pii::PiiKey>,
    protection: &str,
    (rows, local): (u64, bool),
) -> Result<Staged> {
    let plan = run.plan;
    crate::pii::register_udfs(ctx, key);
    let select = crate::pii::pii_select(&plan.typed_out_schema, &silver.pii, key);
    let input = ctx.sql(&format!("SELECT {select} FROM __clean")).await?;
    ctx.register_table("input", input.into_view())?;
    let sql = plan
        .silver_sql
        .clone()
        .unwrap_or_else(|| "SELECT * FROM input".into());
    let file = run.spec_file().to_string();
    let sql_error = |e| Error::query(format!("{file}: silver.sql"), e);
    let df = ctx.sql(&sql).await.map_err(sql_error)?;
    let output = table::nullable(&Arc::new(df.schema().as_arrow().clone()));
    let target = match (existing, &silver.dedupe) {
        (Some(t), None) => appended_schema(&table::arrow_schema(t)?, &output, name, &file)?,
        _ => output,
    };
    let location = run.env().location(name)?;
    let mut properties = super::super::table_properties(plan, "silver", silver.description.clone());
    properties.insert(crate::pii::PII_PROP.into(), protection.to_string());
    let streams = match local && rows >= rows_per_writer() {
        true => df.execute_stream_partitioned().await,
        false => df.execute_stream().await.map(|s| vec![s]),
    }
    .map_err(sql_error)?;
    tracing::debug!(writers = streams.len(), rows, "Silver writers.");
    // Every writer exists before any starts, so that each one's files are known to discard.
    let writers = streams
        .into_iter()
        .map(|s| {
            let w = StagedWrite::new(&name.to_string(), &location, target.clone())?;
            Ok((s, w.with_properties(properties.clone())))
        })
        .collect::<Result<Vec<_>>>()?;
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|(s, w)| tokio::spawn(write_stream(s, w, target.clone(), file.clone())))
        .collect();
    // Every writer is waited for: its staged files are returned (to be deleted) even when
    // its query partition or another writer failed.
    let (mut parts, mut failed) = (Vec::new(), None);
    for task in tasks {
        match task.await {
            Ok(Ok((part, error))) => {
                parts.push(part);
                failed = failed.or(error);
            }
            Ok(Err(e)) => failed = failed.or(Some(e)),
            Err(e) => {
                failed = failed.or(Some(Error::Internal(format!(
                    "a Silver writer stopped: {e}"
                ))))
            }
        }
    }
    let staged = match parts.pop() {
        Some(mut all) => {
            for part in parts {
                all.adds.extend(part.adds);
                all.rows += part.rows;
            }
            all
        }
        // A query without output partitions: nothing staged, the table still gets its schema.
        None => {
            let w = StagedWrite::new(&name.to_string(), &location, target.clone())?;
            w.with_properties(properties).finish().await?
        }
    };
    match failed {
        Some(e) => {
            staged.discard().await;
            Err(e)
        }
        None => Ok(staged),
    }
}

/// Writes one output stream of the Silver SQL; returns the staged files and the error that
/// stopped the stream, if one did (its files are staged all the same, to be discarded).
async fn write_stream(
    mut stream: SendableRecordBatchStream,
    mut w: StagedWrite,
    target: SchemaRef,
    file: String,
) -> Result<(Staged, Option<Error>)> {
    let mut failed = None;
    while let Some(b) = stream.next().await {
        let written = match b {
            Ok(b) => match conform(&b, &target) {
                Ok(b) => w.write(b).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(Error::query(format!("{file}: silver.sql"), e)),
        };
        if let Err(e) = written {
            failed = Some(e);
            break;
        }
    }
    drop(stream);
    Ok((w.finish().await?, failed))
}

/// The schema an append writes: the table's columns (types kept), then the output's new
/// columns. An output column whose type differs from the stored one is refused.
pub fn appended_schema(
    existing: &SchemaRef,
    output: &SchemaRef,
    table: &TableName,
    spec_file: &str,
) -> Result<SchemaRef> {
    let mut fields: Vec<Field> = Vec::new();
    for f in existing.fields() {
        if let Ok(o) = output.field_with_name(f.name()) {
            if o.data_type() != f.data_type() {
                return Err(Error::Spec(vec![SpecError::new(
                    spec_file,
                    "silver.sql",
                    format!(
                        "column `{}` comes out as {} but {table} stores {}; cast it in the SQL \
                         (or write a new table)",
                        f.name(),
                        o.data_type(),
                        f.data_type()
                    ),
                )]));
            }
        }
        fields.push(f.as_ref().clone().with_nullable(true));
    }
    for o in output.fields() {
        if existing.field_with_name(o.name()).is_err() {
            fields.push(o.as_ref().clone().with_nullable(true));
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}
