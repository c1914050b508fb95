//! Column lineage of a query, derived from its DataFusion logical plan (unoptimised, so that
//! every filter, join and grouping is still where the SQL put it).
//!
//! For each output column: the input columns it is computed from (DIRECT: `IDENTITY`,
//! `TRANSFORMATION`, `AGGREGATION`, with `masking` when a hash function is applied) and those
//! that only decide which rows or groups it sees (INDIRECT: `FILTER`, `JOIN`, `GROUP_BY`,
//! `SORT`, `WINDOW`, `CONDITIONAL`), as in OpenLineage's column lineage facet. Dependencies of
//! the whole result (a `WHERE`, a join key, a `GROUP BY`) are kept apart as dataset-level.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};
use serde::Serialize;

/// DIRECT or INDIRECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    Direct,
    Indirect,
}

/// How an input column reaches an output column. For DIRECT, the order is the strength:
/// an identity through a transformation is a transformation, anything aggregated is an
/// aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Subtype {
    Identity,
    Transformation,
    Aggregation,
    Filter,
    Join,
    GroupBy,
    Sort,
    Window,
    Conditional,
}

/// One transformation of an input column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Transform {
    pub kind: Kind,
    pub subtype: Subtype,
    /// The value is hashed (the output does not reveal the input).
    pub masking: bool,
}

impl Transform {
    pub const IDENTITY: Transform = Transform {
        kind: Kind::Direct,
        subtype: Subtype::Identity,
        masking: false,
    };

    /// This transformation seen through a DIRECT step of `subtype` (and `masking`).
    fn then_direct(self, subtype: Subtype, masking: bool) -> Transform {
        match self.kind {
            Kind::Direct => Transform {
                kind: Kind::Direct,
                subtype: self.subtype.max(subtype),
                masking: self.masking || masking,
            },
            Kind::Indirect => self,
        }
    }

    /// This transformation used to decide rows (`subtype` is FILTER, JOIN, ...).
    fn then_indirect(self, subtype: Subtype) -> Transform {
        match self.kind {
            Kind::Direct => Transform {
                kind: Kind::Indirect,
                subtype,
                masking: false,
            },
            Kind::Indirect => self,
        }
    }
}

/// A column of an input table (`input`, `silver.orders`).
pub type Source = (String, String);

/// Input columns and how they reach something.
pub type Sources = BTreeMap<Source, BTreeSet<Transform>>;

fn merge(into: &mut Sources, from: Sources) {
    for (k, v) in from {
        into.entry(k).or_default().extend(v);
    }
}

fn map(s: Sources, f: impl Fn(Transform) -> Transform) -> Sources {
    s.into_iter()
        .map(|(k, v)| (k, v.into_iter().map(&f).collect()))
        .collect()
}

/// The lineage of a query result.
#[derive(Debug, Clone, Default)]
pub struct ColumnLineage {
    /// Output columns in order, each with its sources.
    pub fields: Vec<(String, Sources)>,
    /// Sources that decide the rows of the whole result (filters, join keys, groupings, sorts).
    pub dataset: Sources,
}

/// The column lineage of `plan`.
pub fn of_plan(plan: &LogicalPlan) -> ColumnLineage {
    let node = node(plan);
    ColumnLineage {
        fields: plan
            .schema()
            .fields()
            .iter()
            .zip(node.fields)
            .map(|(f, s)| (f.name().clone(), s))
            .collect(),
        dataset: node.dataset,
    }
}

/// Per output field of a plan node, its sources; and the node's dataset-level sources.
#[derive(Default)]
struct Node {
    fields: Vec<Sources>,
    dataset: Sources,
}

fn node(plan: &LogicalPlan) -> Node {
    match plan {
        LogicalPlan::TableScan(scan) => scan_node(scan),
        LogicalPlan::Projection(p) => {
            let input = node(&p.input);
            let fields = p.expr.iter().map(|e| expr(e, &p.input, &input)).collect();
            Node {
                fields,
                dataset: input.dataset,
            }
        }
        LogicalPlan::Filter(f) => {
            let mut input = node(&f.input);
            let used = expr(&f.predicate, &f.input, &input);
            merge(
                &mut input.dataset,
                map(used, |t| t.then_indirect(Subtype::Filter)),
            );
            input
        }
        LogicalPlan::Sort(s) => {
            let mut input = node(&s.input);
            for e in &s.expr {
                let used = expr(&e.expr, &s.input, &input);
                merge(
                    &mut input.dataset,
                    map(used, |t| t.then_indirect(Subtype::Sort)),
                );
            }
            input
        }
        LogicalPlan::Aggregate(a) => aggregate_node(a),
        LogicalPlan::Window(w) => {
            let mut input = node(&w.input);
            let extra: Vec<Sources> = w
                .window_expr
                .iter()
                .map(|e| expr(e, &w.input, &input))
                .collect();
            input.fields.extend(extra);
            input
        }
        LogicalPlan::Join(j) => join_node(j),
        LogicalPlan::Union(u) => {
            let mut out = Node {
                fields: vec![Sources::new(); u.schema.fields().len()],
                dataset: Sources::new(),
            };
            for i in &u.inputs {
                let n = node(i);
                for (o, f) in out.fields.iter_mut().zip(n.fields) {
                    merge(o, f);
                }
                merge(&mut out.dataset, n.dataset);
            }
            out
        }
        LogicalPlan::SubqueryAlias(s) => node(&s.input),
        LogicalPlan::Limit(l) => node(&l.input),
        LogicalPlan::Repartition(r) => node(&r.input),
        LogicalPlan::Subquery(s) => node(&s.subquery),
        LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(i)) => node(i),
        other => fallback(other),
    }
}

