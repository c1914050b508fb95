//! Sources beyond plain local files: compressed files (gzip, zstd, bzip2) and S3 objects on
//! the local S3 API server (moto, deploy/local/services/moto.sh).

mod common;

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use common::aws::{self, medallion};
use common::{edit, project, root};

#[derive(Clone, Copy)]
enum Kind {
    Gzip,
    Zstd,
    Bzip2,
}

fn compress(kind: Kind, bytes: &[u8]) -> Vec<u8> {
    match kind {
        Kind::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        Kind::Zstd => zstd::stream::encode_all(bytes, 3).unwrap(),
        Kind::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
    }
}

/// Replaces `file` by its compressed copy `file<ext>`.
fn compress_in_place(file: &Path, kind: Kind, ext: &str) {
    let bytes = std::fs::read(file).unwrap();
    let target = format!("{}{ext}", file.display());
    std::fs::write(&target, compress(kind, &bytes)).unwrap();
    std::fs::remove_file(file).unwrap();
}

fn sql(p: &Path, env: &str, query: &str) -> String {
    let (code, out, err) = medallion(p, &["sql", "--env", env, "--format", "csv", query]);
    assert_eq!(code, 0, "{query}: {err}");
    out
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(root().join("testdata/golden").join(name)).unwrap()
}

#[test]
fn compressed_files_give_the_tables_of_the_plain_ones() {
    let dir = project();
    let p = dir.path();
    let orders = p.join("testdata/shop/orders");
    compress_in_place(&orders.join("orders-2026-11-01.ndjson"), Kind::Gzip, ".gz");
    compress_in_place(&orders.join("orders-2026-11-02.ndjson"), Kind::Zstd, ".zst");
    edit(
        p,
        "jobs/shop/orders.yaml",
        "testdata/shop/orders/*.ndjson",
        "testdata/shop/orders/*",
    );
    for f in std::fs::read_dir(p.join("testdata/iot/readings")).unwrap() {
        compress_in_place(&f.unwrap().path(), Kind::Bzip2, ".bz2");
    }
    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for (query, file) in [
        (
            "SELECT * FROM gold.daily_revenue ORDER BY day",
            "shop/daily_revenue.csv",
        ),
        (
            "SELECT * FROM gold.revenue_by_country ORDER BY country",
            "shop/revenue_by_country.csv",
        ),
        (
            "SELECT * FROM gold.hourly_device_stats ORDER BY device_id, hour",
            "iot/hourly_device_stats.csv",
        ),
    ] {
        assert_eq!(sql(p, "dev", query), golden(file), "{query}");
    }
    // Line numbers are those of the uncompressed text.
    let lines = sql(
        p,
        "dev",
        "SELECT max(_source_line) FROM bronze.orders WHERE _source_file LIKE '%orders-2026-11-01.ndjson.gz'",
    );
    assert_eq!(lines.lines().nth(1), Some("11"), "{lines}");
}

