//! Lineage end to end through the binary: the OpenLineage events of the example pipelines
//! (well formed, START and COMPLETE per run, column lineage of every Silver and Gold table equal
//! to the reviewed golden file), impact analysis answering "what feeds
//! gold.daily_revenue.revenue" and "what breaks if silver.orders.amount changes" (golden
//! text), and the HTTP transport against a real HTTP server that first fails, then one that
//! is unreachable (the run succeeds and the events are in the file).
//!
//! `MEDALLION_UPDATE_GOLDEN=1` rewrites the golden files (review the diff by hand).

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;
use common::project;

fn medallion(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/lineage")
        .join(name)
}

fn check_golden(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var("MEDALLION_UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (MEDALLION_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs (MEDALLION_UPDATE_GOLDEN=1 rewrites it; review the diff)",
        path.display()
    );
}

/// Every event under the lake's lineage folder, in file order.
fn events(dir: &Path) -> Vec<Value> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files: Vec<PathBuf> = Vec::new();
    walk(&dir.join("lake/dev/_medallion/lineage"), &mut files);
    // <day>/<run>/<part>.ndjson: parts of a run in order.
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::io::BufReader::new(std::fs::File::open(f).unwrap())
                .lines()
                .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// What the OpenLineage 2-0-2 schema requires of an event and its facets (the full JSON
