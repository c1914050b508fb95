//! Column lineage of queries: each kind of plan node.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::empty::EmptyTable;
use datafusion::prelude::SessionContext;

use super::*;

async fn lineage(sql: &str) -> ColumnLineage {
    let ctx = SessionContext::new();
    let orders = Schema::new(vec![
        Field::new("order_id", DataType::Utf8, true),
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("day", DataType::Date32, true),
    ]);
    let customers = Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
    ]);
    ctx.register_table("orders", Arc::new(EmptyTable::new(Arc::new(orders))))
        .unwrap();
    ctx.register_table("customers", Arc::new(EmptyTable::new(Arc::new(customers))))
        .unwrap();
    let plan = ctx.state().create_logical_plan(sql).await.unwrap();
    of_plan(&plan)
}

fn show(s: &Sources) -> Vec<String> {
    s.iter()
        .flat_map(|((t, c), ts)| {
            ts.iter().map(move |x| {
                format!(
                    "{t}.{c} {:?} {:?}{}",
                    x.kind,
                    x.subtype,
                    if x.masking { " masking" } else { "" }
                )
            })
        })
        .collect()
}

fn field<'a>(l: &'a ColumnLineage, name: &str) -> &'a Sources {
    &l.fields.iter().find(|(n, _)| n == name).unwrap().1
}

#[tokio::test]
async fn identity_transformation_masking_and_filters() {
    let l = lineage(
        "SELECT order_id, amount * 2 AS double, sha256(email) AS email_hash FROM orders WHERE amount > 0",
    )
    .await;
    assert_eq!(
        show(field(&l, "order_id")),
        ["orders.order_id Direct Identity"]
    );
    assert_eq!(
        show(field(&l, "double")),
        ["orders.amount Direct Transformation"]
    );
    assert_eq!(
        show(field(&l, "email_hash")),
        ["orders.email Direct Transformation masking"]
    );
    assert_eq!(show(&l.dataset), ["orders.amount Indirect Filter"]);
}

#[tokio::test]
async fn aggregation_join_and_group_by() {
    let l = lineage(
        "SELECT c.country, SUM(o.amount) AS revenue, COUNT(*) AS n FROM orders o JOIN customers c ON o.customer_id = c.customer_id GROUP BY c.country ORDER BY revenue DESC",
    )
    .await;
    assert_eq!(
        show(field(&l, "country")),
        ["customers.country Direct Identity"]
    );
    assert_eq!(
        show(field(&l, "revenue")),
        ["orders.amount Direct Aggregation"]
    );
    assert!(field(&l, "n").is_empty());
    assert_eq!(
        show(&l.dataset),
        [
            "customers.country Indirect GroupBy",
            "customers.customer_id Indirect Join",
            "orders.amount Indirect Sort",
            "orders.customer_id Indirect Join",
        ]
    );
}

#[tokio::test]
async fn case_conditions_and_window_keys_are_indirect_for_their_column() {
    let l = lineage(
        "SELECT CASE WHEN amount > 100 THEN 'big' ELSE order_id END AS size, \
         row_number() OVER (PARTITION BY customer_id ORDER BY day) AS rn FROM orders",
    )
    .await;
    assert_eq!(
        show(field(&l, "size")),
        [
            "orders.amount Indirect Conditional",
            "orders.order_id Direct Transformation"
        ]
    );
    assert_eq!(
        show(field(&l, "rn")),
        [
            "orders.customer_id Indirect Window",
            "orders.day Indirect Window"
        ]
    );
}

#[tokio::test]
async fn rollup_and_semi_joins() {
    let l = lineage(
        "SELECT customer_id, day, SUM(amount) AS total FROM orders GROUP BY ROLLUP(customer_id, day)",
    )
    .await;
    assert_eq!(
        show(field(&l, "customer_id")),
        ["orders.customer_id Direct Identity"]
    );
    assert_eq!(show(field(&l, "day")), ["orders.day Direct Identity"]);
    assert_eq!(
        show(field(&l, "total")),
        ["orders.amount Direct Aggregation"]
    );
    let l = lineage(
        "SELECT o.order_id FROM orders o LEFT SEMI JOIN customers c ON o.customer_id = c.customer_id AND c.country = 'NL'",
    )
    .await;
    assert_eq!(
        show(field(&l, "order_id")),
        ["orders.order_id Direct Identity"]
    );
    let d = show(&l.dataset);
    assert!(
        d.contains(&"customers.country Indirect Join".to_string()),
        "{d:?}"
    );
    assert!(
        d.contains(&"orders.customer_id Indirect Join".to_string()),
        "{d:?}"
    );
}

#[tokio::test]
async fn subqueries_and_unions() {
    let l = lineage(
        "SELECT order_id FROM orders WHERE customer_id IN (SELECT customer_id FROM customers WHERE country = 'NL') \
         UNION ALL SELECT customer_id FROM customers",
    )
    .await;
    assert_eq!(
        show(field(&l, "order_id")),
        [
            "customers.customer_id Direct Identity",
            "orders.order_id Direct Identity"
        ]
    );
    let d = show(&l.dataset);
    for want in [
        "orders.customer_id Indirect Filter",
        "customers.customer_id Indirect Filter",
        "customers.country Indirect Filter",
    ] {
        assert!(d.contains(&want.to_string()), "{want} not in {d:?}");
    }
}
