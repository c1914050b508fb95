//! A run's session on the cluster and what it was given to read.
//!
//! The cluster reads a table as the list of data files of the snapshot the run saw. A file
//! deleted meanwhile (an erasure rewrites and deletes files at once) is not an error for the
//! cluster's Parquet listing: it reads as no rows. So after each query the run checks that
//! every file it handed over still exists, or that the table still references it, and fails
//! the stage (nothing committed; run again) when one is gone: files of Delta tables are never
//! written again under the same name, so a file present after the query was there during it.

use std::collections::HashSet;

use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use object_store::ObjectStoreExt;

use crate::error::{Error, Result};
use crate::table::{self, Location};

/// A table as the cluster reads it: its location, version and data files.
struct Given {
    name: String,
    location: Location,
    version: i64,
    files: HashSet<String>,
}

/// The session whose queries run on the cluster.
pub struct ClusterSession {
    pub ctx: SessionContext,
    given: Vec<Given>,
}

impl ClusterSession {
    pub fn new(ctx: SessionContext) -> Self {
        Self {
            ctx,
            given: Vec::new(),
        }
    }

    /// Registers `<database>.<name>` as its snapshot's data files (see `client`).
    #[cfg(feature = "cluster")]
    pub fn add(
        &mut self,
        database: &str,
        name: &str,
        location: &Location,
        t: &DeltaTable,
    ) -> Result<()> {
        let tref = datafusion::common::TableReference::partial(database, name);
        super::register_delta(&self.ctx, tref, t)?;
        self.given.push(Given {
            name: format!("{database}.{name}"),
            location: location.clone(),
            version: table::version(t),
            files: data_files(t, &format!("{database}.{name}"))?,
        });
        Ok(())
    }

    #[cfg(not(feature = "cluster"))]
    pub fn add(&mut self, _: &str, _: &str, _: &Location, _: &DeltaTable) -> Result<()> {
        Err(Error::Internal("no cluster support in this build".into()))
    }

    /// Fails when a data file handed to the cluster is gone (see the module docs).
    pub async fn verify(&self) -> Result<()> {
        for g in &self.given {
            let Some(now) = table::open_if_exists(&g.name, &g.location).await? else {
                return Err(gone(&g.name, "the table"));
            };
            if table::version(&now) == g.version {
                continue;
            }
            let still = data_files(&now, &g.name)?;
            let (store, root) = g.location.object_store()?;
            for f in g.files.difference(&still) {
                let path = match root.as_ref() {
                    "" => object_store::path::Path::parse(f),
                    r => object_store::path::Path::parse(format!("{r}/{f}")),
                }
                .map_err(|e| Error::Internal(format!("{f} of {}: {e}", g.name)))?;
                match store.head(&path).await {
                    Ok(_) => {}
                    Err(object_store::Error::NotFound { .. }) => return Err(gone(&g.name, f)),
                    Err(e) => {
                        return Err(Error::Config(format!(
                            "checking that {f} of {} is still there: {e}",
                            g.name
                        )))
                    }
                }
            }
        }
        Ok(())
    }
}

fn gone(table: &str, what: &str) -> Error {
    Error::Conflict(format!(
        "{what} of {table} was deleted while the cluster read it (an erasure or vacuum ran \
         meanwhile); nothing was committed, run again"
    ))
}

/// The data files of the table's current version, relative to its root.
pub(crate) fn data_files(t: &DeltaTable, name: &str) -> Result<HashSet<String>> {
    let snapshot = t.snapshot().map_err(|e| Error::table(name, e))?;
    Ok(snapshot
        .log_data()
        .into_iter()
        .map(|add| add.object_store_path().to_string())
        .collect())
}

#[cfg(all(test, feature = "cluster"))]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use deltalake::DeltaTable;

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, true),
            Field::new("p", DataType::Int64, true),
        ]));
        let v = Arc::new(Int64Array::from(values.to_vec()));
        RecordBatch::try_new(schema, vec![v.clone(), v]).unwrap()
    }

    async fn table(dir: &std::path::Path) -> (Location, DeltaTable) {
        let location = Location::local(dir).unwrap();
        let t = DeltaTable::try_from_url(location.url.clone())
            .await
            .unwrap();
        (location, t.write(vec![batch(&[1, 2])]).await.unwrap())
    }

    /// A file handed to the cluster and deleted meanwhile fails the stage; a newer version
    /// that only adds files, or removes a file still on storage, does not.
    #[tokio::test]
    async fn a_file_deleted_while_the_cluster_reads_fails_the_stage() {
        let dir = tempfile::tempdir().unwrap();
        let (location, t) = table(dir.path()).await;
        let mut s = ClusterSession::new(crate::pipeline::new_session());
        s.add("silver", "t", &location, &t).unwrap();
        s.verify().await.unwrap();
        let t = t.write(vec![batch(&[3])]).await.unwrap();
        s.verify().await.unwrap();
        let (_, _) = t.delete().await.unwrap();
        s.verify().await.unwrap();
        for f in &s.given[0].files {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
        let e = s.verify().await.unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        assert!(e.to_string().contains("of silver.t was deleted"), "{e}");
    }

    /// Partition values live in paths, which a plain Parquet scan would read as nulls.
    #[tokio::test]
    async fn a_partitioned_table_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::local(dir.path()).unwrap();
        let t = DeltaTable::try_from_url(location.url.clone())
            .await
            .unwrap()
            .write(vec![batch(&[1, 2])])
            .with_partition_columns(["p"])
            .await
            .unwrap();
        let mut s = ClusterSession::new(crate::pipeline::new_session());
        let e = s.add("gold", "parts", &location, &t).unwrap_err();
        assert!(
            e.to_string().contains("gold.parts") && e.to_string().contains("partition columns"),
            "{e}"
        );
    }
}