#[test]
fn a_corrupt_gzip_member_quarantines_the_rest_of_the_file_with_its_line() {
    let dir = project();
    let p = dir.path();
    let file = p.join("testdata/shop/orders/orders-2026-11-01.ndjson");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first = lines[..6].join("\n") + "\n";
    let rest = lines[6..].join("\n") + "\n";
    let mut second = compress(Kind::Gzip, rest.as_bytes());
    let mid = second.len() / 2;
    second[mid..mid + 8].copy_from_slice(b"\xff\xff\xff\xffgarb");
    let mut bytes = compress(Kind::Gzip, first.as_bytes());
    bytes.extend_from_slice(&second);
    replace_and_run(p, &file, "orders-2026-11-01.ndjson.gz", &bytes);
    let bronze = sql(
        p,
        "dev",
        "SELECT max(_source_line) FROM bronze.orders WHERE _source_file LIKE '%11-01.ndjson.gz'",
    );
    assert!(
        bronze.ends_with("\n6\n") || bronze.ends_with("\n5\n"),
        "the first member's lines only: {bronze}"
    );
    let q = sql(
        p,
        "dev",
        "SELECT _stage, _source_line, _reason FROM silver.orders_quarantine \
         WHERE _source_file LIKE '%11-01.ndjson.gz' AND _reason LIKE '%corrupt gzip%'",
    );
    let row = q
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no corrupt-data record: {q}"));
    assert!(
        row.starts_with("bronze,7,"),
        "from the second member's first line: {row}"
    );
    assert!(row.contains("cannot be read from this line on"), "{row}");
    // The file is ingested: a second run reads nothing again.
    let (code, out, err) = medallion(p, &["run", "jobs/shop/orders.yaml", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        sql(
            p,
            "dev",
            "SELECT count(*) FROM silver.orders_quarantine WHERE _reason LIKE '%corrupt gzip%'"
        ),
        "count(*)\n1\n"
    );
}

/// A gzip member whose data is intact but whose checksum is not: the member is not used
/// (its bytes are handed out before the checksum is checked).
#[test]
fn a_member_failing_its_checksum_is_not_ingested() {
    let dir = project();
    let p = dir.path();
    let file = p.join("testdata/shop/orders/orders-2026-11-02.ndjson");
    let text = std::fs::read(&file).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    e.write_all(&text).unwrap();
    let mut gz = e.finish().unwrap();
    // Stored (level 0): change one amount digit in place; only the CRC can tell.
    let at = gz.windows(6).position(|w| w == b"amount").unwrap() + 8;
    gz[at] = if gz[at] == b'9' { b'1' } else { b'9' };
    replace_and_run(p, &file, "orders-2026-11-02.ndjson.gz", &gz);
    let rows = sql(
        p,
        "dev",
        "SELECT count(*) FROM bronze.orders WHERE _source_file LIKE '%11-02.ndjson.gz'",
    );
    assert_eq!(rows, "count(*)\n0\n");
    let q = sql(
        p,
        "dev",
        "SELECT _source_line FROM silver.orders_quarantine WHERE _source_file LIKE '%11-02.ndjson.gz' AND _reason LIKE '%corrupt gzip%'",
    );
    assert_eq!(q, "_source_line\n1\n");
}

/// A zstd or bzip2 file cut short (a transfer that stopped): the run succeeds, what the
/// intact part holds is ingested, the rest is one quarantine record naming the format and the
/// line it starts at, and nothing of the cut part reaches Bronze.
#[test]
fn truncated_zstd_and_bzip2_files_quarantine_their_unreadable_rest() {
    for (kind, ext, what) in [(Kind::Zstd, "zst", "zstd"), (Kind::Bzip2, "bz2", "bzip2")] {
        let dir = project();
        let p = dir.path();
        let file = p.join("testdata/shop/orders/orders-2026-11-01.ndjson");
        let text = std::fs::read(&file).unwrap();
        let lines = text.iter().filter(|b| **b == b'\n').count();
        let mut bytes = compress(kind, &text);
        bytes.truncate(bytes.len() * 2 / 3);
        replace_and_run(p, &file, &format!("orders-2026-11-01.ndjson.{ext}"), &bytes);
        let bronze = sql(
            p,
            "dev",
            &format!("SELECT count(*) FROM bronze.orders WHERE _source_file LIKE '%.ndjson.{ext}'"),
        );
        let ingested: usize = bronze.lines().nth(1).unwrap().parse().unwrap();
        let q = sql(
            p,
            "dev",
            &format!(
                "SELECT _stage, _source_line, _reason FROM silver.orders_quarantine \
                 WHERE _source_file LIKE '%.ndjson.{ext}' AND _reason LIKE '%corrupt {what}%'"
            ),
        );
        let row = q
            .lines()
            .nth(1)
            .unwrap_or_else(|| panic!("{what}: no corrupt-data record: {q}"));
        let from: usize = row.split(',').nth(1).unwrap().parse().unwrap();
        assert!(row.starts_with("bronze,"), "{what}: {row}");
        assert!(
            ingested < lines,
            "{what}: the cut part was not ingested: {ingested} of {lines}"
        );
        assert_eq!(
            from,
            ingested + 1,
            "{what}: the record starts after the ingested lines: {row}"
        );
    }
}

/// `compression:` names the format of files whose names do not tell it.
#[test]
fn compression_named_in_the_spec_reads_files_without_an_extension() {
    let dir = project();
    let p = dir.path();
    let orders = p.join("testdata/shop/orders");
    for f in ["orders-2026-11-01.ndjson", "orders-2026-11-02.ndjson"] {
        let plain = std::fs::read(orders.join(f)).unwrap();
        std::fs::write(
            orders.join(format!("{f}.part")),
            compress(Kind::Gzip, &plain),
        )
        .unwrap();
        std::fs::remove_file(orders.join(f)).unwrap();
    }
    edit(
        p,
        "jobs/shop/orders.yaml",
        "{ path: testdata/shop/orders/*.ndjson, format: ndjson }",
        "{ path: testdata/shop/orders/*.part, format: ndjson, compression: gzip }",
    );
    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        sql(p, "dev", "SELECT * FROM gold.daily_revenue ORDER BY day"),
        golden("shop/daily_revenue.csv")
    );
}

