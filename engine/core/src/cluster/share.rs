//! A run's temporary Parquet made readable by the cluster's executors.
//!
//! Under a local lake the run's temporary folder is inside the lake, and the cluster reads
//! it where it is (a cluster serving a local lake shares the machine or the file system).
//! Under an S3 lake the files are uploaded below `<lake>/_medallion/tmp/<run>/<name>/`
//! (SSE-KMS with the environment's key, as every write to the lake) and deleted when the
//! run ends; a run killed before that leaves them to the bucket's lifecycle rule on
//! `_medallion/tmp/`.

use std::path::Path;
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::error::{Error, Result};
use crate::table::Location;

/// A folder of Parquet files the cluster can read at [`Shared::url`].
pub struct Shared {
    pub url: Url,
    uploaded: Option<(Arc<dyn ObjectStore>, Vec<ObjectPath>)>,
    /// The files shared in place (a local lake).
    local: Vec<std::path::PathBuf>,
}

impl Shared {
    /// Shares the Parquet files of the local folder `dir` as `<name>` of run `run_id`.
    pub async fn share(lake: &Location, run_id: &str, dir: &Path, name: &str) -> Result<Self> {
        if lake.local_path().is_some() {
            let url = Url::from_directory_path(dir)
                .map_err(|_| Error::Internal(format!("cannot make a URL of {}", dir.display())))?;
            return Ok(Self {
                url,
                uploaded: None,
                local: parquet_files(dir)?,
            });
        }
        let target = lake.child(&format!("_medallion/tmp/{run_id}/{name}"))?;
        let (store, prefix) = target.object_store()?;
        let mut shared = Self {
            url: target.url.clone(),
            uploaded: Some((store.clone(), Vec::new())),
            local: Vec::new(),
        };
        for file in parquet_files(dir)? {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("part.parquet");
            let path = prefix.clone().join(name);
            if let Err(e) = upload(&store, &file, &path).await {
                shared.discard().await;
                return Err(e);
            }
            if let Some((_, paths)) = &mut shared.uploaded {
                paths.push(path);
            }
        }
        crate::pipeline::fault_wait("after_share");
        Ok(shared)
    }

    /// Fails when a shared file is gone (deleted while the cluster read it, e.g. by an
    /// erasure that took the run for dead): the cluster would have read it as no rows.
    pub async fn verify(&self) -> Result<()> {
        let gone = |what: &str| {
            Error::Conflict(format!(
                "the run's temporary file {what}, shared with the cluster, was deleted while the \
                 cluster read it; nothing was committed, run again"
            ))
        };
        for f in &self.local {
            if !f.exists() {
                return Err(gone(&f.display().to_string()));
            }
        }
        let Some((store, paths)) = &self.uploaded else {
            return Ok(());
        };
        for p in paths {
            match store.head(p).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => return Err(gone(p.as_ref())),
                Err(e) => {
                    return Err(Error::Config(format!(
                        "checking that {p} is still there: {e}"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Deletes the uploaded copies (nothing for a local lake). A failed delete is logged:
    /// the bucket's lifecycle rule on `_medallion/tmp/` removes what is left.
    pub async fn discard(&mut self) {
        let Some((store, paths)) = self.uploaded.take() else {
            return;
        };
        for p in paths {
            if let Err(e) = store.delete(&p).await {
                tracing::warn!(path = %p, error = %e, "could not delete a run's shared temporary file");
            }
        }
    }
}

fn parquet_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let io = |e| Error::io(dir.display().to_string(), e);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let p = entry.map_err(io)?.path();
        if p.extension().is_some_and(|e| e == "parquet") {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

async fn upload(store: &Arc<dyn ObjectStore>, file: &Path, path: &ObjectPath) -> Result<()> {
    let fail = |e: std::io::Error| Error::io(format!("uploading {} to {path}", file.display()), e);
    let mut reader = tokio::fs::File::open(file).await.map_err(fail)?;
    let mut writer = object_store::buffered::BufWriter::new(store.clone(), path.clone());
    let written = match tokio::io::copy(&mut reader, &mut writer).await {
        Ok(_) => writer.shutdown().await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        // An unfinished multipart upload holds rows too: abort it now.
        if let Err(a) = writer.abort().await {
            tracing::warn!(path = %path, error = %a, "could not abort an unfinished upload");
        }
        return Err(fail(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared file deleted while the cluster reads it fails the check (the cluster would
    /// have read it as no rows).
    #[tokio::test]
    async fn a_shared_file_deleted_meanwhile_is_a_conflict() {
        let lake = tempfile::tempdir().unwrap();
        let dir = lake.path().join("_medallion/tmp/run-1/typed");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("part-0.parquet"), b"PAR1").unwrap();
        let loc = Location::local(lake.path()).unwrap();
        let shared = Shared::share(&loc, "run-1", &dir, "typed").await.unwrap();
        shared.verify().await.unwrap();
        std::fs::remove_file(dir.join("part-0.parquet")).unwrap();
        let e = shared.verify().await.unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        assert!(e.to_string().contains("part-0.parquet"), "{e}");
    }
}
