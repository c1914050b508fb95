//! Quality rules: compiled once per run against the typed schema, evaluated per batch.
//!
//! Row rules (SQL expressions, not_null, between, accepted_values, regex) become DataFusion
//! physical expressions; a row fails when the expression is false (a null result passes,
//! so that only `not_null` judges missing values). Set rules (`unique`, `row_count`) are
//! evaluated by the pipeline over all of the run's rows.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::logical_expr::ExprSchemable;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;

use crate::error::{Result, SpecError};
use crate::spec::{sql_ident, sql_string, BuiltinCheck, Check, OnFail, RuleSpec};

/// A rule ready to run.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub name: String,
    pub on_fail: OnFail,
    pub kind: RuleKind,
}

#[derive(Debug, Clone)]
pub enum RuleKind {
    Row {
        expr: Arc<dyn PhysicalExpr>,
        /// The SQL the rule evaluates (for reasons).
        sql: String,
        /// The checked column of a built-in check (its value goes into the reason).
        column: Option<String>,
    },
    Unique(Vec<String>),
    RowCount {
        min: Option<u64>,
        max: Option<u64>,
    },
}

/// A rule judged row by row: which rows of a batch fail, and why.
pub trait RowRule {
    fn rule(&self) -> &CompiledRule;
    /// `true` where the row fails (a null result passes).
    fn failing(&self, batch: &RecordBatch) -> Result<BooleanArray>;
    /// The checked column of a built-in check.
    fn column(&self) -> Option<&str>;
    fn reason(&self, batch: &RecordBatch, row: usize) -> String {
        reason(self.rule(), batch, row)
    }
}

/// A rule judged once over the whole set of a run's rows (after dedupe).
pub trait SetRule {
    fn rule(&self) -> &CompiledRule;
    /// For `unique`: the key columns whose values must not repeat.
    fn unique_keys(&self) -> Option<&[String]>;
    /// For `row_count`: whether `rows` rows satisfy the bounds, and the bounds as text.
    fn row_count(&self, rows: u64) -> Option<(bool, String)>;
}

/// A row rule of a compiled rule.
pub struct RowCheck<'a>(&'a CompiledRule, &'a Arc<dyn PhysicalExpr>, Option<&'a str>);

impl RowRule for RowCheck<'_> {
    fn rule(&self) -> &CompiledRule {
        self.0
    }
    fn failing(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        failing_rows(self.1, batch)
    }
    fn column(&self) -> Option<&str> {
        self.2
    }
}

impl SetRule for CompiledRule {
    fn rule(&self) -> &CompiledRule {
        self
    }
    fn unique_keys(&self) -> Option<&[String]> {
        match &self.kind {
            RuleKind::Unique(cols) => Some(cols),
            _ => None,
        }
    }
    fn row_count(&self, rows: u64) -> Option<(bool, String)> {
        let RuleKind::RowCount { min, max } = &self.kind else {
            return None;
        };
        let ok = min.is_none_or(|m| rows >= m) && max.is_none_or(|m| rows <= m);
        let bounds = format!(
            "{}{}",
            min.map(|m| format!("at least {m}")).unwrap_or_default(),
            max.map(|m| format!(" at most {m}")).unwrap_or_default()
        );
        Some((ok, bounds))
    }
}

impl CompiledRule {
    /// The rule as a row rule, if it is one.
    pub fn as_row(&self) -> Option<RowCheck<'_>> {
        match &self.kind {
            RuleKind::Row { expr, column, .. } => Some(RowCheck(self, expr, column.as_deref())),
            _ => None,
        }
    }

    /// The rule as a set rule (`unique`, `row_count`), if it is one.
    pub fn as_set(&self) -> Option<&dyn SetRule> {
        match &self.kind {
            RuleKind::Row { .. } => None,
            _ => Some(self),
        }
    }
}

