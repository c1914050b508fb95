//! Schema evolution: a pinned schema version must be backward compatible with the tables
//! already written, and a released version must not change.
//!
//! Backward compatible (checked at plan time, against the tables' current schemas):
//! - adding a **nullable** column (older rows read it as null);
//! - widening a type without loss: `byte → short → int → long`, `float → double`,
//!   `byte`/`short` → `float`, `byte`/`short`/`int` → `double`, an integer → `decimal(p,s)`
//!   with at least 3/5/10/19 integer digits (`p - s`), `decimal(p,s) → decimal(p',s')` with
//!   `s' ≥ s` and `p' - s' ≥ p - s`, `date → timestamp_ntz`, a struct gaining nullable fields,
//!   a list whose element type widens.
//!
//! Anything else — dropping or renaming a column (a rename is a drop plus an add), narrowing
//! or changing a type, adding a non-nullable column — would hide or reinterpret existing data
//! and is refused with an error naming the table, the schema versions and the column.
//!
//! A Silver table keeps each column's stored type (a Delta write does not change it), so a
//! widened column must still come out of the Silver SQL in that type; planning names the cast.
//!
//! Released versions are immutable: tables record the SHA-256 of the schema file they were
//! written with ([`SCHEMA_HASH_PROP`]); [`check_release`] refuses an edited file.

use std::collections::HashMap;

use arrow::datatypes::{DataType, SchemaRef};

use crate::error::{Error, Result, SpecError};
use crate::schema::DatasetSchema;

/// Table property: the schema reference (`dataset@N`) a Bronze or Silver table was written with.
pub const SCHEMA_REF_PROP: &str = "medallion.schema";
/// Table property: SHA-256 (hex) of that schema file's content.
pub const SCHEMA_HASH_PROP: &str = "medallion.schema_sha256";

/// The table properties recording the schema a Bronze or Silver table is written with:
/// [`SCHEMA_REF_PROP`] and [`SCHEMA_HASH_PROP`]. Write them when creating the table and
/// whenever a commit writes with another pinned version.
pub fn schema_properties(schema: &DatasetSchema) -> [(String, String); 2] {
    [
        (SCHEMA_REF_PROP.to_string(), schema.reference()),
        (SCHEMA_HASH_PROP.to_string(), schema.content_sha256.clone()),
    ]
}

/// A table's Arrow schema carrying the schema reference it was written with (from its
/// properties) as metadata, so that plan-time compatibility errors name both versions.
pub fn with_written_schema(
    schema: SchemaRef,
    table_properties: &HashMap<String, String>,
) -> SchemaRef {
    match table_properties.get(SCHEMA_REF_PROP) {
        Some(r) => {
            let mut meta = schema.metadata().clone();
            meta.insert(SCHEMA_REF_PROP.to_string(), r.clone());
            std::sync::Arc::new(schema.as_ref().clone().with_metadata(meta))
        }
        None => schema,
    }
}