/// zstd files written with a long window (`zstd --long=28`) are read, not called corrupt.
#[test]
fn zstd_with_a_long_window_is_read() {
    let dir = project();
    let p = dir.path();
    let file = p.join("testdata/shop/orders/orders-2026-11-01.ndjson");
    let text = std::fs::read(&file).unwrap();
    let mut e = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    e.set_parameter(zstd::zstd_safe::CParameter::WindowLog(28))
        .unwrap();
    e.write_all(&text).unwrap();
    let zst = e.finish().unwrap();
    replace_and_run(p, &file, "orders-2026-11-01.ndjson.zst", &zst);
    assert_eq!(
        sql(p, "dev", "SELECT * FROM gold.daily_revenue ORDER BY day"),
        golden("shop/daily_revenue.csv")
    );
}

/// A compressed CSV whose header cannot be read is one quarantined record; the other files
/// and jobs go on.
#[test]
fn a_csv_with_a_corrupt_header_is_quarantined_whole() {
    let dir = project();
    let p = dir.path();
    std::fs::write(
        p.join("testdata/shop/customers/broken.csv.gz"),
        b"this is not gzip\n",
    )
    .unwrap();
    edit(
        p,
        "jobs/shop/customers.yaml",
        "testdata/shop/customers/*.csv,",
        "testdata/shop/customers/*,",
    );
    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let q = sql(
        p,
        "dev",
        "SELECT _source_line FROM silver.customers_quarantine WHERE _source_file LIKE '%broken.csv.gz'",
    );
    assert_eq!(q, "_source_line\n1\n");
    assert_eq!(
        sql(
            p,
            "dev",
            "SELECT * FROM gold.revenue_by_country ORDER BY country"
        ),
        golden("shop/revenue_by_country.csv")
    );
}

/// Replaces the orders file `file` by `bytes` under the name `name`, makes the orders source
/// read every file of its folder, and runs every job (which must succeed).
fn replace_and_run(p: &Path, file: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(p.join("testdata/shop/orders").join(name), bytes).unwrap();
    std::fs::remove_file(file).unwrap();
    edit(
        p,
        "jobs/shop/orders.yaml",
        "testdata/shop/orders/*.ndjson",
        "testdata/shop/orders/*",
    );
    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

/// `PUT`s `body` at `bucket/key` on the local server.
async fn put(http: &reqwest::Client, bucket: &str, key: &str, body: Vec<u8>) {
    let r = http
        .put(format!("{}/{bucket}/{key}", aws::endpoint()))
        .header("Authorization", aws::AUTH)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "PUT {key}: {}", r.status());
}

/// A project whose `orders` job reads `source` and whose other jobs are removed.
fn orders_from(source: &str) -> tempfile::TempDir {
    let dir = project();
    let p = dir.path();
    edit(
        p,
        "jobs/shop/orders.yaml",
        "testdata/shop/orders/*.ndjson",
        source,
    );
    // Gold's revenue_by_country joins silver.customers: keep the customers job, drop the rest.
    std::fs::remove_dir_all(p.join("jobs/iot")).unwrap();
    std::fs::remove_dir_all(p.join("jobs/streaming")).unwrap();
    dir
}