fn scan_node(scan: &datafusion::logical_expr::TableScan) -> Node {
    Node {
        fields: scan
            .projected_schema
            .fields()
            .iter()
            .map(|f| {
                let mut s = Sources::new();
                s.insert(
                    (scan.table_name.to_string(), f.name().clone()),
                    BTreeSet::from([Transform::IDENTITY]),
                );
                s
            })
            .collect(),
        dataset: scan.filters.iter().fold(Sources::new(), |mut d, f| {
            merge(&mut d, scan_filter(scan, f));
            d
        }),
    }
}

/// Group expressions (GROUPING SETS expanded), the internal grouping id, then aggregates.
fn aggregate_node(a: &datafusion::logical_expr::Aggregate) -> Node {
    let input = node(&a.input);
    let mut dataset = input.dataset.clone();
    let mut fields = Vec::new();
    // GROUPING SETS / ROLLUP / CUBE: the distinct grouping expressions, then the
    // internal grouping id, then the aggregates (DataFusion's output order).
    let groups = datafusion::logical_expr::utils::grouping_set_to_exprlist(&a.group_expr)
        .unwrap_or_else(|_| a.group_expr.iter().collect());
    for g in groups {
        let used = expr(g, &a.input, &input);
        merge(
            &mut dataset,
            map(used.clone(), |t| t.then_indirect(Subtype::GroupBy)),
        );
        fields.push(used);
    }
    if matches!(a.group_expr.first(), Some(Expr::GroupingSet(_))) {
        fields.push(Sources::new());
    }
    for e in &a.aggr_expr {
        fields.push(expr(e, &a.input, &input));
    }
    fields.resize_with(a.schema.fields().len(), Sources::new);
    Node { fields, dataset }
}

fn join_node(j: &datafusion::logical_expr::Join) -> Node {
    use datafusion::logical_expr::JoinType;
    let (left, right) = (node(&j.left), node(&j.right));
    let mut dataset = left.dataset.clone();
    merge(&mut dataset, right.dataset.clone());
    for (l, r) in &j.on {
        merge(
            &mut dataset,
            map(expr(l, &j.left, &left), |t| t.then_indirect(Subtype::Join)),
        );
        merge(
            &mut dataset,
            map(expr(r, &j.right, &right), |t| {
                t.then_indirect(Subtype::Join)
            }),
        );
    }
    // The filter sees both sides, whatever the join outputs (semi/anti: one side).
    let both = Node {
        fields: left.fields.iter().chain(&right.fields).cloned().collect(),
        dataset: Sources::new(),
    };
    if let (Some(f), Ok(schema)) = (&j.filter, j.left.schema().join(j.right.schema())) {
        let used = expr_in(f, &schema, &both);
        merge(&mut dataset, map(used, |t| t.then_indirect(Subtype::Join)));
    }
    let fields = match j.join_type {
        JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => left.fields,
        JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => right.fields,
        _ => both.fields,
    };
    let mut fields = fields;
    fields.resize_with(j.schema.fields().len(), Sources::new);
    Node { fields, dataset }
}

/// A node this module does not know: every output column depends on every input column.
fn fallback(plan: &LogicalPlan) -> Node {
    let mut all = Sources::new();
    let mut dataset = Sources::new();
    for i in plan.inputs() {
        let n = node(i);
        for f in n.fields {
            merge(&mut all, f);
        }
        merge(&mut dataset, n.dataset);
    }
    let all = map(all, |t| t.then_direct(Subtype::Transformation, false));
    Node {
        fields: vec![all; plan.schema().fields().len()],
        dataset,
    }
}

