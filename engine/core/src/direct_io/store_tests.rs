//! The store past the page cache against the local store it wraps: same bytes, same errors.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, WriteMultipart};

use super::store::DirectStore;
use super::upload::{staging_file, write_parts, Job};
use super::DirectWriter;

/// Bytes that differ at every position (a misplaced block shows).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + i / 4096) as u8).collect()
}

fn at(dir: &std::path::Path, name: &str) -> Path {
    Path::from_absolute_path(dir.join(name)).unwrap()
}

/// Uploads `bytes` in parts of `chunk` bytes (several in flight at once).
async fn upload(store: &DirectStore, path: &Path, bytes: &[u8], chunk: usize) {
    let upload = store.put_multipart(path).await.unwrap();
    let mut w = WriteMultipart::new_with_chunk_size(upload, chunk);
    for piece in bytes.chunks(chunk / 3 + 1) {
        w.wait_for_capacity(4).await.unwrap();
        w.write(piece);
    }
    w.finish().await.unwrap();
}

/// Names in `dir` (staging files would show as `<name>#<n>`).
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut n: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn uploads_in_parts_give_back_every_byte_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirectStore::new();
    // Parts aligned and not, one short last part, a file within one block, an empty file.
    for (name, len, chunk) in [
        ("a", 3_500_001, 5 * 1024 * 1024),
        ("b", 3_500_001, 1 << 20),
        ("c", 3_500_001, 100_003),
        ("d", 4_000, 1_000),
        ("e", 0, 4096),
    ] {
        let bytes = pattern(len);
        let path = at(dir.path(), &format!("sub/{name}.parquet"));
        upload(&store, &path, &bytes, chunk).await;
        let back = store.get(&path).await.unwrap();
        let meta = back.meta.clone();
        assert_eq!(back.bytes().await.unwrap().as_ref(), &bytes[..], "{name}");
        assert_eq!(meta.size, len as u64, "{name}");
        let local = LocalFileSystem::new().head(&path).await.unwrap();
        assert_eq!(meta.e_tag, local.e_tag, "{name}");
    }
    assert_eq!(
        names(&dir.path().join("sub")),
        [
            "a.parquet",
            "b.parquet",
            "c.parquet",
            "d.parquet",
            "e.parquet"
        ]
    );
}

/// Where the file system refuses `O_DIRECT` (created, then refused, as Linux does), an
/// upload goes through the page cache: one file, every byte, no staging file left.
#[tokio::test]
async fn a_file_system_without_o_direct_gets_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join(super::REFUSES);
    let store = DirectStore::new();
    let bytes = pattern(3_000_001);
    let path = at(&folder, "x.parquet");
    // A regression here loops over staging names: time out rather than hang.
    let uploaded = upload(&store, &path, &bytes, 1 << 20);
    tokio::time::timeout(std::time::Duration::from_secs(60), uploaded)
        .await
        .expect("the upload finishes");
    assert_eq!(names(&folder), ["x.parquet"]);
    let back = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(back.as_ref(), &bytes[..]);
    let ranges = [5..200_000, 1_000_000..3_000_001];
    let local = LocalFileSystem::new();
    let ours = store.get_ranges(&path, &ranges).await.unwrap();
    assert_eq!(ours, local.get_ranges(&path, &ranges).await.unwrap());
}

#[tokio::test]
async fn reads_match_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pattern(9 * 1024 * 1024 + 12_345);
    std::fs::write(dir.path().join("f"), &bytes).unwrap();
    let (store, local) = (DirectStore::new(), LocalFileSystem::new());
    let path = at(dir.path(), "f");
    let n = bytes.len() as u64;
    let ranges = [
        0..n,
        1..n - 1,
        0..100,
        4096..4096 + 65_536,
        5_000..900_000,
        n - 70_000..n,
    ];
    for r in &ranges {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(r.clone())),
            ..Default::default()
        };
        let ours = store.get_opts(&path, opts.clone()).await.unwrap();
        let theirs = local.get_opts(&path, opts).await.unwrap();
        assert_eq!(ours.range, theirs.range, "{r:?}");
        assert_eq!(ours.meta, theirs.meta, "{r:?}");
        let ours = ours.bytes().await.unwrap();
        assert_eq!(ours, theirs.bytes().await.unwrap(), "{r:?}");
    }
    for opts in [GetRange::Suffix(100_000), GetRange::Offset(n - 200_000)] {
        let opts = GetOptions {
            range: Some(opts),
            ..Default::default()
        };
        let ours = store.get_opts(&path, opts.clone()).await.unwrap();
        let theirs = local.get_opts(&path, opts).await.unwrap();
        assert_eq!(ours.bytes().await.unwrap(), theirs.bytes().await.unwrap());
    }
    // Together, with empty ones (which `get_opts` refuses).
    let ranges = [&ranges[..], &[n..n, 10..10]].concat();
    let ours = store.get_ranges(&path, &ranges).await.unwrap();
    assert_eq!(ours, local.get_ranges(&path, &ranges).await.unwrap());
    // Small ones only (through the cache).
    let small = [0..10, 100..200, n - 5..n];
    let ours = store.get_ranges(&path, &small).await.unwrap();
    assert_eq!(ours, local.get_ranges(&path, &small).await.unwrap());
}

