//! A consumed message's headers as JSON text (the `_kafka_headers` column), read from
//! librdkafka directly.
//!
//! rdkafka's `Headers::iter` turns every key into `&str` with `unwrap()`: one message whose
//! header key is not UTF-8 (a buggy or hostile producer) would panic the consumer thread, and
//! again after every restart, so the stream could never get past it. Here keys, like values,
//! are kept as UTF-8 text with invalid bytes replaced (U+FFFD). A header without a value is
//! `null`, an empty value `""`.
//!
//! Limit: librdkafka hands out a key as a NUL-terminated string, so a key holding a NUL byte
//! (a Java producer's U+0000) is cut at it; there is no call that gives the key's length.
//! Headers librdkafka cannot parse (a malformed header block, more than 100,000 headers) are
//! an error: the message goes to the quarantine (`_rule = headers`), not to Bronze without
//! its headers.

use std::borrow::Cow;
use std::ffi::{c_char, c_void, CStr};
use std::ptr;

use rdkafka::bindings as rdsys;
use rdkafka::message::BorrowedMessage;
use rdkafka::types::RDKafkaRespErr;

/// The message's headers as JSON text (`None`: it has none), or why they cannot be read.
pub fn of_message(m: &BorrowedMessage<'_>) -> Result<Option<String>, String> {
    let mut hdrs: *mut rdsys::rd_kafka_headers_t = ptr::null_mut();
    // SAFETY: `m.ptr()` is valid while `m` is borrowed; librdkafka fills `hdrs` with headers
    // owned by the message (freed with it, never here).
    let err = unsafe { rdsys::rd_kafka_message_headers(m.ptr(), &mut hdrs) };
    match err {
        RDKafkaRespErr::RD_KAFKA_RESP_ERR__NOENT => Ok(None),
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR if !hdrs.is_null() => {
            // SAFETY: `hdrs` belongs to `m`, which outlives this call.
            unsafe { of_native(hdrs) }
        }
        other => Err(format!(
            "librdkafka cannot read the message's headers ({other:?})"
        )),
    }
}

/// Header pairs as JSON text (`None` when there are none): `[{"key":..,"value":..},..]`, values
/// as UTF-8 text (invalid bytes replaced) or `null`. Written directly (it runs per message on
/// the consumer thread), the same text `serde_json` gives for that array of objects.
pub fn json<'a>(pairs: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>) -> Option<String> {
    let mut out: Vec<u8> = Vec::new();
    let text = |out: &mut Vec<u8>, s: &str| {
        serde_json::to_writer(out, s).expect("writing a string to memory")
    };
    for (k, v) in pairs {
        out.extend_from_slice(if out.is_empty() {
            b"[{\"key\":"
        } else {
            b",{\"key\":"
        });
        text(&mut out, k);
        out.extend_from_slice(b",\"value\":");
        match v {
            Some(v) => text(&mut out, &String::from_utf8_lossy(v)),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
    if out.is_empty() {
        return None;
    }
    out.push(b']');
    Some(String::from_utf8(out).expect("JSON text of UTF-8 strings"))
}

/// # Safety
/// `hdrs` must point to a valid librdkafka headers object for the whole call.
unsafe fn of_native(hdrs: *const rdsys::rd_kafka_headers_t) -> Result<Option<String>, String> {
    let count = rdsys::rd_kafka_header_cnt(hdrs);
    let mut pairs: Vec<(Cow<str>, Option<&[u8]>)> = Vec::with_capacity(count);
    for idx in 0..count {
        let (mut name, mut value, mut size): (*const c_char, *const c_void, usize) =
            (ptr::null(), ptr::null(), 0);
        let err = rdsys::rd_kafka_header_get_all(hdrs, idx, &mut name, &mut value, &mut size);
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            return Err(format!("header {idx} of {count} cannot be read ({err:?})"));
        }
        let key = String::from_utf8_lossy(CStr::from_ptr(name).to_bytes());
        let value =
            (!value.is_null()).then(|| std::slice::from_raw_parts(value.cast::<u8>(), size));
        pairs.push((key, value));
    }
    Ok(json(pairs.iter().map(|(k, v)| (k.as_ref(), *v))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written headers text is exactly what serde_json gives for the same array
    /// (escapes, non-ASCII, invalid UTF-8 replaced, null values, several headers).
    #[test]
    fn headers_text_equals_serde_json() {
        let cases: Vec<Vec<(&str, Option<&[u8]>)>> = vec![
            vec![],
            vec![("h", Some(b"v"))],
            vec![("q\"uote\\", Some(b"line\nbreak\ttab\x01")), ("nil", None)],
            vec![
                ("\u{e9}t\u{e9}", Some("\u{1f600}".as_bytes())),
                ("bad", Some(b"\xff\xfeok")),
            ],
        ];
        for pairs in cases {
            let expected: Vec<serde_json::Value> = pairs
                .iter()
                .map(|(k, v)| {
                    serde_json::json!({
                        "key": k,
                        "value": v.map(|v| String::from_utf8_lossy(v).to_string()),
                    })
                })
                .collect();
            let expected =
                (!expected.is_empty()).then(|| serde_json::Value::Array(expected).to_string());
            assert_eq!(json(pairs.into_iter()), expected);
        }
    }

    /// A header key that is not UTF-8 is kept (replacement character) instead of panicking
    /// the consumer thread; a header without a value is `null`, an empty one `""`; no headers
    /// → `None`.
    #[test]
    fn a_key_that_is_not_utf8_is_kept_not_a_panic() {
        // SAFETY: a headers object made, read and destroyed here.
        let (text, empty) = unsafe {
            let h = rdsys::rd_kafka_headers_new(2);
            let add = |name: &[u8], value: Option<&[u8]>| {
                let (v, n) = value.map_or((ptr::null(), 0), |v| (v.as_ptr().cast(), v.len()));
                let err = rdsys::rd_kafka_header_add(
                    h,
                    name.as_ptr().cast(),
                    name.len() as isize,
                    v,
                    n as isize,
                );
                assert_eq!(err, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR);
            };
            add(b"tr\xffce", Some(b"v1"));
            add(b"nil", None);
            add(b"empty", Some(b""));
            let text = of_native(h);
            rdsys::rd_kafka_headers_destroy(h);
            let none = rdsys::rd_kafka_headers_new(0);
            let empty = of_native(none);
            rdsys::rd_kafka_headers_destroy(none);
            (text, empty)
        };
        assert_eq!(
            text,
            Ok(Some(
                "[{\"key\":\"tr\u{fffd}ce\",\"value\":\"v1\"},{\"key\":\"nil\",\"value\":null},{\"key\":\"empty\",\"value\":\"\"}]"
                    .to_string()
            ))
        );
        assert_eq!(empty, Ok(None));
    }
}
