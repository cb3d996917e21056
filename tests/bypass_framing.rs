//! Message framing, over raw sockets, against the fixture bundle (`GET /items/{id}` and
//! `POST /orders` allowed, the latter reading its JSON body; `PUT /files/{*rest}` allowed,
//! streamed; `DELETE /items/{id}` forbidden; `POST /approve` deferred). For every byte
//! stream: the responses the client gets, in order, and exactly the requests the upstream
//! receives (method, target, body). toolgate re-frames every forwarded request itself, so a
//! request hidden in another's body can only ever be evaluated on its own.

mod support;
use std::time::Duration;
use support::h2raw::{h2_request, H2Outcome};
use support::wire::{exchange, req};
use support::*;
use toolgate::config::HumanDuration;

const ENV: &str = "x-environment: staging";

/// One framing case: raw bytes, every final status in order until the connection closes,
/// and the upstream's requests.
struct Framing {
    name: &'static str,
    bytes: Vec<u8>,
    statuses: Vec<u16>,
    upstream: Vec<(&'static str, &'static str, Vec<u8>)>,
    /// `100 Continue` responses the client must (true) or must not (false) see.
    continues: bool,
}

fn case(
    name: &'static str,
    bytes: impl Into<Vec<u8>>,
    statuses: &[u16],
    upstream: &[(&'static str, &'static str, &str)],
) -> Framing {
    Framing {
        name,
        bytes: bytes.into(),
        statuses: statuses.to_vec(),
        upstream: upstream
            .iter()
            .map(|(m, t, b)| (*m, *t, b.as_bytes().to_vec()))
            .collect(),
        continues: false,
    }
}

