//! Promotion dev → staging → prod through the binary, on three local environments: a tested
//! release promotes and prod runs it; an edited rule makes prod refuse to run until the edit
//! is tested and promoted again; break-glass runs anyway and is recorded; each gate fails with
//! its evidence (tested upstream, quality, schema compatibility, PII); the plan shows rule and
//! SQL changes (golden text); a changed plan hash or environment entry is refused.
//!
//! `MEDALLION_UPDATE_GOLDEN=1` rewrites the golden file (review the diff by hand).

use std::path::Path;

mod common;
use common::{edit, project};

/// The binary, with the PII keys staging and prod hash with.
fn medallion(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medallion"))
        .args(args)
        .current_dir(dir)
        .env_remove("MEDALLION_FAULT")
        .env("MEDALLION_PII_KEY_STAGING", "staging-secret")
        .env("MEDALLION_PII_KEY_PROD", "prod-secret")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = medallion(dir, args);
    assert_eq!(code, Some(0), "medallion {args:?}\n{out}\n{err}");
    out
}

const ENVIRONMENTS: &str = "environments:
  dev:
    lake: ./lake/dev
    retention_days: 30
  staging:
    lake: ./lake/staging
    retention_days: 90
    pii: { hash_key_env: MEDALLION_PII_KEY_STAGING }
    promote_from: dev
    gates: { max_quarantine_ratio: 0.5 }
  prod:
    lake: ./lake/prod
    retention_days: 365
    streaming: true
    pii: { hash_key_env: MEDALLION_PII_KEY_PROD }
    promote_from: staging
    gates: { max_quarantine_ratio: 0.5, max_duration_s: 600 }
";

/// The example project with three local environments.
fn promotion_project() -> tempfile::TempDir {
    let dir = project();
    std::fs::write(dir.path().join("environments.yaml"), ENVIRONMENTS).unwrap();
    dir
}

/// New input files for the shop pipelines (copies of the examples' files under new names):
/// a release is judged on the rows its runs read, and incremental runs read only new files.
fn new_input(dir: &Path, tag: &str) {
    for sub in ["testdata/shop/orders", "testdata/shop/customers"] {
        for f in std::fs::read_dir(dir.join(sub)).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if name.contains("-new-") {
                continue;
            }
            let (stem, ext) = name.rsplit_once('.').unwrap();
            std::fs::copy(&f, dir.join(sub).join(format!("{stem}-new-{tag}.{ext}"))).unwrap();
        }
    }
}

/// Runs `jobs` in dev, promotes to staging, runs there, promotes to prod.
fn release_to_prod(dir: &Path, jobs: &str) {
    ok(dir, &["run", jobs, "--env", "dev"]);
    ok(
        dir,
        &[
            "promote", "--from", "dev", "--to", "staging", jobs, "--apply",
        ],
    );
    ok(dir, &["run", jobs, "--env", "staging"]);
    ok(
        dir,
        &[
            "promote", "--from", "staging", "--to", "prod", jobs, "--apply",
        ],
    );
}

fn audit_actions(dir: &Path, env: &str) -> Vec<serde_json::Value> {
    let out = ok(dir, &["audit", "--env", env, "--format", "json"]);
    serde_json::from_str(&out).unwrap()
}

/// The version of each Delta table of a lake (count of its log entries).
fn versions(lake: &Path) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for db in ["bronze", "silver", "gold"] {
        let Ok(dir) = std::fs::read_dir(lake.join(db)) else {
            continue;
        };
        for t in dir {
            let t = t.unwrap().path();
            let n = std::fs::read_dir(t.join("_delta_log")).map_or(0, |d| {
                d.filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "json")
                })
                .count()
            });
            out.push((t.display().to_string(), n));
        }
    }
    out.sort();
    out
}

#[test]
fn prod_runs_only_what_was_tested_and_promoted() {
    let dir = promotion_project();
    let d = dir.path();
    a_tested_release_runs_in_prod(d);
    an_edited_rule_is_refused_until_promoted(d);
    break_glass_runs_and_is_recorded_first(d);
    the_edit_is_promoted_once_tested_on_data(d);
    an_entry_change_needs_a_new_promotion(d);
}

