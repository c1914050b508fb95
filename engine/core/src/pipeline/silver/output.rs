//! Silver's output: PII actions, then the Silver SQL over the relation `input`, written
//! once as staged (uncommitted) files of the Silver table. Appended or creating the table,
//! they are the commit; merged by key, they are the merge's source.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;

use super::super::Run;
use crate::error::{Error, Result, SpecError};
use crate::spec::{SilverSpec, TableName};
use crate::table::{self, Staged, StagedWrite};

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
    let streams = match local && rows >= super::writers::rows_per_writer() {
        true => df.execute_stream_partitioned().await,
        false => df.execute_stream().await.map(|s| vec![s]),
    }
    .map_err(sql_error)?;
    let new_writer = || {
        let w = StagedWrite::new(&name.to_string(), &location, target.clone())?;
        Ok(w.with_properties(properties.clone()))
    };
    let memory = run.engine.memory_limit;
    super::writers::write_all(streams, memory, new_writer, &target, &file).await
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
