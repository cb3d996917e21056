//! Upstream faults after an ALLOW: refused (502), black-holed (504, and the upstream
//! connection is closed, no task left behind), malformed or smuggled responses (502, never a
//! 200 the upstream did not send), a connection lost after the request was written (502,
//! never sent twice). The client always gets a tagged answer or an abort, never a
//! truncated response that looks complete.

mod support;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::wire::{exchange, req};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use toolgate::config::HumanDuration;

const ENV: &str = "x-environment: staging";

/// Reads one request head (and a Content-Length body) from `s`; `None` at EOF.
async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            if buf.len() >= end + 4 + len {
                let req = buf[..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                return Some(req);
            }
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// An upstream that accepts, reads requests, and never answers; each connection reports
/// on the channel when toolgate closes it.
async fn black_hole() -> (String, Arc<AtomicUsize>, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    let count = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (tx, count) = (tx.clone(), count.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while read_request(&mut s, &mut buf).await.is_some() {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                let _ = tx.send(());
            });
        }
    });
    (url, requests, rx)
}

#[tokio::test]
async fn upstream_refused_is_502_and_tagged() {
    let gate = Gate::start(fixture::snapshot(), &dead_upstream().await, |_| {}).await;
    for bytes in [
        req("GET /items/1 HTTP/1.1", &[ENV], ""),
        req("POST /orders HTTP/1.1", &[ENV], r#"{"run_id": "r"}"#),
    ] {
        let ex = exchange(gate.addr, &bytes, 1, false).await;
        let r = ex.finals()[0].clone();
        assert_eq!(r.status, 502, "{r:?}");
        assert_eq!(r.json()["error"], "UPSTREAM_UNAVAILABLE");
        assert_eq!(r.header("x-toolgate-verdict"), Some("ALLOW"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_upstream_is_504_and_leaves_nothing_behind() {
    let (url, requests, mut closed) = black_hole().await;
    let gate = Gate::start(fixture::snapshot(), &url, |c| {
        c.upstream.response_timeout = HumanDuration(Duration::from_millis(200));
    })
    .await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    const N: usize = 5;
    for i in 0..N {
        let bytes = if i % 2 == 0 {
            req("GET /items/1 HTTP/1.1", &[ENV], "")
        } else {
            req("POST /orders HTTP/1.1", &[ENV], r#"{"run_id": "r"}"#)
        };
        let ex = exchange(gate.addr, &bytes, 1, false).await;
        let r = ex.finals()[0].clone();
        assert_eq!(r.status, 504, "{r:?}");
        assert_eq!(r.json()["error"], "UPSTREAM_TIMEOUT");
    }
    // Every upstream connection toolgate opened is closed once its request timed out.
    for _ in 0..N {
        tokio::time::timeout(Duration::from_secs(5), closed.recv())
            .await
            .expect("toolgate closed its upstream connection")
            .unwrap();
    }
    assert_eq!(requests.load(Ordering::SeqCst), N, "each sent once");
    // And no task outlives its request: the runtime is back to where it started.
    let settled = tokio::time::timeout(Duration::from_secs(5), async {
        while metrics.num_alive_tasks() > baseline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "{} tasks alive, {baseline} before",
        metrics.num_alive_tasks()
    );
}

/// The upstream reads the request, then drops the connection without a word: the request
/// may have been acted on, so it is not sent again; the client gets 502.
#[tokio::test]
async fn a_connection_lost_after_the_request_is_not_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                // The first request on a connection is answered (kept alive), the second is
                // read and then the connection is dropped.
                if read_request(&mut s, &mut buf).await.is_none() {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                s.write_all(ok).await.unwrap();
                if read_request(&mut s, &mut buf).await.is_some() {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    let gate = Gate::start(fixture::snapshot(), &url, |_| {}).await;
    let order = r#"{"run_id": "r"}"#;
    let post = || req("POST /orders HTTP/1.1", &[ENV], order);
    assert_eq!(exchange(gate.addr, &post(), 1, false).await.status(), 200);
    let second = exchange(gate.addr, &post(), 1, false).await;
    let r = second.finals()[0].clone();
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(r.json()["error"], "UPSTREAM_BAD_RESPONSE");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        2,
        "the lost POST was not re-sent"
    );
}

/// Responses hyper's client will not read as one well-framed response: 502, not a 200.
#[tokio::test]
async fn malformed_upstream_responses_are_502() {
    let replies: &[&'static [u8]] = &[
        b"",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
        b"HTTP/9.9 200 OK\r\nContent-Length: 0\r\n\r\n",
    ];
    let mut failures = Vec::new();
    for reply in replies {
        let (url, _) = raw_upstream(reply).await;
        let gate = Gate::start(fixture::snapshot(), &url, |_| {}).await;
        let ex = exchange(
            gate.addr,
            &req("GET /items/1 HTTP/1.1", &[ENV], ""),
            1,
            false,
        )
        .await;
        // A bad head is a 502; a head that passes with a bad body never completes.
        let ok = ex.status() == 502 || (ex.finals().is_empty() && ex.closed);
        if !ok {
            failures.push(format!("{:?}: {ex:?}", String::from_utf8_lossy(reply)));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A response body cut short is an abort on the client's side (the connection is closed
/// before the declared length, the HTTP/2 stream reset), never a complete-looking
/// response.
#[tokio::test]
async fn a_reset_mid_body_is_an_abort() {
    let replies: [&'static [u8]; 2] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n",
    ];
    for reply in replies {
        let (url, _) = raw_upstream(reply).await;
        let gate = Gate::start(fixture::snapshot(), &url, |_| {}).await;
        let ex = exchange(
            gate.addr,
            &req("GET /items/1 HTTP/1.1", &[ENV], ""),
            1,
            false,
        )
        .await;
        assert!(ex.finals().is_empty(), "no complete response: {ex:?}");
        assert!(ex.closed, "the connection is cut: {ex:?}");
        let env = [("x-environment", "staging")];
        let r = send_h1(gate.addr, request("GET", gate.addr, "/items/1", &env, "")).await;
        assert!(r.is_err(), "a truncated body must not look complete: {r:?}");
        let r = send_h2c(gate.addr, request("GET", gate.addr, "/items/1", &env, "")).await;
        assert!(r.is_err(), "h2: the stream is reset, not ended: {r:?}");
    }
}

/// Bytes after a complete response on a kept-alive upstream connection are not a response
/// to the next request (no response-queue poisoning).
#[tokio::test]
async fn extra_upstream_bytes_never_answer_another_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = listener.accept().await {
            n += 1;
            let first = n == 1;
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while read_request(&mut s, &mut buf).await.is_some() {
                    let reply: &[u8] = if first {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nx-smuggled: 1\r\nContent-Length: 0\r\n\r\n"
                    } else {
                        b"HTTP/1.1 200 OK\r\nx-fresh: 1\r\nContent-Length: 2\r\n\r\nok"
                    };
                    if s.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let gate = Gate::start(fixture::snapshot(), &url, |_| {}).await;
    for i in 0..3 {
        let ex = exchange(
            gate.addr,
            &req("GET /items/1 HTTP/1.1", &[ENV], ""),
            1,
            false,
        )
        .await;
        let r = ex.finals()[0].clone();
        assert_eq!(r.status, 200, "{i}: {r:?}");
        assert_eq!(r.header("x-smuggled"), None, "{i}: {r:?}");
        assert_eq!(r.body, b"ok", "{i}");
    }
}
