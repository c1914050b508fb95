//! Paths of environments: lake roots parsed, normalised, their symbolic links resolved, and
//! whether two of them overlap (isolation).

use std::path::{Component, Path, PathBuf};

use super::LakeRoot;

pub fn normalize(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

pub(super) fn parse_lake(root: &Path, lake: &str) -> std::result::Result<LakeRoot, String> {
    if let Some(rest) = lake.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{lake}` has no bucket name"));
        }
        Ok(LakeRoot::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.trim_end_matches('/').to_string(),
        })
    } else if lake.contains("://") {
        Err(format!(
            "`{lake}`: a lake root is a local folder or `s3://bucket/prefix`"
        ))
    } else if lake.trim().is_empty() {
        Err("must not be empty".to_string())
    } else {
        Ok(LakeRoot::Local(normalize(root, Path::new(lake))))
    }
}

pub(super) fn overlaps(a: &LakeRoot, b: &LakeRoot) -> bool {
    match (a, b) {
        (LakeRoot::Local(a), LakeRoot::Local(b)) => a.starts_with(b) || b.starts_with(a),
        (
            LakeRoot::S3 {
                bucket: ba,
                prefix: pa,
            },
            LakeRoot::S3 {
                bucket: bb,
                prefix: pb,
            },
        ) => {
            ba == bb && {
                let (pa, pb) = (Path::new(pa), Path::new(pb));
                pa.starts_with(pb) || pb.starts_with(pa)
            }
        }
        _ => false,
    }
}

/// Resolves symbolic links in the longest existing ancestor of `p`; the part that does not
/// exist yet is appended unchanged. Used by the isolation checks, so that a link (or a link
/// in a parent folder) pointing into another environment's lake is seen for what it is.
pub fn resolve_links(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_owned()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

pub(super) fn resolve_lake_links(l: &LakeRoot) -> LakeRoot {
    match l {
        LakeRoot::Local(p) => LakeRoot::Local(resolve_links(p)),
        other => other.clone(),
    }
}

/// True when `path` (as written, or with its links resolved) lies under `lake` (as written,
/// or with its links resolved).
pub(super) fn inside(path: &Path, lake: &Path) -> bool {
    let (rp, rl) = (resolve_links(path), resolve_links(lake));
    path.starts_with(lake) || rp.starts_with(lake) || path.starts_with(&rl) || rp.starts_with(&rl)
}
