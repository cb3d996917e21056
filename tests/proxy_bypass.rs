//! Bypass attempts on a denied operation (`DELETE /items/{id}` is forbidden): every
//! spelling either normalizes to the denied route and is denied, matches no route, or is
//! refused as ambiguous. None reaches the upstream, as a DELETE or as anything else.

mod support;
use support::*;

/// (raw request head lines after the request line, request line, expected status).
const CASES: &[(&str, u16)] = &[
    ("DELETE /items/7 HTTP/1.1", 403),
    ("DELETE /items/%37 HTTP/1.1", 403),
    ("DELETE //items/7 HTTP/1.1", 403),
    ("DELETE /items//7 HTTP/1.1", 403),
    ("DELETE /x/../items/7 HTTP/1.1", 403),
    ("DELETE /items/./7 HTTP/1.1", 403),
    ("DELETE /items/%2e%2e/items/7 HTTP/1.1", 403),
    ("DELETE /%69tems/7 HTTP/1.1", 403),
    ("DELETE /ITEMS/7 HTTP/1.1", 403),
    ("DELETE /items/7/ HTTP/1.1", 403),
    ("DELETE /items%2f7 HTTP/1.1", 400),
    ("DELETE /items%2F7 HTTP/1.1", 400),
    ("DELETE /items/%252e%252e/7 HTTP/1.1", 400),
    ("DELETE /items/7%00 HTTP/1.1", 400),
    ("DELETE /../items/7 HTTP/1.1", 400),
    ("DELETE /items/..;/items/7 HTTP/1.1", 400),
    ("DELETE http://evil.example/items/7 HTTP/1.1", 400),
    ("DELETE http://t/items/7 HTTP/1.1", 403),
    ("DELETE /items/7 HTTP/1.0", 403),
    ("delete /items/7 HTTP/1.1", 403),
    ("DELETE /items/7?_method=GET HTTP/1.1", 400),
    ("CONNECT t:443 HTTP/1.1", 400),
    ("DELETE /items/7 HTTP/1.1\r\nHost: u", 400),
    ("OPTIONS * HTTP/1.1", 400),
];

const OVERRIDES: &[&str] = &[
    "X-HTTP-Method-Override: DELETE",
    "X-HTTP-Method: DELETE",
    "X-Method-Override: DELETE",
    "X-Original-URL: /items/7",
    "X-Rewrite-URL: /items/7",
];

#[tokio::test]
async fn spellings_of_a_denied_operation_never_reach_the_upstream() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let mut failures = Vec::new();
    for (line, want) in CASES {
        let text =
            format!("{line}\r\nHost: t\r\nx-environment: staging\r\nConnection: close\r\n\r\n");
        let got = raw_status(&raw(gate.addr, text.as_bytes()).await);
        if got != *want {
            failures.push(format!("{line}: got {got}, want {want}"));
        }
    }
    for header in OVERRIDES {
        for line in ["POST /items/7 HTTP/1.1", "GET /items/7 HTTP/1.1"] {
            let text = format!("{line}\r\nHost: t\r\n{header}\r\nConnection: close\r\n\r\n");
            let got = raw_status(&raw(gate.addr, text.as_bytes()).await);
            if got != 400 {
                failures.push(format!("{line} + {header}: got {got}, want 400"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        up.seen().is_empty(),
        "reached the upstream: {:?}",
        up.seen()
    );
}

#[tokio::test]
async fn a_request_smuggled_in_a_body_is_routed_on_its_own() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let inner = "DELETE /items/7 HTTP/1.1\r\nHost: t\r\n\r\n";
    let text = format!(
        "PUT /files/a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{inner}"
    );
    let _ = raw(gate.addr, text.as_bytes()).await;
    assert!(
        up.seen()
            .iter()
            .all(|s| s.method != "DELETE" && !s.body.windows(6).any(|w| w == b"DELETE")),
        "{:?}",
        up.seen()
    );
}
