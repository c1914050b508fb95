//! A file of the local store uploaded in parts, written past the page cache.
//!
//! Like the local file system's own upload: the parts go to a staging file next to the
//! destination (`<name>#<n>`, which listings skip), renamed onto it by `complete`. The
//! parts arrive in order, but their futures may run in any order (`WriteMultipart` spawns
//! each): every part is therefore handed at once, in order, to one writer thread that
//! writes them one after the other through a [`DirectWriter`]; a part's future ends when
//! its bytes are taken (or refused). After a failed part every later part, and `complete`,
//! fail: a file is never completed with a hole.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;

use futures::FutureExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStoreExt as _, PutPayload, PutResult, UploadPart};
use tokio::sync::oneshot;

use super::read::with_path;
use super::store::generic;
use super::DirectWriter;

/// What the writer thread is asked to do.
pub(super) enum Job {
    /// Write a part; answer when its bytes are taken.
    Part(PutPayload, oneshot::Sender<std::io::Result<()>>),
    /// Write the rest and set the file's length; answer with it.
    Finish(oneshot::Sender<std::io::Result<u64>>),
}

/// An upload in progress: its staging file and the writer thread's queue.
#[derive(Debug)]
pub(super) struct DirectUpload {
    jobs: Option<mpsc::Sender<Job>>,
    /// The staging file, until completed (renamed) or aborted (deleted).
    staging: Option<PathBuf>,
    dest: PathBuf,
    location: Path,
    store: Arc<LocalFileSystem>,
}

impl DirectUpload {
    /// Creates the staging file of `location` (and its folders) and starts its writer.
    pub(super) async fn start(
        store: Arc<LocalFileSystem>,
        location: &Path,
    ) -> object_store::Result<Self> {
        let dest = store.path_to_filesystem(location)?;
        let at = dest.clone();
        // Should this future be dropped while the name is claimed, the claim is dropped with
        // the task's output, which deletes the file.
        let (writer, staging) = tokio::task::spawn_blocking(move || staging_file(&at))
            .await
            .map_err(|e| generic(std::io::Error::other(e)))?
            .map_err(generic)?
            .keep();
        let (jobs, queue) = mpsc::channel();
        let upload = Self {
            jobs: Some(jobs),
            staging: Some(staging),
            dest,
            location: location.clone(),
            store,
        };
        // Its own thread, not the runtime's blocking pool: it lives as long as the upload.
        // Should it not start, dropping `upload` deletes the staging file.
        std::thread::Builder::new()
            .name("medallion-upload".into())
            .spawn(move || write_parts(writer, queue))
            .map_err(generic)?;
        Ok(upload)
    }

    fn send(&self, job: Job) -> object_store::Result<()> {
        let closed = || {
            generic(std::io::Error::other(format!(
                "{}: the upload was completed or aborted already",
                self.dest.display()
            )))
        };
        self.jobs
            .as_ref()
            .ok_or_else(closed)?
            .send(job)
            .map_err(|_| closed())
    }
}

/// A staging file just created: deleted when dropped, unless kept. An upload's `start`
/// that is cancelled while the file is created leaves no file behind (listings skip the
/// name, so nothing else would ever delete it).
pub(super) struct Claimed {
    writer: Option<DirectWriter>,
    path: PathBuf,
}

impl Claimed {
    /// The file's writer and path, now the upload's to complete or delete.
    pub(super) fn keep(mut self) -> (DirectWriter, PathBuf) {
        let writer = self.writer.take().expect("kept once");
        (writer, std::mem::take(&mut self.path))
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        writer.abandon();
        delete_staging(&self.path);
    }
}

/// Deletes a staging file that is given up; one already gone is no error.
fn delete_staging(path: &std::path::Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "A staging file could not be deleted.");
        }
    }
}

/// Renames the staging file onto `dest`; if that fails, deletes it and returns the error.
fn rename_or_delete(staging: &std::path::Path, dest: &std::path::Path) -> std::io::Result<()> {
    std::fs::rename(staging, dest).inspect_err(|_| delete_staging(staging))
}

