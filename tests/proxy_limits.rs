//! Resource limits: bodies (413 before a byte is read, no `100 Continue`), invalid JSON,
//! request heads (431), slow or silent clients (closed after the header timeout), and the
//! connection cap (accepting pauses, nothing crashes).

mod support;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use toolgate::config::HumanDuration;

const ENV: (&str, &str) = ("x-environment", "staging");

async fn small_limits(up: &Upstream) -> Gate {
    Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.max_body_bytes = 1024;
        c.limits.max_header_bytes = 2048;
        c.limits.header_read_timeout = HumanDuration(Duration::from_millis(300));
    })
    .await
}

#[tokio::test]
async fn bodies_read_by_the_route_are_bounded_and_forwarded_verbatim() {
    let up = Upstream::start().await;
    let gate = small_limits(&up).await;
    let exact = "{ \"n\" : 1 ,\n \"s\": \"\\u00e9\" }";
    let r = call(gate.addr, "POST", "/orders", &[ENV], exact).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.seen()[0].body, exact.as_bytes());

    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(2000));
    let r = call(gate.addr, "POST", "/orders", &[ENV], &big).await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert_eq!(r.json()["issues"][0], "INVALID_REQUEST");

    let r = call(gate.addr, "POST", "/orders", &[ENV], "{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["issues"][0], "INVALID_REQUEST");
    assert_eq!(
        up.seen().len(),
        1,
        "refused bodies never reach the upstream"
    );
}

#[tokio::test]
async fn a_trickled_body_is_408() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.body_read_timeout = HumanDuration(Duration::from_millis(200));
    })
    .await;
    let mut s = TcpStream::connect(gate.addr).await.unwrap();
    let head = "POST /orders HTTP/1.1\r\nHost: t\r\nx-environment: staging\r\nContent-Length: 20\r\n\r\n{\"run";
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut out))
        .await
        .expect("answered without waiting for the rest")
        .unwrap();
    let text = String::from_utf8_lossy(&out[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_are_413() {
    let up = Upstream::start().await;
    let gate = small_limits(&up).await;
    let chunk = "x".repeat(800);
    let text = format!(
        "POST /orders HTTP/1.1\r\nHost: t\r\nx-environment: staging\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
    );
    let resp = raw(gate.addr, text.as_bytes()).await;
    assert_eq!(raw_status(&resp), 413, "{resp}");
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn oversized_expect_continue_is_refused_without_100() {
    let up = Upstream::start().await;
    let gate = small_limits(&up).await;
    let text = "POST /orders HTTP/1.1\r\nHost: t\r\nx-environment: staging\r\nContent-Length: 5000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
    let resp = raw(gate.addr, text.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(!resp.contains("100 Continue"));
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn routes_that_read_no_body_stream_it_whole() {
    let up = Upstream::start().await;
    let gate = small_limits(&up).await;
    let big = "y".repeat(100_000);
    let r = call(gate.addr, "PUT", "/files/a/b.bin", &[ENV], &big).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.seen()[0].body.len(), big.len());
    assert_eq!(up.seen()[0].target, "/files/a/b.bin");
}

#[tokio::test]
async fn large_heads_are_431() {
    let up = Upstream::start().await;
    let gate = small_limits(&up).await;
    let pad = "p".repeat(3000);
    let r = call(gate.addr, "GET", "/items/1", &[ENV, ("x-pad", &pad)], "").await;
    assert_eq!(r.status, 431);
    assert!(r.header("x-request-id").is_some());
    // Far beyond the limit, hyper refuses before toolgate sees the request.
    let pad = "p".repeat(64 * 1024);
    let text = format!("GET /items/1 HTTP/1.1\r\nHost: t\r\nx-pad: {pad}\r\n\r\n");
    let resp = raw(gate.addr, text.as_bytes()).await;
    assert_eq!(raw_status(&resp), 431, "{resp}");
    assert!(up.seen().is_empty());
}

/// Reads until the server closes the connection; true when it did within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_eof = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_to_eof).await.is_ok()
}

#[tokio::test]
async fn slow_and_silent_clients_are_cut_off() {
    let up = Upstream::start().await;
    let gate = small_limits(&up).await;
    let partial: [&[u8]; 3] = [
        b"",                                         // connects, says nothing
        b"PRI * HTTP/2.0\r\n",                       // a partial h2 preface
        b"GET /items/1 HTTP/1.1\r\nHost: t\r\nx-a:", // slowloris: a head never finished
    ];
    for bytes in partial {
        let mut s = TcpStream::connect(gate.addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        assert!(
            closed_within(&mut s, Duration::from_secs(5)).await,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn the_connection_cap_pauses_accepting_until_a_slot_frees() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.max_connections = 1
    })
    .await;
    let req = b"GET /items/1 HTTP/1.1\r\nHost: t\r\nx-environment: staging\r\n\r\n";
    let mut first = TcpStream::connect(gate.addr).await.unwrap();
    first.write_all(req).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    // The kernel completes the handshake, but toolgate does not serve it yet.
    let mut second = TcpStream::connect(gate.addr).await.unwrap();
    second.write_all(req).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(waited.is_err(), "served over the cap");

    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
        .await
        .expect("served once a slot freed")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert_eq!(up.seen().len(), 2);
}
