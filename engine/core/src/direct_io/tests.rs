use std::io::Write;
use std::path::Path;

use parquet::arrow::async_reader::AsyncFileReader;

use super::*;

/// The file system type of the mount holding `dir` (the longest mount point it is under).
pub(super) fn fs_type(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, at, kind) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(at).then(|| (at.len(), kind.to_string()))
        })
        .max()
        .map(|(_, k)| k)
        .unwrap_or_default()
}

/// Bytes that differ at every position (a misplaced block shows).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 4096) as u8).collect()
}

/// Writes `bytes` in uneven pieces; returns whether the file went past the cache.
fn write(path: &Path, bytes: &[u8]) -> bool {
    let mut w = DirectWriter::create(path).unwrap();
    let direct = w.is_direct();
    let mut at = 0;
    let mut piece = 1;
    while at < bytes.len() {
        let end = (at + piece).min(bytes.len());
        w.write_all(&bytes[at..end]).unwrap();
        at = end;
        piece = piece * 3 % 700_001 + 1;
    }
    assert_eq!(w.finish().unwrap(), bytes.len() as u64);
    direct
}

const SIZES: [usize; 9] = [
    0,
    1,
    4095,
    4096,
    4097,
    1 << 20,
    (1 << 20) - 1,
    (1 << 20) + 1,
    3_500_123,
];

#[test]
fn writes_every_byte_whatever_the_length() {
    let dir = tempfile::tempdir().unwrap();
    for n in SIZES {
        let path = dir.path().join(format!("f{n}"));
        let bytes = pattern(n);
        let direct = write(&path, &bytes);
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{n} bytes");
        // The file systems a lake's temporary folder is on in practice take O_DIRECT.
        if matches!(fs_type(dir.path()).as_str(), "ext4" | "xfs" | "btrfs") {
            assert!(direct, "{n} bytes on {}", fs_type(dir.path()));
        }
    }
}

#[tokio::test]
async fn reads_any_range_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3_500_123;
    let path = dir.path().join("f");
    let bytes = pattern(n);
    write(&path, &bytes);
    let mut r = DirectReader::open(&path, n as u64).unwrap();
    let ranges = [
        0..0,
        0..1,
        1..4097,
        4095..4097,
        4096..8192,
        100..n,
        n - 1..n,
        n..n,
        0..n,
    ];
    for range in ranges.clone() {
        let got = r
            .get_bytes(range.start as u64..range.end as u64)
            .await
            .unwrap();
        assert_eq!(&got[..], &bytes[range.clone()], "{range:?}");
    }
    let all = ranges
        .iter()
        .map(|r| r.start as u64..r.end as u64)
        .collect();
    let got = r.get_byte_ranges(all).await.unwrap();
    for (g, range) in got.iter().zip(ranges) {
        assert_eq!(&g[..], &bytes[range.clone()], "{range:?}");
    }
    let past = r.get_bytes(n as u64 - 1..n as u64 + 1).await.unwrap_err();
    assert!(past.to_string().contains("asked of a file of"), "{past}");
}

/// tmpfs (the temporary folder on many systems) takes O_DIRECT since Linux 6.6 and refuses
/// it before: the same bytes either way.
#[tokio::test]
async fn tmpfs_gives_the_same_bytes() {
    let shm = Path::new("/dev/shm");
    if fs_type(shm) != "tmpfs" {
        eprintln!("no tmpfs at /dev/shm");
        return;
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let path = dir.path().join("f");
    let bytes = pattern(1_234_567);
    write(&path, &bytes);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let mut r = DirectReader::open(&path, bytes.len() as u64).unwrap();
    let got = r.get_bytes(5..1_234_000).await.unwrap();
    assert_eq!(&got[..], &bytes[5..1_234_000]);
}

/// A file cut short (or not Parquet) fails with an error that names it.
#[tokio::test]
async fn a_bad_footer_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.parquet");
    write(&path, &pattern(10_000));
    let mut r = DirectReader::open(&path, 10_000).unwrap();
    let err = r.get_metadata(None).await.unwrap_err().to_string();
    assert!(err.contains("cut.parquet"), "{err}");
}

/// The factory belongs to one file: asked for another (or another length), it refuses.
#[test]
fn the_factory_reads_its_own_file_only() {
    use datafusion::datasource::listing::PartitionedFile;
    use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
    use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.parquet");
    write(&path, &pattern(100));
    let factory = DirectReaderFactory::new(path.clone(), 100);
    let file = |p: &Path, size: u64| {
        PartitionedFile::new_from_meta(object_store::ObjectMeta {
            location: object_store::path::Path::from_filesystem_path(p).unwrap(),
            last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            size,
            e_tag: None,
            version: None,
        })
    };
    let metrics = ExecutionPlanMetricsSet::new();
    assert!(factory
        .create_reader(0, file(&path, 100), None, &metrics)
        .is_ok());
    let other = dir.path().join("b.parquet");
    write(&other, &pattern(100));
    for (p, size) in [(&other, 100), (&path, 99)] {
        let err = factory
            .create_reader(0, file(p, size), None, &metrics)
            .err()
            .unwrap();
        assert!(err.to_string().contains("was asked for"), "{err}");
    }
    // Its own file gone: the store's error, naming it.
    let gone = DirectReaderFactory::new(dir.path().join("gone.parquet"), 100);
    let err = gone
        .create_reader(0, file(&path, 100), None, &metrics)
        .err()
        .unwrap();
    assert!(err.to_string().contains("gone.parquet"), "{err}");
}

/// A handle opened past the cache, turned through it, takes writes at any offset and length
/// (what a refused write falls back to, on the same handle rather than the path).
#[test]
fn a_handle_turned_through_the_cache_takes_unaligned_writes() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let (file, direct) = open(&path, std::fs::OpenOptions::new().write(true).create(true)).unwrap();
    if !direct {
        eprintln!("this file system does not take O_DIRECT: nothing to turn off");
        return;
    }
    // SAFETY: fcntl on the open file's own descriptor.
    let flags = || unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    assert_ne!(flags() & libc::O_DIRECT, 0);
    through_cache(&file).unwrap();
    assert_eq!(flags() & libc::O_DIRECT, 0, "O_DIRECT still set");
    file.write_all_at(b"abc", 1).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"\0abc");
}
