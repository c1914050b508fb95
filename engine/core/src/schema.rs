//! Versioned dataset schemas: `schemas/<dataset>/v<N>.yaml`, immutable once released.
//!
//! A schema lists fields with a type, nullability and description. Types are Delta Lake
//! types: `string`, `int`, `long`, `short`, `byte`, `float`, `double`, `boolean`, `date`,
//! `timestamp` (UTC, microseconds), `timestamp_ntz`, `binary`, `decimal(p,s)`, and nested
//! `{ struct: [fields] }` / `{ list: <type> }`.
//!
//! Bronze stores every leaf value as text (the *raw* form of the schema, see
//! [`raw_data_type`]) so that nothing a source delivered is lost to a type error; Silver
//! casts to the declared types and quarantines the rows that do not fit.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::SpecError;

/// One schema file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    /// Dataset name; must equal the folder name under `schemas/`.
    pub dataset: String,
    /// Version; must equal the `N` of the file name `v<N>.yaml`.
    pub version: u32,
    /// What the dataset holds.
    #[serde(default)]
    pub description: Option<String>,
    /// The top-level fields, in order.
    pub fields: Vec<FieldSpec>,
    /// How this version must relate to the tables already written, checked by
    /// `medallion promote` against the target environment (default `backward`).
    #[serde(default)]
    pub compatibility: Compatibility,
}

/// Schema compatibility modes, as in schema registries, for tables:
/// - `backward`: the new schema reads every row already written: no column dropped or renamed,
///   no type narrowed or changed (widening is fine), a new column is nullable;
/// - `forward`: readers of the old schema read rows written with the new one: no column
///   dropped or renamed, no type changed or widened (narrowing is fine);
/// - `full`: both; `none`: no check;
/// - `*_transitive`: against every earlier version of the dataset too, not only the tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compatibility {
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
    None,
}

impl Compatibility {
    pub fn backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }
    pub fn forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }
    pub fn transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }
}

/// One field of a schema (or of a struct type).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Column name.
    pub name: String,
    /// Column type (see the module docs).
    #[serde(rename = "type")]
    pub ty: TypeSpec,
    /// Whether nulls are allowed (default true). A null in a non-nullable field sends the row
    /// to quarantine in Silver.
    #[serde(default = "default_true")]
    pub nullable: bool,
    /// What the field means.
    #[serde(default)]
    pub description: Option<String>,
    /// Data classification, e.g. `pii`, `confidential` (recorded in the catalog).
    #[serde(default)]
    pub classification: Option<String>,
    /// The data subject this column identifies (e.g. `customer` on `customer_id`, `email`):
    /// `medallion erase --subject customer --key K` removes the rows whose value is `K`
    /// (docs/privacy.md). Top-level columns of primitive type only.
    #[serde(default)]
    pub subject: Option<String>,
}

fn default_true() -> bool {
    true
}

/// A field type.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeSpec {
    /// A primitive type by name, e.g. `long` or `decimal(12,2)`.
    Primitive(DataType),
    /// `{ struct: [fields] }`
    Struct(Vec<FieldSpec>),
    /// `{ list: <type> }`
    List(Box<TypeSpec>),
}

impl PartialEq for FieldSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.ty == other.ty && self.nullable == other.nullable
    }
}

const TYPE_NAMES: &str =
    "string, int, long, short, byte, float, double, boolean, date, timestamp, \
timestamp_ntz, binary, decimal(p,s), { struct: [...] }, { list: <type> }";

/// Parses a primitive type name.
pub fn parse_primitive(name: &str) -> Option<DataType> {
    let n = name.trim().to_ascii_lowercase();
    Some(match n.as_str() {
        "string" | "str" | "text" | "varchar" => DataType::Utf8,
        "int" | "integer" | "int32" => DataType::Int32,
        "long" | "bigint" | "int64" => DataType::Int64,
        "short" | "smallint" | "int16" => DataType::Int16,
        "byte" | "tinyint" | "int8" => DataType::Int8,
        "float" | "float32" | "real" => DataType::Float32,
        "double" | "float64" => DataType::Float64,
        "boolean" | "bool" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "timestamp_ntz" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "binary" => DataType::Binary,
        _ => {
            let inner = n.strip_prefix("decimal(")?.strip_suffix(')')?;
            let (p, s) = inner.split_once(',')?;
            let p: u8 = p.trim().parse().ok()?;
            let s: i8 = s.trim().parse().ok()?;
            if p == 0 || p > 38 || s < 0 || s as u8 > p {
                return None;
            }
            DataType::Decimal128(p, s)
        }
    })
}

