//! Upstream faults after an ALLOW: the client gets a typed JSON 502/504 (verdict still
//! ALLOW), a response cut off mid-body is an aborted response, never a complete one, and
//! nothing is sent twice.

mod support;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::*;

const ENV: (&str, &str) = ("x-environment", "staging");

fn assert_fault(r: &Reply, status: u16, error: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    let body = r.json();
    assert_eq!(body["error"], error);
    assert_eq!(body["verdict"], "ALLOW");
    assert_eq!(body["request_id"], r.header("x-request-id").unwrap());
    assert_eq!(body["policy_version"], fixture::POLICY_VERSION);
    assert_eq!(r.header("x-toolgate-verdict"), Some("ALLOW"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn upstream_down_is_502() {
    let gate = Gate::start(fixture::snapshot(), &dead_upstream().await, |_| {}).await;
    let r = call(gate.addr, "GET", "/items/1", &[ENV], "").await;
    assert_fault(&r, 502, "UPSTREAM_UNAVAILABLE");
}

#[tokio::test]
async fn slow_upstream_is_504_after_the_response_timeout() {
    let up = Upstream::start().await;
    up.set(Behavior::Slow(Duration::from_secs(30)));
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.upstream.response_timeout = toolgate::config::HumanDuration(Duration::from_millis(200));
    })
    .await;
    let r = call(gate.addr, "GET", "/items/1", &[ENV], "").await;
    assert_fault(&r, 504, "UPSTREAM_TIMEOUT");
    assert_eq!(up.seen().len(), 1, "sent once, not retried");
}

#[tokio::test]
async fn malformed_upstream_response_is_502_and_not_retried() {
    let (url, accepted) = raw_upstream(b"HTTP/1.1 abc nonsense\r\n\r\n").await;
    let gate = Gate::start(fixture::snapshot(), &url, |_| {}).await;
    let r = call(gate.addr, "POST", "/orders", &[ENV], r#"{"n":1}"#).await;
    assert_fault(&r, 502, "UPSTREAM_BAD_RESPONSE");
    let r = call(gate.addr, "GET", "/items/1", &[ENV], "").await;
    assert_fault(&r, 502, "UPSTREAM_BAD_RESPONSE");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "one connection per request"
    );
}

#[tokio::test]
async fn upstream_connections_are_pooled() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    for _ in 0..3 {
        let r = call(gate.addr, "GET", "/items/1", &[ENV], "").await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(up.seen().len(), 3);
    assert_eq!(up.connections(), 1, "one kept-alive upstream connection");
}

#[tokio::test]
async fn upstream_statuses_pass_through_with_tags() {
    let up = Upstream::start().await;
    up.set(Behavior::Status(500));
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let r = call(gate.addr, "GET", "/items/1", &[ENV], "").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-upstream"), Some("1"));
    assert_eq!(r.header("x-toolgate-verdict"), Some("ALLOW"));
}
