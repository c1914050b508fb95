//! Incremental Gold: an aggregate over one table is refreshed from its kept partials when
//! its input was only appended to, and recomputed in full (still right) whenever that cannot
//! be proved: rows updated or removed, the state lost, corrupt or from another commit, the
//! query changed.

use crate::common::{csv, Project};
use medallion_core::report::GoldReport;

const JOBS: [&str; 2] = ["jobs/shop/customers.yaml", "jobs/shop/orders.yaml"];
const ORDERS: &[&str] = &["jobs/shop/orders.yaml"];
const STATE: &str = "lake/dev/_medallion/gold_state/gold.daily_revenue";
const RECOMPUTED: &str =
    "SELECT CAST(ordered_at AS DATE) AS day, COUNT(*) AS orders, SUM(amount) AS revenue \
     FROM silver.orders WHERE status <> 'cancelled' GROUP BY 1 ORDER BY day";

fn order(id: &str, day: &str, amount: &str, status: &str, updated: &str) -> String {
    format!(
        r#"{{"order_id":"{id}","customer_id":"C001","amount":{amount},"currency":"EUR","status":"{status}","ordered_at":"{day}T09:00:00Z","updated_at":"{updated}","items":[]}}"#
    ) + "\n"
}

fn add_file(p: &Project, name: &str, lines: &[String]) {
    std::fs::write(
        p.path().join("testdata/shop/orders").join(name),
        lines.concat(),
    )
    .unwrap();
}

async fn run_orders(p: &Project) -> GoldReport {
    let out = p.run(ORDERS).await;
    daily(&out[0].report.gold)
}

fn daily(gold: &[GoldReport]) -> GoldReport {
    gold.iter()
        .find(|g| g.table == "gold.daily_revenue")
        .cloned()
        .expect("daily_revenue in the report")
}

/// Gold as committed equals its SQL recomputed from Silver now.
async fn assert_gold_is_its_query(p: &Project) -> String {
    let gold = csv(&p
        .query("SELECT * FROM gold.daily_revenue ORDER BY day")
        .await);
    assert_eq!(gold, csv(&p.query(RECOMPUTED).await));
    gold
}