/// Nothing promoted: refused before anything is written; then tested and promoted, prod runs it.
fn a_tested_release_runs_in_prod(d: &Path) {
    // Nothing promoted yet: staging refuses, before anything is written.
    let (code, _, err) = medallion(d, &["run", "jobs/shop", "--env", "staging"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("orders (jobs/shop/orders.yaml) was never promoted here"),
        "{err}"
    );
    assert!(
        !d.join("lake/staging/bronze").exists(),
        "staging was written before the refusal"
    );

    release_to_prod(d, "jobs/shop");
    let out = ok(d, &["run", "jobs/shop", "--env", "prod"]);
    assert!(out.contains("succeeded"), "{out}");
    let promoted: Vec<_> = audit_actions(d, "prod")
        .into_iter()
        .filter(|r| r["action"] == "release_promoted")
        .collect();
    assert_eq!(promoted.len(), 1);
    assert_eq!(promoted[0]["detail"]["from"], "staging");
    assert!(promoted[0]["detail"]["gates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["status"] != "FAIL"));
}

/// One rule edited: prod refuses to run it and writes nothing; promoting it untested fails.
fn an_edited_rule_is_refused_until_promoted(d: &Path) {
    // One rule edited: prod refuses to run it, and writes nothing.
    edit(
        d,
        "jobs/shop/orders.yaml",
        "values: [EUR] } }, on_fail: quarantine }",
        "values: [EUR] } }, on_fail: drop }",
    );
    let before = versions(&d.join("lake/prod"));
    let (code, _, err) = medallion(d, &["run", "jobs/shop", "--env", "prod"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("not promoted: environment `prod` runs only releases promoted from `staging`"),
        "{err}"
    );
    assert!(
        err.contains("orders (jobs/shop/orders.yaml): spec "),
        "{err}"
    );
    assert!(
        err.contains("medallion promote --from staging --to prod"),
        "{err}"
    );
    assert_eq!(
        versions(&d.join("lake/prod")),
        before,
        "prod changed on a refused run"
    );
    // Promoting it untested is refused by the tested-upstream gate.
    let (code, out, _) = medallion(
        d,
        &["promote", "--from", "staging", "--to", "prod", "jobs/shop"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL tested upstream"), "{out}");
    assert!(
        out.contains("orders: no successful run in staging with spec"),
        "{out}"
    );
}

/// Break glass: runs, loudly, and the trail says who and why before the run's records.
fn break_glass_runs_and_is_recorded_first(d: &Path) {
    // Break glass: runs, loudly, and the trail says who and why before the run's records.
    let (code, _, err) = medallion(
        d,
        &[
            "run",
            "jobs/shop",
            "--env",
            "prod",
            "--break-glass",
            "INC-42 hotfix",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("BREAK GLASS"), "{err}");
    let trail = audit_actions(d, "prod");
    let glass = trail
        .iter()
        .position(|r| r["action"] == "break_glass")
        .expect("no break_glass record");
    assert_eq!(trail[glass]["detail"]["reason"], "INC-42 hotfix");
    assert!(trail[glass]["detail"]["not_promoted"][0]
        .as_str()
        .unwrap()
        .contains("orders"));
    assert_eq!(
        trail[glass + 1]["action"],
        "run_started",
        "the record comes before the run"
    );
}

/// A dev run without new input does not count; tested on new input and promoted with the
/// reviewed plan's hash, prod runs it.
fn the_edit_is_promoted_once_tested_on_data(d: &Path) {
    // Promoting it after a dev run without new input is refused: its rules never saw data.
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (code, out, _) = medallion(
        d,
        &["promote", "--from", "dev", "--to", "staging", "jobs/shop"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("orders: no run of this release in dev read any rows"),
        "{out}"
    );
    // Tested on new input and promoted again, with the reviewed plan's hash: prod runs it.
    new_input(d, "1");
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    ok(
        d,
        &[
            "promote",
            "--from",
            "dev",
            "--to",
            "staging",
            "jobs/shop",
            "--apply",
        ],
    );
    ok(d, &["run", "jobs/shop", "--env", "staging"]);
    let plan = ok(
        d,
        &["promote", "--from", "staging", "--to", "prod", "jobs/shop"],
    );
    let hash = plan_hash(&plan);
    let (code, out, _) = medallion(
        d,
        &[
            "promote",
            "--from",
            "staging",
            "--to",
            "prod",
            "jobs/shop",
            "--apply",
            "--plan-hash",
            "0123456789abcdef",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not the reviewed 0123456789abcdef"), "{out}");
    ok(
        d,
        &[
            "promote",
            "--from",
            "staging",
            "--to",
            "prod",
            "jobs/shop",
            "--apply",
            "--plan-hash",
            &hash,
        ],
    );
    ok(d, &["run", "jobs/shop", "--env", "prod"]);
}

/// The environment's entry changes: prod needs a new promotion.
fn an_entry_change_needs_a_new_promotion(d: &Path) {
    // The environment's entry changes: prod needs a new promotion.
    edit(
        d,
        "environments.yaml",
        "retention_days: 365",
        "retention_days: 400",
    );
    let (code, _, err) = medallion(d, &["run", "jobs/shop", "--env", "prod"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("orders: the entry of `prod` in environments.yaml changed since release"),
        "{err}"
    );
    let plan = ok(
        d,
        &["promote", "--from", "staging", "--to", "prod", "jobs/shop"],
    );
    assert!(plan.contains("retention_days 365 → 400"), "{plan}");
}

/// `stream` is refused the same way, before it connects to any broker.
#[test]
fn prod_streams_only_what_was_promoted() {
    let dir = promotion_project();
    let d = dir.path();
    let (code, _, err) = medallion(
        d,
        &[
            "stream",
            "jobs/streaming/clickstream.yaml",
            "--env",
            "prod",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("clickstream (jobs/streaming/clickstream.yaml) was never promoted here"),
        "{err}"
    );
}

fn plan_hash(plan: &str) -> String {
    let line = plan
        .lines()
        .find(|l| l.starts_with("Plan "))
        .expect("no Plan line");
    line.split_whitespace().nth(1).unwrap().to_string()
}

/// The plan's pipeline section for a changed rule and a changed Gold query.
#[test]
fn the_plan_shows_rule_and_sql_changes() {
    let dir = promotion_project();
    let d = dir.path();
    release_to_prod(d, "jobs/shop");
    edit(
        d,
        "jobs/shop/orders.yaml",
        "values: [EUR] } }, on_fail: quarantine }",
        "values: [EUR, CHF] } }, on_fail: drop }",
    );
    edit(
        d,
        "jobs/shop/orders.yaml",
        "      WHERE status <> 'cancelled'",
        "      WHERE status NOT IN ('cancelled', 'returned')",
    );
    edit(d, "jobs/shop/orders.yaml", "    - { name: some_orders,", "    - { name: positive_amount, check: \"amount > 0\", on_fail: warn }\n    - { name: some_orders,");
    new_input(d, "1");
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    ok(
        d,
        &[
            "promote",
            "--from",
            "dev",
            "--to",
            "staging",
            "jobs/shop",
            "--apply",
        ],
    );
    ok(d, &["run", "jobs/shop", "--env", "staging"]);
    let plan = ok(
        d,
        &["promote", "--from", "staging", "--to", "prod", "jobs/shop"],
    );
    let start = plan.find("Pipelines:").unwrap();
    let end = plan.find("\nTables:").unwrap();
    let section = &plan[start..end];
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/promote/plan-pipelines.txt");
    if std::env::var("MEDALLION_UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, section).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        section,
        expected,
        "{} differs (MEDALLION_UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
    assert!(
        plan.contains(
            "Gold recomputed on the next run: gold.daily_revenue, gold.revenue_by_country"
        ),
        "{plan}"
    );
    assert!(plan.contains("all gates pass"), "{plan}");
}

#[test]
fn the_quality_gate_fails_over_its_limit() {
    let dir = promotion_project();
    let d = dir.path();
    edit(
        d,
        "environments.yaml",
        "gates: { max_quarantine_ratio: 0.5 }",
        "gates: { max_quarantine_ratio: 0.01, max_peak_memory_mib: 1, max_duration_s: 3600 }",
    );
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (code, out, _) = medallion(
        d,
        &[
            "promote",
            "--from",
            "dev",
            "--to",
            "staging",
            "jobs/shop",
            "--apply",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL quality"), "{out}");
    // 16 input lines: 2 unparseable, 2 schema-rejected, 2 quarantined by rules.
    assert!(
        out.contains(
            "orders: 6 of 16 input rows quarantined (37.50%) in 1 successful run(s) of this release in dev"
        ),
        "{out}"
    );
    assert!(out.contains("over the limit of 1.00%"), "{out}");
    // The performance gate: a 1 MiB memory budget no process keeps; an hour is plenty.
    assert!(out.contains("FAIL performance"), "{out}");
    assert!(out.contains("orders: peak memory "), "{out}");
    assert!(out.contains("(budget 1 MiB)"), "{out}");
    assert!(out.contains("(budget 3600 s)"), "{out}");
    assert!(
        out.contains("Refused: 2 gate(s) failed; nothing was promoted."),
        "{out}"
    );
    assert!(!audit_actions(d, "staging")
        .iter()
        .any(|r| r["action"] == "release_promoted"));
    // A pipeline may tighten the environment's limit, never loosen it: 40% for orders
    // still leaves the environment's 1%.
    edit(
        d,
        "jobs/shop/orders.yaml",
        "owner: shop-data\n",
        "owner: shop-data\ngates: { max_quarantine_ratio: 0.4 }\n",
    );
    edit(
        d,
        "environments.yaml",
        "max_quarantine_ratio: 0.01,",
        "max_quarantine_ratio: 0.5,",
    );
    new_input(d, "1");
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (_, out, _) = medallion(
        d,
        &["promote", "--from", "dev", "--to", "staging", "jobs/shop"],
    );
    assert!(
        out.contains("orders: 6 of 16 input rows quarantined (37.50%) in 1 successful run(s)"),
        "{out}"
    );
    assert!(out.contains("within 40.00%"), "{out}");
    edit(
        d,
        "jobs/shop/orders.yaml",
        "gates: { max_quarantine_ratio: 0.4 }",
        "gates: { max_quarantine_ratio: 0.3 }",
    );
    new_input(d, "2");
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (_, out, _) = medallion(
        d,
        &["promote", "--from", "dev", "--to", "staging", "jobs/shop"],
    );
    assert!(out.contains("over the limit of 30.00%"), "{out}");
    edit(
        d,
        "jobs/shop/orders.yaml",
        "gates: { max_quarantine_ratio: 0.3 }",
        "gates: { max_quarantine_ratio: 1.0 }",
    );
    new_input(d, "3");
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (_, out, _) = medallion(
        d,
        &["promote", "--from", "dev", "--to", "staging", "jobs/shop"],
    );
    assert!(out.contains("orders: 6 of 16 input rows quarantined (37.50%) in 1 successful run(s) of this release in dev: within 50.00%"), "{out}");
    // The performance gate judged the runs that did work.
    assert!(out.contains("orders: the slowest of 1 run(s)"), "{out}");
}

#[test]
fn a_schema_that_drops_a_column_fails_the_backward_gate() {
    let dir = promotion_project();
    let d = dir.path();
    // staging holds orders@2 tables (written with break glass: nothing was promoted yet).
    ok(
        d,
        &[
            "run",
            "jobs/shop",
            "--env",
            "staging",
            "--break-glass",
            "seed staging",
        ],
    );
    // orders@3 drops `currency`; the spec stops reading it. dev starts afresh with it.
    let v1 = std::fs::read_to_string(d.join("schemas/orders/v2.yaml")).unwrap();
    let v2: String = v1
        .replace("version: 2", "version: 3")
        .lines()
        .filter(|l| !l.contains("name: currency"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("schemas/orders/v3.yaml"), v2).unwrap();
    edit(
        d,
        "jobs/shop/orders.yaml",
        "schema: orders@2",
        "schema: orders@3",
    );
    edit(d, "jobs/shop/orders.yaml", "    - { name: currency_eur, check: { accepted_values: { column: currency, values: [EUR] } }, on_fail: quarantine }\n", "");
    edit(
        d,
        "jobs/shop/orders.yaml",
        "amount, currency, status",
        "amount, status",
    );
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (code, out, err) = medallion(
        d,
        &["promote", "--from", "dev", "--to", "staging", "jobs/shop"],
    );
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("FAIL schema compatibility"), "{out}");
    assert!(out.contains("orders (orders@3, backward): "), "{out}");
    assert!(
        out.contains("column `currency` is dropped or renamed"),
        "{out}"
    );
    // A v3 with the same fields, declared `compatibility: none`: the gate does not check it
    // (v2 is released: it cannot change).
    let v2 = std::fs::read_to_string(d.join("schemas/orders/v3.yaml")).unwrap();
    let v3 = v2.replace("version: 3", "version: 4");
    std::fs::write(
        d.join("schemas/orders/v4.yaml"),
        format!("{v3}compatibility: none\n"),
    )
    .unwrap();
    edit(
        d,
        "jobs/shop/orders.yaml",
        "schema: orders@3",
        "schema: orders@4",
    );
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (_, out, _) = medallion(
        d,
        &["promote", "--from", "dev", "--to", "staging", "jobs/shop"],
    );
    assert!(out.contains("PASS schema compatibility"), "{out}");
    assert!(out.contains("not checked (compatibility: none)"), "{out}");
}

#[test]
fn raw_personal_data_fails_the_pii_gate() {
    let dir = promotion_project();
    let d = dir.path();
    // phone stays raw in Silver with a written reason, and a Gold table exposes it; email is
    // no longer hashed, without a reason.
    edit(
        d,
        "jobs/shop/customers.yaml",
        "    email: hash\n    phone: mask\n",
        "  pii_allow: { phone: \"support calls customers back; access limited to support\" }\n",
    );
    edit(d, "jobs/shop/customers.yaml", "FROM input\n", "FROM input\ngold:\n  - table: gold.customer_phones\n    sql: SELECT customer_id, phone FROM silver.customers\n");
    ok(d, &["run", "jobs/shop/customers.yaml", "--env", "dev"]);
    let (code, out, _) = medallion(
        d,
        &[
            "promote",
            "--from",
            "dev",
            "--to",
            "staging",
            "jobs/shop/customers.yaml",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL PII policy"), "{out}");
    assert!(
        out.contains("silver.customers.email_sha256 keeps the PII column `email` raw"),
        "{out}"
    );
    assert!(out.contains("Gold gold.customer_phones.phone is computed from the raw PII column bronze.customers.phone"), "{out}");
    assert!(
        out.contains("bronze.customers.name (pii): mask before silver"),
        "{out}"
    );
}

#[test]
fn the_promotion_order_is_checked() {
    let dir = promotion_project();
    let d = dir.path();
    let (code, out, _) = medallion(
        d,
        &["promote", "--from", "dev", "--to", "prod", "jobs/shop"],
    );
    assert_eq!(code, Some(1), "{out}");
    let (_, _, err) = medallion(
        d,
        &["promote", "--from", "dev", "--to", "prod", "jobs/shop"],
    );
    assert!(
        err.contains("`prod` is not promoted from `dev`: its promote_from"),
        "{err}"
    );
    edit(
        d,
        "environments.yaml",
        "promote_from: dev",
        "promote_from: prod",
    );
    let (code, _, err) = medallion(d, &["run", "jobs/shop", "--env", "dev"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("environments.staging.promote_from: the promotion order is a loop"),
        "{err}"
    );
    edit(
        d,
        "environments.yaml",
        "promote_from: prod",
        "promote_from: qa",
    );
    let (_, _, err) = medallion(d, &["run", "jobs/shop", "--env", "dev"]);
    assert!(
        err.contains("`qa` is not another environment of this file"),
        "{err}"
    );
}

/// `release create` prints the hash the plan and the promotion record use, and a change of
/// the target's entry is a new release.
#[test]
fn a_release_is_a_hash_of_its_files() {
    let dir = promotion_project();
    let d = dir.path();
    let out = ok(d, &["release", "create", "jobs/shop", "--env", "prod"]);
    let hash = out
        .lines()
        .next()
        .unwrap()
        .strip_prefix("release ")
        .unwrap()
        .to_string();
    assert_eq!(hash.len(), 64, "{out}");
    assert_eq!(
        ok(d, &["release", "create", "jobs/shop", "--env", "prod"]),
        out,
        "not reproducible"
    );
    let staging = ok(d, &["release", "create", "jobs/shop", "--env", "staging"]);
    assert_ne!(
        staging.lines().next(),
        out.lines().next(),
        "the target's entry is part of it"
    );
    edit(d, "jobs/shop/orders.yaml", "on_fail: warn", "on_fail: drop");
    let changed = ok(d, &["release", "create", "jobs/shop", "--env", "prod"]);
    assert_ne!(changed.lines().next(), out.lines().next());
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let plan = ok(
        d,
        &[
            "promote",
            "--from",
            "dev",
            "--to",
            "staging",
            "jobs/shop",
            "--apply",
        ],
    );
    let staging_now = ok(d, &["release", "create", "jobs/shop", "--env", "staging"]);
    let short = &staging_now.lines().next().unwrap()["release ".len().."release ".len() + 12];
    assert!(plan.contains(&format!("Release {short} ")), "{plan}");
}

/// Data between environments: a table without personal data in clear is promoted up the
/// order into a table of its own (never over a pipeline's table); one with it is refused
/// unless masked with the target's key; values hashed with another environment's key are
/// refused; copies go only down the order; the source trail records the read, the target's
/// the commit with its origin (and verifies), and the target's lineage links the two
/// environments' datasets column by column.
#[test]
fn data_moves_between_environments_with_its_personal_data_protected() {
    let dir = promotion_project();
    let d = dir.path();
    release_to_prod(d, "jobs/shop");
    ok(d, &["run", "jobs/shop", "--env", "prod"]);

    promoting_data_up_the_order(d);
    copying_test_data_down_the_order(d);
    the_trails_and_lineage_account_for_the_copies(d);
    a_catalog_failure_after_the_commit_is_a_warning(d);
}

/// Up the order: only into a table of its own, without personal data in clear or
/// another environment's hash key; the direction of each command; `--mask` needs a key.
fn promoting_data_up_the_order(d: &Path) {
    into_a_table_of_its_own_only(d);
    clear_personal_data_and_wrong_directions_are_refused(d);
}

/// Only into a table no pipeline writes, and not values hashed with another key.
fn into_a_table_of_its_own_only(d: &Path) {
    // Over a table a pipeline writes in the target: refused, nothing written.
    let before = versions(&d.join("lake/prod"));
    let (code, _, err) = medallion(
        d,
        &[
            "promote",
            "data",
            "silver.orders",
            "--from",
            "staging",
            "--to",
            "prod",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("pipeline `orders` writes silver.orders in `prod`"),
        "{err}"
    );
    assert!(err.contains("--as"), "{err}");
    assert_eq!(versions(&d.join("lake/prod")), before);
    // Into a table of its own: promoted as it is (no personal data in it), twice.
    let out = ok(
        d,
        &[
            "promote",
            "data",
            "silver.orders",
            "--from",
            "staging",
            "--to",
            "prod",
            "--as",
            "reference.orders",
        ],
    );
    assert!(
        out.starts_with("promoted reference.orders@0 (staging) → prod v0"),
        "{out}"
    );
    let out = ok(
        d,
        &[
            "promote",
            "data",
            "silver.orders",
            "--from",
            "staging",
            "--to",
            "prod",
            "--as",
            "reference.orders",
        ],
    );
    assert!(out.contains("→ prod v1"), "{out}");
    let rows = ok(
        d,
        &[
            "sql",
            "SELECT count(*) AS n FROM reference.orders",
            "--env",
            "prod",
            "--format",
            "csv",
        ],
    );
    assert_eq!(rows.trim(), "n\n6", "{rows}");
    // Hashed with staging's key: would mix two keys in prod.
    let (code, _, err) = medallion(
        d,
        &[
            "promote",
            "data",
            "silver.customers",
            "--from",
            "staging",
            "--to",
            "prod",
            "--as",
            "reference.customers",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("would mix two keys in one column"), "{err}");
}

/// Personal data in clear, the wrong direction, `--mask` without a key: refused.
fn clear_personal_data_and_wrong_directions_are_refused(d: &Path) {
    // Personal data in clear: refused without --mask, naming the columns; --jobs cannot hide it.
    let (code, _, err) = medallion(
        d,
        &[
            "promote",
            "data",
            "bronze.customers",
            "--from",
            "staging",
            "--to",
            "prod",
            "--as",
            "reference.raw",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("it holds personal data in clear (name, email, phone); copy it with --mask"),
        "{err}"
    );
    let (code, _, err) = medallion(
        d,
        &[
            "promote",
            "data",
            "silver.customers_quarantine",
            "--from",
            "staging",
            "--to",
            "prod",
            "--as",
            "reference.q",
            "--jobs",
            "jobs/iot",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("personal data in clear (_record"), "{err}");
    // Up the order only for `promote data`, down only for `copy`.
    let (code, _, err) = medallion(
        d,
        &[
            "promote",
            "data",
            "silver.orders",
            "--from",
            "dev",
            "--to",
            "prod",
            "--as",
            "x.y",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("`prod` promotes from `staging`, not from `dev`"),
        "{err}"
    );
    let (code, _, err) = medallion(
        d,
        &[
            "copy",
            "silver.orders",
            "--from",
            "staging",
            "--to",
            "prod",
            "--as",
            "x.y",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("`copy` brings test data back down"), "{err}");
    // --mask needs the target's key: dev has none.
    let (code, _, err) = medallion(
        d,
        &[
            "copy",
            "silver.customers_quarantine",
            "--from",
            "staging",
            "--to",
            "dev",
            "--mask",
            "--as",
            "t.r",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("`dev` has no PII key"), "{err}");
}

/// Down the order: a quarantine copied to staging with `_record` hashed; `--version`.
fn copying_test_data_down_the_order(d: &Path) {
    // Test data: prod's quarantine (raw rejected records) down to staging, hashed.
    let out = ok(
        d,
        &[
            "copy",
            "silver.customers_quarantine",
            "--from",
            "prod",
            "--to",
            "staging",
            "--mask",
            "--as",
            "testdata.customer_rejects",
        ],
    );
    assert!(out.contains("hashed with staging's key: _record"), "{out}");
    let rows = ok(
        d,
        &[
            "sql",
            "SELECT _record, _rule FROM testdata.customer_rejects",
            "--env",
            "staging",
            "--format",
            "json",
        ],
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&rows).unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        let rec = r["_record"].as_str().unwrap();
        assert!(
            rec.len() == 64 && rec.chars().all(|c| c.is_ascii_hexdigit()),
            "not hashed: {rec}"
        );
        assert!(
            r["_rule"].as_str().is_some(),
            "other columns are kept as they were: {r}"
        );
    }
    // An older version of a table: --version.
    let out = ok(
        d,
        &[
            "copy",
            "silver.orders",
            "--from",
            "prod",
            "--to",
            "staging",
            "--version",
            "0",
            "--as",
            "testdata.orders",
        ],
    );
    assert!(
        out.starts_with("copied testdata.orders@0 (prod) → staging"),
        "{out}"
    );
    let (code, _, err) = medallion(
        d,
        &[
            "copy",
            "silver.orders",
            "--from",
            "prod",
            "--to",
            "staging",
            "--version",
            "99",
            "--as",
            "testdata.orders",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("has versions 0 to"), "{err}");
}

/// The source trail records the read, the target's the commit with its origin (both
/// verify), and the target's lineage links the two environments' datasets.
fn the_trails_and_lineage_account_for_the_copies(d: &Path) {
    // The trails: the read in the source's, the commit (with its origin) in the target's.
    let prod = audit_actions(d, "prod");
    assert!(prod.iter().any(|r| r["action"] == "data_read"
        && r["table"] == "silver.customers_quarantine"
        && r["detail"]["to"] == "staging"));
    let staging = audit_actions(d, "staging");
    let copied = staging
        .iter()
        .find(|r| r["action"] == "table_committed" && r["table"] == "testdata.customer_rejects")
        .expect("no commit record of the copy");
    assert_eq!(copied["detail"]["copied_from"]["environment"], "prod");
    assert_eq!(
        copied["detail"]["copied_from"]["table"],
        "silver.customers_quarantine"
    );
    assert_eq!(copied["detail"]["masked"][0], "_record");
    for env in ["staging", "prod"] {
        let out = ok(d, &["audit", "verify", "--env", env]);
        assert!(out.contains("intact"), "{env}: {out}");
    }
    // Lineage: from prod's dataset to staging's, `_record` a masking transformation.
    let event = lineage_events(&d.join("lake/staging"))
        .into_iter()
        .find(|e| {
            e["eventType"] == "COMPLETE" && e["job"]["name"] == "copy.testdata.customer_rejects"
        })
        .expect("no lineage event of the copy");
    let input = &event["inputs"][0];
    let output = &event["outputs"][0];
    assert!(
        input["name"]
            .as_str()
            .unwrap()
            .ends_with("lake/prod/silver/customers_quarantine"),
        "{input}"
    );
    assert!(
        output["name"]
            .as_str()
            .unwrap()
            .ends_with("lake/staging/testdata/customer_rejects"),
        "{output}"
    );
    assert_eq!(
        input["facets"]["symlinks"]["identifiers"][0]["namespace"],
        "medallion://prod"
    );
    assert_eq!(
        output["facets"]["symlinks"]["identifiers"][0]["namespace"],
        "medallion://staging"
    );
    let record = &output["facets"]["columnLineage"]["fields"]["_record"]["inputFields"][0];
    assert_eq!(record["field"], "_record");
    assert_eq!(record["transformations"][0]["masking"], true);
}

/// The catalog fails after the commit: the copy is recorded, the trail verifies, and the
/// warning says how to repair the catalog.
fn a_catalog_failure_after_the_commit_is_a_warning(d: &Path) {
    // The catalog fails after the commit: the copy is recorded, the trail verifies, and the
    // warning says how to repair the catalog.
    let catalog = d.join("lake/staging/_catalog/catalog.json");
    let saved = std::fs::read(&catalog).unwrap();
    std::fs::remove_file(&catalog).unwrap();
    std::fs::create_dir(&catalog).unwrap();
    let (code, _, err) = medallion(
        d,
        &[
            "copy",
            "silver.orders",
            "--from",
            "prod",
            "--to",
            "staging",
            "--as",
            "testdata.orders",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("`medallion catalog sync --env staging` registers it"),
        "{err}"
    );
    std::fs::remove_dir(&catalog).unwrap();
    std::fs::write(&catalog, saved).unwrap();
    let out = ok(d, &["audit", "verify", "--env", "staging"]);
    assert!(out.contains("intact"), "{out}");
}

fn lineage_events(lake: &Path) -> Vec<serde_json::Value> {
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    let mut files = Vec::new();
    walk(&lake.join("_medallion/lineage"), &mut files);
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The gates cannot be sidestepped: a `from` defined otherwise (another lake), an environments
/// file without `promote_from` over a governed lake, runs in staging with --break-glass, and a
/// Gold table of one pipeline exposing what another keeps raw.
#[test]
fn the_gates_cannot_be_sidestepped() {
    let dir = promotion_project();
    let d = dir.path();
    release_to_prod(d, "jobs/shop");
    edit(
        d,
        "jobs/shop/orders.yaml",
        "values: [EUR] } }, on_fail: quarantine }",
        "values: [EUR] } }, on_fail: warn }",
    );

    // "staging" pointed at dev's lake in another file: the promotion records it, prod refuses.
    let real = std::fs::read_to_string(d.join("environments.yaml")).unwrap();
    let prod = &real[real.find("  prod:").unwrap()..];
    std::fs::write(
        d.join("fake.yaml"),
        format!("environments:\n  staging:\n    lake: ./lake/dev\n    retention_days: 90\n{prod}"),
    )
    .unwrap();
    new_input(d, "1");
    ok(
        d,
        &[
            "--environments",
            "fake.yaml",
            "run",
            "jobs/shop",
            "--env",
            "staging",
        ],
    );
    ok(
        d,
        &[
            "--environments",
            "fake.yaml",
            "promote",
            "--from",
            "staging",
            "--to",
            "prod",
            "jobs/shop",
            "--apply",
        ],
    );
    let (code, _, err) = medallion(d, &["run", "jobs/shop", "--env", "prod"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("was promoted from a `staging` defined otherwise than in this file"),
        "{err}"
    );

    // prod without promote_from in another file: its lake holds promotions, so it is refused.
    std::fs::write(
        d.join("noenf.yaml"),
        "environments:\n  prod: { lake: ./lake/prod, retention_days: 365 }\n",
    )
    .unwrap();
    let (code, _, err) = medallion(
        d,
        &[
            "--environments",
            "noenf.yaml",
            "run",
            "jobs/shop",
            "--env",
            "prod",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("holds promotions (its runs are gated)"),
        "{err}"
    );

    // Run in staging with --break-glass: not a tested, promoted release.
    ok(
        d,
        &[
            "run",
            "jobs/shop",
            "--env",
            "staging",
            "--break-glass",
            "try it",
        ],
    );
    let (code, out, _) = medallion(
        d,
        &["promote", "--from", "staging", "--to", "prod", "jobs/shop"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("orders: this spec and schema are not what is promoted to staging (from dev)"),
        "{out}"
    );
}

/// customers keeps phone raw in Silver (allowed, with a reason); a Gold table of orders reads
/// it: promoting orders alone fails the PII gate (it follows personal data across pipelines).
#[test]
fn the_pii_gate_follows_personal_data_across_pipelines() {
    let dir = promotion_project();
    let d = dir.path();
    edit(
        d,
        "jobs/shop/customers.yaml",
        "    phone: mask\n",
        "  pii_allow: { phone: \"support calls customers back\" }\n",
    );
    edit(d, "jobs/shop/orders.yaml", "gold:\n", "gold:\n  - table: gold.order_contacts\n    sql: SELECT o.order_id, c.phone FROM silver.orders o JOIN silver.customers c ON o.customer_id = c.customer_id\n");
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (code, out, _) = medallion(
        d,
        &[
            "promote",
            "--from",
            "dev",
            "--to",
            "staging",
            "jobs/shop/orders.yaml",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Gold gold.order_contacts.phone is computed from the raw PII column bronze.customers.phone"), "{out}");
}

/// Every change of a spec is in the plan, not only rules and SQL.
#[test]
fn the_plan_shows_every_changed_field() {
    let dir = promotion_project();
    let d = dir.path();
    release_to_prod(d, "jobs/shop");
    edit(
        d,
        "jobs/shop/orders.yaml",
        "owner: shop-data\n",
        "owner: shop-data\ngates: { max_quarantine_ratio: 0.2 }\n",
    );
    edit(
        d,
        "jobs/shop/orders.yaml",
        "description: Orders, latest version",
        "description: All orders, latest version",
    );
    new_input(d, "1");
    ok(d, &["run", "jobs/shop", "--env", "dev"]);
    let (_, out, _) = medallion(
        d,
        &["promote", "--from", "dev", "--to", "staging", "jobs/shop"],
    );
    assert!(out.contains("+ gates.max_quarantine_ratio: 0.2"), "{out}");
    assert!(
        out.contains("~ description: \"Orders, latest version"),
        "{out}"
    );
    assert!(!out.contains("comments or layout only"), "{out}");
}