impl<'de> Deserialize<'de> for TypeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TypeSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a type: one of {TYPE_NAMES}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TypeSpec, E> {
                parse_primitive(v).map(TypeSpec::Primitive).ok_or_else(|| {
                    E::custom(format!("unknown type `{v}`, expected one of {TYPE_NAMES}"))
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypeSpec, A::Error> {
                let key: String = map.next_key()?.ok_or_else(|| {
                    de::Error::custom(format!("empty type, expected one of {TYPE_NAMES}"))
                })?;
                let ty = match key.as_str() {
                    "struct" => TypeSpec::Struct(map.next_value()?),
                    "list" => TypeSpec::List(Box::new(map.next_value()?)),
                    other => {
                        return Err(de::Error::custom(format!(
                            "unknown nested type `{other}`, expected `struct` or `list`"
                        )))
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "a nested type has exactly one key: `struct` or `list`",
                    ));
                }
                Ok(ty)
            }
        }
        d.deserialize_any(V)
    }
}

impl TypeSpec {
    /// The Arrow type Silver casts to.
    pub fn data_type(&self) -> DataType {
        match self {
            TypeSpec::Primitive(t) => t.clone(),
            TypeSpec::Struct(fields) => {
                DataType::Struct(fields.iter().map(FieldSpec::field).collect())
            }
            TypeSpec::List(item) => {
                DataType::List(Arc::new(Field::new("element", item.data_type(), true)))
            }
        }
    }
}

impl FieldSpec {
    /// The Arrow field, nullable as declared.
    pub fn field(&self) -> Field {
        Field::new(&self.name, self.ty.data_type(), self.nullable)
    }
}

/// The raw (Bronze) form of a type: every leaf becomes text, structure is kept.
pub fn raw_data_type(t: &DataType) -> DataType {
    match t {
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), raw_data_type(f.data_type()), true))
                .collect::<Fields>(),
        ),
        DataType::List(item) => DataType::List(Arc::new(Field::new(
            item.name(),
            raw_data_type(item.data_type()),
            true,
        ))),
        _ => DataType::Utf8,
    }
}

/// A loaded, checked schema version.
#[derive(Debug, Clone)]
pub struct DatasetSchema {
    pub dataset: String,
    pub version: u32,
    pub description: Option<String>,
    pub fields: Vec<FieldSpec>,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// SHA-256 (hex) of the file's bytes. Recorded in the tables written with this version
    /// (`medallion.schema_sha256`) so that an edited released version is noticed.
    pub content_sha256: String,
    pub compatibility: Compatibility,
}

impl DatasetSchema {
    /// `dataset@version`, as specs reference it.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.dataset, self.version)
    }

    /// The typed Arrow schema (Silver input), with declared nullability.
    pub fn typed_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.fields.iter().map(FieldSpec::field).collect::<Vec<_>>(),
        ))
    }

    /// The raw Arrow schema (Bronze data columns): text leaves, all nullable.
    pub fn raw_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.fields
                .iter()
                .map(|f| Field::new(&f.name, raw_data_type(&f.ty.data_type()), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Column name → classification, for the catalog.
    pub fn classifications(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .filter_map(|f| f.classification.clone().map(|c| (f.name.clone(), c)))
            .collect()
    }

    /// The columns that identify a person of data subject `subject`.
    pub fn subject_columns(&self, subject: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.subject.as_deref() == Some(subject))
            .map(|f| f.name.clone())
            .collect()
    }

    /// Every data subject the schema declares.
    pub fn subjects(&self) -> std::collections::BTreeSet<String> {
        self.fields
            .iter()
            .filter_map(|f| f.subject.clone())
            .collect()
    }

    /// The top-level columns holding personal data: classified `pii` themselves, or holding
    /// a field classified `pii` at any depth (a struct, a list of structs).
    pub fn pii_columns(&self) -> Vec<String> {
        fn holds(ty: &TypeSpec) -> bool {
            match ty {
                TypeSpec::Primitive(_) => false,
                TypeSpec::List(t) => holds(t),
                TypeSpec::Struct(fs) => fs.iter().any(|f| is_pii(f) || holds(&f.ty)),
            }
        }
        fn is_pii(f: &FieldSpec) -> bool {
            f.classification.as_deref() == Some("pii")
        }
        self.fields
            .iter()
            .filter(|f| is_pii(f) || holds(&f.ty))
            .map(|f| f.name.clone())
            .collect()
    }
}

