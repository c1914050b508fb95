//! Loading YAML files into typed specs with errors that name the file and field path.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::SpecError;

/// Reads and parses a YAML file into `T`. The error names the file, the field path
/// (e.g. `silver.rules[1].on_fail`) and serde's explanation (what is allowed, line and column).
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, SpecError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SpecError::new(&file, "", format!("cannot read the file: {e}")))?;
    parse(&file, &text)
}

/// Parses YAML text (see [`load`]); `file` is only used in messages.
///
/// The YAML is first read into a JSON value (syntax errors carry line and column), then
/// deserialised from it, so that enums are written as plain YAML (`source: { files: ... }`,
/// `on_fail: drop`) rather than with YAML tags.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, SpecError> {
    let value: serde_json::Value = serde_norway::from_str(text)
        .map_err(|e| SpecError::new(file, "", format!("not valid YAML: {e}")))?;
    let value = if value.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        value
    };
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        SpecError::new(file, path, err.into_inner().to_string())
    })
}
