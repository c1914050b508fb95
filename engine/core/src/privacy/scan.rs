//! Reading a table's Parquet files straight from storage (current and older versions alike)
//! to find the rows and the files that hold a key.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};

use super::targets::Match;
use super::Needles;
use crate::error::{Error, Result};
use crate::table::Location;

/// One object of a table folder.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// Relative to the table root (as Delta's add actions name it, unescaped).
    pub rel: String,
    pub path: Path,
    pub size: u64,
    pub modified: chrono::DateTime<chrono::Utc>,
}

/// Every object under the table's folder: its data files (any version, referenced or not)
/// and, with `log`, its Delta log (JSON commits and Parquet checkpoints).
pub async fn list(loc: &Location, log: bool) -> Result<(Arc<dyn ObjectStore>, Vec<StoredFile>)> {
    use futures::TryStreamExt as _;
    let (store, root) = loc.object_store()?;
    let prefix = root.as_ref().trim_end_matches('/').to_string();
    let objects: Vec<_> = store
        .list(Some(&root))
        .try_collect()
        .await
        .map_err(|e| Error::Config(format!("listing {loc}: {e}")))?;
    let mut out = Vec::new();
    for o in objects {
        let full = o.location.as_ref().to_string();
        let rel = full
            .strip_prefix(&prefix)
            .unwrap_or(&full)
            .trim_start_matches('/')
            .to_string();
        let in_log = rel.starts_with("_delta_log/");
        let data = rel.ends_with(".parquet") && !in_log;
        let log_file = in_log && (rel.ends_with(".json") || rel.ends_with(".parquet"));
        if data || (log && log_file) {
            out.push(StoredFile {
                rel,
                path: o.location,
                size: o.size,
                modified: o.last_modified,
            });
        }
    }
    Ok((store, out))
}

/// An object's bytes.
pub async fn bytes(store: &dyn ObjectStore, f: &StoredFile) -> Result<bytes::Bytes> {
    let err = |e| Error::io(f.path.as_ref(), std::io::Error::other(e));
    store
        .get(&f.path)
        .await
        .map_err(err)?
        .bytes()
        .await
        .map_err(err)
}

/// Deletes an object.
pub async fn delete(store: &dyn ObjectStore, f: &StoredFile) -> Result<()> {
    store
        .delete(&f.path)
        .await
        .map_err(|e| Error::io(f.path.as_ref(), std::io::Error::other(e)))
}

/// The record batches of a Parquet object.
pub async fn read(store: &dyn ObjectStore, f: &StoredFile) -> Result<Vec<RecordBatch>> {
    let bytes = bytes(store, f).await?;
    let bad = |e: parquet::errors::ParquetError| Error::Input {
        path: f.path.to_string(),
        message: format!("not a readable Parquet file: {e}"),
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(bad)?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// The rows of `batch` about the subject: any of `columns` matching.
pub fn row_mask(
    batch: &RecordBatch,
    columns: &[(String, Match)],
    needles: &Needles,
) -> Result<BooleanArray> {
    let mut hit = vec![false; batch.num_rows()];
    for (name, how) in columns {
        let Some(col) = batch.column_by_name(name) else {
            continue;
        };
        let text = as_text(col)?;
        for (i, h) in hit.iter_mut().enumerate() {
            if text.is_valid(i) {
                let v = text.value(i);
                *h |= match how {
                    Match::Value => needles.equals(v),
                    Match::Token => needles.in_text(v),
                    Match::Record(fields) => needles.in_record(v, fields),
                };
            }
        }
    }
    Ok(BooleanArray::from(hit))
}

/// Whether any value of `batch` (any column, nested ones as text) holds the key or a hashed
/// form of it as a token.
pub fn holds(batch: &RecordBatch, needles: &Needles) -> Result<bool> {
    for col in batch.columns() {
        let text = as_text(col)?;
        if (0..text.len()).any(|i| text.is_valid(i) && needles.in_text(text.value(i))) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A column as text: cast when Arrow can, else each value's display (lists, structs).
fn as_text(col: &ArrayRef) -> Result<StringArray> {
    if let Ok(c) = arrow::compute::cast(col, &DataType::Utf8) {
        return Ok(arrow::array::cast::as_string_array(&c).clone());
    }
    let f = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())?;
    Ok((0..col.len())
        .map(|i| col.is_valid(i).then(|| f.value(i).to_string()))
        .collect())
}

/// Whether a text object (a Delta log commit) holds the key as a token.
pub async fn text_holds(
    store: &dyn ObjectStore,
    f: &StoredFile,
    needles: &Needles,
) -> Result<bool> {
    let bytes = bytes(store, f).await?;
    Ok(needles.in_text(&String::from_utf8_lossy(&bytes)))
}

/// Whether an object holds the key: a JSON log commit as text, a Parquet file (data or
/// checkpoint) by its values.
pub async fn file_holds(
    store: &dyn ObjectStore,
    f: &StoredFile,
    needles: &Needles,
) -> Result<bool> {
    if f.rel.ends_with(".json") {
        return text_holds(store, f, needles).await;
    }
    for b in read(store, f).await? {
        if holds(&b, needles)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a Delta log file (a JSON commit, or a Parquet checkpoint) holds the key in the
/// column statistics (minimum and maximum values) of one of `columns`.
pub async fn log_holds(
    store: &dyn ObjectStore,
    f: &StoredFile,
    columns: &[(String, Match)],
    needles: &Needles,
) -> Result<bool> {
    let lines: Vec<serde_json::Value> = if f.rel.ends_with(".json") {
        let bytes = bytes(store, f).await?;
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    } else {
        let mut out = Vec::new();
        for b in read(store, f).await? {
            let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
            w.write(&b)?;
            w.finish()?;
            let text = String::from_utf8_lossy(&w.into_inner()).to_string();
            out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
        }
        out
    };
    Ok(lines.iter().any(|l| {
        ["add", "remove"]
            .iter()
            .any(|k| stats_hold(&l[*k], columns, needles))
    }))
}

fn stats_hold(action: &serde_json::Value, columns: &[(String, Match)], needles: &Needles) -> bool {
    let parsed = match &action["stats"] {
        serde_json::Value::String(s) => serde_json::from_str(s).unwrap_or_default(),
        _ => action["stats_parsed"].clone(),
    };
    ["minValues", "maxValues"].iter().any(|side| {
        columns.iter().any(|(c, how)| {
            let v = match &parsed[*side][c] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return false,
            };
            match how {
                Match::Value => needles.equals(&v),
                // Statistics of text are cut short: the key anywhere in them.
                Match::Token | Match::Record(_) => needles.in_text(&v),
            }
        })
    })
}

/// Whether a data file has a row matching `columns` (a row about the subject).
pub async fn has_rows(
    store: &dyn ObjectStore,
    f: &StoredFile,
    columns: &[(String, Match)],
    needles: &Needles,
) -> Result<bool> {
    for b in read(store, f).await? {
        if row_mask(&b, columns, needles)?.true_count() > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The current version's data files of a table, as paths relative to it (unescaped).
pub fn active_files(t: &deltalake::DeltaTable) -> Result<std::collections::HashSet<String>> {
    Ok(t.snapshot()?
        .log_data()
        .iter()
        .map(|f| f.path().to_string())
        .collect())
}
