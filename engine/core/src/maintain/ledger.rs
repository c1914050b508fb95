//! The sources a Bronze table has ingested, kept when retention removes their rows.
//!
//! Bronze's file bookmark is its data (a file is ingested once its name is a `_source_file`
//! of the table or of the quarantine's Bronze-stage records), so removing rows would make
//! their source files look new: the next run would ingest them again. Before retention
//! removes them, their names are appended to a small Delta table of the lake,
//! `_medallion/ingested/<db>.<table>`, which the Bronze stage reads with the table.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::prelude::SessionContext;

use crate::env::Environment;
use crate::error::Result;
use crate::plan::SOURCE_FILE;
use crate::spec::TableName;
use crate::table::{self, Location, StagedWrite};

fn location(env: &Environment, bronze: &TableName) -> Result<Location> {
    env.lake_location()?
        .child(&format!("_medallion/ingested/{bronze}"))
}

/// The source files retention removed from `bronze` (and its quarantine).
pub async fn read(env: &Environment, bronze: &TableName) -> Result<HashSet<String>> {
    let loc = location(env, bronze)?;
    let name = format!("ingested sources of {bronze}");
    let Some(t) = table::open_if_exists(&name, &loc).await? else {
        return Ok(HashSet::new());
    };
    let ctx = SessionContext::new();
    ctx.register_table("l", table::provider(&t, &ctx).await?)?;
    let batches = ctx
        .sql(&format!("SELECT DISTINCT {SOURCE_FILE} FROM l"))
        .await?
        .collect()
        .await?;
    let mut out = HashSet::new();
    for b in batches {
        let c = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let a = arrow::array::cast::as_string_array(&c);
        out.extend(a.iter().flatten().map(str::to_string));
    }
    Ok(out)
}

/// Appends `files` (source file names) to the ledger of `bronze`.
pub async fn add(
    env: &Environment,
    bronze: &TableName,
    files: &[String],
    run_id: &str,
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let loc = location(env, bronze)?;
    let name = format!("ingested sources of {bronze}");
    let schema = Arc::new(Schema::new(vec![
        Field::new(SOURCE_FILE, DataType::Utf8, true),
        Field::new(
            "_retired_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("_run_id", DataType::Utf8, true),
    ]));
    let now = chrono::Utc::now().timestamp_micros();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(files.to_vec())),
            Arc::new(TimestampMicrosecondArray::from(vec![now; files.len()]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![run_id; files.len()])),
        ],
    )?;
    let mut w = StagedWrite::new(&name, &loc, schema)?;
    w.write(batch).await?;
    let existing = table::open_if_exists(&name, &loc).await?;
    w.finish()
        .await?
        .commit(existing, Default::default(), vec![])
        .await?;
    Ok(())
}