async fn run(gate: std::net::SocketAddr, up: &Upstream, cases: Vec<Framing>) {
    let mut failures = Vec::new();
    for c in cases {
        let before = up.seen().len();
        // Read until the server closes: no response beyond those expected may follow.
        let ex = exchange(gate, &c.bytes, usize::MAX, false).await;
        let got: Vec<u16> = ex.finals().iter().map(|r| r.status).collect();
        let seen: Vec<(String, String, Vec<u8>)> = up.seen()[before..]
            .iter()
            .map(|s| (s.method.clone(), s.target.clone(), s.body.to_vec()))
            .collect();
        let want: Vec<(String, String, Vec<u8>)> = c
            .upstream
            .iter()
            .map(|(m, t, b)| (m.to_string(), t.to_string(), b.clone()))
            .collect();
        let mut bad = Vec::new();
        if got != c.statuses {
            bad.push(format!("statuses {got:?}, want {:?}", c.statuses));
        }
        if seen != want {
            let show = |v: &[(String, String, Vec<u8>)]| {
                v.iter()
                    .map(|(m, t, b)| format!("{m} {t} {:?}", String::from_utf8_lossy(b)))
                    .collect::<Vec<_>>()
            };
            bad.push(format!(
                "upstream got {:?}, want {:?}",
                show(&seen),
                show(&want)
            ));
        }
        if ex.interim().contains(&100) != c.continues {
            bad.push(format!("interim responses {:?}", ex.interim()));
        }
        if !bad.is_empty() {
            failures.push(format!("[{}] {}", c.name, bad.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const SMUGGLED: &str = "DELETE /items/7 HTTP/1.1\r\nHost: t\r\nx-environment: staging\r\n\r\n";

fn smuggled() -> String {
    SMUGGLED.to_owned()
}

fn cases() -> Vec<Framing> {
    let order = r#"{"run_id": "r-1"}"#;
    let del = smuggled();
    let keep = "Connection: keep-alive";
    vec![
        // --- CL.TE and TE.CL: hyper frames by Transfer-Encoding, drops Content-Length and
        // closes after the response (RFC 9112 §6.3); the upstream gets the body evaluated,
        // re-framed, and whatever followed on the connection is never read.
        case(
            "CL.TE: the DELETE after an empty chunked body is never read",
            [
                req(
                    "POST /orders HTTP/1.1",
                    &[ENV, keep, "Content-Length: 6", "Transfer-Encoding: chunked"],
                    "0\r\n\r\n",
                ),
                del.clone().into_bytes(),
            ]
            .concat(),
            &[200],
            &[("POST", "/orders", "")],
        ),
        case(
            "TE.CL: chunk data is the (streamed) body, whatever Content-Length says",
            req(
                "PUT /files/a HTTP/1.1",
                &[ENV, "Transfer-Encoding: chunked", "Content-Length: 3"],
                &format!("{:x}\r\n{del}\r\n0\r\n\r\n", del.len()),
            ),
            &[200],
            &[("PUT", "/files/a", SMUGGLED)],
        ),
        // --- Transfer-Encoding spellings hyper will not frame by.
        case(
            "TE xchunked",
            req("PUT /files/a HTTP/1.1", &[ENV, "Transfer-Encoding: xchunked"], "0\r\n\r\n"),
            &[501],
            &[],
        ),
        case(
            "TE chunked, identity",
            req(
                "PUT /files/a HTTP/1.1",
                &[ENV, "Transfer-Encoding: chunked, identity"],
                "0\r\n\r\n",
            ),
            &[501],
            &[],
        ),
        case(
            "TE twice",
            req(
                "PUT /files/a HTTP/1.1",
                &[ENV, "Transfer-Encoding: chunked", "Transfer-Encoding: identity"],
                "0\r\n\r\n",
            ),
            &[501],
            &[],
        ),
        case(
            "TE with a space before the colon",
            req("PUT /files/a HTTP/1.1", &[ENV, "Transfer-Encoding : chunked"], "0\r\n\r\n"),
            &[400],
            &[],
        ),
        case(
            "TE with a vertical tab",
            req("PUT /files/a HTTP/1.1", &[ENV, "Transfer-Encoding:\x0bchunked"], "0\r\n\r\n"),
            &[400],
            &[],
        ),
        case(
            "Transfer_Encoding alias",
            req(
                "PUT /files/a HTTP/1.1",
                &[ENV, "Transfer_Encoding: chunked", "Content-Length: 5"],
                "0\r\n\r\n",
            ),
            &[400],
            &[],
        ),
        case(
            "Content_Length alias",
            req(
                "PUT /files/a HTTP/1.1",
                &[ENV, "Content_Length: 50", "Content-Length: 2"],
                "{}",
            ),
            &[400],
            &[],
        ),
        case(
            "TE Chunked, upper case, is chunked",
            req(
                "PUT /files/a HTTP/1.1",
                &[ENV, "Transfer-Encoding: Chunked"],
                "2\r\nhi\r\n0\r\n\r\n",
            ),
            &[200],
            &[("PUT", "/files/a", "hi")],
        ),
        // --- Content-Length spellings.
        case(
            "CL list of two values",
            req("POST /orders HTTP/1.1", &[ENV, "Content-Length: 2, 20"], "{}"),
            &[400],
            &[],
        ),
        case(
            "CL twice, different",
            req(
                "POST /orders HTTP/1.1",
                &[ENV, "Content-Length: 2", "Content-Length: 20"],
                "{}",
            ),
            &[400],
            &[],
        ),
        case("CL negative", req("POST /orders HTTP/1.1", &[ENV, "Content-Length: -2"], "{}"), &[400], &[]),
        case("CL with a sign", req("POST /orders HTTP/1.1", &[ENV, "Content-Length: +2"], "{}"), &[400], &[]),
        case("CL in hex", req("POST /orders HTTP/1.1", &[ENV, "Content-Length: 0x2"], "{}"), &[400], &[]),
        case("CL with a space inside", req("POST /orders HTTP/1.1", &[ENV, "Content-Length: 1 2"], "{}"), &[400], &[]),
        case(
            "CL overflowing u64",
            req("POST /orders HTTP/1.1", &[ENV, "Content-Length: 99999999999999999999999"], "{}"),
            &[400],
            &[],
        ),
        case("CL empty", req("POST /orders HTTP/1.1", &[ENV, "Content-Length:"], "{}"), &[400], &[]),
        // --- Line endings and folding.
        case(
            "obs-fold",
            req("GET /items/1 HTTP/1.1", &["x-environment: staging\r\n production"], ""),
            &[400],
            &[],
        ),
        case(
            "bare CR inside a header line",
            req("GET /items/1 HTTP/1.1", &["x-environment: staging\rx-evil: 1"], ""),
            &[400],
            &[],
        ),
        case(
            "bare LF line endings: parsed once, forwarded as parsed",
            "GET /items/1 HTTP/1.1\nHost: t\nx-environment: staging\nConnection: close\n\n",
            &[200],
            &[("GET", "/items/1", "")],
        ),
        case(
            "bare LF cannot hide a second request in a header",
            "GET /items/1 HTTP/1.1\r\nHost: t\r\nx-environment: staging\r\nx-a: 1\nDELETE /items/7 HTTP/1.1\r\nConnection: close\r\n\r\n",
            &[400],
            &[],
        ),
        case(
            "NUL in a header value",
            req("GET /items/1 HTTP/1.1", &[ENV, "x-note: a\0b"], ""),
            &[400],
            &[],
        ),
        case(
            "header name with a space",
            req("GET /items/1 HTTP/1.1", &[ENV, "x note: a"], ""),
            &[400],
            &[],
        ),
        case(
            "request line with HTTP/1.1 twice",
            req("GET /items/1 HTTP/1.1 HTTP/1.1", &[ENV], ""),
            &[400],
            &[],
        ),
        case("HTTP/2.0 on an h1 connection", req("GET /items/1 HTTP/2.0", &[ENV], ""), &[400], &[]),
        case("HTTP/0.9", "GET /items/1\r\n\r\n", &[400], &[]),
        // --- Chunk sizes.
        case(
            "chunk size overflowing",
            req(
                "POST /orders HTTP/1.1",
                &[ENV, "Transfer-Encoding: chunked"],
                "fffffffffffffffff1\r\n{}\r\n0\r\n\r\n",
            ),
            &[400],
            &[],
        ),
        case(
            "negative chunk size",
            req("POST /orders HTTP/1.1", &[ENV, "Transfer-Encoding: chunked"], "-2\r\n{}\r\n0\r\n\r\n"),
            &[400],
            &[],
        ),
        case(
            "chunk size in 0x form",
            req("POST /orders HTTP/1.1", &[ENV, "Transfer-Encoding: chunked"], "0x2\r\n{}\r\n0\r\n\r\n"),
            &[400],
            &[],
        ),
        case(
            "chunk longer than its size",
            req(
                "POST /orders HTTP/1.1",
                &[ENV, "Transfer-Encoding: chunked"],
                "2\r\n{}xx\r\n0\r\n\r\n",
            ),
            &[400],
            &[],
        ),
        case(
            "chunk extension too long",
            req(
                "POST /orders HTTP/1.1",
                &[ENV, "Transfer-Encoding: chunked"],
                &format!("2;x={}\r\n{{}}\r\n0\r\n\r\n", "a".repeat(70_000)),
            ),
            &[400],
            &[],
        ),
        case(
            "chunk extensions are not data",
            req(
                "POST /orders HTTP/1.1",
                &[ENV, "Transfer-Encoding: chunked"],
                &format!("{:x};a=b\r\n{order}\r\n0;c=d\r\n\r\n", order.len()),
            ),
            &[200],
            &[("POST", "/orders", order)],
        ),
        // --- Pipelining: every request on a connection is evaluated on its own.
        case(
            "pipelined: allowed, denied, allowed",
            [
                req("GET /items/1 HTTP/1.1", &[ENV, keep], ""),
                req("DELETE /items/1 HTTP/1.1", &[ENV, keep], ""),
                req("GET /items/2 HTTP/1.1", &[ENV], ""),
            ]
            .concat(),
            &[200, 403, 200],
            &[("GET", "/items/1", ""), ("GET", "/items/2", "")],
        ),
        case(
            "pipelined: a body shorter than its bytes leaves a request behind",
            [
                req("POST /orders HTTP/1.1", &[ENV, keep, "Content-Length: 17"], order),
                del.clone().into_bytes(),
            ]
            .concat(),
            &[200, 403],
            &[("POST", "/orders", order)],
        ),
        case(
            "pipelined: a DELETE inside a JSON string stays body",
            req(
                "POST /orders HTTP/1.1",
                &[ENV],
                &format!(r#"{{"run_id": "r", "x": {:?}}}"#, del),
            ),
            &[200],
            &[("POST", "/orders", &format!(r#"{{"run_id": "r", "x": {:?}}}"#, del))],
        ),
        case(
            "pipelined: deferred, then allowed",
            [
                req("POST /approve HTTP/1.1", &[ENV, keep], ""),
                req("GET /items/3 HTTP/1.1", &[ENV], ""),
            ]
            .concat(),
            &[409, 200],
            &[("GET", "/items/3", "")],
        ),
        // --- Upgrades on guarded routes are never upgrades.
        case(
            "websocket upgrade on a denied route",
            req(
                "DELETE /items/1 HTTP/1.1",
                &[
                    ENV,
                    "Connection: Upgrade",
                    "Upgrade: websocket",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version: 13",
                ],
                "",
            ),
            &[403],
            &[],
        ),
        case(
            "h2c upgrade on a denied route",
            req(
                "DELETE /items/1 HTTP/1.1",
                &[ENV, "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"],
                "",
            ),
            &[403],
            &[],
        ),
        case(
            "h2c upgrade, then the h2 preface: no h2 on this connection (the preface is a refused head)",
            [
                req(
                    "GET /items/1 HTTP/1.1",
                    &[ENV, "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"],
                    "",
                ),
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            ]
            .concat(),
            &[200, 400],
            &[("GET", "/items/1", "")],
        ),
    ]
}

#[tokio::test]
async fn framing_is_parsed_once_and_rebuilt() {
    let up = Upstream::start().await;
    // A connection left open (an upgrade request) is closed by the idle timeout.
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.header_read_timeout = HumanDuration(Duration::from_millis(500));
    })
    .await;
    run(gate.addr, &up, cases()).await;
}

/// `Expect: 100-continue` asks for the body only where it will be read: never on a request
/// that is refused before its body matters (no route, denied, deferred or malformed).
#[tokio::test]
async fn expect_continue_is_answered_only_where_the_body_is_wanted() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let expect = "Expect: 100-continue";
    let head = |line: &str| req(line, &[ENV, expect, "Content-Length: 17"], "");
    let mut cases = vec![
        case(
            "a DELETE's body, refused before it is asked for",
            head("DELETE /items/1 HTTP/1.1"),
            &[400],
            &[],
        ),
        case(
            "unmapped route",
            head("POST /nowhere HTTP/1.1"),
            &[403],
            &[],
        ),
        case(
            "deferred route",
            head("POST /approve HTTP/1.1"),
            &[409],
            &[],
        ),
        case(
            "malformed target",
            head("POST /orders%2f HTTP/1.1"),
            &[400],
            &[],
        ),
        case(
            "override header",
            req(
                "POST /orders HTTP/1.1",
                &[
                    ENV,
                    expect,
                    "Content-Length: 17",
                    "X-HTTP-Method-Override: DELETE",
                ],
                "",
            ),
            &[400],
            &[],
        ),
        case(
            "not JSON",
            req(
                "POST /orders HTTP/1.1",
                &[
                    ENV,
                    expect,
                    "Content-Length: 17",
                    "Content-Type: text/plain",
                ],
                "",
            ),
            &[400],
            &[],
        ),
    ];
    // Where the body is read (or streamed), the client is asked for it.
    let mut read = case(
        "allowed, body read",
        req(
            "POST /orders HTTP/1.1",
            &[ENV, expect],
            r#"{"run_id": "r-1"}"#,
        ),
        &[200],
        &[("POST", "/orders", r#"{"run_id": "r-1"}"#)],
    );
    read.continues = true;
    cases.push(read);
    run(gate.addr, &up, cases).await;
}

/// The body of a refused `Expect` request is never forwarded, even when the client sends it
/// anyway on the same connection: the connection closes after the refusal.
#[tokio::test]
async fn an_unsolicited_body_after_a_refusal_is_not_forwarded() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.header_read_timeout = HumanDuration(Duration::from_millis(300));
    })
    .await;
    let body = smuggled();
    let bytes = [
        req(
            "POST /approve HTTP/1.1",
            &[
                ENV,
                "Expect: 100-continue",
                "Connection: keep-alive",
                &format!("Content-Length: {}", body.len()),
            ],
            "",
        ),
        body.into_bytes(),
    ]
    .concat();
    // Read until the idle timeout closes the connection: everything sent was handled.
    let ex = exchange(gate.addr, &bytes, usize::MAX, false).await;
    assert!(ex.closed, "{ex:?}");
    // Deferred (409); hyper closes the connection rather than read a body it never asked
    // for, so the DELETE in it is never even parsed.
    let statuses: Vec<u16> = ex.finals().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [409], "{ex:?}");
    assert!(!ex.interim().contains(&100), "{ex:?}");
    assert!(up.seen().is_empty(), "{:?}", up.seen());
}

/// An upstream that answers 101 is not allowed to open a tunnel: the client gets 502.
#[tokio::test]
async fn an_upstream_101_is_a_bad_response() {
    let (url, _) = raw_upstream(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .await;
    let gate = Gate::start(fixture::snapshot(), &url, |_| {}).await;
    let ex = exchange(
        gate.addr,
        &req(
            "GET /items/1 HTTP/1.1",
            &[ENV, "Connection: Upgrade", "Upgrade: websocket"],
            "",
        ),
        1,
        false,
    )
    .await;
    assert_eq!(ex.status(), 502, "{ex:?}");
    assert!(ex.interim().is_empty(), "{ex:?}");
}

/// HTTP/2 requests with connection-specific or malformed fields are refused at the frame
/// layer or by toolgate; none reaches the upstream.
#[tokio::test]
async fn malformed_h2_fields_never_reach_the_upstream() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    type F = (&'static [u8], &'static [u8]);
    let base: [F; 5] = [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/items/1"),
        (b":authority", b"t"),
        (b"x-environment", b"staging"),
    ];
    let with = |extra: &[F]| base.iter().chain(extra).copied().collect::<Vec<F>>();
    let replace = |name: &[u8], value: &'static [u8]| {
        base.iter()
            .map(|(n, v)| if *n == name { (*n, value) } else { (*n, *v) })
            .collect::<Vec<F>>()
    };
    // The valid request, and one with `te: trailers` (the one TE h2 allows), go through.
    assert_eq!(
        h2_request(gate.addr, &with(&[]), None).await,
        H2Outcome::Status(200)
    );
    assert_eq!(
        h2_request(gate.addr, &with(&[(b"te", b"trailers")]), None).await,
        H2Outcome::Status(200)
    );
    type H2Case = (&'static str, Vec<F>, Option<&'static [u8]>);
    let mut cases: Vec<H2Case> = vec![
        ("connection", with(&[(b"connection", b"keep-alive")]), None),
        (
            "transfer-encoding",
            with(&[(b"transfer-encoding", b"chunked")]),
            None,
        ),
        ("te gzip", with(&[(b"te", b"gzip")]), None),
        ("upgrade", with(&[(b"upgrade", b"h2c")]), None),
        ("keep-alive", with(&[(b"keep-alive", b"timeout=5")]), None),
        (
            "proxy-connection",
            with(&[(b"proxy-connection", b"close")]),
            None,
        ),
        (
            "upper-case name",
            with(&[(b"X-Environment", b"staging")]),
            None,
        ),
        ("name with a space", with(&[(b"x env", b"staging")]), None),
        (
            "value with CR LF",
            with(&[(b"x-note", b"a\r\nx-environment: production")]),
            None,
        ),
        ("value with NUL", with(&[(b"x-note", b"a\0b")]), None),
        ("unknown pseudo-header", with(&[(b":foo", b"bar")]), None),
        ("duplicate :method", with(&[(b":method", b"DELETE")]), None),
        ("duplicate :path", with(&[(b":path", b"/items/2")]), None),
        (
            "second x-environment",
            with(&[(b"x-environment", b"production")]),
            None,
        ),
        (
            "underscore alias",
            with(&[(b"x_environment", b"production")]),
            None,
        ),
        (
            "host disagrees with :authority",
            with(&[(b"host", b"evil.example")]),
            None,
        ),
        ("empty :path", replace(b":path", b""), None),
        ("relative :path", replace(b":path", b"items/1"), None),
        ("encoded slash", replace(b":path", b"/items/%2f"), None),
        ("asterisk :path", replace(b":path", b"*"), None),
        ("DELETE", replace(b":method", b"DELETE"), None),
        ("lower-case method", replace(b":method", b"delete"), None),
        (
            "CONNECT",
            vec![(b":method", b"CONNECT"), (b":authority", b"t:443")],
            None,
        ),
        (
            "pseudo-header after a regular field",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b"x-environment", b"staging"),
                (b":path", b"/items/1"),
                (b":authority", b"t"),
            ],
            None,
        ),
        (
            "missing :path",
            base.iter()
                .filter(|(n, _)| *n != b":path")
                .copied()
                .collect(),
            None,
        ),
        (
            "missing :method",
            base.iter()
                .filter(|(n, _)| *n != b":method")
                .copied()
                .collect(),
            None,
        ),
    ];
    // content-length that disagrees with the DATA sent, on the route that reads its body.
    let post: Vec<F> = vec![
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", b"/orders"),
        (b":authority", b"t"),
        (b"x-environment", b"staging"),
        (b"content-length", b"2"),
    ];
    cases.push((
        "content-length shorter than DATA",
        post.clone(),
        Some(br#"{"run_id": "r"}"#),
    ));
    let mut failures = Vec::new();
    for (name, fields, data) in cases {
        let got = h2_request(gate.addr, &fields, data).await;
        if !got.refused() {
            failures.push(format!("{name}: {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let seen = up.seen();
    assert_eq!(seen.len(), 2, "only the two valid requests: {seen:?}");
    assert_eq!(seen[1].header("te"), None);
}
