//! What a copy must pass before anything is read: personal data, hash keys, the target.

use std::collections::BTreeSet;

use deltalake::DeltaTable;

use super::Request;
use crate::catalog::TableEntry;
use crate::error::{Error, Result};
use crate::lineage::Kind;
use crate::spec::TableName;
use crate::table;

/// The table's columns that may hold personal data in clear.
///
/// For a table the project's specs produce: a column computed from a `pii` column (also
/// nested) without a hash or mask, a quarantine's `_record`, a column the catalog classifies
/// `pii` that the lineage does not show masked, and any column the current specs do not write
/// (older versions, renamed columns: what they hold is unknown). For another table: the
/// columns its catalog entry classifies `pii`. A table written by a pipeline whose spec is
/// not among the specs given is refused: its personal data cannot be told.
pub fn pii_in_clear(
    r: &Request<'_>,
    name: &TableName,
    entry: Option<&TableEntry>,
    source: &DeltaTable,
) -> Result<Vec<String>> {
    let key = name.to_string();
    let owner = entry
        .map(|e| e.owner_pipeline.clone())
        .filter(|o| !o.is_empty())
        .or_else(|| {
            table::properties(source)
                .ok()?
                .get(crate::pipeline::PROP_PIPELINE)
                .cloned()
        })
        .unwrap_or_default();
    if !owner.is_empty() && !r.plans.iter().any(|p| p.job.spec.pipeline == owner) {
        return Err(Error::Input {
            path: key,
            message: format!(
                "it is written by pipeline `{owner}`, whose spec is not among the specs given (--jobs): \
                 give the project's specs (default jobs/) so that its personal data is known"
            ),
        });
    }
    let classified = |c: &str| {
        entry.is_some_and(|e| {
            e.columns
                .iter()
                .any(|x| x.name == c && x.classification.as_deref() == Some("pii"))
        })
    };
    let schema = table::arrow_schema(source)?;
    let columns = schema.fields().iter().map(|f| f.name().clone());
    let Some(dataset) = r.graph.datasets.get(&key) else {
        return Ok(columns.filter(|c| classified(c)).collect());
    };
    let raw = super::super::gates::raw_pii_columns(r.plans, r.graph);
    let masked: BTreeSet<&str> = r
        .graph
        .edges
        .iter()
        .filter(|e| e.to.0 == key && e.transform.kind == Kind::Direct && e.transform.masking)
        .filter_map(|e| e.to.1.as_deref())
        .collect();
    Ok(columns
        .filter(|c| {
            let written = dataset.columns.contains(c);
            raw.contains(&(key.clone(), c.clone()))
                || !written
                || (classified(c) && !masked.contains(c.as_str()))
        })
        .collect())
}

/// Hashes in one table come from one key. `--mask` needs the target's key (a plain SHA-256
/// of an e-mail address is found again by hashing a list of them), and values the source
/// hashed with another key than the target's are refused (joins and dedupe on them would
/// break silently).
pub fn keys(r: &Request<'_>, source: &DeltaTable, masking: bool) -> Result<()> {
    let target_key = crate::pii::hash_key(r.to)?;
    if masking && r.mask && target_key.is_none() {
        return Err(Error::Input {
            path: "--mask".into(),
            message: format!(
                "`{}` has no PII key (environments.{}.pii.hash_key_env): --mask would write plain \
                 SHA-256, which anyone can reverse by hashing candidate values; set the key first",
                r.to.name, r.to.name
            ),
        });
    }
    let props = table::properties(source)?;
    let Some(scheme) = props.get(crate::pii::PII_PROP) else {
        return Ok(());
    };
    if !scheme.contains("=hash") {
        return Ok(());
    }
    let wanted = target_key.map_or("unkeyed".to_string(), |k| format!("key {}", k.id()));
    if !scheme.contains(&format!("({wanted})")) {
        return Err(Error::Input {
            path: r.table.to_string(),
            message: format!(
                "its hashed columns were hashed with `{}`'s scheme ({scheme}), not `{}`'s ({wanted}): \
                 the copy would mix two keys in one column",
                r.from.name, r.to.name
            ),
        });
    }
    Ok(())
}

/// A copy goes only into a table no pipeline writes in the target: replacing a pipeline's
/// table would desynchronise it from its bookmarks (rows its Bronze gave it would be lost,
/// Gold would say "up to date", quarantines would repeat).
pub async fn target_free(r: &Request<'_>, target: &TableName) -> Result<()> {
    let shown = target.to_string();
    let produced = r.graph.datasets.get(&shown).map(|d| d.pipeline.clone());
    let entry = r
        .to_catalog
        .get_table(&target.database, &target.table)
        .await?;
    let owner = produced
        .or_else(|| entry.as_ref().map(|e| e.owner_pipeline.clone()))
        .filter(|o| !o.is_empty());
    let owner = match owner {
        Some(o) => Some(o),
        None => match table::open_if_exists(&shown, &r.to.location(target)?).await? {
            Some(t) => table::properties(&t)?
                .get(crate::pipeline::PROP_PIPELINE)
                .cloned(),
            None => None,
        },
    };
    match owner {
        None => Ok(()),
        Some(o) => Err(Error::Input {
            path: shown.clone(),
            message: format!(
                "pipeline `{o}` writes {shown} in `{}`: a copy over it would desynchronise the pipeline \
                 from what it has processed; copy to a table of its own with --as (e.g. --as seed.{})",
                r.to.name, target.table
            ),
        }),
    }
}
