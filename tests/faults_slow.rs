//! Slow clients: heads trickled a byte at a time (slowloris) and bodies that stall are cut
//! off by the configured timeouts, while other clients are served meanwhile; nothing of a
//! cut-off request reaches the upstream complete.

mod support;
use std::time::Duration;
use support::wire::{exchange, read_exchange, req};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use toolgate::config::HumanDuration;

const ENV: &str = "x-environment: staging";

async fn gate(up: &Upstream, max_connections: usize) -> Gate {
    Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.header_read_timeout = HumanDuration(Duration::from_millis(400));
        c.limits.body_read_timeout = HumanDuration(Duration::from_millis(400));
        c.upstream.response_timeout = HumanDuration(Duration::from_millis(400));
        c.limits.max_connections = max_connections;
    })
    .await
}

/// Trickles `bytes` one at a time every `every` until the server closes; true when it did
/// before everything was sent.
async fn trickle(addr: std::net::SocketAddr, bytes: Vec<u8>, every: Duration) -> bool {
    let mut s = TcpStream::connect(addr).await.unwrap();
    for b in bytes {
        if s.write_all(&[b]).await.is_err() {
            return true;
        }
        tokio::time::sleep(every).await;
    }
    // Everything sent: the server must still close (it never got a whole head).
    let mut buf = [0u8; 1024];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn slowloris_heads_are_cut_off_while_others_are_served() {
    let up = Upstream::start().await;
    let gate = gate(&up, 100).await;
    // Each would take 50 bytes * 50ms = 2.5 s: far beyond the 400 ms head timeout.
    let head = b"GET /items/1 HTTP/1.1\r\nHost: t\r\nx-environment: st".to_vec();
    let slow: Vec<_> = (0..8)
        .map(|_| tokio::spawn(trickle(gate.addr, head.clone(), Duration::from_millis(50))))
        .collect();
    // Meanwhile a normal client is served at once.
    for _ in 0..3 {
        let ex = exchange(
            gate.addr,
            &req("GET /items/2 HTTP/1.1", &[ENV], ""),
            1,
            false,
        )
        .await;
        assert_eq!(ex.status(), 200);
    }
    for s in slow {
        assert!(
            s.await.unwrap(),
            "a slow head was cut off before it was sent"
        );
    }
    let seen = up.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.target == "/items/2"));
}

#[tokio::test]
async fn slowloris_cannot_hold_the_connection_cap() {
    let up = Upstream::start().await;
    let gate = gate(&up, 2).await;
    // Two silent connections take both slots...
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(gate.addr).await.unwrap();
        s.write_all(b"GET /items/1 HTTP/1.1\r\nHost: t\r\n")
            .await
            .unwrap();
        idle.push(s);
    }
    // ...until the head timeout frees them; then the next client is served.
    let ex = exchange(
        gate.addr,
        &req("GET /items/3 HTTP/1.1", &[ENV], ""),
        1,
        false,
    )
    .await;
    assert_eq!(ex.status(), 200, "{ex:?}");
    for mut s in idle {
        let closed = read_exchange(&mut s, 1, false).await;
        assert!(closed.closed && closed.finals().is_empty(), "{closed:?}");
    }
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_and_never_forwarded_whole() {
    let up = Upstream::start().await;
    let gate = gate(&up, 100).await;
    let cases = [
        // Read by the route: 408 after body_read_timeout, nothing forwarded.
        ("POST /orders HTTP/1.1", 408),
        // Streamed: the upstream waits for the rest, toolgate gives up after the response
        // timeout (504); the upstream never gets a complete request.
        ("PUT /files/a HTTP/1.1", 504),
    ];
    for (line, status) in cases {
        let mut s = TcpStream::connect(gate.addr).await.unwrap();
        let head = format!("{line}\r\nHost: t\r\n{ENV}\r\nContent-Length: 100\r\n\r\n{{\"run");
        s.write_all(head.as_bytes()).await.unwrap();
        // Another client is served while this body stalls.
        let other = exchange(
            gate.addr,
            &req("GET /items/4 HTTP/1.1", &[ENV], ""),
            1,
            false,
        )
        .await;
        assert_eq!(other.status(), 200);
        let ex = read_exchange(&mut s, 1, false).await;
        assert_eq!(ex.status(), status, "{line}: {ex:?}");
    }
    let seen = up.seen();
    assert!(
        seen.iter().all(|s| s.target == "/items/4"),
        "{:?}",
        seen.iter().map(|s| &s.target).collect::<Vec<_>>()
    );
}
