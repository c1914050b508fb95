//! GDPR subject rights: `medallion erase` (Art. 17) and `medallion subject export` (Art. 15).
//!
//! Schemas declare which columns identify a person (`subject: customer` on `customer_id`,
//! `email`). From the specs and the column lineage of their SQL, [`targets`] finds every table
//! holding a subject's rows and how each column can be matched with a key: its value, its
//! `hash` under the environment's PII key, or (quarantine `_record`s, kept as delivered) the
//! key as a token of the text. [`scan`] reads Parquet files directly (not through Delta) to
//! find the rows and the files holding a key; [`erase`] rewrites the files holding the rows
//! without them, deletes from storage every file that held the key (current or older
//! versions), and returns what it did for the erasure receipt (the key only as a salted hash).
//! [`verify`] scans every file of the tables again, independently of the rewrite.

pub mod erase;
pub mod erasure;
pub mod export;
pub mod scan;
pub mod scratch;
pub mod suppress;
pub mod targets;
pub mod verify;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pii::PiiKey;
use crate::plan::JobPlan;

/// `privacy:` of an environment in environments.yaml.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyEnvSpec {
    /// Days an erased person's rows are kept out of Silver after the erasure (rows re-sent
    /// by a source, a re-export); 0: not at all. Default 30.
    #[serde(default = "default_suppress_days")]
    pub suppress_days: u32,
}

fn default_suppress_days() -> u32 {
    30
}

impl Default for PrivacyEnvSpec {
    fn default() -> Self {
        Self {
            suppress_days: default_suppress_days(),
        }
    }
}

/// What identifies one person: the key as given and its hashed forms (how a `hash`ed column
/// stores it).
#[derive(Clone)]
pub struct Needles {
    pub key: String,
    /// Hex SHA-256 (unkeyed `hash`) and, with the environment's key, hex HMAC-SHA-256.
    pub hashes: Vec<String>,
}

impl std::fmt::Debug for Needles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Needles(<key redacted>, {} hashed forms)",
            self.hashes.len()
        )
    }
}

impl Needles {
    pub fn new(key: &str, pii_key: Option<&PiiKey>) -> Self {
        let key = key.trim();
        let mut hashes = vec![crate::pii::hash_value(None, key)];
        if let Some(k) = pii_key {
            hashes.push(crate::pii::hash_value(Some(k), key));
        }
        Self {
            key: key.to_string(),
            hashes,
        }
    }

    /// Whether `cell` is the key or one of its hashed forms.
    pub fn equals(&self, cell: &str) -> bool {
        cell == self.key || self.hashes.iter().any(|h| h == cell)
    }

    /// Whether a record as delivered is about the key: a JSON object whose field named one
    /// of `fields` is the key (a string or a number), else delimited text (CSV, TSV, `;` or
    /// `|`) one of whose fields, unquoted, is the key.
    pub fn in_record(&self, record: &str, fields: &[String]) -> bool {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(record) {
            return fields.iter().any(|f| match m.get(f) {
                Some(serde_json::Value::String(s)) => self.equals(s),
                Some(v @ serde_json::Value::Number(_)) => self.equals(&v.to_string()),
                _ => false,
            });
        }
        let text = record.trim_end_matches(['\r', '\n']);
        if text.trim_start().starts_with('{') {
            // A record that is not valid JSON (cut short, malformed): its fields by name.
            return fields.iter().any(|f| {
                let re = format!(
                    r#""{}"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?[0-9][0-9.eE+-]*))"#,
                    regex::escape(f)
                );
                regex::Regex::new(&re).is_ok_and(|re| {
                    re.captures_iter(text).any(|c| {
                        c.get(1)
                            .or(c.get(2))
                            .is_some_and(|v| self.equals(v.as_str()))
                    })
                })
            });
        }
        [',', ';', '\t', '|'].iter().any(|d| {
            text.split(*d)
                .any(|f| self.equals(f.trim().trim_matches('"').trim()))
        })
    }

    /// Whether `text` holds the key (or a hashed form) as a whole token: not inside a longer
    /// id (`C12` is not in `C123`), wherever it stands in a record as delivered.
    pub fn in_text(&self, text: &str) -> bool {
        std::iter::once(&self.key)
            .chain(self.hashes.iter())
            .any(|n| token_in(text, n))
    }
}

