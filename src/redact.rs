//! What a reviewer is shown of a deferred request's body (REST) or MCP call arguments: the
//! JSON with a route's `redact` pointers masked, or bounded text when it is not JSON. Pure:
//! no I/O, bounded output.

use serde_json::Value;
use std::io;

/// What replaces every redacted value.
pub const REDACTED: &str = "[redacted]";
/// Non-JSON text is cut at this many bytes.
pub const TEXT_LIMIT: usize = 4096;
/// No output is longer than this many bytes.
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// Room kept under [`OUTPUT_LIMIT`] for the "… (N bytes)" suffix of cut JSON.
const SUFFIX_ROOM: usize = 32;

/// What a reviewer is shown of a body or an MCP call's arguments: JSON pretty-printed with
/// every `pointers` target replaced by the string "[redacted]" (a pointer that matches
/// nothing is ignored); text that is not JSON is shown as (lossy UTF-8) text cut at 4096
/// bytes on a char boundary with "… (N bytes)" appended when cut; an empty body is
/// "(empty)". Bounded: never more than 64 KiB of output (cut the same way).
///
/// Pointers are RFC 6901 (`~0` is `~`, `~1` is `/`); the empty pointer, which the bundle
/// loader refuses, would mask the whole document. A JSON body is shown as parsed (for a
/// duplicated key, the last value), never as its raw text.
pub fn redacted_payload(bytes: &[u8], pointers: &[Box<str>]) -> String {
    if bytes.is_empty() {
        return "(empty)".to_owned();
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => redacted_value(&value, pointers),
        Err(_) => text_view(bytes, TEXT_LIMIT),
    }
}

/// The same for an already parsed JSON value (MCP arguments).
pub fn redacted_value(value: &Value, pointers: &[Box<str>]) -> String {
    let owned;
    let shown = if pointers.iter().any(|p| value.pointer(p).is_some()) {
        let mut copy = value.clone();
        for p in pointers {
            if let Some(target) = copy.pointer_mut(p) {
                *target = Value::String(REDACTED.to_owned());
            }
        }
        owned = copy;
        &owned
    } else {
        value
    };
    let mut out = Bounded {
        kept: Vec::new(),
        limit: OUTPUT_LIMIT - SUFFIX_ROOM,
        total: 0,
    };
    // Writing into memory fails only on a non-string map key, which a `Value` never has.
    if serde_json::to_writer_pretty(&mut out, shown).is_err() {
        return "(unprintable JSON)".to_owned();
    }
    let kept_all = out.total <= out.kept.len();
    let text = match String::from_utf8(out.kept) {
        Ok(text) => text,
        // Cut inside a character: keep what precedes it.
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).expect("valid up to here")
        }
    };
    if kept_all {
        text
    } else {
        format!("{text}… ({} bytes)", out.total)
    }
}

/// `bytes` as lossy UTF-8, cut at `limit` bytes on a char boundary, with "… (N bytes)"
/// (N: the length of `bytes`) when cut.
fn text_view(bytes: &[u8], limit: usize) -> String {
    // Lossy conversion never shortens, so a few bytes past the limit decide the cut.
    let prefix = &bytes[..bytes.len().min(limit + 4)];
    let text = String::from_utf8_lossy(prefix);
    if text.len() <= limit && prefix.len() == bytes.len() {
        return text.into_owned();
    }
    let mut end = limit.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], bytes.len())
}

/// A writer that keeps the first `limit` bytes and counts them all.
struct Bounded {
    kept: Vec<u8>,
    limit: usize,
    total: usize,
}

