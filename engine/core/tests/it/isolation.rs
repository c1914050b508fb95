//! Environment isolation: refused before any IO.

use crate::common::Project;
use medallion_core::Error;

#[tokio::test]
async fn a_source_in_another_environments_lake_is_refused_before_any_write() {
    let p = Project::new();
    std::fs::write(
        p.path().join("environments.yaml"),
        "environments:\n  dev: { lake: ./lake/dev, retention_days: 30 }\n  prod: { lake: ./lake/prod, retention_days: 2555 }\n",
    )
    .unwrap();
    std::fs::create_dir_all(p.path().join("lake/prod/exports")).unwrap();
    std::fs::write(
        p.path().join("lake/prod/exports/customers.csv"),
        "customer_id\nC1\n",
    )
    .unwrap();
    let spec = std::fs::read_to_string(p.path().join("jobs/shop/customers.yaml"))
        .unwrap()
        .replace("testdata/shop/customers/*.csv", "lake/*/exports/*.csv");
    std::fs::write(p.path().join("jobs/shop/customers.yaml"), spec).unwrap();
    let engine = p.engine("dev");
    let plans = p.plans(&engine, &["jobs/shop/customers.yaml"]).await;
    let outcome = engine.run(&plans[0]).await;
    let err = outcome.error.expect("refused");
    assert!(matches!(err, Error::Isolation(_)), "{err}");
    assert!(err.to_string().contains("environment `prod`"), "{err}");
    assert!(
        !p.path().join("lake/dev/bronze").exists(),
        "nothing was written"
    );
}

#[tokio::test]
async fn the_embedded_catalog_needs_a_local_lake() {
    let p = Project::new();
    let engine_err =
        medallion_core::env::load_environment(&p.path().join("environments.yaml"), "staging")
            .unwrap()
            .local_lake()
            .unwrap_err()
            .to_string();
    assert!(
        engine_err.contains("environment `staging`")
            && engine_err.contains("s3://medallion-staging-lake-222222222222"),
        "{engine_err}"
    );
}
