//! The Silver merge by key, as a builder (in the style of delta-rs's operations) that
//! validates its own inputs before anything is written: the keys and the `latest_by`
//! column must be columns of the source, or the merge would compare nothing (or let an
//! older record overwrite a newer one).

use std::collections::HashMap;

use datafusion::dataframe::DataFrame;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::DeltaTable;

use crate::error::{Error, Result, SpecError};
use crate::spec::sql_ident;

/// Merges staged rows into a table by key: a matched row is replaced (when its
/// `latest_by` value is not older), an unmatched one inserted. One atomic commit.
pub struct SilverMerge {
    table: DeltaTable,
    source: DataFrame,
    keys: Vec<String>,
    latest_by: Option<String>,
    metadata: HashMap<String, serde_json::Value>,
    bookmark: Option<Transaction>,
    spec_file: String,
}

impl SilverMerge {
    pub fn new(table: DeltaTable, source: DataFrame, keys: &[String]) -> Self {
        Self {
            table,
            source,
            keys: keys.to_vec(),
            latest_by: None,
            metadata: HashMap::new(),
            bookmark: None,
            spec_file: String::new(),
        }
    }

    pub fn with_latest_by(mut self, column: Option<&str>) -> Self {
        self.latest_by = column.map(str::to_string);
        self
    }

    pub fn with_commit_metadata(mut self, metadata: HashMap<String, serde_json::Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// An application transaction committed with the merge (Silver's bookmark).
    pub fn with_bookmark(mut self, txn: Option<Transaction>) -> Self {
        self.bookmark = txn;
        self
    }

    /// The spec file named in errors.
    pub fn with_spec_file(mut self, file: &str) -> Self {
        self.spec_file = file.to_string();
        self
    }

    fn columns(&self) -> Vec<String> {
        self.source
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Refuses keys or a `latest_by` column the source does not have.
    pub fn validate(&self) -> Result<()> {
        let columns = self.columns();
        let mut missing: Vec<(String, &str)> = Vec::new();
        if self.keys.is_empty() {
            return Err(Error::Internal(
                "a merge needs at least one key column".into(),
            ));
        }
        for k in &self.keys {
            if !columns.contains(k) {
                missing.push((k.clone(), "silver.dedupe.keys"));
            }
        }
        if let Some(l) = &self.latest_by {
            if !columns.contains(l) {
                missing.push((l.clone(), "silver.dedupe.latest_by"));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Spec(
            missing
                .into_iter()
                .map(|(c, field)| {
                    SpecError::new(
                        &self.spec_file,
                        "silver.sql",
                        format!("the query's output lacks `{c}` ({field}), which the merge by key needs; select it in the SQL"),
                    )
                })
                .collect(),
        ))
    }

    pub async fn execute(self) -> Result<DeltaTable> {
        self.validate()?;
        let name = self.table.table_url().to_string();
        let cols = self.columns();
        let on = self
            .keys
            .iter()
            .map(|k| format!("t.{0} = s.{0}", sql_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut props = CommitProperties::default().with_metadata(self.metadata);
        if let Some(t) = self.bookmark {
            props = props.with_application_transaction(t);
        }
        let latest = self.latest_by;
        let (merged, _metrics) = self
            .table
            .merge(self.source, on.as_str())
            .with_source_alias("s")
            .with_target_alias("t")
            .with_merge_schema(true)
            .with_commit_properties(props)
            .when_matched_update(|mut u| {
                if let Some(l) = &latest {
                    u = u.predicate(format!("s.{0} >= t.{0}", sql_ident(l)).as_str());
                }
                for c in &cols {
                    u = u.update(
                        sql_ident(c).as_str(),
                        format!("s.{}", sql_ident(c)).as_str(),
                    );
                }
                u
            })
            .map_err(|e| Error::table(&name, e))?
            .when_not_matched_insert(|mut i| {
                for c in &cols {
                    i = i.set(
                        sql_ident(c).as_str(),
                        format!("s.{}", sql_ident(c)).as_str(),
                    );
                }
                i
            })
            .map_err(|e| Error::table(&name, e))?
            .await
            .map_err(|e| Error::table(&name, e))?;
        Ok(merged)
    }
}
