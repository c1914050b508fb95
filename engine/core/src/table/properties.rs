//! Table properties: the ones medallion tracks on every commit, and reading them.

use std::collections::HashMap;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, MetadataExt, StructType};
use deltalake::protocol::DeltaOperation;
use deltalake::DeltaTable;

use crate::error::{Error, Result};

/// protected (checked before a run writes, see `compat::check_release`, `pii::check_protection`).
fn tracked_property(key: &str) -> bool {
    key.starts_with("medallion.schema") || key == "medallion.pii"
}

/// Commits the tracked properties of `properties` alone (no data) when the table's differ;
/// for writes that do not go through [`Staged::commit`] (the merge).
pub async fn sync_properties(
    table: DeltaTable,
    properties: &HashMap<String, String>,
    name: &str,
    app_metadata: HashMap<String, serde_json::Value>,
) -> Result<DeltaTable> {
    let schema: StructType = table.snapshot()?.schema().as_ref().clone();
    let Some(metadata) = updated_metadata(&table, &schema, properties, name)? else {
        return Ok(table);
    };
    let mut table = table;
    let op = DeltaOperation::SetTableProperties {
        properties: properties
            .iter()
            .filter(|(k, _)| tracked_property(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let done = CommitBuilder::from(CommitProperties::default().with_metadata(app_metadata))
        .with_actions(vec![Action::Metadata(metadata)])
        .build(Some(table.snapshot()?), table.log_store(), op)
        .await
        .map_err(|e| Error::table(name, e))?;
    table.state = Some(done.snapshot);
    Ok(table)
}

/// The table's metadata with `schema` and the schema-tracking properties (`medallion.schema*`)
/// of `properties`, when either differs from what the table holds (schema evolution, a new
/// pinned schema version); None when nothing changes.
pub(super) fn updated_metadata(
    table: &DeltaTable,
    schema: &StructType,
    properties: &HashMap<String, String>,
    name: &str,
) -> Result<Option<deltalake::kernel::Metadata>> {
    let snapshot = table.snapshot()?;
    let mut metadata = snapshot.metadata().clone();
    let mut changed = false;
    if snapshot.schema().as_ref() != schema {
        metadata = MetadataExt::with_schema(metadata, schema)
            .map_err(|e| Error::Internal(format!("schema evolution of {name}: {e}")))?;
        changed = true;
    }
    for (k, v) in properties.iter().filter(|(k, _)| tracked_property(k)) {
        if metadata.configuration().get(k) != Some(v) {
            metadata = MetadataExt::add_config_key(metadata, k.clone(), v.clone())
                .map_err(|e| Error::Internal(format!("table properties of {name}: {e}")))?;
            changed = true;
        }
    }
    Ok(changed.then_some(metadata))
}

/// The table's properties (Delta `configuration`).
pub fn properties(table: &DeltaTable) -> Result<HashMap<String, String>> {
    Ok(table
        .snapshot()?
        .metadata()
        .configuration()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}
