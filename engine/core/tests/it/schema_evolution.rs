//! Issue 10, silent loss 7: a new schema version must be backward compatible with the tables
//! already written. Run the shop example with `orders@2`, pin an `orders@3`, plan again.

use crate::common::Project;
use medallion_core::plan;

const JOBS: [&str; 2] = ["jobs/shop/customers.yaml", "jobs/shop/orders.yaml"];

/// Writes `schemas/orders/v3.yaml` (v1 edited by `edit`) and pins it in the orders job,
/// with `job_edits` applied to the job file.
fn pin_v2(p: &Project, edit: impl Fn(String) -> String, job_edits: &[(&str, &str)]) {
    let v1 = std::fs::read_to_string(p.path().join("schemas/orders/v2.yaml")).unwrap();
    let v2 = edit(v1.replace("version: 2", "version: 3"));
    std::fs::write(p.path().join("schemas/orders/v3.yaml"), v2).unwrap();
    let job_path = p.path().join("jobs/shop/orders.yaml");
    let mut job = std::fs::read_to_string(&job_path)
        .unwrap()
        .replace("orders@2", "orders@3");
    for (from, to) in job_edits {
        assert!(job.contains(from), "the job has `{from}`");
        job = job.replace(from, to);
    }
    std::fs::write(job_path, job).unwrap();
}

async fn plan_errors(p: &Project) -> String {
    let engine = p.engine("dev");
    let files: Vec<_> = JOBS.iter().map(|j| p.path().join(j)).collect();
    let known = engine.known_schemas().await.unwrap();
    match plan::plan_all(&files, &p.path().join("schemas"), known).await {
        Ok(_) => String::new(),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[tokio::test]
async fn a_version_that_renames_a_column_is_refused_at_plan_time() {
    let p = Project::new();
    p.run(&JOBS).await;
    pin_v2(
        &p,
        |s| s.replace("name: status,", "name: state,"),
        &[
            ("column: status", "column: state"),
            ("status, ordered_at", "state AS status, ordered_at"),
        ],
    );
    let shown = plan_errors(&p).await;
    assert!(
        shown.contains("orders.yaml: bronze.schema: orders@3 is not backward compatible with table `bronze.orders`")
            && shown.contains("column `status` is dropped or renamed"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_version_that_narrows_a_column_is_refused_at_plan_time() {
    let p = Project::new();
    p.run(&JOBS).await;
    pin_v2(&p, |s| s.replace("\"decimal(12,2)\"", "int"), &[]);
    let shown = plan_errors(&p).await;
    assert!(
        shown.contains("orders@3 is not backward compatible with table `silver.orders`")
            && shown.contains("column `amount` would change from decimal(12,2) to int"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_version_that_adds_a_nullable_column_plans_and_runs() {
    let p = Project::new();
    p.run(&JOBS).await;
    pin_v2(
        &p,
        |s| format!("{s}  - {{ name: coupon, type: string, description: Coupon code }}\n"),
        &[],
    );
    assert_eq!(plan_errors(&p).await, "");
    p.run(&JOBS).await;
}

#[tokio::test]
async fn a_version_that_widens_a_column_runs_when_silver_keeps_the_stored_type() {
    let p = Project::new();
    p.run(&JOBS).await;
    pin_v2(
        &p,
        |s| s.replace("\"decimal(12,2)\"", "\"decimal(14,2)\""),
        &[],
    );
    let shown = plan_errors(&p).await;
    assert!(
        shown.contains("column `amount` would widen from decimal(12,2) to decimal(14,2)")
            && shown.contains("`CAST(amount AS DECIMAL(12,2))`"),
        "{shown}"
    );
    // As the message says: Silver casts back to the stored type; new data then runs.
    let job = p.path().join("jobs/shop/orders.yaml");
    let text = std::fs::read_to_string(&job).unwrap();
    std::fs::write(
        &job,
        text.replace(
            "SELECT order_id, customer_id, amount,",
            "SELECT order_id, customer_id, CAST(amount AS DECIMAL(12,2)) AS amount,",
        ),
    )
    .unwrap();
    assert_eq!(plan_errors(&p).await, "");
    let dir = p.path().join("testdata/shop/orders");
    std::fs::copy(
        dir.join("orders-2026-11-01.ndjson"),
        dir.join("orders-2026-11-03.ndjson"),
    )
    .unwrap();
    p.run(&JOBS).await;
}
