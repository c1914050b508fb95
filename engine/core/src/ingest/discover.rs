//! Finding the files a source names: a file, a directory (recursively) or a glob, sorted by
//! name, without hidden and marker files, refusing any inside another environment's lake.
//! `s3://` sources are listed by [`super::object`].

use std::path::{Path, PathBuf};

use super::source::Origin;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::spec::FilesSource;

/// A file to ingest.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub origin: Origin,
    /// The name recorded in `_source_file` (relative to the project root when inside it);
    /// this is the bookmark key.
    pub name: String,
    pub size: u64,
}

impl SourceFile {
    /// A local file.
    pub fn local(path: PathBuf, name: String, size: u64) -> Self {
        Self {
            origin: Origin::Local(path),
            name,
            size,
        }
    }
}

/// Finds the files a source names, sorted by name, refusing any inside another
/// environment's lake.
pub async fn discover(env: &Environment, source: &FilesSource) -> Result<Vec<SourceFile>> {
    if source.path.starts_with("s3://") {
        return super::object::discover_objects(env, &source.path).await;
    }
    discover_local(env, source)
}

fn discover_local(env: &Environment, source: &FilesSource) -> Result<Vec<SourceFile>> {
    let resolved = env.resolve_source(&source.path)?;
    let shown = source.path.clone();
    let mut paths = Vec::new();
    let pattern = resolved.to_string_lossy().to_string();
    if resolved.is_dir() {
        walk(&resolved, &mut paths).map_err(|e| Error::io(resolved.display().to_string(), e))?;
    } else if pattern.contains(['*', '?', '[']) {
        let entries = glob::glob(&pattern).map_err(|e| Error::Source {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        for entry in entries {
            let p = entry.map_err(|e| Error::Source {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            if p.is_file() {
                paths.push(p);
            }
        }
    } else if resolved.is_file() {
        paths.push(resolved.clone());
    } else {
        return Err(Error::Source {
            path: shown,
            message: format!(
                "{} does not exist; check `bronze.source.files.path` (relative paths start at {})",
                resolved.display(),
                env.project_root.display()
            ),
        });
    }
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.starts_with('.') || name.starts_with('_') {
            continue; // hidden and marker files (`_SUCCESS`, `.crc`)
        }
        env.check_readable(&path)?;
        let size = std::fs::metadata(&path)
            .map_err(|e| Error::io(path.display().to_string(), e))?
            .len();
        let name = path
            .strip_prefix(&env.project_root)
            .unwrap_or(&path)
            .to_string_lossy()
            .to_string();
        out.push(SourceFile::local(path, name, size));
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if p.is_dir() && (name.starts_with('.') || name.starts_with('_')) {
            continue; // hidden folders and `_temporary/` of jobs still writing
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}
