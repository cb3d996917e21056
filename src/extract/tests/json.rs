//! JSON bodies: absence, duplicate and ambiguous keys, syntax, nesting, the document's
//! root, pointers, a `_method` key; the walker against serde_json.

use super::*;
use crate::extract::json as body;

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    let nested = |depth: usize| format!(r#"{{"amount":1,"x":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let one = || ok_other(facts!(amount: Some(1.0)), &[("amount", "1")]);
    let not_object = "body: the document must be a JSON object";
    let method = "body: a _method field would change the method after authorization";
    vec![
        // Absent values.
        row("null is absent", AMOUNT_B, b(r#"{"amount": null}"#), nothing()),
        row("missing key", AMOUNT_B, b(r#"{"x": 1}"#), nothing()),
        row("no body", AMOUNT_B, Req::default(), nothing()),
        row("empty body", AMOUNT_B, b(""), nothing()),
        // A key read two ways, anywhere in the document.
        row("duplicate key", AMOUNT_B, b(r#"{"amount": 1, "amount": 1000}"#),
            Err("body: duplicate key \"amount\"")),
        row("duplicate key in an unrelated object", AMOUNT_B,
            b(r#"{"amount": 1, "x": [{"a": 1, "b": 2, "a": 3}]}"#),
            Err("body: duplicate key \"a\"")),
        row("duplicate key in a big object", AMOUNT_B,
            b(r#"{"k1":1,"k2":1,"k3":1,"k4":1,"k5":1,"k6":1,"k7":1,"k8":1,"k9":1,"k10":1,"k11":1,"k12":1,"k13":1,"k14":1,"k15":1,"k16":1,"k17":1,"k3":2}"#),
            Err("body: duplicate key \"k3\"")),
        row("escaped duplicate key", AMOUNT_B, b(r#"{"amount": 1, "\u0061mount": 1000}"#),
            Err("body: duplicate key \"amount\"")),
        row("escaped key spelling", AMOUNT_B, b(r#"{"\u0061mount": 7}"#),
            ok_other(facts!(amount: Some(7.0)), &[("amount", "7")])),
        // A key some framework would read as the one the policy reads, at the same depth.
        row("case-folded key", AMOUNT_B, b(r#"{"Amount": 1000}"#),
            Err("body: key \"Amount\" is ambiguous with key \"amount\"")),
        row("case-folded key next to the key", AMOUNT_B, b(r#"{"amount": 1, "AMOUNT": 1000}"#),
            Err("body: key \"AMOUNT\" is ambiguous with key \"amount\"")),
        row("padded key", AMOUNT_B, b(r#"{"amount": 1, " amount": 1000}"#),
            Err("body: key \" amount\" is ambiguous with key \"amount\"")),
        row("NUL-cut key", AMOUNT_B, b(r#"{"amount\u0000x": 1000}"#),
            Err("body: key \"amount\\0x\" is ambiguous with key \"amount\"")),
        row("Unicode case-folded key (Kelvin sign)", &[("ticket_id", &["body:/k"])], b(r#"{"\u212a": "x"}"#),
            Err("body: key \"\u{212a}\" is ambiguous with key \"k\"")),
        row("folded key at another depth is fine", AMOUNT_B, b(r#"{"amount": 1, "x": {"Amount": 1000}}"#),
            one()),
        // Syntax.
        row("number out of f64 range", AMOUNT_B, b(r#"{"amount": 1e400}"#),
            Err("body: invalid JSON: number out of range at line 1 column 17")),
        row("trailing data", AMOUNT_B, b(r#"{"amount": 1} {"amount": 1000}"#),
            Err("body: invalid JSON: trailing characters at line 1 column 15")),
        row("trailing blanks", AMOUNT_B, b("{\"amount\": 1}\n\t "), one()),
        row("not JSON", AMOUNT_B, b("amount=1"), Err("body: invalid JSON: expected value at line 1 column 1")),
        row("lone surrogate", ACTOR_B, b(r#"{"actor": "\ud800"}"#),
            Err("body: invalid JSON: unexpected end of hex escape at line 1 column 19")),
        row("nesting of 64", AMOUNT_B, b(nested(63)), one()),
        row("nesting of 65", AMOUNT_B, b(nested(64)), Err("body: nested deeper than 64 levels")),
        // The root.
        row("root array", AMOUNT_B, b(r#"[{"amount": 1}]"#), Err(not_object)),
        row("root scalar", AMOUNT_B, b("1"), Err(not_object)),
        row("root null", AMOUNT_B, b("null"), Err(not_object)),
        row("whole-document pointer", &[("actor", &["body:"])], b(r#""bob""#), ok(facts!(actor: t("bob")))),
        // Pointers.
        row("nested pointer", &[("amount", &["body:/payment/amount"])],
            b(r#"{"payment": {"currency": "EUR", "amount": 12.5}, "amount": 99}"#),
            ok_other(facts!(amount: Some(12.5)), &[("amount", "12.5")])),
        row("array index pointer", &[("ticket_id", &["body:/items/1/id"])],
            b(r#"{"items": [{"id": "a"}, {"id": "b"}]}"#),
            ok(facts!(ticket_id: t("b")))),
        row("array index with a leading zero never matches", &[("ticket_id", &["body:/items/01/id"])],
            b(r#"{"items": [{"id": "a"}, {"id": "b"}]}"#), nothing()),
        row("pointer through a scalar", &[("ticket_id", &["body:/items/id"])], b(r#"{"items": "x"}"#),
            nothing()),
        row("escaped pointer token", &[("ticket_id", &["body:/a~1b/~0c"])], b(r#"{"a/b": {"~c": "T-1"}}"#),
            ok(facts!(ticket_id: t("T-1")))),
        row("two fields, one pointer", &[("actor", &["body:/who"]), ("approved_by", &["body:/who"])],
            b(r#"{"who": "b\u006fb"}"#), ok(facts!(actor: t("bob"), approved_by: t("bob")))),
        // A top-level `_method`, in any spelling, would change the method some frameworks
        // route by, after authorization.
        row("top-level _method", AMOUNT_B, b(r#"{"_method": "DELETE", "amount": 1}"#), Err(method)),
        row("top-level _METHOD", AMOUNT_B, b(r#"{"amount": 1, "_METHOD": "DELETE"}"#), Err(method)),
        row("top-level escaped _method", AMOUNT_B, b(r#"{"\u005fmethod": "DELETE", "amount": 1}"#),
            Err(method)),
        row("nested _method is fine", AMOUNT_B, b(r#"{"amount": 1, "meta": {"_method": "x"}}"#), one()),
    ]
}

#[test]
fn json_bodies() {
    run("JSON bodies", rows());
}

#[test]
fn caseless_keys_compare_ascii_quickly_and_unicode_fully() {
    type Eq = fn(&str, &str) -> bool;
    let (caseless, loose): (Eq, Eq) = (body::caseless_eq, body::loose_eq);
    #[rustfmt::skip]
    let rows: [(&str, Eq, &str, &str, bool); 5] = [
        ("ASCII case", caseless, "Amount", "aMOUNT", true),
        ("ASCII prefix", caseless, "amount", "amounts", false),
        // The Kelvin sign lower-cases to `k`; the long s upper-cases to `S`.
        ("Kelvin sign", caseless, "\u{212A}ey", "key", true),
        ("long s", caseless, "\u{17F}ervice", "SERVICE", true),
        ("padded, case-folded, NUL-cut", loose, " _METHOD\0x", "_method", true),
    ];
    let mut failures = Failures::new("caseless keys");
    for (name, eq, a, b, want) in rows {
        failures.check(name, eq(a, b), want);
    }
    failures.assert();
}

proptest::proptest! {
    // The quick way for printable ASCII keys gives what the definition gives, for any text.
    #[test]
    fn loose_keys_compare_quickly_as_by_their_definition(
        a in "[aAbB_ \t\u{0}\u{212A}kK\u{17F}sS-]{0,6}",
        b in "[aAbB_ \t\u{0}\u{212A}kK\u{17F}sS-]{0,6}",
    ) {
        proptest::prop_assert_eq!(body::loose_eq(&a, &b), body::folded_eq(&a, &b));
    }
}

// The streaming walker agrees with serde_json's own pointer lookup on documents without
// ambiguous keys, and refuses the ones with them.
mod walker_props {
    use crate::extract::json::{self as body, Json};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    const KEYS: &[&str] = &["a", "b", "x", "A", " b"];
    const POINTERS: &[&str] = &["/a", "/a/b", "/x/0", "/x/1/a", "/b"];

    fn doc() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u32>().prop_map(Value::from),
            (-1000i64..0).prop_map(Value::from),
            (0.0f64..1e6).prop_map(Value::from),
            "[a-z\\\\\"é]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                    Value::Object(
                        kv.into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect::<Map<_, _>>(),
                    )
                }),
            ]
        })
    }

    /// Whether an object at `depth` has a key only loosely equal to a token read there.
    fn ambiguous(v: &Value, depth: usize, tokens: &[Vec<Box<str>>]) -> bool {
        match v {
            Value::Object(m) => {
                m.keys().any(|k| {
                    tokens
                        .iter()
                        .filter_map(|t| t.get(depth))
                        .any(|t| **t != **k && body::loose_eq(t, k))
                }) || m.values().any(|v| ambiguous(v, depth + 1, tokens))
            }
            Value::Array(a) => a.iter().any(|v| ambiguous(v, depth + 1, tokens)),
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn walker_matches_serde_json(inner in doc()) {
            let root = match inner {
                Value::Object(m) => Value::Object(m),
                other => Value::Object([("x".to_owned(), other)].into_iter().collect()),
            };
            let text = serde_json::to_string(&root).unwrap();
            let tokens: Vec<Vec<Box<str>>> = POINTERS
                .iter()
                .map(|p| p[1..].split('/').map(Into::into).collect())
                .collect();
            let slices: Vec<&[Box<str>]> = tokens.iter().map(|t| &t[..]).collect();
            let got = body::walk(text.as_bytes(), &slices);
            if ambiguous(&root, 0, &tokens) {
                prop_assert!(got.is_err(), "{text}: {got:?}");
                return Ok(());
            }
            let got = got.map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            for (p, v) in POINTERS.iter().zip(got) {
                let want = match root.pointer(p) {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(b)) => Some(Json::Bool(*b)),
                    Some(Value::Number(n)) => Some(match (n.as_u64(), n.as_i64()) {
                        (Some(u), _) => Json::U64(u),
                        (None, Some(i)) => Json::I64(i),
                        _ => Json::F64(n.as_f64().unwrap()),
                    }),
                    Some(Value::String(s)) => Some(Json::Str(s.clone().into())),
                    Some(Value::Array(_)) => Some(Json::Array),
                    Some(Value::Object(_)) => Some(Json::Composite),
                };
                prop_assert_eq!(v, want, "{} in {}", p, text);
            }
        }
    }
}
