//! JSON bodies the bundle reads, over raw sockets, against the example bundle: an approved
//! payout (`POST /payments/v1/payouts`, `max_amount:10000`, the amount read from `/amount`)
//! is forwarded with the very bytes evaluated; every body that two JSON readers could
//! understand differently, or whose amount cannot be compared with certainty, is refused
//! (400) or denied (403), and then the upstream receives nothing.

mod support;
use support::wire::{assert_all, req, run_cases, Case};
use support::*;

const PAYOUT: &str = "POST /payments/v1/payouts HTTP/1.1";
const DEPLOY: &str = "POST /deploy/v1/deployments HTTP/1.1";

const APPROVED: &[&str] = &[
    "x-actor: agent-7",
    "x-actor-role: finance_operator",
    "x-environment: production",
    "x-approval-status: approved",
    "x-approved-by: [email protected]",
    "x-approved-at: 2026-03-16T09:30:00Z",
];

const JSON: &str = "Content-Type: application/json";

fn payout(extra: &[&str], body: &str) -> Vec<u8> {
    let headers: Vec<&str> = APPROVED.iter().chain(extra).copied().collect();
    req(PAYOUT, &headers, body)
}

/// Forwarded, with the body and every header the bundle read, byte for byte.
fn allowed(name: &str, extra: &[&str], body: &str) -> Case {
    let mut c = Case::allowed(name, payout(extra, body), "POST", "/payments/v1/payouts").body(body);
    for h in APPROVED {
        let (k, v) = h.split_once(": ").unwrap();
        c = c.read(k, v);
    }
    c
}

fn refused(name: &str, extra: &[&str], body: &str, status: u16) -> Case {
    Case::refused(name, payout(extra, body), status)
}

