//! Finding the S3 objects a source names: `s3://bucket/key`, a prefix (`s3://bucket/landing/`,
//! every object under it) or a glob (`s3://bucket/landing/**/*.ndjson`), listed page by page
//! under the glob's fixed prefix, sorted by key, without hidden and marker objects.
//!
//! The bookmark name of an object is `s3://bucket/key#<ETag>`: an object re-uploaded with
//! other content has another ETag, so it is ingested again, as a new version of the file.

use futures::TryStreamExt as _;
use object_store::path::Path;
use object_store::ObjectStoreExt as _;

use super::discover::hidden;
use super::source::{ObjectRef, Origin};
use super::SourceFile;
use crate::env::Environment;
use crate::error::{Error, Result};

/// An `s3://` source path split: bucket, the listing prefix, and the key pattern (a glob
/// over whole keys; `None`: every object under the prefix, or the one key).
struct S3Source {
    bucket: String,
    prefix: String,
    pattern: Option<glob::Pattern>,
}

fn parse(path: &str) -> Result<S3Source> {
    let bad = |m: &str| {
        Error::Source {
        path: path.to_string(),
        message: format!("{m}; an S3 source is `s3://bucket/key`, `s3://bucket/prefix/` or a glob such as `s3://bucket/landing/**/*.ndjson`"),
    }
    };
    let rest = path
        .strip_prefix("s3://")
        .ok_or_else(|| bad("not an s3:// URL"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() || bucket.contains(['*', '?', '[']) {
        return Err(bad("the bucket must be named without wildcards"));
    }
    let glob_at = key.find(['*', '?', '[']);
    let (prefix, pattern) = match glob_at {
        None => (key.to_string(), None),
        Some(i) => {
            let fixed = key[..i].rfind('/').map_or("", |j| &key[..=j]);
            let pattern =
                glob::Pattern::new(key).map_err(|e| bad(&format!("not a valid glob: {e}")))?;
            (fixed.to_string(), Some(pattern))
        }
    };
    Ok(S3Source {
        bucket: bucket.to_string(),
        prefix,
        pattern,
    })
}

/// The objects of an `s3://` source, sorted by key.
pub async fn discover_objects(env: &Environment, path: &str) -> Result<Vec<SourceFile>> {
    let src = parse(path)?;
    env.check_object_readable(path, &src.bucket, &src.prefix)?;
    let root = url::Url::parse(&format!("s3://{}/", src.bucket))
        .map_err(|e| Error::Config(e.to_string()))?;
    let location = crate::table::Location::s3(root, crate::env::s3_options(None));
    let (store, _) = location.object_store()?;
    let listed = list(&*store, &src, path).await?;
    let mut out = Vec::with_capacity(listed.len());
    for meta in listed {
        let key = meta.location.as_ref().to_string();
        let url = format!("s3://{}/{key}", src.bucket);
        env.check_object_readable(&url, &src.bucket, &key)?;
        let e_tag = meta.e_tag.map(|t| t.trim_matches('"').to_string());
        let name = match &e_tag {
            Some(t) => format!("{url}#{t}"),
            None => url.clone(),
        };
        out.push(SourceFile {
            origin: Origin::Object(ObjectRef {
                store: store.clone(),
                path: meta.location,
                url,
                e_tag,
            }),
            name,
            size: meta.size,
        });
    }
    Ok(out)
}

/// Lists the matching objects (streamed page by page; only matches are kept).
async fn list(
    store: &dyn object_store::ObjectStore,
    src: &S3Source,
    shown: &str,
) -> Result<Vec<object_store::ObjectMeta>> {
    let prefix = match src.prefix.trim_end_matches('/') {
        "" => None,
        p => Some(object_path(p, shown)?),
    };
    let exact = src.pattern.is_none() && !src.prefix.is_empty() && !src.prefix.ends_with('/');
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..Default::default()
    };
    if exact {
        match store.head(&object_path(&src.prefix, shown)?).await {
            Ok(meta) => return Ok(vec![meta]),
            Err(object_store::Error::NotFound { .. }) => {} // a prefix, maybe
            Err(e) => {
                return Err(Error::Source {
                    path: shown.to_string(),
                    message: format!("reading the object failed: {e}"),
                })
            }
        }
    }
    let mut out = Vec::new();
    let mut skipped = 0usize;
    let mut stream = store.list(prefix.as_ref());
    while let Some(meta) = stream.try_next().await.map_err(|e| Error::Source {
        path: shown.to_string(),
        message: format!("listing failed: {e}"),
    })? {
        let key = meta.location.as_ref();
        let keep = match &src.pattern {
            Some(p) => p.matches_with(key, options),
            None => true,
        };
        let named = src.pattern.as_ref().map_or("", |p| p.as_str());
        if !keep {
            continue;
        }
        if hidden(key.strip_prefix(&src.prefix).unwrap_or(key), named) {
            skipped += 1;
        } else {
            out.push(meta);
        }
    }
    if skipped > 0 {
        tracing::info!(source = %shown, objects = skipped, "Skipped objects under `_`/`.` segments (hidden, markers, jobs still writing).");
    }
    if out.is_empty() && exact {
        return Err(Error::Source {
            path: shown.to_string(),
            message: "no such object (nor objects under it as a prefix); check `bronze.source.files.path`".into(),
        });
    }
    out.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(out)
}

/// A key as the object store names it (as written: no percent-encoding).
fn object_path(key: &str, shown: &str) -> Result<Path> {
    Path::parse(key).map_err(|e| Error::Source {
        path: shown.to_string(),
        message: format!("`{key}` is not a key this reader can list ({e}); name the prefix without empty or `.`/`..` segments"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_list_under_their_fixed_prefix() {
        let s = parse("s3://landing/orders/2026-*/part-*.ndjson").unwrap();
        assert_eq!(
            (s.bucket.as_str(), s.prefix.as_str()),
            ("landing", "orders/")
        );
        let opts = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        let p = s.pattern.unwrap();
        assert!(p.matches_with("orders/2026-11/part-1.ndjson", opts));
        assert!(!p.matches_with("orders/2026-11/deeper/part-1.ndjson", opts));
        let s = parse("s3://landing/orders/**/*.ndjson").unwrap();
        let p = s.pattern.unwrap();
        assert!(p.matches_with("orders/a/b/c.ndjson", opts));
        assert!(p.matches_with("orders/c.ndjson", opts));
        let s = parse("s3://landing/*.csv").unwrap();
        assert_eq!(s.prefix, "");
        let s = parse("s3://landing/orders/").unwrap();
        assert!(s.pattern.is_none() && s.prefix == "orders/");
        assert!(parse("s3:///x").is_err());
        assert!(
            hidden("_temporary/0/part-1.ndjson", "")
                && hidden("a/.part.crc", "")
                && hidden("_SUCCESS", "")
        );
        assert!(!hidden("2026/11/part-1.ndjson", ""));
        // A folder the glob names itself is not skipped (it would match nothing, silently).
        assert!(!hidden("a/_in/x.ndjson", "landing/*/_in/*.ndjson"));
        assert!(hidden(
            "a/_in/_temporary/x.ndjson",
            "landing/*/_in/**/*.ndjson"
        ));
        assert!(parse("s3://land*/x").is_err());
    }
}
