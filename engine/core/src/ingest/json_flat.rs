//! The fast path of NDJSON decoding, for the common shape: one flat JSON object per record
//! whose declared fields are all text (the raw form of a schema without nested fields).
//! Each value is copied once, from the record into its column; arrow's decoder copies it
//! into its tape and then into the column, and looks each key up in a hash map once a
//! struct has 16 fields or more.
//!
//! It accepts a strict subset of what arrow's decoder accepts (commas where JSON wants them,
//! keys without escapes, no surrogate escapes, no nested values, no declared key twice) and
//! gives the same rows for it: numbers keep their text as written, `true` / `false` become
//! that text, `null` and a missing key a null. On any record outside the subset, [`decode`]
//! returns `None` and the caller hands the whole set to arrow's decoder, which also words
//! the reasons of bad records. `tests` compares the two on generated records.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, SchemaRef};

/// The declared fields of a schema the fast path can decode, or `None` if it cannot.
pub(super) struct FlatFields {
    names: Vec<Box<[u8]>>,
}

impl FlatFields {
    /// Every field nullable text (a nested field or a required one goes to arrow's decoder),
    /// and at least one. Field names are unique (the schema loader refuses duplicates), so
    /// the field after the last one found, when its name matches, is the only match.
    pub fn of(schema: &SchemaRef) -> Option<Self> {
        let fields = schema.fields();
        let flat = !fields.is_empty()
            && fields
                .iter()
                .all(|f| f.data_type() == &DataType::Utf8 && f.is_nullable());
        flat.then(|| FlatFields {
            names: fields.iter().map(|f| f.name().as_bytes().into()).collect(),
        })
    }

    /// The field named `key`, trying the one after `last` first (records usually keep the
    /// order of their keys).
    fn find(&self, key: &[u8], last: Option<usize>) -> Option<usize> {
        let next = last.map_or(0, |l| l + 1);
        if self.names.get(next).is_some_and(|n| **n == *key) {
            return Some(next);
        }
        self.names.iter().position(|n| **n == *key)
    }
}

/// A set of records larger than this goes to arrow's decoder (string offsets are `i32`).
const MAX_BYTES: usize = (i32::MAX / 2) as usize;

/// Decodes `records` (one JSON object each) into rows of `schema`, or `None` if one of them
/// is outside the subset this path decodes. `strict`: a key the schema does not declare
/// makes the record bad (so: `None`); otherwise its value is skipped.
pub(super) fn decode(
    schema: &SchemaRef,
    fields: &FlatFields,
    records: &[&[u8]],
    strict: bool,
) -> Option<RecordBatch> {
    let bytes: usize = records.iter().map(|r| r.len()).sum();
    if bytes > MAX_BYTES {
        return None;
    }
    let n = fields.names.len();
    let per_field = bytes / n.max(1);
    let mut columns: Vec<StringBuilder> = (0..n)
        .map(|_| StringBuilder::with_capacity(records.len(), per_field))
        .collect();
    let mut parser = Parser {
        fields,
        strict,
        seen: vec![false; n],
        scratch: String::new(),
    };
    for record in records {
        parser.record(record, &mut columns)?;
    }
    let columns: Vec<ArrayRef> = columns
        .iter_mut()
        .map(|c| Arc::new(c.finish()) as ArrayRef)
        .collect();
    RecordBatch::try_new(schema.clone(), columns).ok()
}

struct Parser<'f> {
    fields: &'f FlatFields,
    strict: bool,
    /// The fields this record has set.
    seen: Vec<bool>,
    /// A string value with escapes, unescaped.
    scratch: String,
}