/// schema check is tools/openlineage/validate.py, run by deploy/local/test.sh).
fn assert_well_formed(e: &Value) {
    let kind = e["eventType"].as_str().unwrap();
    assert!(
        ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"].contains(&kind),
        "{kind}"
    );
    assert!(chrono_like(e["eventTime"].as_str().unwrap()), "{e}");
    assert!(e["producer"].as_str().unwrap().starts_with("https://"));
    assert!(e["schemaURL"]
        .as_str()
        .unwrap()
        .starts_with("https://openlineage.io/spec/2-0-2/OpenLineage.json"));
    assert!(is_uuid(e["run"]["runId"].as_str().unwrap()));
    assert!(!e["job"]["namespace"].as_str().unwrap().is_empty());
    assert!(!e["job"]["name"].as_str().unwrap().is_empty());
    let mut facets: Vec<&Value> = Vec::new();
    for scope in [&e["run"]["facets"], &e["job"]["facets"]] {
        facets.extend(scope.as_object().unwrap().values());
    }
    for d in e["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(e["outputs"].as_array().unwrap())
    {
        assert!(
            !d["namespace"].as_str().unwrap().is_empty() && !d["name"].as_str().unwrap().is_empty(),
            "{d}"
        );
        for key in ["facets", "inputFacets", "outputFacets"] {
            if let Some(f) = d[key].as_object() {
                facets.extend(f.values());
            }
        }
    }
    for f in facets {
        assert!(
            f["_producer"]
                .as_str()
                .is_some_and(|p| p.starts_with("https://")),
            "{f}"
        );
        assert!(
            f["_schemaURL"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://openlineage.io/spec/facets/")),
            "{f}"
        );
    }
}

fn chrono_like(t: &str) -> bool {
    t.len() >= 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T'
}

#[test]
fn example_events_are_well_formed_with_the_reviewed_column_lineage() {
    let dir = project();
    let dir = dir.path();
    let (code, out, err) = medallion(dir, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let all = events(dir);
    let mut by_run: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &all {
        assert_well_formed(e);
        by_run
            .entry(e["run"]["runId"].as_str().unwrap().to_string())
            .or_default()
            .push(e["eventType"].as_str().unwrap().to_string());
    }
    assert_eq!(by_run.len(), 4, "one run per example pipeline");
    for (run, kinds) in &by_run {
        assert_eq!(kinds, &["START", "COMPLETE"], "{run}");
    }
    // Column lineage of every Silver and Gold table, paths relative to the project.
    let root = dir.canonicalize().unwrap().display().to_string();
    let mut lineage = BTreeMap::new();
    for e in all.iter().filter(|e| e["eventType"] == "COMPLETE") {
        for o in e["outputs"].as_array().unwrap() {
            let name = o["facets"]["symlinks"]["identifiers"][0]["name"]
                .as_str()
                .unwrap()
                .to_string();
            if let Some(cl) = o["facets"].get("columnLineage") {
                let mut cl = cl.clone();
                cl.as_object_mut().unwrap().remove("_producer");
                lineage.insert(name, cl);
            } else {
                assert!(
                    name.starts_with("bronze.") || name.ends_with("_quarantine"),
                    "{name} has no column lineage"
                );
            }
        }
    }
    assert_eq!(lineage.len(), 8, "{:?}", lineage.keys());
    for (table, cl) in &lineage {
        let fields = cl["fields"].as_object().unwrap();
        assert!(!fields.is_empty(), "{table}");
    }
    let text = serde_json::to_string_pretty(&lineage)
        .unwrap()
        .replace(&root, "<project>")
        + "\n";
    check_golden("column_lineage.json", &text);
}

#[test]
fn impact_analysis_answers_what_feeds_and_what_breaks() {
    let dir = project();
    let dir = dir.path();
    let (code, up, err) = medallion(
        dir,
        &["lineage", "gold.daily_revenue.revenue", "--upstream"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        up.contains("silver.orders.amount")
            && up.contains("files:testdata/shop/orders/*.ndjson.amount"),
        "{up}"
    );
    check_golden("upstream_gold.daily_revenue.revenue.txt", &up);
    let (code, down, err) = medallion(dir, &["lineage", "silver.orders.amount", "--downstream"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        down.contains("gold.daily_revenue.revenue") && down.contains("owner shop-data"),
        "{down}"
    );
    check_golden("downstream_silver.orders.amount.txt", &down);
    let (code, json, _) = medallion(
        dir,
        &[
            "lineage",
            "silver.orders.amount",
            "--downstream",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["direction"], "downstream");
    let (code, dot, _) = medallion(dir, &["lineage", "silver.orders", "--format", "dot"]);
    assert_eq!(code, Some(0));
    assert!(
        dot.starts_with("digraph lineage {") && dot.contains("->"),
        "{dot}"
    );
    let (code, _, err) = medallion(dir, &["lineage", "silver.orders.nope"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("has no column `nope`"), "{err}");
}

/// A real HTTP server (CPython's http.server) that answers 503 to the first `fail_first`
/// POSTs, then 201, and appends each accepted body to `out` as one line.
fn lineage_server(out: &Path, fail_first: u32) -> (std::process::Child, u16) {
    lineage_server_with(out, fail_first, 503)
}

fn lineage_server_with(out: &Path, fail_first: u32, status: u16) -> (std::process::Child, u16) {
    let script = r#"
import http.server, sys
out, fail_first, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = {"n": 0}
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen["n"] += 1
        if self.path != "/api/v1/lineage" or seen["n"] <= fail_first:
            self.send_response(status); self.end_headers(); return
        with open(out, "ab") as f: f.write(body + b"\n")
        self.send_response(201); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args([
            "-c",
            script,
            &out.display().to_string(),
            &fail_first.to_string(),
            &status.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().parse().unwrap())
}

fn with_endpoint(dir: &Path, url: &str) {
    let envs = std::fs::read_to_string(dir.join("environments.yaml")).unwrap();
    let envs = envs.replacen(
        "    streaming: false\n",
        &format!("    streaming: false\n    lineage: {{ http: {{ url: \"{url}\" }} }}\n"),
        1,
    );
    std::fs::write(dir.join("environments.yaml"), envs).unwrap();
}

#[test]
fn events_reach_an_http_endpoint_and_survive_an_unreachable_one() {
    let dir = project();
    let dir = dir.path();
    let received = dir.join("received.ndjson");
    let (mut server, port) = lineage_server(&received, 2);
    with_endpoint(dir, &format!("http://127.0.0.1:{port}"));
    let (code, out, err) = medallion(dir, &["run", "jobs/shop/customers.yaml", "--env", "dev"]);
    server.kill().unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let got: Vec<Value> = std::fs::read_to_string(&received)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The first two attempts failed and were retried: every event arrived, in order.
    assert_eq!(
        got,
        events(dir),
        "the endpoint got exactly the events of the file"
    );
    assert!(err.contains("Lineage endpoint failed"), "{err}");

    // Unreachable: the run succeeds, its events are in the file.
    let dir2 = project();
    let dir2 = dir2.path();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    with_endpoint(dir2, &format!("http://127.0.0.1:{port}"));
    let (code, out, err) = medallion(dir2, &["run", "jobs/shop/customers.yaml", "--env", "dev"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let kinds: Vec<String> = events(dir2)
        .iter()
        .map(|e| e["eventType"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["START", "COMPLETE"]);
    assert!(err.contains("they are in the lineage file"), "{err}");
}

#[test]
fn a_refused_event_is_not_retried_and_does_not_hold_up_the_others() {
    let dir = project();
    let dir = dir.path();
    let received = dir.join("received.ndjson");
    let (mut server, port) = lineage_server_with(&received, 1, 400);
    with_endpoint(dir, &format!("http://127.0.0.1:{port}"));
    let (code, out, err) = medallion(dir, &["run", "jobs/shop/customers.yaml", "--env", "dev"]);
    server.kill().unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let got: Vec<String> = std::fs::read_to_string(&received)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["eventType"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        got,
        ["COMPLETE"],
        "START was refused (400) and dropped; COMPLETE still arrived"
    );
    assert!(err.contains("refused an event"), "{err}");
}

#[test]
fn a_batch_run_emits_no_running_events() {
    let dir = project();
    let dir = dir.path();
    let (code, _, err) = medallion(dir, &["run", "jobs/shop/customers.yaml", "--env", "dev"]);
    assert_eq!(code, Some(0), "{err}");
    let src = dir.join("testdata/shop/customers");
    let first = std::fs::read_dir(&src)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&first, src.join("customers-2026-11-02.csv")).unwrap();
    let (code, _, err) = medallion(dir, &["run", "jobs/shop/customers.yaml", "--env", "dev"]);
    assert_eq!(code, Some(0), "{err}");
    let kinds: Vec<String> = events(dir)
        .iter()
        .map(|e| e["eventType"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert!(!kinds.contains(&"RUNNING".to_string()), "{kinds:?}");
}

#[test]
fn validate_names_what_reads_a_column_a_spec_stops_writing() {
    let dir = project();
    let dir = dir.path();
    let (code, _, err) = medallion(dir, &["run", "jobs/", "--env", "dev"]);
    assert_eq!(code, Some(0), "{err}");
    // silver.customers stops writing `country`, which gold.revenue_by_country (pipeline
    // orders, another spec) reads.
    let spec = dir.join("jobs/shop/customers.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let changed = text.replacen(
        "phone, country,",
        "phone, upper(country) AS country_code,",
        1,
    );
    assert_ne!(text, changed);
    std::fs::write(&spec, changed).unwrap();
    let (code, out, err) = medallion(
        dir,
        &["validate", "jobs/shop/customers.yaml", "--env", "dev"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        err.contains("silver.customers.country is no longer written")
            && err.contains("gold.revenue_by_country (country; pipeline orders, owner shop-data)"),
        "{err}"
    );
    // Without --env there is no table to compare with: nothing is said.
    let (_, _, err) = medallion(dir, &["validate", "jobs/shop/customers.yaml"]);
    assert!(!err.contains("no longer written"), "{err}");
}
