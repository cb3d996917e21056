//! Transports and lifecycle: TLS with HTTP/1.1 and h2 chosen by ALPN, h2c with prior
//! knowledge, and graceful shutdown (in-flight requests finish; new ones are refused).

mod support;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::*;
use tokio::net::TcpStream;
use toolgate::config::{HumanDuration, Tls};

const ENV: (&str, &str) = ("x-environment", "staging");

#[tokio::test]
async fn tls_serves_http1_and_h2_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let cert = test_cert(dir.path());
    let up = Upstream::start().await;
    let tls = Tls {
        cert: cert.cert.clone(),
        key: cert.key.clone(),
        client_ca: None,
    };
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| c.tls = Some(tls)).await;

    let (io, alpn) = tls_connect(gate.addr, &cert, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = tx
        .send_request(request("GET", gate.addr, "/items/1", &[ENV], ""))
        .await
        .unwrap();
    let r = read_reply(resp).await.unwrap();
    assert_eq!(
        (r.status, r.header("x-toolgate-verdict")),
        (200, Some("ALLOW"))
    );

    let (io, alpn) = tls_connect(gate.addr, &cert, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (mut tx, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(format!("https://localhost:{}/items/2", gate.addr.port()))
        .header("x-environment", "staging")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let r = read_reply(tx.send_request(req).await.unwrap())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let deny = http::Request::builder()
        .method("DELETE")
        .uri(format!("https://localhost:{}/items/2", gate.addr.port()))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let r = read_reply(tx.send_request(deny).await.unwrap())
        .await
        .unwrap();
    assert_eq!(r.status, 403);

    let seen = up.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.header("x-forwarded-proto"), Some("https"));
    }
    // HTTP/2 carries the host in :authority; the upstream gets it as Host.
    assert_eq!(
        seen[1].header("host"),
        Some(format!("localhost:{}", gate.addr.port()).as_str())
    );
    assert_eq!(seen[1].target, "/items/2");
}

#[tokio::test]
async fn h2c_with_prior_knowledge() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let ok = send_h2c(
        gate.addr,
        request("GET", gate.addr, "/items/3?a=b", &[ENV], ""),
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200);
    let deny = send_h2c(
        gate.addr,
        request("DELETE", gate.addr, "/items/3", &[ENV], ""),
    )
    .await
    .unwrap();
    assert_eq!(deny.status, 403);
    assert_eq!(deny.json()["verdict"], "DENY");
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("GET", "/items/3?a=b")
    );
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let up = Upstream::start().await;
    up.set(Behavior::Slow(Duration::from_millis(400)));
    let mut gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let addr = gate.addr;
    let in_flight = tokio::spawn(async move { call(addr, "GET", "/items/1", &[ENV], "").await });
    support::sidecar::eventually("the request upstream", || async { !up.seen().is_empty() }).await;
    gate.shutdown();
    // Polled, not slept on: the in-flight request (400 ms upstream) is still running.
    let draining = &gate.draining;
    support::sidecar::eventually("readiness to flip", || async {
        draining.load(Ordering::SeqCst)
    })
    .await;
    support::sidecar::eventually("the listener to close", || async {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200);
    gate.finished().await.unwrap();
}

#[tokio::test]
async fn shutdown_cuts_off_what_outlives_the_grace_period() {
    let up = Upstream::start().await;
    up.set(Behavior::Slow(Duration::from_secs(30)));
    let mut gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.shutdown_grace = HumanDuration(Duration::from_millis(200));
    })
    .await;
    let addr = gate.addr;
    let in_flight =
        tokio::spawn(
            async move { send_h1(addr, request("GET", addr, "/items/1", &[ENV], "")).await },
        );
    support::sidecar::eventually("the request upstream", || async { !up.seen().is_empty() }).await;
    gate.shutdown();
    tokio::time::timeout(Duration::from_secs(5), gate.finished())
        .await
        .expect("run returns after the grace period")
        .unwrap();
    assert!(in_flight.await.unwrap().is_err());
}
