//! PII protection before Silver: `silver.pii` actions, the keyed hash, and the plan-time
//! warning for personal data that would reach Silver in clear text.
//!
//! `hash` is SHA-256 (hex) of the value's text, or HMAC-SHA-256 (hex) with the environment's
//! secret key when `environments.<env>.pii.hash_key_env` names an environment variable: an
//! unsalted SHA-256 of an e-mail address is reversible by looking it up in a table of hashed
//! addresses, an HMAC is not without the key. The same key always gives the same hash (joins
//! and dedupe on hashed columns keep working); the key never appears in SQL text or plans, it
//! is bound into the `medallion_pii_hash` function registered by [`register_udfs`].

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::{DataFrame, SessionContext};
use hmac::{KeyInit, Mac};
use serde::Deserialize;

use crate::error::{Error, Result, SpecError};
use crate::schema::DatasetSchema;
use crate::spec::{sql_ident, PiiAction, SilverSpec};

/// The general function: `hmac_sha256(text, key)` → lowercase hex.
pub const HMAC_UDF: &str = "hmac_sha256";
/// `medallion_pii_hash(text)`: HMAC-SHA-256 with the environment's key, bound at registration.
pub const KEYED_HASH_UDF: &str = "medallion_pii_hash";
/// The classification that marks personal data in a schema.
pub const PII_CLASSIFICATION: &str = "pii";

/// `environments.<env>.pii`: how personal data is protected in that environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiEnvSpec {
    /// Name of the environment variable holding the secret key of `hash` (HMAC-SHA-256),
    /// e.g. `MEDALLION_PII_KEY_PROD`. On AWS the ECS task definition injects the Secrets
    /// Manager secret into it. When set and the variable is missing or empty, runs fail.
    pub hash_key_env: String,
}

/// A secret HMAC key. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PiiKey(Vec<u8>);

impl PiiKey {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        PiiKey(key.into())
    }
}