#[tokio::test]
async fn a_range_past_the_end_or_a_missing_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), pattern(200_000)).unwrap();
    let store = DirectStore::new();
    let path = at(dir.path(), "f");
    let err = store.get_ranges(&path, &[0..200_001]).await.unwrap_err();
    assert!(err.to_string().contains("200000 bytes"), "{err}");
    let missing = at(dir.path(), "missing");
    for e in [
        store.get_ranges(&missing, &[0..100_000]).await.unwrap_err(),
        store.get(&missing).await.unwrap_err(),
    ] {
        assert!(matches!(e, object_store::Error::NotFound { .. }), "{e}");
    }
    // The file replaced between the answer and the read: refused, not its bytes under the
    // old file's metadata.
    let got = store.get(&path).await.unwrap();
    std::fs::write(dir.path().join("g"), pattern(200_000)).unwrap();
    std::fs::rename(dir.path().join("g"), dir.path().join("f")).unwrap();
    let e = got.bytes().await.unwrap_err();
    assert!(e.to_string().contains("replaced since"), "{e}");
    // Deleted and written again (a file system may give the new file the old inode number,
    // unless the answer's handle still holds the old one): refused too.
    let got = store.get(&path).await.unwrap();
    std::fs::remove_file(dir.path().join("f")).unwrap();
    std::fs::write(dir.path().join("f"), pattern(200_000)).unwrap();
    let e = got.bytes().await.unwrap_err();
    assert!(e.to_string().contains("replaced since"), "{e}");
    // Deleted: the read says so.
    let got = store.get(&path).await.unwrap();
    std::fs::remove_file(dir.path().join("f")).unwrap();
    let e = got.bytes().await.unwrap_err();
    assert!(matches!(e, object_store::Error::NotFound { .. }), "{e}");
}

#[tokio::test]
async fn an_aborted_or_dropped_upload_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirectStore::new();
    let path = at(dir.path(), "t/x.parquet");
    let mut up = store.put_multipart(&path).await.unwrap();
    up.put_part(pattern(10_000).into()).await.unwrap();
    assert_eq!(names(&dir.path().join("t")), ["x.parquet#1"]);
    up.abort().await.unwrap();
    assert!(up.put_part(pattern(10).into()).await.is_err());
    assert!(up.complete().await.is_err());
    assert!(names(&dir.path().join("t")).is_empty());

    let mut up = store.put_multipart(&path).await.unwrap();
    up.put_part(pattern(10_000).into()).await.unwrap();
    drop(up);
    assert!(names(&dir.path().join("t")).is_empty());
    assert!(matches!(
        store.head(&path).await.unwrap_err(),
        object_store::Error::NotFound { .. }
    ));
}

/// A claimed staging file is deleted when its claim is dropped, and kept when kept.
#[test]
fn a_claimed_staging_file_is_deleted_unless_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("t/x.parquet");
    let claimed = staging_file(&dest).unwrap();
    assert_eq!(names(&dir.path().join("t")), ["x.parquet#1"]);
    drop(claimed);
    assert!(names(&dir.path().join("t")).is_empty());
    let (writer, path) = staging_file(&dest).unwrap().keep();
    assert_eq!(path, dir.path().join("t/x.parquet#1"));
    assert_eq!(writer.finish().unwrap(), 0);
    assert_eq!(names(&dir.path().join("t")), ["x.parquet#1"]);
}

/// An upload whose start is cancelled while its staging name is being claimed leaves no
/// staging file behind: the claim runs on to its end on the blocking pool, and its output
/// is dropped there.
#[test]
fn a_cancelled_start_leaves_no_staging_file() {
    use std::future::Future;
    use std::task::{Context, Poll};
    let rt = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = DirectStore::new();
    let path = at(dir.path(), "t/x.parquet");
    rt.block_on(async {
        // The one blocking thread is held: the claim waits in the queue behind it.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holder = tokio::task::spawn_blocking(move || held.recv());
        let mut start = Box::pin(store.put_multipart(&path));
        let polled = start
            .as_mut()
            .poll(&mut Context::from_waker(futures::task::noop_waker_ref()));
        assert!(
            matches!(polled, Poll::Pending),
            "start did not wait for its claim"
        );
        drop(start);
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        // First in, first out on the one thread: the claim has run and been dropped.
        tokio::task::spawn_blocking(|| ()).await.unwrap();
    });
    let folder = dir.path().join("t");
    assert!(folder.exists(), "the claim did not run");
    assert!(names(&folder).is_empty(), "left: {:?}", names(&folder));
}

