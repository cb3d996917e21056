//! Size limits on a body the route reads (`limits.max_body_bytes`, here 1024): over the
//! limit is 413 whether the size is declared up front (refused before a byte is read, no
//! `100 Continue`) or only found while streaming (chunked over HTTP/1.1, DATA frames over
//! HTTP/2 without a length); at the limit it is forwarded byte for byte.

mod support;
use support::h2raw::{h2_request, H2Outcome};
use support::wire::{assert_all, req, run_cases, Case};
use support::*;

const ENV: &str = "x-environment: staging";
const LIMIT: usize = 1024;

fn order(len: usize) -> String {
    let pad = len - r#"{"run_id":"r","pad":""}"#.len();
    format!(r#"{{"run_id":"r","pad":"{}"}}"#, "x".repeat(pad))
}

fn chunked(body: &str, chunk: usize) -> String {
    let mut out = String::new();
    for part in body.as_bytes().chunks(chunk) {
        out.push_str(&format!("{:x}\r\n", part.len()));
        out.push_str(std::str::from_utf8(part).unwrap());
        out.push_str("\r\n");
    }
    out.push_str("0\r\n\r\n");
    out
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_declared_or_streamed() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.max_body_bytes = LIMIT as u64;
    })
    .await;
    let at = order(LIMIT);
    let over = order(LIMIT + 1);
    let post = "POST /orders HTTP/1.1";
    let te = "Transfer-Encoding: chunked";
    let cases = vec![
        Case::allowed("at the limit", req(post, &[ENV], &at), "POST", "/orders").body(&at),
        Case::allowed(
            "at the limit, chunked",
            req(post, &[ENV, te], &chunked(&at, 100)),
            "POST",
            "/orders",
        )
        .body(&at),
        Case::refused("one byte over, declared", req(post, &[ENV], &over), 413),
        Case::refused(
            "declared far over, body never sent",
            req(post, &[ENV, "Content-Length: 1000000000"], ""),
            413,
        ),
        Case::refused(
            "declared over with Expect",
            req(
                post,
                &[ENV, "Expect: 100-continue", "Content-Length: 5000"],
                "",
            ),
            413,
        ),
        Case::refused(
            "one byte over, chunked",
            req(post, &[ENV, te], &chunked(&over, 100)),
            413,
        ),
        Case::refused(
            "one chunk declaring more than the limit",
            req(
                post,
                &[ENV, te],
                &format!("{:x}\r\n{}", 1 << 30, "x".repeat(2000)),
            ),
            413,
        ),
    ];
    assert_all(run_cases(&gate, &up, &cases).await);
}

#[tokio::test]
async fn h2_bodies_over_the_limit_are_413() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.max_body_bytes = LIMIT as u64;
    })
    .await;
    let over = order(LIMIT + 1);
    let head: Vec<(&[u8], &[u8])> = vec![
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", b"/orders"),
        (b":authority", b"t"),
        (b"x-environment", b"staging"),
    ];
    // Without a length, found while reading the DATA frames.
    let got = h2_request(gate.addr, &head, Some(over.as_bytes())).await;
    assert_eq!(got, H2Outcome::Status(413));
    // Declared.
    let len = over.len().to_string();
    let mut declared = head.clone();
    declared.push((b"content-length", len.as_bytes()));
    let got = h2_request(gate.addr, &declared, Some(over.as_bytes())).await;
    assert_eq!(got, H2Outcome::Status(413));
    assert!(up.seen().is_empty());
}
