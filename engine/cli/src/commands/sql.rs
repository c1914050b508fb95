//! `medallion sql "SELECT ..." [--env ENV] [--format table|csv|json]`: a DataFusion query
//! over the environment's tables. A query the planner refuses is the user's input error.

use std::io::Write as _;
use std::process::ExitCode;

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use medallion_core::error::ErrorClass;
use medallion_core::Error;

use crate::{out, project, Cli, SqlFormat};

pub async fn sql(
    cli: &Cli,
    query: &str,
    env_name: &str,
    format: SqlFormat,
) -> anyhow::Result<ExitCode> {
    let (engine, _) = project::engine(cli, env_name, None).await?;
    let ctx = engine.session().await?;
    // Read only: `medallion sql` never writes (DDL, INSERT/COPY and SET are refused), so
    // every change to a table goes through a run and its audit records.
    let read_only = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let result = match ctx.sql_with_options(query, read_only).await {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    };
    // Data access is recorded before any result is shown; no record, no result.
    record(&engine.env, query, &result).await?;
    let batches = result.map_err(query_error)?;
    let mut out = out::stdout();
    match format {
        SqlFormat::Table => writeln!(
            out,
            "{}",
            arrow::util::pretty::pretty_format_batches(&batches)?
        )?,
        SqlFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in &batches {
                w.write(b).map_err(output_error)?;
            }
        }
        SqlFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            for b in &batches {
                w.write(b).map_err(output_error)?;
            }
            w.finish().map_err(output_error)?;
            drop(w);
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The planner refusing the query (unknown table, syntax) is the user's input; a failure
/// while running it has the class of its cause (a value: data; the lake: I/O).
/// Appends a `sql_query` record: the query, the tables it reads, how many rows it returned
/// or why it failed.
async fn record(
    env: &medallion_core::env::Environment,
    query: &str,
    result: &Result<Vec<arrow::record_batch::RecordBatch>, DataFusionError>,
) -> Result<(), Error> {
    let tables = medallion_core::plan::referenced_tables(query).unwrap_or_default();
    let detail = match result {
        Ok(batches) => serde_json::json!({
            "query": query, "tables": tables,
            "rows": batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        }),
        Err(e) => serde_json::json!({ "query": query, "tables": tables, "error": e.to_string() }),
    };
    let log = project::audit_log(env).await?;
    log.append(vec![medallion_core::audit::Entry::new("sql_query", detail)])
        .await?;
    Ok(())
}

fn query_error(source: DataFusionError) -> Error {
    let e = Error::Query {
        context: "query".into(),
        source,
    };
    if e.class() != ErrorClass::Config {
        return e;
    }
    match e {
        Error::Query { source, .. } => Error::Input {
            path: "query".into(),
            message: source.strip_backtrace(),
        },
        other => other,
    }
}

/// Writing the result failed (a closed pipe is not a failure: see `out`).
fn output_error(e: ArrowError) -> Error {
    Error::io("standard output", std::io::Error::other(e))
}
