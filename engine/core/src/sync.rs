//! The lake as the source of truth for the catalog: list the Delta tables under an
//! environment's lake root, compare them with the catalog, and re-register them
//! (`medallion catalog sync`), e.g. after a catalog was lost or drifted.
//!
//! Tables created by medallion carry their layer, owner pipeline, pinned schema, owner and
//! description as Delta table properties, so the lake alone is enough to rebuild entries.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::catalog::{columns_of, Database, TableEntry};
use crate::error::{Error, Result};
use crate::pipeline::{
    Engine, PROP_DESCRIPTION, PROP_LAYER, PROP_OWNER, PROP_PIPELINE, PROP_SCHEMA,
};
use crate::spec::TableName;
use crate::table::{self, Location};

/// A Delta table found in the lake.
#[derive(Debug, Clone)]
pub struct LakeTable {
    pub name: TableName,
    pub location: Location,
    pub version: i64,
}

/// How the catalog and the lake differ for one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    InSync,
    /// In the lake, not in the catalog.
    NotInCatalog,
    /// In the catalog, no Delta table at its location.
    NotInLake,
    /// The catalog describes an older (or newer) version than the lake has.
    VersionDiffers {
        catalog: i64,
        lake: i64,
    },
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::InSync => f.write_str("in sync"),
            Drift::NotInCatalog => f.write_str("not in catalog"),
            Drift::NotInLake => f.write_str("not in lake"),
            Drift::VersionDiffers { catalog, lake } => {
                write!(f, "catalog v{catalog}, lake v{lake}")
            }
        }
    }
}

impl Engine {
    /// Every Delta table under the lake root (`<lake>/<database>/<table>/_delta_log`).
    pub async fn lake_tables(&self) -> Result<Vec<LakeTable>> {
        let lake = self.env.lake_location()?;
        let (store, root) = lake.object_store()?;
        let list = |prefix: object_store::path::Path| {
            let store = store.clone();
            async move {
                store.list_with_delimiter(Some(&prefix)).await.map_err(|e| {
                    Error::Catalog(format!(
                        "listing the lake of environment `{}` ({prefix}): {e}",
                        self.env.name
                    ))
                })
            }
        };
        let mut out = Vec::new();
        let dbs = list(root.clone()).await?;
        for db in dbs.common_prefixes {
            let db_name = db.filename().unwrap_or_default().to_string();
            if db_name.starts_with('_') || TableName::parse(&format!("{db_name}.x")).is_err() {
                continue;
            }
            for t in list(db.clone()).await?.common_prefixes {
                let t_name = t.filename().unwrap_or_default().to_string();
                let Ok(name) = TableName::parse(&format!("{db_name}.{t_name}")) else {
                    continue;
                };
                let has_log = list(t.clone())
                    .await?
                    .common_prefixes
                    .iter()
                    .any(|p| p.filename() == Some("_delta_log"));
                if !has_log {
                    continue;
                }
                let location = self.env.location(&name)?;
                if let Some(dt) = table::open_if_exists(&name.to_string(), &location).await? {
                    out.push(LakeTable {
                        name,
                        location,
                        version: table::version(&dt),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Catalog vs lake, per table (sorted by name).
    pub async fn drift(&self) -> Result<Vec<(String, Drift)>> {
        let lake: HashMap<String, i64> = self
            .lake_tables()
            .await?
            .into_iter()
            .map(|t| (t.name.to_string(), t.version))
            .collect();
        let mut out: BTreeMap<String, Drift> = BTreeMap::new();
        for e in self.catalog.list_tables(None).await? {
            let d = match lake.get(&e.qualified_name()) {
                None => Drift::NotInLake,
                Some(&v) if v == e.delta_version => Drift::InSync,
                Some(&v) => Drift::VersionDiffers {
                    catalog: e.delta_version,
                    lake: v,
                },
            };
            out.insert(e.qualified_name(), d);
        }
        for name in lake.keys() {
            out.entry(name.clone()).or_insert(Drift::NotInCatalog);
        }
        Ok(out.into_iter().collect())
    }

    /// Registers every table of the lake in the catalog from what the tables record about
    /// themselves; column descriptions and classifications come from the pinned schema when
    /// `schemas_dir` holds it. Returns the names registered.
    pub async fn sync_catalog(&self, schemas_dir: Option<&Path>) -> Result<Vec<String>> {
        let mut done = Vec::new();
        let lake = self.env.lake_location()?;
        for lt in self.lake_tables().await? {
            let dt = table::open_if_exists(&lt.name.to_string(), &lt.location)
                .await?
                .ok_or_else(|| Error::Catalog(format!("{} vanished while syncing", lt.name)))?;
            let config: HashMap<String, String> = dt
                .snapshot()?
                .metadata()
                .configuration()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let prop = |k: &str| config.get(k).cloned();
            let schema_ref = prop(PROP_SCHEMA);
            let described: Vec<(String, Option<String>, Option<String>)> =
                match (schemas_dir, &schema_ref) {
                    (Some(dir), Some(r)) => crate::schema::load_schema(dir, r, "catalog sync", "")
                        .map(|s| {
                            s.fields
                                .iter()
                                .map(|f| {
                                    (
                                        f.name.clone(),
                                        f.description.clone(),
                                        f.classification.clone(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
            self.catalog
                .create_database(&Database {
                    name: lt.name.database.clone(),
                    description: None,
                    location: lake.child(&lt.name.database)?.to_string(),
                })
                .await?;
            let mut parameters = BTreeMap::new();
            parameters.insert("environment".into(), self.env.name.clone());
            parameters.insert("retention_days".into(), self.env.retention_days.to_string());
            if let Some(o) = prop(PROP_OWNER) {
                parameters.insert("owner".into(), o);
            }
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let schema = table::arrow_schema(&dt)?;
            let entry = TableEntry {
                database: lt.name.database.clone(),
                name: lt.name.table.clone(),
                location: lt.location.to_string(),
                format: "delta".into(),
                layer: prop(PROP_LAYER).unwrap_or_else(|| lt.name.database.clone()),
                columns: columns_of(&schema, &described),
                delta_version: lt.version,
                owner_pipeline: prop(PROP_PIPELINE).unwrap_or_default(),
                schema_ref,
                description: prop(PROP_DESCRIPTION),
                parameters,
                created_at: now.clone(),
                updated_at: now,
            };
            self.catalog.upsert_table(&entry).await?;
            done.push(lt.name.to_string());
        }
        Ok(done)
    }
}
