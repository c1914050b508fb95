//! Lineage across environments: a table copied by `medallion promote data` or `medallion copy`
//! is an OpenLineage run whose input is the source environment's dataset and whose output is
//! the target's, column by column (a hashed column is a masking transformation), written to
//! the target's lineage file like every run's events.

use deltalake::DeltaTable;
use serde_json::{json, Value};

use super::openlineage::{facet, producer, table_id, DatasetId, SCHEMA_URL};
use super::transport::FileTransport;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::table;

/// Writes the START and COMPLETE events of the copy of `table` from `from` to `to`.
pub async fn record(
    from: &Environment,
    to: &Environment,
    table: &str,
    target: &str,
    run_id: &str,
    written: &DeltaTable,
    masked: &[String],
) -> Result<()> {
    let (Some(src), Some(dst)) = (table_id(from, table), table_id(to, target)) else {
        return Err(Error::Internal(format!(
            "no OpenLineage id for {table} or {target}"
        )));
    };
    let schema = table::arrow_schema(written)?;
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let stats = table::file_stats(written)?;
    let input = dataset(&src, from, table, json!({}));
    let mut out_facets = json!({
        "schema": facet("SchemaDatasetFacet", "1-1-1", json!({ "fields": schema.fields().iter()
            .map(|f| json!({ "name": f.name(), "type": f.data_type().to_string() })).collect::<Vec<_>>() })),
        "columnLineage": column_lineage(&src, &columns, masked),
    });
    if let Some(rows) = stats.rows {
        out_facets["outputStatistics"] =
            super::openlineage::output_statistics(rows, stats.bytes, stats.files);
    }
    let output = dataset(&dst, to, target, out_facets);
    let job = json!({
        "namespace": to.name,
        "name": format!("copy.{target}"),
        "facets": { "jobType": facet("JobTypeJobFacet", "2-0-4", json!({
            "processingType": "BATCH", "integration": "MEDALLION", "jobType": "COPY" })) },
    });
    let event = |kind: &str, outputs: Vec<Value>| {
        json!({
            "eventType": kind,
            "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "producer": producer(),
            "schemaURL": SCHEMA_URL,
            "run": { "runId": run_id, "facets": {} },
            "job": job,
            "inputs": [input],
            "outputs": outputs,
        })
    };
    let events = [event("START", vec![]), event("COMPLETE", vec![output])];
    let file = FileTransport::for_env(to)?;
    file.send(run_id, &events).await?;
    file.close(run_id).await;
    Ok(())
}

fn dataset(id: &DatasetId, env: &Environment, table: &str, mut facets: Value) -> Value {
    facets["symlinks"] = facet(
        "SymlinksDatasetFacet",
        "1-0-1",
        json!({ "identifiers": [{ "namespace": format!("medallion://{}", env.name), "name": table, "type": "TABLE" }] }),
    );
    json!({ "namespace": id.namespace, "name": id.name, "facets": facets })
}

/// Each column from the same column of the source: IDENTITY, or a masking TRANSFORMATION.
fn column_lineage(src: &DatasetId, columns: &[String], masked: &[String]) -> Value {
    let fields: serde_json::Map<String, Value> = columns
        .iter()
        .map(|c| {
            let m = masked.contains(c);
            let t = json!({ "type": "DIRECT",
                "subtype": if m { "TRANSFORMATION" } else { "IDENTITY" }, "masking": m });
            (
                c.clone(),
                json!({ "inputFields": [{ "namespace": src.namespace, "name": src.name,
                    "field": c, "transformations": [t] }] }),
            )
        })
        .collect();
    facet(
        "ColumnLineageDatasetFacet",
        "1-2-0",
        json!({ "fields": fields }),
    )
}