fn scan_filter(scan: &datafusion::logical_expr::TableScan, e: &Expr) -> Sources {
    let mut s = Sources::new();
    for c in e.column_refs() {
        s.insert(
            (scan.table_name.to_string(), c.name.clone()),
            BTreeSet::from([Transform {
                kind: Kind::Indirect,
                subtype: Subtype::Filter,
                masking: false,
            }]),
        );
    }
    s
}

/// Hash functions: their output is a masking transformation of their input.
fn masks(function: &str) -> bool {
    matches!(
        function,
        "sha224" | "sha256" | "sha384" | "sha512" | "md5" | "digest"
    )
}

/// The sources of expression `e` evaluated over `input_plan` (whose lineage is `input`).
fn expr(e: &Expr, input_plan: &LogicalPlan, input: &Node) -> Sources {
    expr_in(e, input_plan.schema().as_ref(), input)
}

fn expr_in(e: &Expr, schema: &datafusion::common::DFSchema, input: &Node) -> Sources {
    match e {
        Expr::Column(c) => schema
            .index_of_column(c)
            .ok()
            .and_then(|i| input.fields.get(i).cloned())
            .unwrap_or_default(),
        Expr::Alias(a) => expr_in(&a.expr, schema, input),
        Expr::Case(case) => {
            let mut out = Sources::new();
            for cond in case
                .expr
                .iter()
                .chain(case.when_then_expr.iter().map(|(w, _)| w))
            {
                let used = expr_in(cond, schema, input);
                merge(
                    &mut out,
                    map(used, |t| t.then_indirect(Subtype::Conditional)),
                );
            }
            for v in case
                .when_then_expr
                .iter()
                .map(|(_, t)| t)
                .chain(case.else_expr.iter())
            {
                let used = expr_in(v, schema, input);
                merge(&mut out, direct(used, Subtype::Transformation, false));
            }
            out
        }
        Expr::AggregateFunction(a) => {
            let mut out = Sources::new();
            for arg in &a.params.args {
                merge(
                    &mut out,
                    direct(expr_in(arg, schema, input), Subtype::Aggregation, false),
                );
            }
            if let Some(f) = &a.params.filter {
                let used = expr_in(f, schema, input);
                merge(&mut out, map(used, |t| t.then_indirect(Subtype::Filter)));
            }
            // `first_value(x ORDER BY y)`: y decides which value.
            for o in &a.params.order_by {
                let used = expr_in(&o.expr, schema, input);
                merge(&mut out, map(used, |t| t.then_indirect(Subtype::Sort)));
            }
            out
        }
        Expr::WindowFunction(w) => {
            let mut out = Sources::new();
            for arg in &w.params.args {
                merge(
                    &mut out,
                    direct(expr_in(arg, schema, input), Subtype::Aggregation, false),
                );
            }
            let keys = w
                .params
                .partition_by
                .iter()
                .chain(w.params.order_by.iter().map(|s| &s.expr));
            for k in keys {
                let used = expr_in(k, schema, input);
                merge(&mut out, map(used, |t| t.then_indirect(Subtype::Window)));
            }
            out
        }
        Expr::ScalarFunction(f) => {
            let masking = masks(f.func.name());
            let mut out = Sources::new();
            for arg in &f.args {
                merge(
                    &mut out,
                    direct(
                        expr_in(arg, schema, input),
                        Subtype::Transformation,
                        masking,
                    ),
                );
            }
            out
        }
        Expr::ScalarSubquery(s) => direct(all_of(&s.subquery), Subtype::Transformation, false),
        Expr::InSubquery(s) => {
            let mut out = direct(
                expr_in(&s.expr, schema, input),
                Subtype::Transformation,
                false,
            );
            merge(
                &mut out,
                map(all_of(&s.subquery.subquery), |t| {
                    t.then_indirect(Subtype::Filter)
                }),
            );
            out
        }
        Expr::Exists(s) => map(all_of(&s.subquery.subquery), |t| {
            t.then_indirect(Subtype::Filter)
        }),
        other => {
            let mut out = Sources::new();
            let _ = other.apply_children(|child| {
                merge(&mut out, expr_in(child, schema, input));
                Ok(TreeNodeRecursion::Continue)
            });
            direct(out, Subtype::Transformation, false)
        }
    }
}

fn direct(s: Sources, subtype: Subtype, masking: bool) -> Sources {
    map(s, |t| t.then_direct(subtype, masking))
}

/// Every source of a subquery (its fields and its dataset-level sources).
fn all_of(plan: &LogicalPlan) -> Sources {
    let n = node(plan);
    let mut out = n.dataset;
    for f in n.fields {
        merge(&mut out, f);
    }
    out
}

#[cfg(test)]
mod tests;