/// `<dest>#<n>` for the first `n` from 1 that does not exist yet, created with its folders.
/// The name is claimed through the page cache (`O_EXCL`), then opened past it: Linux creates
/// a file before it checks `O_DIRECT`, so a file system that refuses it would leave the
/// name taken by a failed `O_EXCL|O_DIRECT` open.
pub(super) fn staging_file(dest: &std::path::Path) -> std::io::Result<Claimed> {
    let mut made_folder = false;
    let mut n = 1u64;
    loop {
        let mut name = dest.as_os_str().to_owned();
        name.push(format!("#{n}"));
        let path = PathBuf::from(name);
        let claimed = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map(drop);
        match claimed {
            Ok(()) => {
                return match DirectWriter::create(&path) {
                    Ok(w) => Ok(Claimed {
                        writer: Some(w),
                        path,
                    }),
                    Err(e) => {
                        // The name was claimed: give it back (listings skip it, so nothing
                        // else would ever delete it).
                        delete_staging(&path);
                        Err(with_path(e, &path))
                    }
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !made_folder => {
                let parent = dest.parent().unwrap_or(std::path::Path::new("/"));
                std::fs::create_dir_all(parent).map_err(|e| with_path(e, parent))?;
                made_folder = true;
            }
            Err(e) => return Err(with_path(e, &path)),
        }
    }
}

/// The writer thread: writes every part in the order sent until `Finish`, or until the
/// upload is dropped (then the file is given up). After an error, every later job fails.
pub(super) fn write_parts(mut writer: DirectWriter, queue: mpsc::Receiver<Job>) {
    let mut failed: Option<String> = None;
    for job in queue {
        match job {
            Job::Part(data, done) => {
                let written = match &failed {
                    Some(e) => Err(std::io::Error::other(format!(
                        "an earlier part failed: {e}"
                    ))),
                    None => data.iter().try_for_each(|b| writer.write_all(b)),
                };
                if let Err(e) = &written {
                    failed.get_or_insert_with(|| e.to_string());
                }
                // Nobody waits when the part's future was dropped: the upload is being
                // given up, and `complete` would fail on `failed` anyway.
                let _ = done.send(written);
            }
            Job::Finish(done) => {
                let finished = match failed {
                    Some(e) => {
                        writer.abandon();
                        Err(std::io::Error::other(format!("a part failed: {e}")))
                    }
                    None => writer.finish(),
                };
                let _ = done.send(finished);
                return;
            }
        }
    }
    writer.abandon();
}

#[async_trait::async_trait]
impl MultipartUpload for DirectUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let (done, answer) = oneshot::channel();
        let sent = self.send(Job::Part(data, done));
        let dest = self.dest.clone();
        async move {
            sent?;
            let lost = || std::io::Error::other("the writer thread stopped");
            let written = answer.await.map_err(|_| lost()).and_then(|w| w);
            written.map_err(|e| generic(with_path(e, &dest)))
        }
        .boxed()
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let (done, answer) = oneshot::channel();
        self.send(Job::Finish(done))?;
        self.jobs = None;
        let lost = || std::io::Error::other("the writer thread stopped");
        let finished = answer.await.map_err(|_| lost()).and_then(|f| f);
        if let Err(e) = finished {
            if let Err(not_deleted) = self.abort().await {
                tracing::warn!(error = %not_deleted, "A failed upload's staging file could not be deleted.");
            }
            return Err(generic(with_path(e, &self.dest)));
        }
        // The staging file is the rename's from here: should this future be dropped while
        // it runs, the drop must not delete the name, which by then may be another
        // upload's. A rename that fails deletes the staging file itself (nothing can
        // complete this upload any more).
        let staging = self
            .staging
            .take()
            .ok_or_else(|| generic(std::io::Error::other("the upload was aborted")))?;
        let dest = self.dest.clone();
        tokio::task::spawn_blocking(move || rename_or_delete(&staging, &dest))
            .await
            .map_err(|e| generic(std::io::Error::other(e)))?
            .map_err(|e| generic(with_path(e, &self.dest)))?;
        // The file is in place: a failed look at it must not make the upload a failure.
        let e_tag = match self.store.head(&self.location).await {
            Ok(meta) => meta.e_tag,
            Err(e) => {
                tracing::warn!(error = %e, path = %self.dest.display(), "An uploaded file's e-tag could not be read; it is returned without one.");
                None
            }
        };
        Ok(PutResult {
            e_tag,
            version: None,
        })
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.jobs = None;
        let Some(staging) = self.staging.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || match std::fs::remove_file(&staging) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(with_path(e, &staging)),
            _ => Ok(()),
        })
        .await
        .map_err(|e| generic(std::io::Error::other(e)))?
        .map_err(generic)
    }
}

impl Drop for DirectUpload {
    /// An upload neither completed nor aborted leaves no staging file behind.
    fn drop(&mut self) {
        if let Some(staging) = self.staging.take() {
            delete_staging(&staging);
        }
    }
}