fn rows(p: &Path, env: &str, query: &str) -> u64 {
    sql(p, env, query).lines().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_landing_objects_are_ingested_once_and_again_when_re_uploaded() {
    let (dir, bucket, _key, _prefix) = aws::setup().await;
    let http = reqwest::Client::new();
    let orders = root().join("testdata/shop/orders");
    let day1 = std::fs::read(orders.join("orders-2026-11-01.ndjson")).unwrap();
    let day2 = std::fs::read(orders.join("orders-2026-11-02.ndjson")).unwrap();
    let landing = format!("{bucket}-landing");
    aws::create_bucket(&landing).await;
    put(
        &http,
        &landing,
        "shop/orders/2026/11/01/part-0.ndjson",
        day1.clone(),
    )
    .await;
    put(
        &http,
        &landing,
        "shop/orders/2026/11/02/part-0.ndjson.gz",
        compress(Kind::Gzip, &day2),
    )
    .await;
    put(
        &http,
        &landing,
        "shop/orders/2026/11/02/_SUCCESS",
        Vec::new(),
    )
    .await;
    // A job still writing: its `_temporary/` folder is not a landing file.
    put(
        &http,
        &landing,
        "shop/orders/_temporary/0/part-9.ndjson",
        day2.clone(),
    )
    .await;
    put(
        &http,
        &landing,
        "shop/other/2026/11/01/part-0.ndjson",
        b"{\"not\": \"orders\"}\n".to_vec(),
    )
    .await;
    let src = format!("s3://{landing}/shop/orders/**/*");
    let p_dir = orders_from(&src);
    let p = p_dir.path();
    std::fs::copy(
        dir.path().join("environments.yaml"),
        p.join("environments.yaml"),
    )
    .unwrap();

    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        sql(p, "prod", "SELECT * FROM gold.daily_revenue ORDER BY day"),
        golden("shop/daily_revenue.csv")
    );
    let names = sql(
        p,
        "prod",
        "SELECT DISTINCT _source_file FROM bronze.orders ORDER BY 1",
    );
    assert_eq!(names.lines().count(), 3, "two objects: {names}");
    assert!(
        names.contains(&format!(
            "s3://{landing}/shop/orders/2026/11/01/part-0.ndjson#"
        )),
        "{names}"
    );
    let before = rows(p, "prod", "SELECT count(*) FROM bronze.orders");
    let day1_rows = rows(
        p,
        "prod",
        "SELECT count(*) FROM bronze.orders WHERE _source_file LIKE '%/01/part-0.ndjson#%'",
    );
    assert_eq!(before, 14, "16 lines, 2 of them unparseable");

    // Nothing new: nothing read.
    let (code, out, err) = medallion(p, &["run", "jobs/shop/", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        rows(p, "prod", "SELECT count(*) FROM bronze.orders"),
        before
    );

    // Re-uploaded with other content (one line more): ingested again, as a new version.
    let mut changed = day1.clone();
    changed.extend_from_slice(&day2[..day2.iter().position(|b| *b == b'\n').unwrap() + 1]);
    put(
        &http,
        &landing,
        "shop/orders/2026/11/01/part-0.ndjson",
        changed,
    )
    .await;
    let (code, out, err) = medallion(p, &["run", "jobs/shop/", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        rows(p, "prod", "SELECT count(*) FROM bronze.orders"),
        before + day1_rows + 1
    );
    let versions = rows(
        p,
        "prod",
        "SELECT count(DISTINCT _source_file) FROM bronze.orders WHERE _source_file LIKE '%/01/part-0.ndjson#%'",
    );
    assert_eq!(versions, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_source_in_another_environments_lake_is_refused() {
    let (dir, bucket, _key, _prefix) = aws::setup().await;
    let p = dir.path();
    // staging's lake is in the same bucket under `staging/`.
    let envs = std::fs::read_to_string(p.join("environments.yaml")).unwrap();
    std::fs::write(
        p.join("environments.yaml"),
        format!("{envs}  staging: {{ lake: s3://{bucket}/staging, retention_days: 90, catalog: {{ glue: {{ database_prefix: st_ }} }} }}\n"),
    )
    .unwrap();
    // A file of staging's Bronze: found by a glob whose fixed part is outside staging's lake.
    put(
        &reqwest::Client::new(),
        &bucket,
        "staging/bronze/orders/part-0.ndjson",
        b"{}\n".to_vec(),
    )
    .await;
    for source in [
        format!("s3://{bucket}/staging/bronze/orders/*.parquet"),
        format!("s3://{bucket}/*/bronze/**"),
    ] {
        edit(
            p,
            "jobs/shop/orders.yaml",
            "testdata/shop/orders/*.ndjson",
            &source,
        );
        let (code, out, err) = medallion(p, &["run", "jobs/shop/", "--env", "prod"]);
        assert_ne!(code, 0, "{out}");
        assert!(
            err.contains("reaches into the lake of environment `staging`"),
            "{source}: {err}"
        );
        edit(
            p,
            "jobs/shop/orders.yaml",
            &source,
            "testdata/shop/orders/*.ndjson",
        );
    }
}

/// Many small objects: listed, planned and ingested (the times are printed, not asserted).
/// `MEDALLION_TEST_OBJECTS` sets how many (default 10,000; docs/cluster.md reports 100,000).
#[tokio::test(flavor = "multi_thread")]
async fn many_small_objects_are_listed_and_ingested() {
    let n: usize = std::env::var("MEDALLION_TEST_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (dir, bucket, _key, _prefix) = aws::setup().await;
    let landing = format!("{bucket}-many");
    aws::create_bucket(&landing).await;
    let http = reqwest::Client::new();
    let line =
        std::fs::read_to_string(root().join("testdata/shop/orders/orders-2026-11-01.ndjson"))
            .unwrap();
    let line = line.lines().next().unwrap().to_string();
    let started = Instant::now();
    let puts = (0..n).map(|i| {
        let (http, landing) = (http.clone(), landing.clone());
        let body = format!(
            "{}\n",
            line.replacen("\"order_id\":\"", &format!("\"order_id\":\"m{i}-"), 1)
        );
        async move {
            put(
                &http,
                &landing,
                &format!("orders/{:02}/{i:06}.ndjson", i % 16),
                body.into_bytes(),
            )
            .await
        }
    });
    use futures::StreamExt as _;
    futures::stream::iter(puts)
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    eprintln!(
        "uploaded {n} objects in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let p_dir = orders_from(&format!("s3://{landing}/orders/"));
    let p = p_dir.path();
    std::fs::copy(
        dir.path().join("environments.yaml"),
        p.join("environments.yaml"),
    )
    .unwrap();
    let started = Instant::now();
    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    eprintln!(
        "listed and ingested {n} objects in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        rows(
            p,
            "prod",
            "SELECT count(DISTINCT _source_file) FROM bronze.orders"
        ),
        n as u64
    );
    let started = Instant::now();
    let (code, out, err) = medallion(p, &["run", "jobs/shop/orders.yaml", "--env", "prod"]);
    assert_eq!(code, 0, "{out}\n{err}");
    eprintln!(
        "listed {n} objects and found nothing new in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        rows(p, "prod", "SELECT count(*) FROM bronze.orders"),
        n as u64
    );
}

/// Starts `medallion run` paused after Bronze listed its sources (debug-build hook); returns
/// the child and the flag file that lets it go on.
fn run_paused_after_listing(p: &Path, env: &str) -> (std::process::Child, std::path::PathBuf) {
    let flag = p.join("go");
    let child = aws::command(p, &["run", "jobs/shop/", "--env", env])
        .env(
            "MEDALLION_FAULT",
            format!("wait:after_listing_orders:{}", flag.display()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = p.join("go.waiting");
    let started = Instant::now();
    while !waiting.exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the run never finished listing"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (child, flag)
}

/// A local landing file appended to between the listing and the read: the run fails (I/O,
/// exit 2) naming the file, commits nothing, and the next run ingests the whole file.
#[test]
fn a_local_file_changed_after_the_listing_fails_the_run_and_is_read_whole_next_time() {
    let dir = project();
    let p = dir.path();
    let file = p.join("testdata/shop/orders/orders-2026-11-02.ndjson");
    let text = std::fs::read_to_string(&file).unwrap();
    let (child, flag) = run_paused_after_listing(p, "dev");
    let first = text.lines().next().unwrap().replace("\"O", "\"Z");
    std::fs::write(&file, format!("{text}{first}\n")).unwrap();
    std::fs::write(&flag, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("orders-2026-11-02.ndjson") && err.contains("changed while the run read it"),
        "{err}"
    );
    let (code, tables, err) = medallion(p, &["tables", "--env", "dev", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!tables.contains("orders"), "nothing committed: {tables}");
    let (code, out, err) = medallion(p, &["run", "jobs/shop/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines = text.lines().count() + 1;
    assert_eq!(
        sql(
            p,
            "dev",
            "SELECT count(*) FROM bronze.orders WHERE _source_file LIKE '%11-02.ndjson'"
        ),
        format!("count(*)\n{lines}\n"),
        "every line of the whole file, once"
    );
}

/// An S3 landing object replaced between the listing and the GET: the run fails (I/O) saying
/// it changed since it was listed, commits nothing; the next run ingests the new version.
#[tokio::test(flavor = "multi_thread")]
async fn an_object_replaced_after_the_listing_fails_the_run_and_the_next_run_reads_it() {
    let bucket = format!("landing-{}", uuid::Uuid::new_v4().simple());
    aws::create_bucket(&bucket).await;
    let dir = orders_from(&format!("s3://{bucket}/orders/"));
    let p = dir.path();
    let text = std::fs::read(root().join("testdata/shop/orders/orders-2026-11-01.ndjson")).unwrap();
    aws::put_object(&bucket, "orders/a.ndjson", text.clone()).await;
    let (child, flag) = run_paused_after_listing(p, "dev");
    let mut other = text.clone();
    other.extend_from_slice(&text[..text.iter().position(|b| *b == b'\n').unwrap() + 1]);
    aws::put_object(&bucket, "orders/a.ndjson", other).await;
    std::fs::write(&flag, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("changed since it was listed"), "{err}");
    let (_, tables, _) = medallion(p, &["tables", "--env", "dev", "--json"]);
    assert!(!tables.contains("orders"), "nothing committed: {tables}");
    let (code, out, err) = medallion(p, &["run", "jobs/shop/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // Every line of the new version once: in Bronze, or quarantined as unparseable.
    let lines = text.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let bronze = rows(p, "dev", "SELECT count(*) FROM bronze.orders");
    let unparseable = rows(
        p,
        "dev",
        "SELECT count(*) FROM silver.orders_quarantine WHERE _stage = 'bronze'",
    );
    assert_eq!(bronze + unparseable, lines);
    assert_eq!(
        rows(
            p,
            "dev",
            "SELECT count(DISTINCT _source_file) FROM bronze.orders"
        ),
        1,
        "only the new version"
    );
    aws::delete_bucket(&bucket).await;
}

/// A landing object written with SSE-KMS (under a key of the landing account) is read
/// transparently, like a plain one.
#[tokio::test(flavor = "multi_thread")]
async fn an_sse_kms_landing_object_is_read() {
    let bucket = format!("landing-{}", uuid::Uuid::new_v4().simple());
    aws::create_bucket(&bucket).await;
    let key = aws::create_key().await;
    let text = std::fs::read(root().join("testdata/shop/orders/orders-2026-11-02.ndjson")).unwrap();
    let r = reqwest::Client::new()
        .put(format!("{}/{bucket}/orders/kms.ndjson", aws::endpoint()))
        .header("Authorization", aws::AUTH)
        .header("x-amz-server-side-encryption", "aws:kms")
        .header("x-amz-server-side-encryption-aws-kms-key-id", &key)
        .body(text.clone())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "PUT: {}", r.status());
    let (sse, kms) = aws::encryption(&bucket, "orders/kms.ndjson").await;
    assert_eq!(sse.as_deref(), Some("aws:kms"), "the object is SSE-KMS");
    assert!(
        kms.is_some_and(|k| k.contains(&key)),
        "under the landing key"
    );
    let dir = orders_from(&format!("s3://{bucket}/orders/"));
    let p = dir.path();
    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines = text.iter().filter(|b| **b == b'\n').count() as u64;
    let bronze = rows(p, "dev", "SELECT count(*) FROM bronze.orders");
    let unparseable = rows(
        p,
        "dev",
        "SELECT count(*) FROM silver.orders_quarantine WHERE _stage = 'bronze'",
    );
    assert_eq!(bronze + unparseable, lines, "every line once");
    assert!(bronze > 0);
    aws::delete_bucket(&bucket).await;
}

/// On S3 as locally: a gzip object whose second member is corrupt has its first member's
/// lines ingested and the rest quarantined as one record at the first unread line.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_gzip_member_in_an_s3_object_quarantines_the_rest() {
    let bucket = format!("landing-{}", uuid::Uuid::new_v4().simple());
    aws::create_bucket(&bucket).await;
    let text =
        std::fs::read_to_string(root().join("testdata/shop/orders/orders-2026-11-02.ndjson"))
            .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first = lines[..3].join("\n") + "\n";
    let rest = lines[3..].join("\n") + "\n";
    let mut second = compress(Kind::Gzip, rest.as_bytes());
    let mid = second.len() / 2;
    second[mid..mid + 8].copy_from_slice(b"\xff\xff\xff\xffgarb");
    let mut bytes = compress(Kind::Gzip, first.as_bytes());
    bytes.extend_from_slice(&second);
    aws::put_object(&bucket, "orders/2026/11/02/part-0.ndjson.gz", bytes).await;
    let dir = orders_from(&format!("s3://{bucket}/orders/**/*.ndjson.gz"));
    let p = dir.path();
    let (code, out, err) = medallion(p, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        rows(p, "dev", "SELECT max(_source_line) FROM bronze.orders"),
        3,
        "the first member's lines only"
    );
    assert_eq!(
        rows(
            p,
            "dev",
            "SELECT min(_source_line) FROM silver.orders_quarantine WHERE _reason LIKE '%corrupt gzip%'"
        ),
        4,
        "one record from the second member's first line"
    );
    aws::delete_bucket(&bucket).await;
}
