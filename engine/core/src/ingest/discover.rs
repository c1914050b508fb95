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
        // Folders below the glob's fixed part that are hidden or markers (`_temporary/` of a
        // job still writing) are skipped, as when walking a folder.
        let fixed = glob_fixed_part(&pattern);
        let mut skipped = 0usize;
        let entries = glob::glob(&pattern).map_err(|e| Error::Source {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        for entry in entries {
            let p = entry.map_err(|e| Error::Source {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            let below = p.strip_prefix(&fixed).unwrap_or(&p).to_string_lossy();
            if !p.is_file() {
                continue;
            }
            if hidden(&below.replace('\\', "/"), &pattern) {
                skipped += 1;
            } else {
                paths.push(p);
            }
        }
        if skipped > 0 {
            tracing::info!(source = %shown, files = skipped, "Skipped files under `_`/`.` folders (hidden, markers, jobs still writing).");
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

/// The folder a glob's matches are below: the pattern up to the `/` before its first wildcard.
fn glob_fixed_part(pattern: &str) -> PathBuf {
    let wild = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    PathBuf::from(pattern[..wild].rfind('/').map_or("", |j| &pattern[..=j]))
}

/// Whether `rel` (a `/`-separated path below a listing's fixed part) is hidden or a marker:
/// one of its segments starts with `.` or `_` (`_SUCCESS`, `.crc`, `_temporary/` folders of
/// jobs still writing), unless a segment of the pattern that itself starts with `.` or `_`
/// matches it (`landing/*/_in/*.ndjson` and `landing/_*/*.csv` read `_in`; skipping it would
/// match nothing, silently).
pub fn hidden(rel: &str, pattern: &str) -> bool {
    let asked: Vec<glob::Pattern> = pattern
        .split('/')
        .filter(|p| p.starts_with('.') || p.starts_with('_'))
        .filter_map(|p| glob::Pattern::new(p).ok())
        .collect();
    rel.split('/').any(|seg| {
        (seg.starts_with('.') || seg.starts_with('_')) && !asked.iter().any(|p| p.matches(seg))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_skips_hidden_and_marker_folders_below_its_fixed_part() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("landing");
        for f in [
            "orders/2026/a.ndjson",
            "orders/_temporary/0/part-1.ndjson",
            "orders/.staging/b.ndjson",
            "orders/2026/_SUCCESS",
            "_in/x/c.ndjson",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "{}\n").unwrap();
        }
        let found = |pattern: &str| {
            let p = root.join(pattern).to_string_lossy().to_string();
            let fixed = glob_fixed_part(&p);
            let mut v: Vec<String> = glob::glob(&p)
                .unwrap()
                .map(Result::unwrap)
                .filter(|f| f.is_file())
                .filter(|f| !hidden(&f.strip_prefix(&fixed).unwrap().to_string_lossy(), &p))
                .map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(found("orders/**/*"), vec!["orders/2026/a.ndjson"]);
        // The underscore folder is in the fixed part or named by the pattern: it is read.
        assert_eq!(found("_in/x/*.ndjson"), vec!["_in/x/c.ndjson"]);
        assert_eq!(found("_*/x/*.ndjson"), vec!["_in/x/c.ndjson"]);
        assert_eq!(found("*/x/*.ndjson"), Vec::<String>::new());
    }
}