impl Parser<'_> {
    /// Appends one record's values (a null where a field is missing) to `columns`.
    fn record(&mut self, record: &[u8], columns: &mut [StringBuilder]) -> Option<()> {
        let text = simdutf8::basic::from_utf8(record).ok()?;
        let mut at = Cursor { text, pos: 0 };
        self.seen.iter_mut().for_each(|s| *s = false);
        at.skip_ws();
        at.expect(b'{')?;
        at.skip_ws();
        if at.peek() == Some(b'}') {
            at.pos += 1;
        } else {
            self.members(&mut at, columns)?;
        }
        at.skip_ws();
        if at.pos != text.len() {
            return None;
        }
        for (seen, column) in self.seen.iter().zip(columns.iter_mut()) {
            if !seen {
                column.append_null();
            }
        }
        Some(())
    }

    /// `"key": value` pairs separated by commas, up to and including the closing `}`.
    fn members(&mut self, at: &mut Cursor, columns: &mut [StringBuilder]) -> Option<()> {
        let mut last = None;
        loop {
            at.expect(b'"')?;
            let key = at.plain_string()?;
            at.skip_ws();
            at.expect(b':')?;
            at.skip_ws();
            match self.fields.find(key.as_bytes(), last) {
                Some(f) if !self.seen[f] => {
                    self.seen[f] = true;
                    last = Some(f);
                    self.value(at, &mut columns[f])?;
                }
                Some(_) => return None,
                None if self.strict => return None,
                None => self.skip_value(at)?,
            }
            at.skip_ws();
            match at.next()? {
                b',' => at.skip_ws(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A scalar value into a text column.
    fn value(&mut self, at: &mut Cursor, column: &mut StringBuilder) -> Option<()> {
        match self.scalar(at)? {
            Scalar::Text(s) => column.append_value(s),
            Scalar::Unescaped => column.append_value(&self.scratch),
            Scalar::Null => column.append_null(),
        }
        Some(())
    }

    /// The value of a key the schema does not declare (non-strict): a scalar, skipped.
    fn skip_value(&mut self, at: &mut Cursor) -> Option<()> {
        self.scalar(at).map(|_| ())
    }

    /// A string, number, `true`, `false` or `null` (anything else: `None`).
    fn scalar<'t>(&mut self, at: &mut Cursor<'t>) -> Option<Scalar<'t>> {
        Some(match at.peek()? {
            b'"' => {
                at.pos += 1;
                self.string(at)?
            }
            b'-' | b'0'..=b'9' => Scalar::Text(at.number()),
            b't' => Scalar::Text(at.literal("true")?),
            b'f' => Scalar::Text(at.literal("false")?),
            b'n' => {
                at.literal("null")?;
                Scalar::Null
            }
            _ => return None,
        })
    }

    /// A string's contents after its opening quote; the cursor ends after the closing quote.
    fn string<'t>(&mut self, at: &mut Cursor<'t>) -> Option<Scalar<'t>> {
        let start = at.pos;
        let end = at.find_quote_or_escape()?;
        if at.byte(end) == b'"' {
            at.pos = end + 1;
            return Some(Scalar::Text(&at.text[start..end]));
        }
        self.scratch.clear();
        self.scratch.push_str(&at.text[start..end]);
        at.pos = end;
        loop {
            match at.next()? {
                b'"' => return Some(Scalar::Unescaped),
                b'\\' => self.scratch.push(at.escape()?),
                _ => unreachable!("the search stops at a quote or a backslash"),
            }
            let end = at.find_quote_or_escape()?;
            self.scratch.push_str(&at.text[at.pos..end]);
            at.pos = end;
        }
    }
}

/// A scalar value: text that is a slice of the record (a string without escapes, a number,
/// `true` / `false`), a string with escapes (unescaped into the parser's scratch), or null.
enum Scalar<'t> {
    Text(&'t str),
    Unescaped,
    Null,
}

/// A position in one record.
struct Cursor<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Cursor<'t> {
    fn byte(&self, i: usize) -> u8 {
        self.text.as_bytes()[i]
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// JSON whitespace, as arrow's decoder skips it.
    fn skip_ws(&mut self) {
        let bytes = self.text.as_bytes();
        while matches!(bytes.get(self.pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    /// The next `"` or `\` at or after the cursor.
    fn find_quote_or_escape(&self) -> Option<usize> {
        memchr::memchr2(b'"', b'\\', &self.text.as_bytes()[self.pos..]).map(|i| self.pos + i)
    }

    /// A string without escapes (a key), after its opening quote.
    fn plain_string(&mut self) -> Option<&'t str> {
        let start = self.pos;
        let end = self.find_quote_or_escape()?;
        if self.byte(end) != b'"' {
            return None;
        }
        self.pos = end + 1;
        Some(&self.text[start..end])
    }

    /// A number's text as written: the bytes arrow's decoder takes for a number (it leaves
    /// checking the grammar to whoever parses the text: Silver's typing).
    fn number(&mut self) -> &'t str {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        while matches!(
            bytes.get(self.pos),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        ) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn literal(&mut self, word: &'static str) -> Option<&'static str> {
        let end = self.pos + word.len();
        if self.text.as_bytes().get(self.pos..end) != Some(word.as_bytes()) {
            return None;
        }
        self.pos = end;
        Some(word)
    }

    /// The character of an escape, after its backslash (`None` for a surrogate or an invalid
    /// escape: arrow's decoder handles those).
    fn escape(&mut self) -> Option<char> {
        Some(match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hex = self.text.get(self.pos..self.pos + 4)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                let code = u32::from_str_radix(hex, 16).ok()?;
                self.pos += 4;
                char::from_u32(code)?
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
#[path = "json_flat_tests.rs"]
mod tests;
