//! The catalog as a JSON document: `medallion catalog export` / `import`, and the catalog
//! part of every backup. The same document for the embedded catalog and Glue.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Database, TableEntry};
use crate::env::Environment;
use crate::error::{Error, Result};

const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogDocument {
    pub format: u32,
    pub environment: String,
    pub exported_at: String,
    pub databases: Vec<Database>,
    pub tables: Vec<TableEntry>,
}

pub async fn document(catalog: &dyn Catalog, env: &Environment) -> Result<CatalogDocument> {
    Ok(CatalogDocument {
        format: FORMAT,
        environment: env.name.clone(),
        exported_at: super::now(),
        databases: catalog.list_databases().await?,
        tables: catalog.list_tables(None).await?,
    })
}

pub async fn export(catalog: &dyn Catalog, env: &Environment) -> Result<Bytes> {
    let doc = document(catalog, env).await?;
    let json = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(json.into())
}

/// Reads a document (`origin` names it in errors).
pub fn parse(bytes: &[u8], origin: &str) -> Result<CatalogDocument> {
    let doc: CatalogDocument = serde_json::from_slice(bytes).map_err(|e| Error::Input {
        path: origin.to_string(),
        message: format!("not a medallion catalog export: {e}"),
    })?;
    if doc.format != FORMAT {
        return Err(Error::Input {
            path: origin.to_string(),
            message: format!(
                "catalog export format {}; this medallion reads {FORMAT}",
                doc.format
            ),
        });
    }
    Ok(doc)
}

/// Registers the document's databases and tables (all, or those `keep` accepts, with the
/// entry it returns) in `catalog`. Refused, before any change, when the document is another
/// environment's or names a table outside this environment's lake.
pub async fn import(
    catalog: &dyn Catalog,
    env: &Environment,
    doc: &CatalogDocument,
    keep: impl Fn(&TableEntry) -> Option<TableEntry>,
) -> Result<Vec<String>> {
    if doc.environment != env.name {
        return Err(Error::Isolation(format!(
            "the catalog export is environment `{}`'s; importing it into `{}` would register tables of \
             another lake. Import it into `{}`",
            doc.environment, env.name, doc.environment
        )));
    }
    let tables: Vec<TableEntry> = doc.tables.iter().filter_map(&keep).collect();
    for t in &tables {
        let url = url::Url::parse(&t.location)
            .or_else(|_| url::Url::from_directory_path(&t.location).map_err(|_| ()))
            .map_err(|_| {
                Error::Config(format!(
                    "{}: location `{}` is not a URL or an absolute path",
                    t.qualified_name(),
                    t.location
                ))
            })?;
        if !env.contains(&url)? {
            return Err(Error::Isolation(format!(
                "{} lives at `{}`, outside the lake of `{}` ({}); not imported",
                t.qualified_name(),
                t.location,
                env.name,
                env.lake
            )));
        }
    }
    let mut done = Vec::new();
    for db in doc
        .databases
        .iter()
        .filter(|d| tables.iter().any(|t| t.database == d.name))
    {
        catalog.create_database(db).await?;
    }
    for t in &tables {
        catalog.upsert_table(t).await?;
        done.push(t.qualified_name());
    }
    Ok(done)
}
