//! Which Gold queries can be kept up to date from the rows added to their input alone, and
//! how: an aggregate over one table,
//!
//! ```sql
//! SELECT <group keys, and expressions of sum / count / min / max / avg> FROM t [WHERE p] GROUP BY ...
//! ```
//!
//! whose filter, keys and aggregate arguments give the same value whenever they run (no
//! `now()`, `random()`, subqueries), without DISTINCT, FILTER, HAVING, ORDER BY, LIMIT, joins
//! or window functions; `avg` of integers or floats (a decimal average rounds its own way).
//! Such a query splits into a **partial** aggregate (per group: sums, counts, minima,
//! maxima) that merges with an earlier partial of the same groups, and a **final** step
//! that turns the merged partials into the query's own output, then applies the query's own
//! SELECT list. A float sum merged from partials can differ from a single sum in the last
//! bits, as two full runs with different partitioning already do.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchemaRef, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::{
    cast, col, Aggregate, Expr, ExprSchemable, LogicalPlan, Projection, Volatility,
};

type DfResult<T> = datafusion::error::Result<T>;

/// The aggregates a partial can carry.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Sum,
    Count,
    Min,
    Max,
    Avg,
}

#[derive(Debug, Clone)]
struct Agg {
    kind: Kind,
    /// The argument, its columns unqualified.
    arg: Expr,
}

/// A Gold query split into partial, merge and final steps.
#[derive(Debug, Clone)]
pub struct Decomposed {
    /// The one table the query reads.
    pub source: TableReference,
    filter: Option<Expr>,
    groups: Vec<Expr>,
    aggs: Vec<Agg>,
    /// The query's aggregate output (qualifiers, names, types) and its SELECT list on top.
    agg_schema: DFSchemaRef,
    projection: Vec<Expr>,
}

/// Splits the query's plan (unoptimized, as planned from its SQL), or says why it cannot.
pub fn decompose(plan: &LogicalPlan) -> Result<Decomposed, String> {
    let LogicalPlan::Projection(p) = plan else {
        return Err(format!(
            "the query is a {} at the top, not a SELECT list over an aggregate",
            plan.display()
        ));
    };
    let LogicalPlan::Aggregate(a) = p.input.as_ref() else {
        return Err("the SELECT list is not over a GROUP BY aggregate".into());
    };
    if p.expr.iter().any(has_subquery) {
        return Err("the SELECT list has a subquery".into());
    }
    let (source, filter) = scan(&a.input)?;
    let groups = a
        .group_expr
        .iter()
        .map(group)
        .collect::<Result<Vec<_>, _>>()?;
    let aggs = a
        .aggr_expr
        .iter()
        .map(aggregate(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Decomposed {
        source,
        filter,
        groups,
        aggs,
        agg_schema: a.schema.clone(),
        projection: p.expr.clone(),
    })
}

/// The table under the aggregate and the conjunction of the filters on the way to it.
fn scan(plan: &LogicalPlan) -> Result<(TableReference, Option<Expr>), String> {
    let mut node = plan;
    let mut filter: Option<Expr> = None;
    loop {
        match node {
            LogicalPlan::Filter(f) => {
                if !deterministic(&f.predicate) {
                    return Err("the WHERE clause may give another result on another run (a volatile function or a subquery)".into());
                }
                let p = unnormalize_col(f.predicate.clone());
                filter = Some(match filter {
                    Some(prev) => prev.and(p),
                    None => p,
                });
                node = f.input.as_ref();
            }
            LogicalPlan::SubqueryAlias(s) => node = s.input.as_ref(),
            LogicalPlan::TableScan(t) if t.filters.is_empty() && t.fetch.is_none() => {
                return Ok((t.table_name.clone(), filter));
            }
            other => {
                return Err(format!(
                    "the aggregate reads a {} rather than one table",
                    other.display()
                ))
            }
        }
    }
}

fn group(e: &Expr) -> Result<Expr, String> {
    if matches!(e, Expr::GroupingSet(_)) {
        return Err("GROUPING SETS, CUBE and ROLLUP are not merged".into());
    }
    if !deterministic(e) {
        return Err(format!("the group key {e} may differ between runs"));
    }
    Ok(unnormalize_col(e.clone()))
}

fn aggregate(a: &Aggregate) -> impl Fn(&Expr) -> Result<Agg, String> + '_ {
    move |e| {
        let inner = match e {
            Expr::Alias(al) => al.expr.as_ref(),
            other => other,
        };
        let Expr::AggregateFunction(f) = inner else {
            return Err(format!("{e} is not an aggregate function"));
        };
        let p = &f.params;
        if p.distinct || p.filter.is_some() || !p.order_by.is_empty() || p.args.len() != 1 {
            return Err(format!(
                "{e}: DISTINCT, FILTER and ORDER BY aggregates are not merged"
            ));
        }
        let kind = match f.func.name() {
            "sum" => Kind::Sum,
            "count" => Kind::Count,
            "min" => Kind::Min,
            "max" => Kind::Max,
            "avg" => Kind::Avg,
            other => return Err(format!("{other}() is not one of sum, count, min, max, avg")),
        };
        let arg = &p.args[0];
        if !deterministic(arg) {
            return Err(format!("{e} may differ between runs"));
        }
        if kind == Kind::Avg {
            let t = arg
                .get_type(a.input.schema())
                .map_err(|err| format!("{e}: {err}"))?;
            if !(t.is_integer() || t.is_floating()) {
                return Err(format!("{e}: an average of {t} rounds its own way; only integers and floats are merged"));
            }
        }
        Ok(Agg {
            kind,
            arg: unnormalize_col(arg.clone()),
        })
    }
}