fn state_files(p: &Project) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p.path().join(STATE))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn pointer(p: &Project) -> serde_json::Value {
    let text = std::fs::read_to_string(p.path().join(STATE).join("state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn appended_orders_are_merged_into_the_kept_partials() {
    let p = Project::new();
    let first = p.run(&JOBS).await;
    let gold = &first[1].report.gold;
    let d = daily(gold);
    assert_eq!(
        (d.mode.as_str(), d.reason.as_str()),
        ("full", "no partials kept yet")
    );
    let by_country = gold
        .iter()
        .find(|g| g.table == "gold.revenue_by_country")
        .unwrap();
    assert_eq!(by_country.mode, "full");
    assert!(
        by_country.reason.contains("rather than one table"),
        "{}",
        by_country.reason
    );
    let files = state_files(&p);
    assert_eq!(
        files.len(),
        2,
        "one partials file and state.json: {files:?}"
    );
    assert_eq!(pointer(&p)["version"], p.version("silver.orders").await);
    assert!(!p
        .path()
        .join("lake/dev/_medallion/gold_state/gold.revenue_by_country")
        .exists());

    // New orders on a day that has orders (its group merges) and on a new day, and a
    // cancelled one (filtered out).
    add_file(
        &p,
        "orders-2026-11-04.ndjson",
        &[
            order(
                "O3001",
                "2026-11-01",
                "4.25",
                "placed",
                "2026-11-04T08:00:00Z",
            ),
            order(
                "O3002",
                "2026-11-04",
                "10.00",
                "placed",
                "2026-11-04T08:00:00Z",
            ),
            order(
                "O3003",
                "2026-11-04",
                "99.00",
                "cancelled",
                "2026-11-04T08:00:00Z",
            ),
        ],
    );
    let before = csv(&p
        .query("SELECT * FROM gold.daily_revenue ORDER BY day")
        .await);
    let d = run_orders(&p).await;
    assert_eq!(d.mode, "incremental", "{}", d.reason);
    assert!(
        d.reason.contains("appended to silver.orders"),
        "{}",
        d.reason
    );
    let after = assert_gold_is_its_query(&p).await;
    assert_ne!(before, after);
    assert!(after.contains("2026-11-04,1,10.00"), "{after}");
    let files = state_files(&p);
    assert_eq!(
        files.len(),
        2,
        "the older partials file is deleted: {files:?}"
    );
    assert_eq!(pointer(&p)["version"], p.version("silver.orders").await);

    // Nothing new: the table is left as it is (its fingerprint), the state too.
    let v = p.version("gold.daily_revenue").await;
    let again = run_orders(&p).await;
    assert!(!again.refreshed);
    assert_eq!(p.version("gold.daily_revenue").await, v);
}

#[tokio::test]
async fn an_updated_order_recomputes_in_full_then_merges_again() {
    let p = Project::new();
    p.run(&JOBS).await;
    // O1011 cancelled: Silver replaces its row (a rewrite, not an append).
    add_file(
        &p,
        "orders-2026-11-04.ndjson",
        &[order(
            "O1011",
            "2026-11-02",
            "59.99",
            "cancelled",
            "2026-11-04T07:00:00Z",
        )],
    );
    let d = run_orders(&p).await;
    assert_eq!(d.mode, "full");
    assert!(d.reason.contains("removed or rewrote rows"), "{}", d.reason);
    let gold = assert_gold_is_its_query(&p).await;
    assert!(
        !gold.contains("2026-11-02"),
        "O1011 was the day's only order: {gold}"
    );

    add_file(
        &p,
        "orders-2026-11-05.ndjson",
        &[order(
            "O3001",
            "2026-11-02",
            "7.50",
            "placed",
            "2026-11-05T07:00:00Z",
        )],
    );
    let d = run_orders(&p).await;
    assert_eq!(d.mode, "incremental", "{}", d.reason);
    let gold = assert_gold_is_its_query(&p).await;
    assert!(gold.contains("2026-11-02,1,7.50"), "{gold}");
}

/// One new order (the `n`th), then a run: recomputed in full for `why`, equal to its query.
async fn next_run_is_full(p: &Project, n: &mut u32, why: &str) {
    *n += 1;
    add_file(
        p,
        &format!("orders-2026-12-{n:02}.ndjson"),
        &[order(
            &format!("O40{n:02}"),
            "2026-11-01",
            "1.00",
            "placed",
            "2026-12-01T00:00:00Z",
        )],
    );
    let d = run_orders(p).await;
    assert_eq!(d.mode, "full", "expected a full refresh for: {why}");
    assert!(d.reason.contains(why), "{}", d.reason);
    assert_gold_is_its_query(p).await;
}

fn write_pointer(p: &Project, ptr: &serde_json::Value) {
    std::fs::write(p.path().join(STATE).join("state.json"), ptr.to_string()).unwrap();
}

#[tokio::test]
async fn a_lost_corrupt_or_foreign_state_recomputes_in_full() {
    let p = Project::new();
    p.run(&JOBS).await;
    let mut n = 0;
    let kept = |p: &Project| {
        p.path()
            .join(STATE)
            .join(pointer(p)["file"].as_str().unwrap())
    };

    // The partials file is gone; not Parquet; holds other rows than its pointer says.
    std::fs::remove_file(kept(&p)).unwrap();
    next_run_is_full(&p, &mut n, "is gone").await;
    std::fs::write(kept(&p), "not parquet").unwrap();
    next_run_is_full(&p, &mut n, "kept partials unreadable").await;
    let mut ptr = pointer(&p);
    ptr["groups"] = serde_json::json!(ptr["groups"].as_u64().unwrap() + 1);
    write_pointer(&p, &ptr);
    next_run_is_full(&p, &mut n, "its pointer says").await;

    // state.json is not JSON.
    std::fs::write(p.path().join(STATE).join("state.json"), "{").unwrap();
    next_run_is_full(&p, &mut n, "unreadable").await;

    // The state claims another commit at its version (a restored, rewritten input): by its
    // time, or by its content.
    let mut ptr = pointer(&p);
    ptr["commit_time"] = serde_json::json!(ptr["commit_time"].as_i64().unwrap() - 1);
    write_pointer(&p, &ptr);
    next_run_is_full(&p, &mut n, "not the commit").await;
    let mut ptr = pointer(&p);
    ptr["commit_digest"] = serde_json::json!("0000000000000000");
    write_pointer(&p, &ptr);
    next_run_is_full(&p, &mut n, "not the commit").await;

    // A state ahead of its input.
    let mut ptr = pointer(&p);
    ptr["version"] = serde_json::json!(ptr["version"].as_i64().unwrap() + 5);
    write_pointer(&p, &ptr);
    next_run_is_full(&p, &mut n, "before the kept partials").await;

    // Back to merging.
    add_file(
        &p,
        "orders-2026-12-31.ndjson",
        &[order(
            "O4999",
            "2026-11-01",
            "1.00",
            "placed",
            "2026-12-31T00:00:00Z",
        )],
    );
    assert_eq!(run_orders(&p).await.mode, "incremental");
    assert_gold_is_its_query(&p).await;
}

#[tokio::test]
async fn a_changed_query_does_not_merge_the_old_partials() {
    let p = Project::new();
    p.run(&JOBS).await;
    let path = p.path().join("jobs/shop/orders.yaml");
    let spec = std::fs::read_to_string(&path).unwrap();
    let changed = spec.replace(
        "COUNT(*) AS orders, SUM(amount) AS revenue\n      FROM silver.orders\n      WHERE status <> 'cancelled'",
        "COUNT(*) AS orders, SUM(amount) AS revenue\n      FROM silver.orders\n      WHERE status <> 'cancelled' AND amount > 50",
    );
    assert_ne!(spec, changed);
    std::fs::write(&path, changed).unwrap();
    let d = run_orders(&p).await;
    assert_eq!(d.mode, "full");
    assert!(
        d.reason
            .contains("the query (or the engine's version) changed"),
        "{}",
        d.reason
    );
    let gold = csv(&p
        .query("SELECT * FROM gold.daily_revenue ORDER BY day")
        .await);
    let q = RECOMPUTED.replace(
        "status <> 'cancelled'",
        "status <> 'cancelled' AND amount > 50",
    );
    assert_eq!(gold, csv(&p.query(&q).await));
}