/// Whether values of type `from` are kept exactly by type `to` (see the module docs).
pub fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to || (is_text(from) && is_text(to)) {
        return true;
    }
    let int_digits = |t: &DataType| match t {
        Int8 => Some(3),
        Int16 => Some(5),
        Int32 => Some(10),
        Int64 => Some(19),
        _ => None,
    };
    let int_rank = |t: &DataType| match t {
        Int8 => Some(1),
        Int16 => Some(2),
        Int32 => Some(3),
        Int64 => Some(4),
        _ => None,
    };
    match (from, to) {
        (a, b) if int_rank(a).is_some() && int_rank(b).is_some() => int_rank(a) < int_rank(b),
        (Float32, Float64) => true,
        (Int8 | Int16, Float32) | (Int8 | Int16 | Int32, Float64) => true,
        (a, Decimal128(p, s)) if int_digits(a).is_some() => {
            *p as i32 - *s as i32 >= int_digits(a).expect("integer")
        }
        (Decimal128(p, s), Decimal128(p2, s2)) => {
            s2 >= s && (*p2 as i32 - *s2 as i32) >= (*p as i32 - *s as i32)
        }
        (Date32, Timestamp(_, None)) => true,
        (List(a), List(b)) => widens(a.data_type(), b.data_type()),
        (Struct(a), Struct(b)) => a.iter().all(|f| {
            b.iter()
                .find(|g| g.name() == f.name())
                .is_some_and(|g| widens(f.data_type(), g.data_type()))
        }),
        _ => false,
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Short type names for messages (the schema file's names where there is one).
fn type_name(t: &DataType) -> String {
    crate::catalog::hive_type(t)
}

/// `table (written with dataset@N)`, when the table schema carries the reference.
fn written_with(table: &str, current: &SchemaRef) -> String {
    match current.metadata().get(SCHEMA_REF_PROP) {
        Some(r) => format!("`{table}` (written with {r})"),
        None => format!("`{table}` (written with an earlier version)"),
    }
}

fn incompatible(
    file: &str,
    table: &str,
    current: &SchemaRef,
    ds: &DatasetSchema,
    what: String,
) -> SpecError {
    SpecError::new(
        file,
        "bronze.schema",
        format!(
            "{} is not backward compatible with table {}: {what}. A new schema version may only add \
             nullable columns and widen types (docs/spec.md, Schema evolution); keep the column as it was \
             in a new version, or write the data to a new table",
            ds.reference(),
            written_with(table, current)
        ),
    )
}

/// Checks the pinned schema against the current Bronze table (raw text columns): every
/// data column must still exist with a structure that holds the old one, and a column new
/// to the table must be nullable.
pub fn check_bronze(
    file: &str,
    table: &str,
    current: &SchemaRef,
    ds: &DatasetSchema,
) -> Vec<SpecError> {
    let pinned = ds.raw_schema();
    let mut errors = Vec::new();
    for f in current
        .fields()
        .iter()
        .filter(|f| !f.name().starts_with('_'))
    {
        let what = match pinned.field_with_name(f.name()) {
            Err(_) => format!(
                "column `{}` is dropped or renamed; the rows already in the table would be hidden",
                f.name()
            ),
            Ok(p) if !widens(f.data_type(), p.data_type()) => format!(
                "column `{}` changes its structure from {} to {}",
                f.name(),
                type_name(f.data_type()),
                type_name(p.data_type())
            ),
            Ok(_) => continue,
        };
        errors.push(incompatible(file, table, current, ds, what));
    }
    for f in ds.fields.iter().filter(|f| !f.nullable) {
        if current.field_with_name(&f.name).is_err() {
            let what = format!(
                "it adds the non-nullable column `{}`, which the rows already in the table lack; declare it `nullable: true`",
                f.name
            );
            errors.push(incompatible(file, table, current, ds, what));
        }
    }
    errors
}

/// Checks the planned Silver output against the current Silver table: a column in both
/// must keep its stored type. A narrowing or other change is refused as incompatible; a
/// widening is refused too, because a Delta table does not change a column's type on write
/// (the write would fail): the SQL casts the column back to the stored type.
pub fn check_silver(
    file: &str,
    table: &str,
    current: &SchemaRef,
    output: &SchemaRef,
    ds: &DatasetSchema,
) -> Vec<SpecError> {
    current
        .fields()
        .iter()
        .filter_map(|f| {
            let o = output.field_with_name(f.name()).ok()?;
            let (old, new) = (f.data_type(), as_stored(o.data_type()));
            if widens(old, &new) && widens(&new, old) {
                return None; // the same type
            }
            let (from, to) = (type_name(old), type_name(&new));
            let what = if widens(old, &new) {
                format!(
                    "column `{}` would widen from {from} to {to}; that keeps every value, but a Silver table \
                     keeps a column's type: cast it back in silver.sql (`CAST({} AS {})`)",
                    f.name(),
                    f.name(),
                    sql_type(old)
                )
            } else {
                format!(
                    "column `{}` would change from {from} to {to}, which does not hold every stored value",
                    f.name()
                )
            };
            Some(incompatible(file, table, current, ds, what))
        })
        .collect()
}

/// The SQL name of a type, for a suggested cast.
fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Decimal128(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        other => type_name(other).to_uppercase(),
    }
}

/// The type a Delta table stores for an Arrow type (e.g. `UInt64` is stored as `long`).
fn as_stored(t: &DataType) -> DataType {
    use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
    let field = arrow::datatypes::Field::new("c", t.clone(), true);
    let kernel: Option<deltalake::kernel::StructField> = (&field).try_into_kernel().ok();
    kernel
        .and_then(|k| {
            let f: Option<arrow::datatypes::Field> = (&k).try_into_arrow().ok();
            f
        })
        .map(|f| f.data_type().clone())
        .unwrap_or_else(|| t.clone())
}

/// Refuses a released schema version whose file changed since the table was written with
/// it: call when opening a Bronze or Silver table, with its properties. Tables written
/// before hashes were recorded (no [`SCHEMA_HASH_PROP`]) pass.
pub fn check_release(
    table: &str,
    table_properties: &HashMap<String, String>,
    schema: &DatasetSchema,
    spec_file: &str,
) -> Result<()> {
    let same_ref = table_properties.get(SCHEMA_REF_PROP) == Some(&schema.reference());
    match table_properties.get(SCHEMA_HASH_PROP) {
        Some(h) if same_ref && *h != schema.content_sha256 => Err(Error::Spec(vec![SpecError::new(
            spec_file,
            "bronze.schema",
            format!(
                "{} changed since `{table}` was written with it (hash {}… vs {}…); released schema versions are \
                 immutable: restore the file and add v{}.yaml instead",
                schema.path.display(),
                short(h),
                short(&schema.content_sha256),
                schema.version + 1
            ),
        )])),
        _ => Ok(()),
    }
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn ds(fields: &str) -> DatasetSchema {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("orders")).unwrap();
        std::fs::write(
            dir.path().join("orders/v2.yaml"),
            format!("dataset: orders\nversion: 2\nfields:\n{fields}"),
        )
        .unwrap();
        crate::schema::load_schema(dir.path(), "orders@2", "j.yaml", "bronze.schema").unwrap()
    }

    fn table(fields: Vec<Field>) -> SchemaRef {
        let props = HashMap::from([(SCHEMA_REF_PROP.to_string(), "orders@1".to_string())]);
        with_written_schema(Arc::new(Schema::new(fields)), &props)
    }

    #[test]
    fn widening_rules() {
        use DataType::*;
        assert!(widens(&Int32, &Int64));
        assert!(widens(&Float32, &Float64));
        assert!(widens(&Int32, &Float64));
        assert!(widens(&Int32, &Decimal128(10, 0)));
        assert!(widens(&Decimal128(12, 2), &Decimal128(14, 3)));
        assert!(widens(
            &Date32,
            &Timestamp(arrow::datatypes::TimeUnit::Microsecond, None)
        ));
        assert!(!widens(&Int64, &Int32), "narrowing");
        assert!(
            !widens(&Int64, &Float64),
            "a long does not fit a double exactly"
        );
        assert!(!widens(&Int32, &Float32));
        assert!(!widens(&Int32, &Decimal128(9, 0)));
        assert!(
            !widens(&Decimal128(12, 2), &Decimal128(12, 3)),
            "fewer integer digits"
        );
        assert!(
            !widens(&Decimal128(12, 2), &Decimal128(12, 1)),
            "fewer fraction digits"
        );
        assert!(!widens(&Utf8, &Int64));
        assert!(!widens(&Int64, &Utf8));
    }

    #[test]
    fn adding_a_nullable_column_is_compatible() {
        let current = table(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("_run_id", DataType::Utf8, true),
        ]);
        let v2 = ds("  - { name: id, type: long }\n  - { name: note, type: string }\n");
        assert!(check_bronze("j.yaml", "bronze.orders", &current, &v2).is_empty());
    }

    #[test]
    fn dropping_renaming_or_adding_a_required_column_is_refused() {
        let current = table(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("amount", DataType::Utf8, true),
        ]);
        let v2 = ds(
            "  - { name: id, type: long }\n  - { name: total, type: double, nullable: false }\n",
        );
        let errors = check_bronze("j.yaml", "bronze.orders", &current, &v2);
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 2, "{shown:?}");
        assert!(shown[0].contains("orders@2 is not backward compatible with table `bronze.orders` (written with orders@1)"), "{}", shown[0]);
        assert!(
            shown[0].contains("column `amount` is dropped or renamed"),
            "{}",
            shown[0]
        );
        assert!(
            shown[1].contains("non-nullable column `total`"),
            "{}",
            shown[1]
        );
        assert!(
            shown[0].starts_with("j.yaml: bronze.schema:"),
            "{}",
            shown[0]
        );
    }

    #[test]
    fn changing_a_silver_column_type_is_refused_with_what_to_do() {
        let current = table(vec![Field::new(
            "amount",
            DataType::Decimal128(12, 2),
            true,
        )]);
        let v2 = ds("  - { name: amount, type: int }\n");
        let narrowed = Arc::new(Schema::new(vec![Field::new(
            "amount",
            DataType::Int32,
            true,
        )]));
        let errors = check_silver("j.yaml", "silver.orders", &current, &narrowed, &v2);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .message
                .contains("column `amount` would change from decimal(12,2) to int"),
            "{}",
            errors[0]
        );
        let widened = Arc::new(Schema::new(vec![Field::new(
            "amount",
            DataType::Decimal128(14, 2),
            true,
        )]));
        let errors = check_silver("j.yaml", "silver.orders", &current, &widened, &v2);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .message
                .contains("would widen from decimal(12,2) to decimal(14,2)")
                && errors[0]
                    .message
                    .contains("`CAST(amount AS DECIMAL(12,2))`"),
            "{}",
            errors[0]
        );
        let same = Arc::new(Schema::new(vec![Field::new(
            "amount",
            DataType::Decimal128(12, 2),
            false,
        )]));
        assert!(check_silver("j.yaml", "silver.orders", &current, &same, &v2).is_empty());
    }

    #[test]
    fn an_edited_released_version_is_refused() {
        let v2 = ds("  - { name: id, type: long }\n");
        let mut props: HashMap<String, String> = schema_properties(&v2).into_iter().collect();
        assert!(check_release("silver.orders", &props, &v2, "j.yaml").is_ok());
        props.insert(SCHEMA_HASH_PROP.into(), "ab".repeat(32));
        let e = check_release("silver.orders", &props, &v2, "j.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "v2.yaml changed since `silver.orders` was written with it (hash abababababab… vs "
            ),
            "{e}"
        );
        assert!(
            e.contains("released schema versions are immutable")
                && e.contains("add v3.yaml instead"),
            "{e}"
        );
        // Written with another version, or before hashes were recorded: nothing to compare.
        props.insert(SCHEMA_REF_PROP.into(), "orders@1".into());
        assert!(check_release("silver.orders", &props, &v2, "j.yaml").is_ok());
        props.remove(SCHEMA_HASH_PROP);
        props.insert(SCHEMA_REF_PROP.into(), "orders@2".into());
        assert!(check_release("silver.orders", &props, &v2, "j.yaml").is_ok());
    }
}