fn token_in(text: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let word = |c: char| c.is_alphanumeric() || "_@.+-".contains(c);
    let mut from = 0;
    while let Some(i) = text[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        // A `.` or `-` ending a sentence or a field is a boundary too.
        let edge = |c: Option<char>, next: Option<char>| match c {
            None => true,
            Some(c) if !word(c) => true,
            Some('.') | Some('-') => next.is_none_or(|n| !word(n)),
            _ => false,
        };
        if edge(before, None) && edge(after, text[end..].chars().nth(1)) {
            return true;
        }
        from = start + needle.chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// The subjects the schemas of `plans` declare.
pub fn subjects(plans: &[JobPlan]) -> BTreeSet<String> {
    plans.iter().flat_map(|p| p.schema.subjects()).collect()
}

/// Checks a request: a subject some schema declares, and a key.
pub fn check_request(plans: &[JobPlan], subject: &str, key: &str) -> Result<()> {
    let known = subjects(plans);
    if !known.contains(subject) {
        return Err(Error::Input {
            path: "--subject".into(),
            message: if known.is_empty() {
                format!("no schema of these pipelines declares a data subject, so `{subject}` cannot be found; \
                         declare it with `subject: {subject}` on the column(s) that identify a person (docs/privacy.md)")
            } else {
                format!(
                    "no schema declares the data subject `{subject}`; declared: {}",
                    known.into_iter().collect::<Vec<_>>().join(", ")
                )
            },
        });
    }
    if key.trim().is_empty() {
        return Err(Error::Input {
            path: "--key".into(),
            message: "the key of the person is empty; give the value of a subject column, e.g. --key C123".into(),
        });
    }
    Ok(())
}

/// A salted SHA-256 of the key, for receipts when the environment has no PII key: whoever
/// knows the key can check a receipt is about it (with the salt recorded beside it); a short
/// or guessable key can be found by trying candidates, which a keyed HMAC prevents.
pub fn salted_hash(key: &str) -> (String, String) {
    let salt = uuid::Uuid::new_v4().simple().to_string();
    let hash = crate::schema::sha256_hex(format!("{salt}:{key}").as_bytes());
    (salt, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_as_a_whole_token_only() {
        let n = Needles::new("C12", None);
        assert!(n.in_text("C12,Ada,ada@example.com"));
        assert!(n.in_text(r#"{"customer_id":"C12","x":1}"#));
        assert!(n.in_text("customer C12."));
        assert!(!n.in_text("C123,Ada"));
        assert!(!n.in_text("XC12,Ada"));
        assert!(!n.in_text("C12@example.com"));
        let e = Needles::new("ada@example.com", None);
        assert!(e.in_text("C1,ada@example.com,GB"));
        assert!(!e.in_text("C1,nada@example.com,GB"));
        assert!(!e.in_text("C1,ada@example.com.au,GB"));
    }

    #[test]
    fn a_record_is_about_the_key_by_its_fields_only() {
        let n = Needles::new("C002", None);
        let f = vec!["customer_id".to_string()];
        assert!(n.in_record(r#"{"customer_id":"C002","amount":"EUR"}"#, &f));
        assert!(!n.in_record(r#"{"customer_id":"C003","note":"C002"}"#, &f));
        assert!(n.in_record("C002,Grace Hopper,grace@example.com\n", &f));
        assert!(n.in_record("\"C002\";x", &f));
        assert!(!n.in_record("C0021,Grace", &f));
        assert!(n.in_record(r#"{"order_id":"O1","customer_id":"C002","amount":12,"#, &f));
        assert!(!n.in_record(r#"{"order_id":"C002","customer_id":"C003","#, &f));
        let num = Needles::new("42", None);
        assert!(num.in_record(r#"{"customer_id":42,"n":2}"#, &f));
        assert!(!num.in_record(r#"{"customer_id":7,"n":42}"#, &f));
    }

    #[test]
    fn hashed_forms_match_the_pii_hash() {
        let k = PiiKey::new(b"secret".to_vec());
        let n = Needles::new("ada@example.com", Some(&k));
        assert!(n.equals(&crate::pii::hash_value(None, "ada@example.com")));
        assert!(n.equals(&crate::pii::hash_value(Some(&k), "ada@example.com")));
        assert!(!n.equals("ada@example.org"));
        assert!(!format!("{n:?}").contains("ada"));
    }
}
