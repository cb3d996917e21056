//! Upstream fan-out is bounded: every forwarded request holds one of
//! `upstream.max_concurrent_requests` exchange slots until its response body ends, so one
//! multiplexed HTTP/2 client connection cannot open an upstream socket per stream. A request
//! over the bound is answered 503 (`UPSTREAM_OVERLOADED`) at once and never sent later;
//! HTTP/2 concurrency per client connection is `limits.max_concurrent_streams`.

mod support;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use toolgate::audit::FinalAction;

const ENV: (&str, &str) = ("x-environment", "staging");

#[tokio::test]
async fn requests_over_the_upstream_bound_are_refused_not_queued() {
    let up = Upstream::start().await;
    up.set(Behavior::Slow(Duration::from_millis(400)));
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.upstream.max_concurrent_requests = 4;
    })
    .await;
    // One h2c connection, ten concurrent streams.
    let stream = tokio::net::TcpStream::connect(gate.addr).await.unwrap();
    let (tx, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..10 {
        let mut tx = tx.clone();
        let req = request("GET", gate.addr, &format!("/items/{i}"), &[ENV], "");
        calls.spawn(async move {
            read_reply(tx.send_request(req).await.unwrap())
                .await
                .unwrap()
        });
    }
    let mut statuses = Vec::new();
    let mut overloaded_ids = Vec::new();
    while let Some(r) = calls.join_next().await {
        let r = r.unwrap();
        if r.status == 503 {
            let body = r.json();
            assert_eq!(body["error"], "UPSTREAM_OVERLOADED", "{body}");
            assert_eq!(body["verdict"], "ALLOW");
            assert_eq!(r.header("x-toolgate-verdict"), Some("ALLOW"));
            overloaded_ids.push(r.header("x-request-id").unwrap().to_owned());
        }
        statuses.push(r.status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 503, 503, 503, 503, 503, 503]);
    // Nothing refused is sent later, and the upstream saw at most four sockets.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(up.seen().len(), 4);
    assert!(
        up.connections() <= 4,
        "{} upstream connections",
        up.connections()
    );
    for id in &overloaded_ids {
        let rec = gate.audit_record(id).await.expect("audited");
        assert_eq!(rec.final_runtime_action, FinalAction::UpstreamOverloaded);
        assert_eq!(rec.upstream_status, None);
    }
    let m = gate.metrics();
    assert_eq!(
        m.get(
            "toolgate_upstream_errors_total",
            &[("route", "read_item"), ("kind", "overloaded")]
        ),
        Some(6.0)
    );
    // The slots come back as the responses end.
    let r = send_h1(gate.addr, request("GET", gate.addr, "/items/x", &[ENV], "")).await;
    assert_eq!(r.unwrap().status, 200);
}

/// The server announces `limits.max_concurrent_streams` (default 100) in its SETTINGS.
#[tokio::test]
async fn the_h2_stream_limit_is_announced() {
    let up = Upstream::start().await;
    for (limit, want) in [(None, 100u32), (Some(7u32), 7)] {
        let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
            if let Some(l) = limit {
                c.limits.max_concurrent_streams = l;
            }
        })
        .await;
        let mut s = tokio::net::TcpStream::connect(gate.addr).await.unwrap();
        s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        let settings = loop {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
                .await
                .expect("the server's SETTINGS")
                .unwrap();
            assert!(n > 0, "closed");
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() >= 9 {
                let len = usize::from(buf[2]) | usize::from(buf[1]) << 8;
                if buf[3] == 4 && buf.len() >= 9 + len {
                    break buf[9..9 + len].to_vec();
                }
            }
        };
        let max_streams = settings
            .chunks(6)
            .find(|p| p[..2] == [0, 3])
            .map(|p| u32::from_be_bytes([p[2], p[3], p[4], p[5]]));
        assert_eq!(max_streams, Some(want));
    }
}

/// Sockets this process holds open toward `port` (ESTABLISHED or CLOSE_WAIT: an open
/// descriptor), as the kernel lists them. The in-process upstream's own sockets have `port`
/// as their local port and are not counted.
fn sockets_to(port: u16) -> usize {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let remote = f[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            remote == Some(port) && matches!(f[3], "01" | "08")
        })
        .count()
}

/// Upstream sockets are bounded by the exchanges under way plus the idle connections, under
/// waves of multiplexed streams: a connection being closed still counts until it is, and no
/// connection is opened that no exchange asked for. Measured from the kernel's socket
/// table, sampled throughout the load.
#[tokio::test]
async fn upstream_sockets_never_exceed_the_bounds() {
    let up = Upstream::start().await;
    up.set(Behavior::Slow(Duration::from_millis(2)));
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.upstream.max_concurrent_requests = 8;
        c.upstream.max_idle_connections = 2;
    })
    .await;
    let port = up.addr.port();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(sockets_to(port));
                std::thread::sleep(Duration::from_millis(1));
            }
            peak
        })
    };
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let addr = gate.addr;
        clients.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (tx, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let mut ok = 0;
            for _wave in 0..40 {
                let mut calls = tokio::task::JoinSet::new();
                for i in 0..16 {
                    let mut tx = tx.clone();
                    let req = request("GET", addr, &format!("/items/{i}"), &[ENV], "");
                    calls.spawn(async move { tx.send_request(req).await.unwrap().status() });
                }
                while let Some(s) = calls.join_next().await {
                    ok += usize::from(s.unwrap() == 200);
                }
            }
            ok
        });
    }
    let mut forwarded = 0;
    while let Some(n) = clients.join_next().await {
        forwarded += n.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let peak = sampler.join().unwrap();
    assert!(forwarded > 0);
    assert_eq!(
        up.seen().len(),
        forwarded,
        "every 200 was sent once, nothing else"
    );
    assert!(peak > 0, "the sampler saw the load");
    assert!(
        peak <= 8 + 2,
        "{peak} upstream sockets open at once (bounds 8 + 2)"
    );
    let m = gate.metrics();
    let open = m.get("toolgate_upstream_connections", &[]).unwrap();
    assert!(
        open <= 2.0,
        "{open} connections still open, only 2 may idle"
    );
}