/// Whether the expression gives the same value on every run: immutable functions only, no
/// subquery, no placeholder.
fn deterministic(e: &Expr) -> bool {
    !e.exists(|e| {
        Ok(match e {
            Expr::ScalarFunction(f) => f.func.signature().volatility != Volatility::Immutable,
            Expr::Placeholder(_) | Expr::OuterReferenceColumn(..) => true,
            other => has_subquery(other),
        })
    })
    .unwrap_or(false)
}

fn has_subquery(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(matches!(
            e,
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
        ))
    })
    .unwrap_or(true)
}

fn key(i: usize) -> String {
    format!("k{i}")
}

impl Agg {
    /// The partial columns of aggregate `j`: (name, partial aggregate, merge of partials).
    fn partials(&self, j: usize) -> Vec<(String, Expr, fn(Expr) -> Expr)> {
        let a = self.arg.clone();
        match self.kind {
            Kind::Sum => vec![(format!("p{j}"), sum(a), sum)],
            Kind::Count => vec![(format!("p{j}"), count(a), sum)],
            Kind::Min => vec![(format!("p{j}"), min(a), min)],
            Kind::Max => vec![(format!("p{j}"), max(a), max)],
            Kind::Avg => vec![
                (
                    format!("p{j}s"),
                    sum(cast(a.clone(), DataType::Float64)),
                    sum,
                ),
                (format!("p{j}c"), count(a), sum),
            ],
        }
    }

    /// The query's aggregate from the merged partial columns.
    fn finish(&self, j: usize) -> Expr {
        match self.kind {
            Kind::Avg => {
                cast(col(format!("p{j}s")), DataType::Float64)
                    / cast(col(format!("p{j}c")), DataType::Float64)
            }
            _ => col(format!("p{j}")),
        }
    }
}

