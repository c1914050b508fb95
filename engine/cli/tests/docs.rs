//! The docs site end to end: `medallion docs` on the example project after two runs, then the
//! site loaded in a real browser (headless Chromium, the Debian package; `MEDALLION_CHROMIUM`
//! names another binary). The lineage page must show every table-level edge of the example
//! pipelines (golden list, reviewed by hand), searching a column must find it, a hostile
//! description must show as text and not run, and a screenshot of the lineage page is kept
//! under the test's output folder (`$CARGO_TARGET_TMPDIR/docs-site/lineage.png`).
//!
//! `MEDALLION_UPDATE_GOLDEN=1` rewrites the golden file (review the diff by hand).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{medallion_with_fault, project};

const HOSTILE: &str =
    r#"<img src=x onerror="document.body.dataset.pwned=1"> Revenue & "orders" per day"#;

fn medallion(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    medallion_with_fault(dir, None, args)
}

fn chromium() -> String {
    std::env::var("MEDALLION_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Chromium as the test machine runs it: headless, no sandbox (root in CI), no background
/// network (the machine's network is closed), a fresh profile.
fn browser(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The page's DOM after its script ran.
fn dom(profile: &Path, site: &Path, hash: &str) -> String {
    let url = format!("file://{}#{hash}", site.join("index.html").display());
    let out = browser(profile)
        .args(["--virtual-time-budget=5000", "--dump-dom", &url])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} could not be started ({e}): install Debian's chromium (apt-get install \
                 chromium; deploy/local/setup.sh does) or set MEDALLION_CHROMIUM",
                chromium()
            )
        });
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The values of `attr` in every element of the DOM that has it, in order.
fn attrs(dom: &str, attr: &str) -> Vec<String> {
    let key = format!("{attr}=\"");
    dom.match_indices(&key)
        .map(|(i, _)| {
            let rest = &dom[i + key.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

/// (from, to) of every edge drawn in the DOM's lineage graph.
fn edges(dom: &str) -> BTreeSet<(String, String)> {
    dom.split("<g ")
        .filter(|g| g.starts_with("class=\"edge"))
        .map(|g| {
            let get = |a: &str| attrs(g, a).into_iter().next().unwrap();
            (get("data-from"), get("data-to"))
        })
        .collect()
}

fn golden_edges(actual: &BTreeSet<(String, String)>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/docs/lineage-edges.txt");
    let text: String = actual
        .iter()
        .map(|(a, b)| format!("{a} -> {b}\n"))
        .collect();
    if std::env::var("MEDALLION_UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        expected,
        "{} differs (MEDALLION_UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}

/// The example project, with a hostile description on one Gold table, run twice.
fn project_with_runs() -> tempfile::TempDir {
    let dir = project();
    let spec = dir.path().join("jobs/shop/orders.yaml");
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "description: Revenue and order count per day (cancelled orders excluded).",
        &format!("description: '{HOSTILE}'"),
    );
    assert!(
        text.contains("pwned"),
        "the example spec changed: update this test"
    );
    std::fs::write(&spec, text).unwrap();
    for _ in 0..2 {
        let (code, _, err) = medallion(dir.path(), &["run", "jobs/", "--env", "dev"]);
        assert_eq!(code, Some(0), "{err}");
    }
    dir
}

/// Everything the site loads is in its folder: no address of another host anywhere a browser
/// would fetch it.
fn assert_no_network(site: &Path) {
    for f in [
        "index.html",
        "assets/app.js",
        "assets/style.css",
        "assets/data.js",
    ] {
        let text = std::fs::read_to_string(site.join(f)).unwrap();
        for bad in [
            "src=\"http",
            "href=\"http",
            "url(http",
            "@import",
            "fetch(",
            "XMLHttpRequest",
            "//cdn",
        ] {
            assert!(!text.contains(bad), "{f} contains {bad:?}");
        }
    }
}

#[test]
fn docs_site_in_a_browser() {
    let dir = project_with_runs();
    let site = dir.path().join("site");
    let (code, out, err) = medallion(dir.path(), &["docs", "--env", "dev", "--out", "site"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("trail intact"), "{out}");
    assert!(
        !err.contains("warning"),
        "the example project must document without problems: {err}"
    );
    assert_no_network(&site);
    // Written again over itself: fine; over someone's folder: refused, nothing written.
    let (code, _, err) = medallion(dir.path(), &["docs", "--env", "dev", "--out", "site"]);
    assert_eq!(code, Some(0), "{err}");
    std::fs::create_dir(dir.path().join("notes")).unwrap();
    std::fs::write(dir.path().join("notes/index.html"), "mine").unwrap();
    let (code, _, err) = medallion(dir.path(), &["docs", "--env", "dev", "--out", "notes"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is not empty and is not a site"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes/index.html")).unwrap(),
        "mine"
    );

    let profile = tempfile::tempdir().unwrap();
    let p = profile.path();
    // The lineage graph: every table-level edge of the examples, every table a node.
    let lineage = dom(p, &site, "/lineage");
    golden_edges(&edges(&lineage));
    let nodes: BTreeSet<String> = attrs(&lineage, "data-table").into_iter().collect();
    for t in [
        "bronze.orders",
        "silver.orders",
        "gold.daily_revenue",
        "gold.revenue_by_country",
        "silver.customers",
        "gold.hourly_device_stats",
        "kafka:web.clicks",
    ] {
        assert!(
            nodes.contains(t),
            "{t} is not a node of the lineage graph: {nodes:?}"
        );
    }
    // Expanded to columns around a table: the column edges that feed gold.daily_revenue.revenue.
    let focus = dom(p, &site, "/lineage/gold.daily_revenue");
    assert!(focus.contains(r#"data-from="silver.orders" data-from-column="amount" data-to="gold.daily_revenue" data-to-column="revenue""#), "no amount -> revenue edge");
    assert!(
        focus.contains(
            r#"class="edge indirect" data-from="silver.orders" data-from-column="status""#
        ),
        "no INDIRECT status edge (the WHERE)"
    );

    // Search finds a column, by part of its name.
    let search = dom(p, &site, "/search/amount");
    let found = attrs(&search, "data-name");
    for want in [
        "silver.orders.amount",
        "bronze.orders.amount",
        "orders.amount_non_negative",
    ] {
        assert!(
            found.iter().any(|f| f == want),
            "searching `amount` did not find {want}: {found:?}"
        );
    }
    assert!(
        !found.iter().any(|f| f == "silver.customers.country"),
        "{found:?}"
    );

    // The hostile description is shown as text and did not run.
    let table = dom(p, &site, "/tables/gold.daily_revenue");
    assert!(
        table.contains("&lt;img src=x onerror="),
        "the description is not shown as text"
    );
    assert!(
        !table.contains("data-pwned"),
        "the description's markup ran"
    );
    assert!(!table.contains("<img"), "the description became an element");

    // Rules with their outcome in the last run that checked rows (the first: the second run
    // had no new files), and the audit trail verified.
    let pipeline = dom(p, &site, "/pipelines/orders");
    let first_run_end = first_run_end(dir.path(), "orders");
    for outcome in [
        format!("1 of 10 rows quarantined ({first_run_end})"), // currency_eur
        format!("1 of 12 rows dropped ({first_run_end})"),     // amount_non_negative
        format!("1 of 10 rows warned ({first_run_end})"),      // known_status
    ] {
        assert!(
            pipeline.contains(&outcome),
            "no `{outcome}` on the orders page"
        );
    }
    assert!(
        pipeline.contains("the row count held ("),
        "row_count outcome"
    );
    // The chart: currency_eur failed one row in the first run (red), and checked nothing in
    // the second (no new files: grey, not a green pass).
    assert_eq!(bar_fills(&pipeline, "currency_eur"), ["#d0563f", "#cccccc"]);
    assert_eq!(bar_fills(&pipeline, "some_orders"), ["#4c9a6a", "#4c9a6a"]);
    let audit = dom(p, &site, "/audit");
    assert!(
        audit.contains(r#"<span class="ok">intact</span>"#),
        "audit trail not shown as intact"
    );
    assert!(
        audit.contains("table_committed"),
        "no commit records in the audit page"
    );

    screenshot(p, &site);
}

/// The fills of a rule's bars in the chart, oldest run first.
fn bar_fills(dom: &str, rule: &str) -> Vec<String> {
    let start = dom
        .find(&format!(r#"<g class="rule-row" data-rule="{rule}">"#))
        .unwrap_or_else(|| panic!("no chart row for {rule}"));
    let row = &dom[start..];
    let row = &row[..row.find("</g>").unwrap()];
    attrs(row, "fill")
}

/// When the first run of `pipeline` ended, from the audit trail.
fn first_run_end(dir: &Path, pipeline: &str) -> String {
    let (code, out, err) = medallion(
        dir,
        &[
            "audit",
            "--env",
            "dev",
            "--pipeline",
            pipeline,
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let records: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    records
        .iter()
        .find(|r| r["action"] == "run_finished")
        .and_then(|r| r["at"].as_str())
        .unwrap()
        .to_string()
}

/// What the site tells when the environment is not as the catalog and trail say: a table
/// only in the lake, a catalog entry without its table, a damaged audit record. The site is
/// still written, each problem is a warning, and the audit verdict is BROKEN.
#[test]
fn docs_site_of_a_damaged_environment() {
    let dir = project();
    let (code, _, err) = medallion(dir.path(), &["run", "jobs/shop", "--env", "dev"]);
    assert_eq!(code, Some(0), "{err}");
    let lake = dir.path().join("lake/dev");
    // gold.daily_revenue leaves the catalog; gold.revenue_by_country leaves the lake.
    let catalog_file = lake.join("_catalog/catalog.json");
    let mut catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&catalog_file).unwrap()).unwrap();
    let tables = catalog["tables"]
        .as_object_mut()
        .expect("catalog tables by name");
    assert!(
        tables.remove("gold.daily_revenue").is_some(),
        "catalog layout changed: {:?}",
        tables.keys()
    );
    std::fs::write(&catalog_file, serde_json::to_vec(&catalog).unwrap()).unwrap();
    std::fs::remove_dir_all(lake.join("gold/revenue_by_country")).unwrap();
    std::fs::write(
        lake.join("_medallion/audit/00000000000000000003.json"),
        "{garbage",
    )
    .unwrap();

    let (code, out, err) = medallion(
        dir.path(),
        &[
            "docs",
            "--env",
            "dev",
            "--out",
            "site",
            "--jobs",
            "jobs/shop/orders.yaml",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("trail BROKEN"), "{out}");
    assert!(
        err.contains("gold.daily_revenue is in the lake but not in the catalog"),
        "{err}"
    );
    assert!(
        err.contains("gold.revenue_by_country: the catalog names it, but there is no Delta table"),
        "{err}"
    );
    assert!(err.contains("audit record 3 "), "{err}");
    let data = std::fs::read_to_string(dir.path().join("site/assets/data.js")).unwrap();
    let json: serde_json::Value = serde_json::from_str(
        data.trim()
            .trim_start_matches("window.MEDALLION_DOCS = ")
            .trim_end_matches(';'),
    )
    .unwrap();
    let table = |name: &str| {
        json["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap()
    };
    let lake_only = table("gold.daily_revenue");
    assert_eq!(lake_only["in_catalog"], false);
    assert_eq!(
        lake_only["delta_version"], 0,
        "the lake-only table's state comes from its log"
    );
    assert!(lake_only["rows"].as_u64().unwrap() > 0);
    assert_eq!(
        table("gold.revenue_by_country")["delta_version"],
        serde_json::Value::Null
    );
    // The site holds only what it shows of the trail: no command lines or queries.
    assert!(
        !data.contains("\"command\""),
        "audit command lines leaked into the site"
    );
    // --days must be a number of days.
    let (code, _, err) = medallion(
        dir.path(),
        &["docs", "--env", "dev", "--out", "site", "--days", "0"],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--days"), "{err}");
}

/// The lineage page as a PNG, kept with a copy of the site under the test's output folder.
fn screenshot(profile: &Path, site: &Path) {
    let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("docs-site");
    let _ = std::fs::remove_dir_all(&keep); // a previous run's copy, if any
    common::copy_dir(site, &keep);
    let png = keep.join("lineage.png");
    let url = format!("file://{}#/lineage", keep.join("index.html").display());
    let out = browser(profile)
        .args(["--window-size=1400,1000", "--virtual-time-budget=5000"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "the screenshot is nearly empty ({} bytes)",
        bytes.len()
    );
    println!("screenshot of the lineage page: {}", png.display());
}
