//! Refusals the HTTP/1.1 parser makes are answered, audited and counted like any other:
//! obfuscated or unknown transfer codings, repeated or malformed Content-Length, obs-fold,
//! a bad HTTP/2 preface, oversized heads. Each gets the decision body (INVALID_REQUEST), a
//! request id, an audit record (route `unmatched` in the metrics) and nothing reaches the
//! recording upstream; good requests pipelined before a refused head are answered first.
//! What no request can be made of (a peer leaving mid-head, a head that never completes) is
//! counted per connection by reason.

mod support;
use std::time::Duration;
use support::wire::{exchange, req};
use support::*;
use toolgate::audit::FinalAction;
use toolgate::config::HumanDuration;

const ENV: &str = "x-environment: staging";

fn unmatched_denials(gate: &Gate) -> f64 {
    gate.metrics()
        .get(
            "toolgate_decisions_total",
            &[("route", "unmatched"), ("verdict", "deny")],
        )
        .unwrap_or(0.0)
}

#[tokio::test]
async fn parser_refusals_get_a_body_an_id_an_audit_record_and_a_count() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let put = "PUT /files/a HTTP/1.1";
    let huge = format!("X-Big: {}", "a".repeat(140 * 1024));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "obfuscated Transfer-Encoding",
            req(put, &[ENV, "Transfer-Encoding: xchunked"], "0\r\n\r\n"),
            501,
        ),
        (
            "unknown coding before chunked",
            req(put, &[ENV, "Transfer-Encoding: cow, chunked"], "0\r\n\r\n"),
            501,
        ),
        (
            "chunked twice",
            req(
                put,
                &[ENV, "Transfer-Encoding: chunked, chunked"],
                "0\r\n\r\n",
            ),
            400,
        ),
        (
            "duplicate Content-Length",
            req(
                "POST /orders HTTP/1.1",
                &[ENV, "Content-Length: 2", "Content-Length: 2"],
                "{}",
            ),
            400,
        ),
        (
            "obs-fold",
            req("GET /items/1 HTTP/1.1", &[ENV, "X-A: 1", " folded"], ""),
            400,
        ),
        (
            "bare CR in a field",
            req("GET /items/1 HTTP/1.1", &[ENV, "X-A: 1\r2"], ""),
            400,
        ),
        (
            "a bad h2c preface",
            b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a head over hyper's backstop",
            req("GET /items/1 HTTP/1.1", &[ENV, &huge], ""),
            431,
        ),
        (
            "a space in the method",
            b"GE T /items/1 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            400,
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes, status) in cases {
        let before = unmatched_denials(&gate);
        let ex = exchange(gate.addr, &bytes, usize::MAX, false).await;
        let statuses: Vec<u16> = ex.finals().iter().map(|r| r.status).collect();
        if statuses != [status] {
            failures.push(format!("[{name}] statuses {statuses:?}, want [{status}]"));
            continue;
        }
        let r = ex.finals()[0];
        let body = r.json();
        if body["issues"] != serde_json::json!(["INVALID_REQUEST"])
            || body["verdict"] != "DENY"
            || body["route"] != "unmatched"
        {
            failures.push(format!("[{name}] body {body}"));
        }
        if r.header("x-toolgate-verdict") != Some("DENY") || r.header("connection") != Some("close")
        {
            failures.push(format!("[{name}] headers {:?}", r.headers));
        }
        let id = r.header("x-request-id").unwrap_or_default();
        match gate.audit_record(id).await {
            None => failures.push(format!("[{name}] no audit record for {id:?}")),
            Some(rec) => {
                if rec.final_runtime_action != FinalAction::ExecutionStopped
                    || rec.route.is_some()
                    || rec.issues.iter().map(|c| c.as_str()).collect::<Vec<_>>()
                        != ["INVALID_REQUEST"]
                {
                    failures.push(format!("[{name}] audit {rec:?}"));
                }
            }
        }
        if unmatched_denials(&gate) != before + 1.0 {
            failures.push(format!("[{name}] not counted as an unmatched DENY"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(up.seen().is_empty(), "{:?}", up.seen());
}

/// Good requests pipelined before a refused head are answered (and forwarded) first; not a
/// byte after the refused head is read.
#[tokio::test]
async fn a_refused_head_is_answered_in_order_and_ends_the_connection() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let keep = "Connection: keep-alive";
    let bytes = [
        req("GET /items/1 HTTP/1.1", &[ENV, keep], ""),
        req(
            "PUT /files/a HTTP/1.1",
            &[ENV, keep, "Transfer-Encoding: cow, chunked"],
            "0\r\n\r\n",
        ),
        req("GET /items/2 HTTP/1.1", &[ENV, keep], ""),
    ]
    .concat();
    let ex = exchange(gate.addr, &bytes, usize::MAX, false).await;
    let statuses: Vec<u16> = ex.finals().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 501], "{ex:?}");
    assert!(ex.closed, "{ex:?}");
    let seen: Vec<String> = up.seen().iter().map(|s| s.target.clone()).collect();
    assert_eq!(seen, ["/items/1"]);
}

/// A request that names the stand-in without this connection's secret is an ordinary,
/// unmapped request: nothing a client sends can pass for a guard refusal.
#[tokio::test]
async fn the_stand_in_cannot_be_forged() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let forged = req(
        "TOOLGATE-REFUSED / HTTP/1.1",
        &["x-toolgate-refused: 1", "connection: close"],
        "",
    );
    let ex = exchange(gate.addr, &forged, 1, false).await;
    let body = ex.finals()[0].json();
    assert_eq!(ex.status(), 403, "{ex:?}");
    assert_eq!(body["issues"], serde_json::json!(["ROUTE_NOT_MAPPED"]));
}

/// What cannot be answered is counted per connection: a peer that leaves mid-head, and one
/// whose head never completes within `header_read_timeout`. An idle keep-alive connection
/// that times out is not an error.
#[tokio::test]
async fn connections_without_a_request_are_counted_by_reason() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.header_read_timeout = HumanDuration(Duration::from_millis(300));
    })
    .await;
    let reason = |r: &str| {
        gate.metrics()
            .get("toolgate_connection_errors_total", &[("reason", r)])
            .unwrap_or(-1.0)
    };
    assert_eq!(reason("closed_mid_head"), 0.0, "exported from the start");
    // Leaves mid-head.
    let ex = exchange(gate.addr, b"GET /items/1 HTTP/1.1\r\nHo", usize::MAX, false).await;
    drop(ex);
    {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(gate.addr).await.unwrap();
        s.write_all(b"GET /items/1 HTTP/1.1\r\nHo").await.unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut s, &mut rest),
        )
        .await;
        assert!(rest.is_empty(), "{rest:?}");
    }
    // A keep-alive connection: one good request, then idle past the timeout.
    let idle = req(
        "GET /items/1 HTTP/1.1",
        &[ENV, "Connection: keep-alive"],
        "",
    );
    let ex = exchange(gate.addr, &idle, usize::MAX, false).await;
    assert_eq!(ex.status(), 200);
    assert!(ex.closed);
    support::sidecar::eventually("the counts", || async {
        reason("closed_mid_head") >= 1.0 && reason("header_timeout") >= 1.0
    })
    .await;
    // The first exchange timed out mid-head (no shutdown); the second left mid-head; the
    // idle keep-alive connection is neither.
    assert_eq!(reason("header_timeout"), 1.0);
    assert_eq!(reason("closed_mid_head"), 1.0);
    assert!(up.seen().iter().all(|s| s.target == "/items/1"));
}
