//! Issue 10, silent loss 11: personal data reaching Silver in clear text is a plan warning;
//! the example jobs produce none.

use crate::common::repo_root;
use medallion_core::plan;

async fn plan_text(job: &str) -> Vec<plan::JobPlan> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("customers.yaml");
    std::fs::write(&f, job).unwrap();
    plan::plan_all(&[f], &repo_root().join("schemas"), Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
}

const HEAD: &str = "pipeline: customers\nbronze:\n  table: bronze.customers\n  schema: customers@1\n  source: { files: { path: x/*.csv, format: csv } }\nsilver:\n  table: silver.customers\n  pii: { email: hash }\n";

#[tokio::test]
async fn pii_columns_read_in_clear_text_are_warnings() {
    let plans = plan_text(&format!(
        "{HEAD}  sql: SELECT customer_id, upper(name) AS n, email FROM input\n"
    ))
    .await;
    let warnings = plan::warnings(&plans);
    let shown: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 1, "{shown:?}");
    assert!(
        shown[0].contains("customers.yaml: silver.pii.name: column `name` is classified `pii`"),
        "{}",
        shown[0]
    );
    assert!(
        shown[0].contains("schemas/customers/v1.yaml") && shown[0].contains("clear text"),
        "{}",
        shown[0]
    );

    // `SELECT *` (the default) reads every column: name and phone.
    let plans = plan_text(HEAD).await;
    let names: Vec<String> = plan::warnings(&plans)
        .iter()
        .map(|w| w.path.clone())
        .collect();
    assert_eq!(names, ["silver.pii.name", "silver.pii.phone"]);
}

#[tokio::test]
async fn example_jobs_plan_without_warnings() {
    let files = plan::job_files(&repo_root().join("jobs")).unwrap();
    let plans = plan::plan_all(&files, &repo_root().join("schemas"), Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let warnings: Vec<String> = plan::warnings(&plans)
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}