impl io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.limit.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&buf[..buf.len().min(room)]);
        self.total += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ptrs(list: &[&str]) -> Vec<Box<str>> {
        list.iter().map(|p| (*p).into()).collect()
    }

    fn shown(body: &str, pointers: &[&str]) -> Value {
        serde_json::from_str(&redacted_payload(body.as_bytes(), &ptrs(pointers))).unwrap()
    }

    #[test]
    fn nested_pointers_are_masked() {
        let body =
            r#"{"amount": 5, "destination": {"account_number": "DE89", "iban": "X", "name": "A"}}"#;
        assert_eq!(
            shown(body, &["/destination/account_number", "/destination/iban"]),
            json!({"amount": 5, "destination": {"account_number": "[redacted]", "iban": "[redacted]", "name": "A"}})
        );
    }

    #[test]
    fn array_indices_and_whole_subtrees() {
        let body =
            r#"{"items": [{"card": "4111", "qty": 1}, {"card": "5500"}], "meta": {"a": [1, 2]}}"#;
        assert_eq!(
            shown(body, &["/items/0/card", "/meta"]),
            json!({"items": [{"card": "[redacted]", "qty": 1}, {"card": "5500"}], "meta": "[redacted]"})
        );
        // Not an index: an array has no member "x", nor a leading-zero index.
        assert_eq!(
            shown(
                r#"{"items": [1, 2]}"#,
                &["/items/x", "/items/01", "/items/-"]
            ),
            json!({"items": [1, 2]})
        );
    }

    #[test]
    fn escapes_name_slash_and_tilde() {
        let body = r#"{"a/b": 1, "m~n": 2, "a": {"b": 3}}"#;
        assert_eq!(
            shown(body, &["/a~1b", "/m~0n"]),
            json!({"a/b": "[redacted]", "m~n": "[redacted]", "a": {"b": 3}})
        );
    }

    #[test]
    fn a_pointer_to_nothing_is_ignored() {
        let body = r#"{"amount": 5}"#;
        assert_eq!(
            shown(body, &["/destination/iban", "/amount/x"]),
            json!({"amount": 5})
        );
        assert_eq!(
            redacted_payload(body.as_bytes(), &[]),
            "{\n  \"amount\": 5\n}"
        );
    }

    #[test]
    fn values_are_redacted_the_same() {
        let args = json!({"account": "DE89", "amount": 3});
        assert_eq!(
            redacted_value(&args, &ptrs(&["/account"])),
            "{\n  \"account\": \"[redacted]\",\n  \"amount\": 3\n}"
        );
        // The empty pointer (refused at load) masks everything.
        assert_eq!(redacted_value(&args, &ptrs(&[""])), "\"[redacted]\"");
    }

    #[test]
    fn text_that_is_not_json() {
        assert_eq!(
            redacted_payload(b"amount=5&iban=DE89", &ptrs(&["/iban"])),
            "amount=5&iban=DE89"
        );
        assert_eq!(redacted_payload(b"caf\xc3\xa9 \xff", &[]), "café \u{fffd}");
        assert_eq!(redacted_payload(b"", &[]), "(empty)");
        assert_eq!(redacted_payload(b"   ", &[]), "   ");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let exact = "a".repeat(TEXT_LIMIT);
        assert_eq!(redacted_payload(exact.as_bytes(), &[]), exact);
        // "é" is two bytes: byte 4096 falls inside one.
        let long = format!("a{}", "é".repeat(3000));
        let out = redacted_payload(long.as_bytes(), &[]);
        let (text, suffix) = out.split_once('…').unwrap();
        assert_eq!(text.len(), TEXT_LIMIT - 1);
        assert!(long.starts_with(text));
        assert_eq!(suffix, " (6001 bytes)");
    }

    #[test]
    fn json_output_is_bounded() {
        let big: Vec<String> = (0..20_000).map(|i| format!("ünïcode-{i}")).collect();
        let body = serde_json::to_vec(&json!({"rows": big, "secret": "s"})).unwrap();
        let out = redacted_payload(&body, &ptrs(&["/secret"]));
        assert!(out.len() <= OUTPUT_LIMIT, "{}", out.len());
        assert!(out.starts_with("{\n  \"rows\": [\n    \"ünïcode-0\""));
        let (_, suffix) = out.rsplit_once('…').unwrap();
        let total: usize = suffix
            .trim_start_matches(" (")
            .trim_end_matches(" bytes)")
            .parse()
            .unwrap();
        assert!(total > OUTPUT_LIMIT);
        // What was cut is not shown, not even the redacted value.
        assert!(!out.contains("\"s\""));
    }
}