impl Decomposed {
    /// Per group of `rows` (rows of the source table), the partial columns: `k0..` the
    /// group keys, `p0..` the partials.
    pub fn partial(&self, rows: DataFrame) -> DfResult<DataFrame> {
        let rows = match &self.filter {
            Some(f) => rows.filter(f.clone())?,
            None => rows,
        };
        let groups = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| g.clone().alias(key(i)))
            .collect();
        let aggs = self
            .aggs
            .iter()
            .enumerate()
            .flat_map(|(j, a)| a.partials(j))
            .map(|(name, e, _)| e.alias(name))
            .collect();
        rows.aggregate(groups, aggs)
    }

    /// Partial columns of the same groups merged: `old` (an earlier state, cast to the
    /// partial's types) and `new` (from [`Decomposed::partial`]).
    pub fn merge(&self, old: DataFrame, new: DataFrame) -> DfResult<DataFrame> {
        let schema = new.schema().clone();
        let old = old.select(
            schema
                .fields()
                .iter()
                .map(|f| cast(col(f.name()), f.data_type().clone()).alias(f.name()))
                .collect::<Vec<_>>(),
        )?;
        let both = old.union(new)?;
        let groups = (0..self.groups.len()).map(|i| col(key(i))).collect();
        let aggs = self
            .aggs
            .iter()
            .enumerate()
            .flat_map(|(j, a)| a.partials(j))
            .map(|(name, _, merge)| merge(col(&name)).alias(name))
            .collect();
        both.aggregate(groups, aggs)
    }

    /// The query's result from merged partial columns: its aggregate's output, under the
    /// same qualified names and types, then its own SELECT list.
    pub fn finish(&self, state: DataFrame) -> DfResult<DataFrame> {
        let n = self.groups.len();
        let mut exprs = Vec::with_capacity(self.agg_schema.fields().len());
        for i in 0..self.agg_schema.fields().len() {
            let (q, f) = self.agg_schema.qualified_field(i);
            let value = if i < n {
                col(key(i))
            } else {
                self.aggs[i - n].finish(i - n)
            };
            exprs.push(cast(value, f.data_type().clone()).alias_qualified(q.cloned(), f.name()));
        }
        let (session, inner) = state.select(exprs)?.into_parts();
        let top = Projection::try_new(self.projection.clone(), Arc::new(inner))?;
        Ok(DataFrame::new(session, LogicalPlan::Projection(top)))
    }

    /// A digest of the split, kept with a state: a state made by another split is not merged.
    pub fn describe(&self) -> String {
        let groups: Vec<String> = self.groups.iter().map(ToString::to_string).collect();
        let aggs: Vec<String> = self
            .aggs
            .iter()
            .map(|a| format!("{:?}({})", a.kind, a.arg))
            .collect();
        let filter = self.filter.as_ref().map(ToString::to_string);
        format!("{}|{filter:?}|{groups:?}|{aggs:?}", self.source)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::catalog::{MemTable, MemorySchemaProvider};
    use datafusion::prelude::SessionContext;

    use super::decompose;

    fn rows(keys: &[Option<&str>], xs: &[Option<f64>], ns: &[Option<i64>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("n", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(keys.to_vec())),
                Arc::new(Float64Array::from(xs.to_vec())),
                Arc::new(Int64Array::from(ns.to_vec())),
            ],
        )
        .unwrap()
    }

    /// Two halves of a table with nulls in keys and values, and a group only in the second.
    fn halves() -> (RecordBatch, RecordBatch) {
        let a = rows(
            &[Some("a"), Some("b"), None, Some("a"), Some("b")],
            &[Some(1.5), None, Some(2.25), Some(-0.5), Some(4.0)],
            &[Some(3), Some(7), None, Some(-2), Some(10)],
        );
        let b = rows(
            &[Some("a"), Some("c"), None, Some("c"), Some("b")],
            &[Some(0.75), None, Some(1.0), None, Some(8.0)],
            &[None, Some(5), Some(1), Some(6), Some(-4)],
        );
        (a, b)
    }

    async fn ctx(batches: Vec<RecordBatch>) -> SessionContext {
        let ctx = SessionContext::new();
        let catalog = ctx.catalog("datafusion").unwrap();
        catalog
            .register_schema("silver", Arc::new(MemorySchemaProvider::new()))
            .unwrap();
        let t = MemTable::try_new(batches[0].schema(), vec![batches]).unwrap();
        ctx.register_table("silver.t", Arc::new(t)).unwrap();
        ctx
    }

    async fn sorted(df: datafusion::dataframe::DataFrame) -> String {
        let cols: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let sort = cols
            .iter()
            .map(|c| datafusion::prelude::col(format!("\"{c}\"")).sort(true, true))
            .collect();
        let batches = df.sort(sort).unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    /// The query over both halves equals its partials of each half merged and finished.
    async fn merges_like_the_query(sql: &str) {
        let (a, b) = halves();
        let whole = ctx(vec![a.clone(), b.clone()]).await;
        let expected = sorted(whole.sql(sql).await.unwrap()).await;
        let q = whole.sql(sql).await.unwrap();
        let d = decompose(q.logical_plan()).unwrap();
        let pa = d.partial(whole.read_batch(a).unwrap()).unwrap();
        let pb = d.partial(whole.read_batch(b).unwrap()).unwrap();
        let merged = d.merge(pa, pb).unwrap();
        let out = d.finish(merged).unwrap();
        // Names and types (Gold tables are written all-nullable).
        let fields = |df: &datafusion::dataframe::DataFrame| -> Vec<(String, DataType)> {
            let s = df.schema().as_arrow();
            s.fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect()
        };
        assert_eq!(fields(&out), fields(&q), "{sql}");
        assert_eq!(sorted(out).await, expected, "{sql}");
    }

    #[tokio::test]
    async fn merged_partials_give_the_query_result() {
        for sql in [
            "SELECT k, sum(x) AS s, count(*) AS c, count(x) AS cx, min(n) AS lo, max(x) AS hi, avg(x) AS ax, avg(n) AS an FROM silver.t GROUP BY k",
            "SELECT upper(k) AS key, sum(n) * 2 AS twice, avg(x) / 2 AS half FROM silver.t WHERE n > 0 GROUP BY upper(k)",
            "SELECT count(*) AS c, sum(x) AS s, avg(n) AS a FROM silver.t",
            "SELECT count(*) AS c, sum(x) AS s FROM silver.t WHERE n > 1000",
            "SELECT k FROM silver.t GROUP BY 1",
            "SELECT sum(x) FROM silver.t i WHERE i.k = 'a' GROUP BY i.k, i.n",
        ] {
            merges_like_the_query(sql).await;
        }
    }

    #[tokio::test]
    async fn queries_that_do_not_merge_are_refused_with_the_reason() {
        let (a, b) = halves();
        let ctx = ctx(vec![a, b]).await;
        let schema = ctx.catalog("datafusion").unwrap().schema("silver").unwrap();
        let u = MemTable::try_new(halves().0.schema(), vec![vec![halves().0]]).unwrap();
        schema.register_table("u".into(), Arc::new(u)).unwrap();
        for (sql, why) in [
            (
                "SELECT t.k, count(*) FROM silver.t t JOIN silver.u u ON t.k = u.k GROUP BY t.k",
                "rather than one table",
            ),
            (
                "SELECT k, count(*) AS c FROM silver.t GROUP BY k HAVING count(*) > 1",
                "not over a GROUP BY",
            ),
            (
                "SELECT k, count(*) AS c FROM silver.t GROUP BY k ORDER BY c",
                "at the top",
            ),
            (
                "SELECT k, count(*) AS c FROM silver.t GROUP BY k LIMIT 3",
                "at the top",
            ),
            (
                "SELECT k, count(DISTINCT n) FROM silver.t GROUP BY k",
                "DISTINCT",
            ),
            ("SELECT k, median(x) FROM silver.t GROUP BY k", "not one of"),
            (
                "SELECT k, sum(x) FROM silver.t WHERE random() > 0.5 GROUP BY k",
                "WHERE",
            ),
            (
                "SELECT k, count(*) FROM silver.t WHERE n < extract(day FROM now()) GROUP BY k",
                "WHERE",
            ),
            (
                "SELECT k, sum(x) FROM silver.t WHERE n IN (SELECT n FROM silver.u) GROUP BY k",
                "WHERE",
            ),
            (
                "SELECT k, avg(CAST(x AS DECIMAL(10,2))) FROM silver.t GROUP BY k",
                "rounds its own way",
            ),
            (
                "SELECT k, n, sum(x) FROM silver.t GROUP BY ROLLUP (k, n)",
                "ROLLUP",
            ),
            ("SELECT k, x FROM silver.t", "not over a GROUP BY"),
        ] {
            let q = ctx.sql(sql).await.unwrap();
            let err = decompose(q.logical_plan()).unwrap_err();
            assert!(err.contains(why), "{sql}: {err}");
        }
        // A volatile function in the SELECT list is evaluated at each refresh: it merges.
        let q = ctx
            .sql("SELECT k, count(*) AS c, now() AS refreshed_at FROM silver.t GROUP BY k")
            .await
            .unwrap();
        assert!(decompose(q.logical_plan()).is_ok());
    }
}