impl PiiKey {
    /// A public identifier of the key (HMAC of a fixed label; reveals nothing of the key),
    /// recorded with the tables it hashed so that a key change is noticed.
    pub fn id(&self) -> String {
        hmac_sha256(&self.0, b"medallion.pii.key-id")[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The table property recording how a Silver table's personal data was protected.
pub const PII_PROP: &str = "medallion.pii";

/// What [`PII_PROP`] holds: each column's action and the hash key's id (or `unkeyed`).
pub fn protection(pii: &BTreeMap<String, PiiAction>, key: Option<&PiiKey>) -> String {
    let actions: Vec<String> = pii
        .iter()
        .map(|(c, a)| format!("{c}={a:?}").to_lowercase())
        .collect();
    let key = key.map_or("unkeyed".to_string(), |k| format!("key {}", k.id()));
    format!("{} ({key})", actions.join(","))
}

/// Refuses to write a Silver table whose rows were protected differently (another PII
/// action or hash key): the column would mix two schemes and joins on it break silently.
pub fn check_protection(
    table: &str,
    properties: &std::collections::HashMap<String, String>,
    now: &str,
    spec_file: &str,
) -> Result<()> {
    match properties.get(PII_PROP) {
        Some(was) if was != now => Err(crate::Error::Spec(vec![crate::SpecError::new(
            spec_file,
            "silver.pii",
            format!(
                "`{table}` was written with PII protection `{was}`, this run would write `{now}`: \
                 rows would mix two schemes. Rebuild the table (delete it and its Bronze bookmark \
                 reprocesses everything) or keep the previous actions and key"
            ),
        )])),
        _ => Ok(()),
    }
}

impl std::fmt::Debug for PiiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PiiKey(<{} bytes, redacted>)", self.0.len())
    }
}

/// The environment's `hash` key: `None` when the environment configures none (unsalted
/// SHA-256); an error naming the environment and the variable when it is configured but
/// the variable is missing or empty.
pub fn hash_key(env: &crate::env::Environment) -> Result<Option<PiiKey>> {
    let Some(spec) = &env.pii else {
        return Ok(None);
    };
    match std::env::var(&spec.hash_key_env) {
        Ok(v) if !v.is_empty() => Ok(Some(PiiKey::new(v.into_bytes()))),
        _ => Err(Error::Spec(vec![SpecError::new(
            "environments.yaml",
            format!("environments.{}.pii.hash_key_env", env.name),
            format!(
                "environment `{}` hashes personal data with the secret key in the environment variable `{}`, \
                 which is not set (or empty); set it (on AWS: the task definition injects it from Secrets Manager)",
                env.name, spec.hash_key_env
            ),
        )])),
    }
}

/// HMAC-SHA-256 (RFC 2104) of a message.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// A value as `silver.pii: hash` stores it: hex HMAC-SHA-256 under the environment's key, or
/// hex SHA-256 when the environment has none.
pub fn hash_value(key: Option<&PiiKey>, value: &str) -> String {
    match key {
        Some(k) => hex(&hmac_sha256(&k.0, value.as_bytes())),
        None => {
            use sha2::Digest as _;
            hex(&sha2::Sha256::digest(value.as_bytes()))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A scalar function over text: `hmac_sha256(text, key)`, or with a bound key
/// `medallion_pii_hash(text)`. Nulls stay null.
#[derive(Debug, PartialEq, Eq, Hash)]
struct HmacUdf {
    name: &'static str,
    key: Option<PiiKey>,
    signature: Signature,
}

impl HmacUdf {
    fn new(name: &'static str, key: Option<PiiKey>) -> Self {
        let arity = if key.is_some() { 1 } else { 2 };
        HmacUdf {
            name,
            key,
            signature: Signature::uniform(arity, vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HmacUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text = |a: &ArrayRef| -> datafusion::error::Result<StringArray> {
            let a = arrow::compute::cast(a, &DataType::Utf8)?;
            Ok(a.as_any()
                .downcast_ref::<StringArray>()
                .expect("utf8")
                .clone())
        };
        let values = text(&arrays[0])?;
        let keys = match &self.key {
            Some(_) => None,
            None => Some(text(&arrays[1])?),
        };
        let out: StringArray = (0..values.len())
            .map(|i| {
                let key = match (&self.key, &keys) {
                    (Some(k), _) => Some(k.0.as_slice()),
                    (None, Some(ks)) if ks.is_valid(i) => Some(ks.value(i).as_bytes()),
                    _ => None,
                };
                match key {
                    Some(k) if values.is_valid(i) => {
                        Some(hex(&hmac_sha256(k, values.value(i).as_bytes())))
                    }
                    _ => None,
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `hmac_sha256(text, key)`: the key is an argument, so the function is the same on every
/// node of a cluster.
pub fn hmac_udf() -> ScalarUDF {
    ScalarUDF::from(HmacUdf::new(HMAC_UDF, None))
}

/// Registers `hmac_sha256(text, key)` and, with the environment's key,
/// `medallion_pii_hash(text)` (needed by [`pii_select`] with a key).
pub fn register_udfs(ctx: &SessionContext, key: Option<&PiiKey>) {
    ctx.register_udf(hmac_udf());
    if let Some(k) = key {
        ctx.register_udf(ScalarUDF::from(HmacUdf::new(
            KEYED_HASH_UDF,
            Some(k.clone()),
        )));
    }
}

/// The pii-protected typed schema: the relation `input` of the Silver SQL.
pub fn pii_schema(typed_out: &SchemaRef, pii: &BTreeMap<String, PiiAction>) -> SchemaRef {
    Arc::new(Schema::new(
        typed_out
            .fields()
            .iter()
            .filter_map(|f| match pii.get(f.name()) {
                Some(PiiAction::Drop) => None,
                Some(_) => Some(Field::new(f.name(), DataType::Utf8, true)),
                None => Some(f.as_ref().clone()),
            })
            .collect::<Vec<_>>(),
    ))
}

/// The SQL select list applying PII protection. With a key, `hash` calls
/// `medallion_pii_hash` (register it with [`register_udfs`] and the same key first).
pub fn pii_select(
    typed_out: &SchemaRef,
    pii: &BTreeMap<String, PiiAction>,
    key: Option<&PiiKey>,
) -> String {
    typed_out
        .fields()
        .iter()
        .filter_map(|f| {
            let c = sql_ident(f.name());
            let text = format!("CAST({c} AS VARCHAR)");
            match pii.get(f.name()) {
                Some(PiiAction::Drop) => None,
                Some(PiiAction::Hash) if key.is_some() => {
                    Some(format!("{KEYED_HASH_UDF}({text}) AS {c}"))
                }
                Some(PiiAction::Hash) => Some(format!("encode(sha256({text}), 'hex') AS {c}")),
                Some(PiiAction::Mask) => Some(format!(
                    "CASE WHEN {c} IS NULL THEN NULL WHEN character_length({text}) <= 4 THEN repeat('*', character_length({text})) \
                     ELSE concat(repeat('*', character_length({text}) - 4), right({text}, 4)) END AS {c}"
                )),
                None => Some(c),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Warnings for columns classified `pii` in the schema that the Silver SQL reads although
/// `silver.pii` has no action for them: they would reach Silver in clear text.
pub async fn clear_text_warnings(
    file: &str,
    ds: &DatasetSchema,
    silver: &SilverSpec,
    query: DataFrame,
) -> Vec<SpecError> {
    let unprotected: Vec<&str> = ds
        .fields
        .iter()
        .filter(|f| {
            f.classification
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(PII_CLASSIFICATION))
        })
        .filter(|f| !silver.pii.contains_key(&f.name))
        .map(|f| f.name.as_str())
        .collect();
    if unprotected.is_empty() {
        return Vec::new();
    }
    let read = input_columns_read(query);
    unprotected
        .into_iter()
        .filter(|c| read.as_ref().is_none_or(|r| r.iter().any(|n| n == c)))
        .map(|c| {
            SpecError::new(
                file,
                format!("silver.pii.{c}"),
                format!(
                    "column `{c}` is classified `pii` in {} but reaches Silver in clear text: the Silver SQL reads it \
                     and silver.pii has no action for it. Add `{c}: hash` (or `mask`, `drop`) under silver.pii",
                    ds.path.display()
                ),
            )
        })
        .collect()
}

/// The columns of `input` the optimised query reads (`None`: could not tell, assume all).
fn input_columns_read(query: DataFrame) -> Option<Vec<String>> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::LogicalPlan;
    let plan = query.into_optimized_plan().ok()?;
    let mut read = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if scan.table_name.schema().is_none() && scan.table_name.table() == "input" {
                read.extend(
                    scan.projected_schema
                        .fields()
                        .iter()
                        .map(|f| f.name().clone()),
                );
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .ok()?;
    Some(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_vectors() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: a key shorter than the block.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    async fn hashed(key: Option<&PiiKey>) -> Vec<Option<String>> {
        let ctx = SessionContext::new();
        register_udfs(&ctx, key);
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("email", DataType::Utf8, true)]));
        let batch = arrow::array::RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![
                Some("ada@example.com"),
                None,
            ]))],
        )
        .unwrap();
        ctx.register_batch("t", batch).unwrap();
        let pii = BTreeMap::from([("email".to_string(), PiiAction::Hash)]);
        let sql = format!("SELECT {} FROM t", pii_select(&schema, &pii, key));
        let out = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let col = arrow::compute::cast(out[0].column(0), &DataType::Utf8).unwrap();
        let col = col.as_any().downcast_ref::<StringArray>().unwrap();
        col.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[tokio::test]
    async fn keyed_hash_is_stable_per_key_and_differs_between_keys() {
        let k1 = PiiKey::new(b"prod-secret".to_vec());
        let first = hashed(Some(&k1)).await;
        let second = hashed(Some(&k1.clone())).await;
        assert_eq!(first, second, "the same key hashes the same in two runs");
        assert_eq!(
            first[0].as_deref(),
            Some(hex(&hmac_sha256(b"prod-secret", b"ada@example.com")).as_str())
        );
        assert_eq!(first[1], None, "null stays null");
        let other = hashed(Some(&PiiKey::new(b"staging-secret".to_vec()))).await;
        assert_ne!(first[0], other[0], "a different key hashes differently");
        let unsalted = hashed(None).await;
        assert_ne!(first[0], unsalted[0]);
        use sha2::Digest as _;
        let plain = hex(&sha2::Sha256::digest(b"ada@example.com"));
        assert_eq!(
            unsalted[0].as_deref(),
            Some(plain.as_str()),
            "no key: SHA-256 as before"
        );
    }

    #[tokio::test]
    async fn hmac_sql_function_takes_the_key_as_argument() {
        let ctx = SessionContext::new();
        register_udfs(&ctx, None);
        let out = ctx
            .sql("SELECT hmac_sha256('what do ya want for nothing?', 'Jefe') AS h")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let col = arrow::compute::cast(out[0].column(0), &DataType::Utf8).unwrap();
        let col = col.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(
            col.value(0),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_configured_key_variable_must_be_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("environments.yaml");
        let var = format!("MEDALLION_TEST_PII_KEY_{}", uuid::Uuid::new_v4().simple());
        std::fs::write(
            &file,
            format!("environments:\n  prod: {{ lake: ./lake, retention_days: 1, pii: {{ hash_key_env: {var} }} }}\n  dev: {{ lake: ./dev, retention_days: 1 }}\n"),
        )
        .unwrap();
        let prod = crate::env::load_environment(&file, "prod").unwrap();
        let err = hash_key(&prod).unwrap_err().to_string();
        assert!(
            err.contains("environments.prod.pii.hash_key_env")
                && err.contains("environment `prod`")
                && err.contains(&format!("`{var}`")),
            "{err}"
        );
        // SAFETY: a variable name unique to this test; no other thread reads it.
        unsafe { std::env::set_var(&var, "k") };
        assert_eq!(hash_key(&prod).unwrap(), Some(PiiKey::new(b"k".to_vec())));
        let dev = crate::env::load_environment(&file, "dev").unwrap();
        assert_eq!(hash_key(&dev).unwrap(), None, "no key configured: unsalted");
    }

    #[test]
    fn key_is_never_printed() {
        let k = PiiKey::new(b"top-secret".to_vec());
        assert!(!format!("{k:?}").contains("top-secret"));
    }
}
