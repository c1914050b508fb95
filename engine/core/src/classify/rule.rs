//! The `pii_scan` rule kind: `check: { pii_scan: { columns: [notes], detectors: [email, phone] } }`
//! fails a row when one of the columns holds a value a detector finds (anywhere in the text),
//! so a pipeline can quarantine or warn when a column not meant for personal data starts
//! carrying it. It compiles to SQL over the function `medallion_pii_found(text, detectors)`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::Detector;
use crate::spec::{sql_ident, sql_string, PiiScanCheck};

pub const UDF: &str = "medallion_pii_found";

/// The detectors a check names (all but `date_of_birth`, which needs a column name, and
/// `person_name`, too loose for free text, when it names none); the unknown names, if any.
pub fn detectors(c: &PiiScanCheck) -> Result<Vec<Detector>, Vec<String>> {
    if c.detectors.is_empty() {
        return Ok(Detector::ALL
            .into_iter()
            .filter(|d| !matches!(d, Detector::DateOfBirth | Detector::PersonName))
            .collect());
    }
    let unknown: Vec<String> = c
        .detectors
        .iter()
        .filter(|d| Detector::parse(d).is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    Ok(c.detectors
        .iter()
        .filter_map(|d| Detector::parse(d))
        .collect())
}

/// The check's SQL: true when none of the columns holds what a detector finds.
pub fn sql(c: &PiiScanCheck) -> String {
    let names: Vec<&str> = detectors(c)
        .unwrap_or_default()
        .into_iter()
        .map(Detector::name)
        .collect();
    let list = sql_string(&names.join(","));
    let any = c
        .columns
        .iter()
        .map(|col| format!("{UDF}(CAST({} AS VARCHAR), {list})", sql_ident(col)))
        .collect::<Vec<_>>()
        .join(" OR ");
    format!("NOT ({any})")
}

/// `medallion_pii_found(text, 'email,phone')`: whether the text holds such a value (false
/// for null).
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(PiiFound {
        signature: Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PiiFound {
    signature: Signature,
}

impl ScalarUDFImpl for PiiFound {
    fn name(&self) -> &str {
        UDF
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text = arrow::array::cast::as_string_array(&arrays[0]);
        let names = arrow::array::cast::as_string_array(&arrays[1]);
        let out: BooleanArray = (0..text.len())
            .map(|i| {
                let found = text.is_valid(i)
                    && names.is_valid(i)
                    && names
                        .value(i)
                        .split(',')
                        .filter_map(Detector::parse)
                        .any(|d| d.within(text.value(i)));
                Some(found)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}
