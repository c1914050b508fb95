//! A Silver table records how its personal data was protected (`medallion.pii`): a run that
//! would protect it differently (another action or hash key) is refused instead of mixing
//! two schemes in one column; the record is kept current by merge commits too.

use crate::common::Project;

const JOB: &str = "jobs/shop/customers.yaml";

async fn silver_property(p: &Project, key: &str) -> Option<String> {
    let loc = medallion_core::table::Location::local(&p.path().join("lake/dev/silver/customers"))
        .unwrap();
    let t = medallion_core::table::open_if_exists("silver.customers", &loc)
        .await
        .unwrap()
        .unwrap();
    medallion_core::table::properties(&t)
        .unwrap()
        .get(key)
        .cloned()
}

#[tokio::test]
async fn changing_a_pii_action_of_an_existing_table_is_refused() {
    let p = Project::new();
    p.run(&[JOB]).await;
    let recorded = silver_property(&p, "medallion.pii")
        .await
        .expect("recorded at creation");
    assert!(
        recorded.contains("email=hash") && recorded.contains("unkeyed"),
        "{recorded}"
    );
    let version = p.version("silver.customers").await;

    let path = p.path().join(JOB);
    let spec = std::fs::read_to_string(&path)
        .unwrap()
        .replace("    email: hash\n", "    email: mask\n");
    std::fs::write(&path, spec).unwrap();
    let engine = p.engine("dev");
    let plans = p.plans(&engine, &[JOB]).await;
    let outcome = engine.run(&plans[0]).await;
    let err = outcome.error.expect("refused").to_string();
    assert!(
        err.contains("PII protection") && err.contains("email=hash"),
        "{err}"
    );
    assert_eq!(
        p.version("silver.customers").await,
        version,
        "nothing was committed"
    );
}