/// A rename that fails at `complete` fails the upload and deletes its staging file.
#[tokio::test]
async fn a_failed_rename_fails_the_upload_and_leaves_no_staging_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirectStore::new();
    let path = at(dir.path(), "t/x.parquet");
    let mut up = store.put_multipart(&path).await.unwrap();
    up.put_part(pattern(10_000).into()).await.unwrap();
    // A folder that is not empty cannot be replaced by a file.
    std::fs::create_dir_all(dir.path().join("t/x.parquet/inside")).unwrap();
    assert!(up.complete().await.is_err());
    assert_eq!(names(&dir.path().join("t")), ["x.parquet"]);
    assert!(dir.path().join("t/x.parquet/inside").is_dir());
    drop(up);
    assert_eq!(names(&dir.path().join("t")), ["x.parquet"]);
}

/// A part the disk refuses fails, every later part fails, and so does the finish: the file
/// is never completed with a hole.
#[test]
fn after_a_failed_part_nothing_more_is_written() {
    let writer = DirectWriter::create(std::path::Path::new("/dev/full")).unwrap();
    let (jobs, queue) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || write_parts(writer, queue));
    let mut answers = Vec::new();
    for len in [3 << 20, 10] {
        let (done, answer) = tokio::sync::oneshot::channel();
        jobs.send(Job::Part(pattern(len).into(), done)).unwrap();
        answers.push(answer);
    }
    let (done, finished) = tokio::sync::oneshot::channel();
    jobs.send(Job::Finish(done)).unwrap();
    thread.join().unwrap();
    let first = answers.remove(0).blocking_recv().unwrap().unwrap_err();
    assert_eq!(first.raw_os_error(), Some(libc::ENOSPC), "{first}");
    let second = answers.remove(0).blocking_recv().unwrap().unwrap_err();
    assert!(
        second.to_string().contains("an earlier part failed"),
        "{second}"
    );
    let finished = finished.blocking_recv().unwrap().unwrap_err();
    assert!(finished.to_string().contains("a part failed"), "{finished}");
}

/// deltalake writes `file://` tables through the store past the cache (and reads their log
/// through it), and the rows come back whole.
#[tokio::test]
async fn delta_tables_on_the_local_disk_use_it() {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let dir = tempfile::tempdir().unwrap();
    let loc = crate::table::Location::local(&dir.path().join("t")).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("text", DataType::Utf8, true),
    ]));
    let mut w = crate::table::StagedWrite::new("t", &loc, schema.clone())
        .unwrap()
        .raw_text(&[], &["id"]);
    let rows = 600_000i64;
    // Random-looking text that compresses poorly: the file is larger than one 5 MiB part.
    let text: Vec<String> = (0..rows)
        .map(|i| {
            let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            format!("{h:016x}{:016x}", h.rotate_left(29) ^ 0x5851_F42D_4C95_7F2D)
        })
        .collect();
    for start in (0..rows).step_by(150_000) {
        let ids = Int64Array::from_iter_values(start..start + 150_000);
        let t = StringArray::from_iter_values(&text[start as usize..(start + 150_000) as usize]);
        let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(t)]).unwrap();
        w.write(b).await.unwrap();
    }
    let staged = w.finish().await.unwrap();
    assert!(staged.adds[0].size > 5 << 20, "{}", staged.adds[0].size);
    let table = staged
        .commit(None, Default::default(), vec![])
        .await
        .unwrap()
        .unwrap();
    let store = table.log_store().root_object_store(None);
    assert!(store.to_string().contains("past the page cache"), "{store}");
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_table("t", crate::table::provider(&table, &ctx).await.unwrap())
        .unwrap();
    let sums = ctx
        .sql("SELECT count(*), sum(id), count(DISTINCT text) FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let row = arrow::util::pretty::pretty_format_batches(&sums)
        .unwrap()
        .to_string();
    let row = row.replace(' ', "");
    let want = format!("|{rows}|{}|{rows}|", rows * (rows - 1) / 2);
    assert!(row.contains(&want), "{row}\nwant {want}");
}
