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

/// Refuses, before any change, a document of another environment or a table outside this
/// environment's lake.
pub fn check(env: &Environment, doc: &CatalogDocument, tables: &[TableEntry]) -> Result<()> {
    if doc.environment != env.name {
        return Err(Error::Isolation(format!(
            "the catalog export is environment `{}`'s; importing it into `{}` would register tables of \
             another lake. Import it into `{}`",
            doc.environment, env.name, doc.environment
        )));
    }
    for t in tables {
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
    Ok(())
}

/// Registers `tables` (of `doc`) and their databases in `catalog`, after [`check`].
pub async fn import(
    catalog: &dyn Catalog,
    env: &Environment,
    doc: &CatalogDocument,
    tables: &[TableEntry],
) -> Result<Vec<String>> {
    check(env, doc, tables)?;
    let mut done = Vec::new();
    for db in doc
        .databases
        .iter()
        .filter(|d| tables.iter().any(|t| t.database == d.name))
    {
        catalog.create_database(db).await?;
    }
    for t in tables {
        catalog.upsert_table(t).await?;
        done.push(t.qualified_name());
    }
    Ok(done)
}

/// The document with every location under `from` (a lake root) moved under `to` (a lake
/// moved to another bucket or folder).
pub fn relocated(mut doc: CatalogDocument, from: &str, to: &str) -> CatalogDocument {
    let (from, to) = (from.trim_end_matches('/'), to.trim_end_matches('/'));
    let moved = |l: &str| match l.strip_prefix(from) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{to}{rest}"),
        _ => l.to_string(),
    };
    for d in &mut doc.databases {
        d.location = moved(&d.location);
    }
    for t in &mut doc.tables {
        t.location = moved(&t.location);
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn locations_move_with_the_lake_root() {
        let doc = super::CatalogDocument {
            format: 1,
            environment: "prod".into(),
            exported_at: String::new(),
            databases: vec![],
            tables: vec![],
        };
        let mut doc = doc;
        doc.databases.push(crate::catalog::Database {
            name: "gold".into(),
            description: None,
            location: "s3://old/lake/gold".into(),
        });
        let doc = super::relocated(doc, "s3://old/lake", "s3://new/lake");
        assert_eq!(doc.databases[0].location, "s3://new/lake/gold");
        let doc = super::relocated(doc, "s3://new/la", "s3://x");
        assert_eq!(
            doc.databases[0].location, "s3://new/lake/gold",
            "only whole segments"
        );
    }
}