/// `{"amount": <text>}`, refused with `status`.
fn amount(text: &str, status: u16) -> Case {
    refused(
        &format!("amount {text}"),
        &[JSON],
        &format!(r#"{{"amount": {text}, "currency": "EUR"}}"#),
        status,
    )
}

fn cases() -> Vec<Case> {
    let deep = |n: usize| {
        format!(
            r#"{{"amount": 5, "x": {}{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let mut cases = vec![
        allowed(
            "plain",
            &[JSON],
            r#"{"amount": 500, "currency": "EUR", "destination": "acct-1"}"#,
        ),
        allowed("no content type", &[], r#"{"amount": 500}"#),
        allowed(
            "charset utf-8",
            &["Content-Type: application/json; charset=UTF-8"],
            r#"{"amount": 500}"#,
        ),
        allowed(
            "+json media type",
            &["Content-Type: application/vnd.api+json"],
            r#"{"amount": 500}"#,
        ),
        allowed(
            "identity coding",
            &[JSON, "Content-Encoding: identity"],
            r#"{"amount": 500}"#,
        ),
        allowed("exponent within the limit", &[JSON], r#"{"amount": 1e4}"#),
        allowed("trailing zeros", &[JSON], r#"{"amount": 10000.000}"#),
        allowed("decimal", &[JSON], r#"{"amount": 9999.99}"#),
        allowed(
            "escapes elsewhere kept verbatim",
            &[JSON],
            "{\"amount\": 5, \"note\": \"\\u0041\\n\\/\"}",
        ),
        allowed(
            "whitespace kept verbatim",
            &[JSON],
            "\r\n {\t\"amount\"\n:\n500 }\n ",
        ),
        allowed(
            "nested key of the same name",
            &[JSON],
            r#"{"amount": 5, "meta": {"amount": 50000}}"#,
        ),
        // Duplicates: which copy wins differs between parsers.
        refused(
            "duplicate key",
            &[JSON],
            r#"{"amount": 500, "amount": 50000}"#,
            400,
        ),
        refused(
            "duplicate key, escaped spelling",
            &[JSON],
            r#"{"amount": 500, "\u0061mount": 50000}"#,
            400,
        ),
        refused(
            "duplicate key, nested",
            &[JSON],
            r#"{"amount": 5, "m": {"a": 1, "a": 2}}"#,
            400,
        ),
        refused(
            "key in another case",
            &[JSON],
            r#"{"amount": 500, "Amount": 50000}"#,
            400,
        ),
        refused(
            "key alone in another case",
            &[JSON],
            r#"{"AMOUNT": 50000}"#,
            400,
        ),
        refused(
            "key with padding",
            &[JSON],
            r#"{"amount": 500, "amount ": 50000}"#,
            400,
        ),
        refused(
            "key with a NUL",
            &[JSON],
            r#"{"amount": 500, "amount\u0000": 50000}"#,
            400,
        ),
        refused(
            "_method",
            &[JSON],
            r#"{"amount": 500, "_method": "DELETE"}"#,
            400,
        ),
        // Rack reads an untyped body as a form: that reading may not name what was read.
        refused(
            "untyped body whose form reading names the amount",
            &[],
            r#"{"amount": 500, "x": "&amount=50000&"}"#,
            400,
        ),
        refused(
            "untyped body whose form reading names _method",
            &[],
            r#"{"amount": 500, "x": "&_method=DELETE"}"#,
            400,
        ),
        refused(
            "form type behind a comma",
            &["Content-Type: application/x-www-form-urlencoded,x+json"],
            r#"{"amount": 500}"#,
            400,
        ),
        // Numbers that cannot be compared with certainty.
        amount("2e4", 403),
        amount("10000.0000000000001", 400),
        amount("10000.00000000000001e0", 400),
        amount("1000000000000000000000000", 403),
        amount("1000000000000000000000001", 400),
        amount("9007199254740993", 400),
        amount("1e400", 400),
        amount("-50000", 400),
        amount("-1", 400),
        amount("\"50000\"", 400),
        amount("\"500\"", 400),
        amount("NaN", 400),
        amount("Infinity", 400),
        amount("-Infinity", 400),
        amount("\"NaN\"", 400),
        amount("0x10", 400),
        amount("+5", 400),
        amount(".5", 400),
        amount("5.", 400),
        amount("05", 400),
        amount("1_000", 400),
        amount("true", 400),
        amount("[50000]", 400),
        amount("{\"value\": 50000}", 400),
        amount("null", 409),
        // Documents two readers split differently.
        refused(
            "trailing document",
            &[JSON],
            r#"{"amount": 5}{"amount": 50000}"#,
            400,
        ),
        refused("trailing garbage", &[JSON], r#"{"amount": 5} x"#, 400),
        refused("trailing NUL", &[JSON], "{\"amount\": 5}\0", 400),
        refused("byte order mark", &[JSON], "\u{feff}{\"amount\": 5}", 400),
        refused(
            "comment",
            &[JSON],
            "{\"amount\": 5 /* , \"amount\": 50000 */}",
            400,
        ),
        refused("single quotes", &[JSON], "{'amount': 5}", 400),
        refused("trailing comma", &[JSON], r#"{"amount": 5,}"#, 400),
        refused(
            "lone surrogate",
            &[JSON],
            r#"{"amount": 5, "n": "\ud800"}"#,
            400,
        ),
        refused("not an object", &[JSON], r#"[{"amount": 5}]"#, 400),
        refused("nesting 65 deep", &[JSON], &deep(65), 400),
        refused("nesting 100000 deep", &[JSON], &deep(100_000), 400),
        // The same fields in another media type or coding.
        refused(
            "form content type",
            &["Content-Type: application/x-www-form-urlencoded"],
            "amount=50000",
            400,
        ),
        refused(
            "form content type, JSON-looking body",
            &["Content-Type: application/x-www-form-urlencoded"],
            r#"{"amount": 5, "x": "&amount=50000"}"#,
            400,
        ),
        refused(
            "text/plain",
            &["Content-Type: text/plain"],
            r#"{"amount": 500}"#,
            400,
        ),
        refused(
            "multipart",
            &["Content-Type: multipart/form-data; boundary=b"],
            r#"{"amount": 500}"#,
            400,
        ),
        refused(
            "UTF-16 charset",
            &["Content-Type: application/json; charset=utf-16"],
            r#"{"amount": 500}"#,
            400,
        ),
        refused(
            "two content types",
            &[JSON, "Content-Type: text/plain"],
            r#"{"amount": 500}"#,
            400,
        ),
        refused(
            "gzip coding, plain body",
            &[JSON, "Content-Encoding: gzip"],
            r#"{"amount": 500}"#,
            400,
        ),
        refused(
            "deflate coding",
            &[JSON, "Content-Encoding: deflate"],
            r#"{"amount": 500}"#,
            400,
        ),
        refused(
            "chained codings",
            &[JSON, "Content-Encoding: identity, br"],
            r#"{"amount": 500}"#,
            400,
        ),
        // No amount: deferred, not guessed.
        refused("empty body", &[JSON], "", 409),
        refused("empty object", &[JSON], "{}", 409),
    ];
    // A compressed body with the fields inside: not JSON to toolgate, so not evaluated.
    let mut gz = payout(&[JSON, "Content-Encoding: gzip", "Content-Length: 10"], "");
    gz.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    cases.push(Case::refused("gzip body", gz, 400));
    // Chunked: the upstream gets the bytes evaluated, reframed.
    let body = r#"{"amount": 500, "currency": "EUR"}"#;
    let (a, b) = body.split_at(11);
    let chunked = format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len());
    let mut c = Case::allowed(
        "chunked body",
        payout(&[JSON, "Transfer-Encoding: chunked"], &chunked),
        "POST",
        "/payments/v1/payouts",
    )
    .body(body);
    c = c.read("x-actor-role", "finance_operator");
    cases.push(c);
    cases
}

#[tokio::test]
async fn the_body_evaluated_is_the_body_forwarded() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(tools_bundle(), &up.url(), |_| {}).await;
    assert_all(run_cases(&gate, &up, &cases()).await);
}

/// Two sources of one field (header and body) must agree, whatever the body's spelling.
#[tokio::test]
async fn header_and_body_must_agree() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(tools_bundle(), &up.url(), |_| {}).await;
    let headers = [
        "x-actor: agent-3",
        "x-actor-role: release_manager",
        "x-environment: staging",
        JSON,
    ];
    let deploy = |body: &str| req(DEPLOY, &headers, body);
    let ok = r#"{"service": "payments", "environment": "staging"}"#;
    let escaped = r#"{"service": "payments", "environment": "st\u0061ging"}"#;
    let cases = vec![
        Case::allowed("agree", deploy(ok), "POST", "/deploy/v1/deployments")
            .body(ok)
            .read("x-environment", "staging"),
        Case::allowed(
            "agree, escaped",
            deploy(escaped),
            "POST",
            "/deploy/v1/deployments",
        )
        .body(escaped)
        .read("x-environment", "staging"),
        Case::refused(
            "disagree",
            deploy(r#"{"service": "payments", "environment": "production"}"#),
            403,
        ),
        Case::refused(
            "disagree through a duplicate",
            deploy(r#"{"environment": "staging", "environment": "production"}"#),
            400,
        ),
        Case::refused(
            "disagree through a case variant",
            deploy(r#"{"environment": "staging", "Environment": "production"}"#),
            400,
        ),
        Case::refused(
            "not a string",
            deploy(r#"{"environment": ["staging", "production"]}"#),
            400,
        ),
        Case::refused(
            "control character",
            deploy(r#"{"environment": "staging\u0000production"}"#),
            400,
        ),
    ];
    assert_all(run_cases(&gate, &up, &cases).await);
}