/// The SQL of a row check.
pub fn row_check_sql(check: &Check) -> Option<(String, Option<String>)> {
    Some(match check {
        Check::Sql(s) => (s.clone(), None),
        Check::Builtin(b) => match b {
            BuiltinCheck::Sql(s) => (s.clone(), None),
            BuiltinCheck::NotNull(c) => (format!("{} IS NOT NULL", sql_ident(c)), Some(c.clone())),
            BuiltinCheck::Between(b) => {
                let c = sql_ident(&b.column);
                let mut parts = Vec::new();
                if let Some(min) = &b.min {
                    parts.push(format!("{c} >= {}", min.sql()));
                }
                if let Some(max) = &b.max {
                    parts.push(format!("{c} <= {}", max.sql()));
                }
                (parts.join(" AND "), Some(b.column.clone()))
            }
            BuiltinCheck::AcceptedValues(a) => (
                format!(
                    "{} IN ({})",
                    sql_ident(&a.column),
                    a.values
                        .iter()
                        .map(|v| v.sql())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(a.column.clone()),
            ),
            BuiltinCheck::Regex(r) => (
                format!(
                    "{} ~ {}",
                    sql_ident(&r.column),
                    sql_string(&format!("^(?:{})$", r.pattern))
                ),
                Some(r.column.clone()),
            ),
            BuiltinCheck::PiiScan(p) => (crate::classify::rule::sql(p), p.columns.first().cloned()),
            BuiltinCheck::Unique(_) | BuiltinCheck::RowCount(_) => return None,
        },
    })
}

fn checked_column(check: &Check) -> Option<String> {
    match check {
        Check::Builtin(BuiltinCheck::NotNull(c)) => Some(c.clone()),
        Check::Builtin(BuiltinCheck::Between(b)) => Some(b.column.clone()),
        Check::Builtin(BuiltinCheck::AcceptedValues(a)) => Some(a.column.clone()),
        Check::Builtin(BuiltinCheck::Regex(r)) => Some(r.column.clone()),
        _ => None,
    }
}

/// Compiles every rule against `schema` (the typed Silver input). Returns every problem,
/// each naming the rule's field path.
pub fn compile(
    file: &str,
    rules: &[RuleSpec],
    schema: &SchemaRef,
) -> std::result::Result<Vec<CompiledRule>, Vec<SpecError>> {
    let ctx = SessionContext::new();
    ctx.register_udf(crate::classify::rule::udf());
    let df_schema = match DFSchema::try_from(schema.as_ref().clone()) {
        Ok(s) => s,
        Err(e) => return Err(vec![SpecError::new(file, "silver.rules", e.to_string())]),
    };
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let path = format!("silver.rules[{i}].check");
        let unknown = |c: &String| {
            SpecError::new(
                file,
                &path,
                format!(
                    "unknown column `{c}`; the columns are: {}",
                    columns.join(", ")
                ),
            )
        };
        if let Some(c) = checked_column(&rule.check) {
            if !columns.contains(&c) {
                errors.push(unknown(&c));
                continue;
            }
        }
        if let Check::Builtin(BuiltinCheck::PiiScan(p)) = &rule.check {
            if let Some(c) = p.columns.iter().find(|c| !columns.contains(c)) {
                errors.push(unknown(c));
                continue;
            }
            if p.columns.is_empty() {
                errors.push(SpecError::new(
                    file,
                    &path,
                    "pii_scan needs at least one column in `columns`",
                ));
                continue;
            }
            if let Err(bad) = crate::classify::rule::detectors(p) {
                let known: Vec<&str> = crate::classify::Detector::ALL
                    .iter()
                    .map(|d| d.name())
                    .collect();
                errors.push(SpecError::new(
                    file,
                    &path,
                    format!(
                        "unknown detector(s) {}; the detectors are: {}",
                        bad.join(", "),
                        known.join(", ")
                    ),
                ));
                continue;
            }
        }
        let kind = match &rule.check {
            Check::Builtin(BuiltinCheck::Unique(cols)) => {
                let cols = cols.columns();
                let missing: Vec<_> = cols.iter().filter(|c| !columns.contains(c)).collect();
                if let Some(c) = missing.first() {
                    errors.push(unknown(c));
                    continue;
                }
                RuleKind::Unique(cols)
            }
            Check::Builtin(BuiltinCheck::RowCount(rc)) => RuleKind::RowCount {
                min: rc.min,
                max: rc.max,
            },
            check => {
                let (sql, column) = row_check_sql(check).expect("row check");
                let compiled = ctx.parse_sql_expr(&sql, &df_schema).and_then(|e| {
                    let ty = e.get_type(&df_schema)?;
                    if ty != DataType::Boolean {
                        return Err(datafusion::error::DataFusionError::Plan(format!(
                            "the expression is of type {ty}, a check must be true or false"
                        )));
                    }
                    ctx.create_physical_expr(e, &df_schema)
                });
                match compiled {
                    Ok(expr) => RuleKind::Row { expr, sql, column },
                    Err(e) => {
                        let msg = e
                            .strip_backtrace()
                            .replace("Schema error: ", "")
                            .replace("Error during planning: ", "");
                        errors.push(SpecError::new(
                            file,
                            &path,
                            format!("`{sql}`: {msg}; the columns are: {}", columns.join(", ")),
                        ));
                        continue;
                    }
                }
            }
        };
        out.push(CompiledRule {
            name: rule.name.clone(),
            on_fail: rule.on_fail,
            kind,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Evaluates a row rule: `true` where the row fails.
pub fn failing_rows(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<BooleanArray> {
    let value = expr.evaluate(batch)?.into_array(batch.num_rows())?;
    let b = value.as_boolean();
    // false → fails; null → passes.
    let not_true = !b.values();
    let fails = match b.nulls() {
        Some(valid) => &not_true & valid.inner(),
        None => not_true,
    };
    Ok(BooleanArray::new(fails, None))
}

/// The reason text for a failing row.
pub fn reason(rule: &CompiledRule, batch: &RecordBatch, row: usize) -> String {
    match &rule.kind {
        RuleKind::Row {
            sql,
            column: Some(c),
            ..
        } => {
            let value = batch
                .column_by_name(c)
                .map(|a| {
                    if a.is_null(row) {
                        "null".to_string()
                    } else {
                        arrow::util::display::array_value_to_string(a, row).unwrap_or_default()
                    }
                })
                .unwrap_or_default();
            if sql.contains(crate::classify::rule::UDF) {
                // The value is what the rule keeps out of the lake: never in a reason.
                let found: Vec<&str> = crate::classify::Detector::ALL
                    .into_iter()
                    .filter(|d| d.within(&value))
                    .map(|d| d.name())
                    .collect();
                return match found.is_empty() {
                    true => format!("rule `{}` failed: personal or payment data in a scanned column (value withheld)", rule.name),
                    false => format!("rule `{}` failed: {c} holds {} (value withheld)", rule.name, found.join(", ")),
                };
            }
            format!(
                "rule `{}` failed: {c} = {value} does not satisfy {sql}",
                rule.name
            )
        }
        RuleKind::Row { sql, .. } => format!("rule `{}` failed: {sql}", rule.name),
        RuleKind::Unique(cols) => format!(
            "rule `{}` failed: ({}) is not unique",
            rule.name,
            cols.join(", ")
        ),
        RuleKind::RowCount { .. } => format!("rule `{}` failed", rule.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{AcceptedValuesCheck, RegexCheck, Scalar};
    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("amount", DataType::Float64, true),
            Field::new("status", DataType::Utf8, true),
        ]))
    }

    fn rule(name: &str, check: Check) -> RuleSpec {
        RuleSpec {
            name: name.into(),
            check,
            on_fail: OnFail::Drop,
            description: None,
        }
    }

    #[test]
    fn row_rules_fail_only_on_false() {
        let rules = vec![
            rule("pos", Check::Sql("amount >= 0".into())),
            rule(
                "status",
                Check::Builtin(BuiltinCheck::AcceptedValues(AcceptedValuesCheck {
                    column: "status".into(),
                    values: vec![Scalar::Str("placed".into())],
                })),
            ),
            rule(
                "re",
                Check::Builtin(BuiltinCheck::Regex(RegexCheck {
                    column: "status".into(),
                    pattern: "[a-z]+".into(),
                })),
            ),
        ];
        let compiled = compile("j.yaml", &rules, &schema()).unwrap();
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Float64Array::from(vec![Some(1.0), Some(-1.0), None])),
                Arc::new(StringArray::from(vec![
                    Some("placed"),
                    Some("Shipped"),
                    None,
                ])),
            ],
        )
        .unwrap();
        let f = |i: usize| match &compiled[i].kind {
            RuleKind::Row { expr, .. } => failing_rows(expr, &batch)
                .unwrap()
                .iter()
                .map(|v| v.unwrap())
                .collect::<Vec<_>>(),
            _ => unreachable!(),
        };
        assert_eq!(f(0), vec![false, true, false]);
        assert_eq!(f(1), vec![false, true, false]);
        assert_eq!(f(2), vec![false, true, false], "regex is anchored");
        assert!(reason(&compiled[1], &batch, 1).contains("status = Shipped"));
    }

    #[test]
    fn unknown_columns_and_non_boolean_checks_are_spec_errors() {
        let rules = vec![
            rule("a", Check::Sql("amout > 0".into())),
            rule("b", Check::Sql("amount + 1".into())),
            rule("c", Check::Builtin(BuiltinCheck::NotNull("x".into()))),
        ];
        let errors = compile("j.yaml", &rules, &schema()).unwrap_err();
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].path, "silver.rules[0].check");
        assert!(errors[0].message.contains("amout"), "{}", errors[0].message);
        assert!(
            errors[1].message.contains("must be true or false"),
            "{}",
            errors[1].message
        );
        assert!(
            errors[2]
                .message
                .contains("unknown column `x`; the columns are: amount, status"),
            "{}",
            errors[2].message
        );
    }
}