/// Parses `dataset@N` (also accepts `dataset@vN`).
pub fn parse_reference(reference: &str) -> Option<(String, u32)> {
    let (name, version) = reference.split_once('@')?;
    let version = version.strip_prefix('v').unwrap_or(version);
    let version: u32 = version.parse().ok()?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    Some((name.to_string(), version))
}

/// Loads `schemas_dir/<dataset>/v<N>.yaml` and checks it. `spec_file`/`spec_path` locate the
/// reference in the job spec, for messages.
pub fn load_schema(
    schemas_dir: &Path,
    reference: &str,
    spec_file: &str,
    spec_path: &str,
) -> Result<DatasetSchema, Vec<SpecError>> {
    let Some((dataset, version)) = parse_reference(reference) else {
        return Err(vec![SpecError::new(
            spec_file,
            spec_path,
            format!("`{reference}` is not a schema reference; write `<dataset>@<version>`, e.g. `orders@1`"),
        )]);
    };
    let path = schemas_dir.join(&dataset).join(format!("v{version}.yaml"));
    if !path.exists() {
        let mut available: Vec<String> = std::fs::read_dir(schemas_dir.join(&dataset))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str().map(|s| s.to_string()))
                    .filter_map(|n| {
                        n.strip_suffix(".yaml")
                            .and_then(|v| v.strip_prefix('v'))
                            .map(|v| format!("{dataset}@{v}"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        available.sort();
        let hint = if available.is_empty() {
            format!(
                "no versions of `{dataset}` exist under {}",
                schemas_dir.display()
            )
        } else {
            format!("available: {}", available.join(", "))
        };
        return Err(vec![SpecError::new(
            spec_file,
            spec_path,
            format!(
                "schema `{reference}` not found (looked for {}); {hint}",
                path.display()
            ),
        )]);
    }
    let shown = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|e| {
        vec![SpecError::new(
            &shown,
            "",
            format!("cannot read the file: {e}"),
        )]
    })?;
    let content_sha256 = sha256_hex(&bytes);
    let text = String::from_utf8_lossy(&bytes);
    let file: SchemaFile = crate::yaml::parse(&shown, &text).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    if file.dataset != dataset {
        errors.push(SpecError::new(
            &shown,
            "dataset",
            format!("is `{}` but the folder says `{dataset}`", file.dataset),
        ));
    }
    if file.version != version {
        errors.push(SpecError::new(
            &shown,
            "version",
            format!("is {} but the file name says v{version}", file.version),
        ));
    }
    if file.fields.is_empty() {
        errors.push(SpecError::new(
            &shown,
            "fields",
            "a schema needs at least one field",
        ));
    }
    check_fields(&shown, "fields", &file.fields, &mut errors);
    check_subjects(&shown, &file.fields, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(DatasetSchema {
        dataset,
        version,
        description: file.description,
        fields: file.fields,
        path,
        content_sha256,
        compatibility: file.compatibility,
    })
}

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `subject:` names a kind of person (`customer`), on top-level primitive columns only (an
/// erasure matches a column's value with the key); nested fields cannot declare one.
fn check_subjects(file: &str, fields: &[FieldSpec], errors: &mut Vec<SpecError>) {
    for (i, f) in fields.iter().enumerate() {
        let p = format!("fields[{i}]");
        if let Some(s) = &f.subject {
            let ok = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                errors.push(SpecError::new(
                    file,
                    format!("{p}.subject"),
                    format!("`{s}`: a subject is a lowercase name such as `customer` or `patient`"),
                ));
            }
            if !matches!(f.ty, TypeSpec::Primitive(_)) {
                errors.push(SpecError::new(file, format!("{p}.subject"), format!("`{}` is not of a primitive type: a data subject is identified by a value such as an id or e-mail", f.name)));
            }
        }
        no_nested_subject(file, &p, &f.ty, errors);
    }
}

fn no_nested_subject(file: &str, path: &str, ty: &TypeSpec, errors: &mut Vec<SpecError>) {
    let (children, p) = match ty {
        TypeSpec::Struct(c) => (c, format!("{path}.type.struct")),
        TypeSpec::List(t) => {
            return no_nested_subject(file, &format!("{path}.type.list"), t, errors)
        }
        TypeSpec::Primitive(_) => return,
    };
    for (i, f) in children.iter().enumerate() {
        let p = format!("{p}[{i}]");
        if f.subject.is_some() {
            errors.push(SpecError::new(
                file,
                format!("{p}.subject"),
                "a data subject can only be declared on a top-level column",
            ));
        }
        no_nested_subject(file, &p, &f.ty, errors);
    }
}

fn check_fields(file: &str, path: &str, fields: &[FieldSpec], errors: &mut Vec<SpecError>) {
    let mut seen = std::collections::HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if f.name.is_empty() {
            errors.push(SpecError::new(
                file,
                format!("{p}.name"),
                "must not be empty",
            ));
        } else if f.name.starts_with('_') {
            errors.push(SpecError::new(
                file,
                format!("{p}.name"),
                format!(
                    "`{}`: names starting with `_` are reserved for ingestion metadata columns",
                    f.name
                ),
            ));
        }
        if !seen.insert(f.name.to_ascii_lowercase()) {
            errors.push(SpecError::new(
                file,
                format!("{p}.name"),
                format!("duplicate field `{}`", f.name),
            ));
        }
        if let TypeSpec::Struct(children) = &f.ty {
            check_fields(file, &format!("{p}.type.struct"), children, errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types() {
        assert_eq!(
            parse_primitive("decimal(12, 2)"),
            Some(DataType::Decimal128(12, 2))
        );
        assert_eq!(parse_primitive("LONG"), Some(DataType::Int64));
        assert_eq!(parse_primitive("decimal(40,2)"), None);
        assert_eq!(parse_primitive("strin"), None);
    }

    #[test]
    fn nested_types_and_raw_form() {
        let f: FieldSpec = crate::yaml::parse(
            "t.yaml",
            "name: reading\ntype: { struct: [ { name: t, type: double }, { name: tags, type: { list: long } } ] }\n",
        )
        .unwrap();
        let dt = f.ty.data_type();
        let raw = raw_data_type(&dt);
        let DataType::Struct(fields) = raw else {
            panic!("not a struct")
        };
        assert_eq!(fields[0].data_type(), &DataType::Utf8);
        assert!(
            matches!(fields[1].data_type(), DataType::List(i) if i.data_type() == &DataType::Utf8)
        );
    }

    #[test]
    fn unknown_type_names_the_choices() {
        let err = crate::yaml::parse::<FieldSpec>("s.yaml", "name: a\ntype: strng\n").unwrap_err();
        assert_eq!(err.path, "type");
        assert!(
            err.message.contains("unknown type `strng`"),
            "{}",
            err.message
        );
        assert!(err.message.contains("decimal(p,s)"), "{}", err.message);
    }

    #[test]
    fn the_content_hash_changes_with_any_edit_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("orders");
        std::fs::create_dir_all(&folder).unwrap();
        let text = "dataset: orders\nversion: 1\nfields:\n  - { name: id, type: long }\n";
        std::fs::write(folder.join("v1.yaml"), text).unwrap();
        let a = load_schema(dir.path(), "orders@1", "j.yaml", "bronze.schema").unwrap();
        assert_eq!(a.content_sha256, sha256_hex(text.as_bytes()));
        assert_eq!(a.content_sha256.len(), 64);
        std::fs::write(folder.join("v1.yaml"), text.replace("long", "int")).unwrap();
        let b = load_schema(dir.path(), "orders@1", "j.yaml", "bronze.schema").unwrap();
        assert_ne!(a.content_sha256, b.content_sha256);
    }

    #[test]
    fn references() {
        assert_eq!(parse_reference("orders@2"), Some(("orders".into(), 2)));
        assert_eq!(parse_reference("orders@v3"), Some(("orders".into(), 3)));
        assert_eq!(parse_reference("orders"), None);
    }
}
