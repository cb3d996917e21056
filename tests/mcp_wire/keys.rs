//! Messages with a key a lenient parser would read as one toolgate reads: refused.

use super::*;

pub(crate) const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
pub(crate) const GET_BALANCE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","arguments":{"account":"acc-1"}}}"#;
pub(crate) const DELETE: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_customer","arguments":{"customer_id":"cus-9"}}}"#;

/// A key differing from `key` only in case, by blank padding, or by a NUL: the label and
/// the key's JSON text.
pub(crate) fn key_variants(key: &str) -> Vec<(String, String)> {
    let mut capital = key[..1].to_uppercase();
    capital.push_str(&key[1..]);
    vec![
        ("upper case".into(), key.to_uppercase()),
        ("capitalized".into(), capital),
        ("leading space".into(), format!(" {key}")),
        ("trailing space".into(), format!("{key} ")),
        ("trailing NUL".into(), format!("{key}\\u0000")),
    ]
}

/// Messages with a key that reads as `jsonrpc`, `method`, `id`, `params`, `name`,
/// `arguments`, `uri` or `amount` to a parser that folds case, trims or stops at NUL (at
/// `@K@`), each beside the real key of a message that would otherwise be allowed.
pub(crate) fn key_variant_rows() -> Vec<Row> {
    let fin: &[&[&str]] = &[FINANCE, APPROVED];
    let adm: &[&[&str]] = &[ADMIN, APPROVED];
    let templates: [(&str, &[&[&str]], &str); 8] = [
        (
            "jsonrpc",
            fin,
            r#"{"jsonrpc":"2.0","@K@":"1.0","id":1,"method":"ping"}"#,
        ),
        (
            "method",
            adm,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","@K@":"tools/call","params":{"name":"delete_customer","arguments":{"customer_id":"c"}}}"#,
        ),
        (
            "id",
            fin,
            r#"{"jsonrpc":"2.0","id":1,"@K@":2,"method":"ping"}"#,
        ),
        (
            "params",
            fin,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","arguments":{"account":"a"}},"@K@":{"name":"delete_customer","arguments":{"customer_id":"c"}}}"#,
        ),
        (
            "name",
            fin,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","@K@":"delete_customer","arguments":{"account":"a"}}}"#,
        ),
        (
            "arguments",
            fin,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","arguments":{"account":"a"},"@K@":{"account":"b"}}}"#,
        ),
        (
            "uri",
            fin,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","arguments":{"account":"a"},"uri":"ledger://a","@K@":"file:///etc/passwd"}}"#,
        ),
        (
            "amount",
            fin,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_payout","arguments":{"account":"acc-1","amount":1,"@K@":20000,"currency":"EUR"}}}"#,
        ),
    ];
    let mut rows = Vec::new();
    for (key, sets, template) in templates {
        for (how, text) in key_variants(key) {
            // An argument is read by the tool's route: the refusal names that route.
            let want = match key {
                "amount" => malformed_on(INVALID, "create_payout"),
                _ => malformed(INVALID),
            };
            rows.push(row(
                format!("key {text:?} differs from {key} by {how}"),
                Req::post(sets, template.replace("@K@", &text)),
                want,
            ));
        }
    }
    // Unicode case mappings: dotless ı upper-cases to I, long ſ to S.
    rows.push(row(
        "key \"ıd\" (dotless i) reads as id",
        Req::post(fin, r#"{"jsonrpc":"2.0","id":1,"ıd":2,"method":"ping"}"#),
        malformed(INVALID),
    ));
    rows.push(row(
        "key \"paramſ\" (long s) reads as params",
        Req::post(
            fin,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance"},"paramſ":{"name":"delete_customer"}}"#,
        ),
        malformed(INVALID),
    ));
    rows
}
