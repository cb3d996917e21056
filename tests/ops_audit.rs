//! The audit trail and the metrics of a whole sidecar, for every kind of outcome: each
//! request gives exactly one JSON line carrying every contract field, the seeds' trace chain
//! reads from one record, and the Prometheus counters (parsed strictly) move with the
//! decisions.

mod support;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::sidecar::*;
use support::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The shared approved payout, in a run (the trace follows it).
fn approved_finance(id: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut h = support::sidecar::approved_finance(id);
    h.push(("x-run-id", "run_pay_001"));
    h
}

/// The audit lines by request id; each id must appear exactly once.
fn by_id(lines: Vec<Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for l in lines {
        let id = l["request_id"].as_str().unwrap().to_owned();
        assert!(out.insert(id.clone(), l).is_none(), "two records for {id}");
    }
    out
}

#[tokio::test]
async fn every_outcome_is_one_complete_audit_line_and_moves_the_counters() {
    let up = Upstream::start().await;
    let mut gate = Sidecar::start(&up.url(), |_, cfg| cfg.limits.max_body_bytes = 1024).await;
    let before = gate.metrics().await;
    assert_eq!(
        before.get(
            "toolgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert_eq!(before.sum("toolgate_decisions_total", &[]), 0.0);

    // ALLOW, forwarded: the seeds' trace chain.
    let mut h: Vec<(&str, &str)> = approved_finance("req-allow");
    let parent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    h.push(("traceparent", &parent));
    let r = call(gate.proxy, "POST", "/payments/v1/payouts", &h, &payout(500)).await;
    assert_eq!(r.status, 200);
    // DEFER: no approval.
    let defer = [
        ("x-request-id", "req-defer"),
        ("x-actor", "agent-7"),
        ("x-actor-role", "finance_operator"),
        ("x-environment", "production"),
    ];
    let r = call(
        gate.proxy,
        "POST",
        "/payments/v1/payouts",
        &defer,
        &payout(500),
    )
    .await;
    assert_eq!(r.status, 409);
    // DENY.
    let deny = [
        ("x-request-id", "req-deny"),
        ("x-actor", "agent-5"),
        ("x-actor-role", "viewer"),
        ("x-environment", "production"),
    ];
    let r = call(gate.proxy, "DELETE", "/db/v1/tenants/t-42", &deny, "").await;
    assert_eq!(r.status, 403);
    // Unmatched.
    let r = call(
        gate.proxy,
        "GET",
        "/payments/v1/balances?currency=EUR",
        &[("x-request-id", "req-unmatched")],
        "",
    )
    .await;
    assert_eq!(r.status, 403);
    // Refused before routing: a method override.
    let r = call(
        gate.proxy,
        "GET",
        "/db/v1/tenants/t-42?_method=DELETE",
        &[("x-request-id", "req-target")],
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    // Refused for size, on a route that reads its body.
    let r = call(
        gate.proxy,
        "POST",
        "/payments/v1/payouts",
        &approved_finance("req-big"),
        &format!(r#"{{"amount": 1, "pad": "{}"}}"#, "x".repeat(2048)),
    )
    .await;
    assert_eq!(r.status, 413);

    let m = gate.metrics().await;
    let decisions = |route: &str, verdict: &str| {
        m.get(
            "toolgate_decisions_total",
            &[("route", route), ("verdict", verdict)],
        )
    };
    assert_eq!(decisions("payouts-create", "allow"), Some(1.0));
    assert_eq!(decisions("payouts-create", "defer"), Some(1.0));
    assert_eq!(decisions("payouts-create", "deny"), Some(1.0), "the 413");
    assert_eq!(decisions("tenants-delete", "deny"), Some(1.0));
    assert_eq!(
        decisions("unmatched", "deny"),
        Some(2.0),
        "no route, and refused before routing"
    );
    assert_eq!(m.sum("toolgate_decisions_total", &[]), 6.0);
    let issues = |route: &str, issue: &str| {
        m.get(
            "toolgate_decision_issues_total",
            &[("route", route), ("issue", issue)],
        )
    };
    assert_eq!(issues("unmatched", "ROUTE_NOT_MAPPED"), Some(1.0));
    assert_eq!(issues("unmatched", "INVALID_REQUEST"), Some(1.0));
    assert_eq!(issues("payouts-create", "APPROVAL_REQUIRED"), Some(1.0));
    assert_eq!(issues("tenants-delete", "ROLE_NOT_AUTHORIZED"), Some(1.0));
    assert_eq!(
        m.get("toolgate_decision_duration_seconds_count", &[]),
        Some(6.0)
    );
    assert_eq!(
        m.get(
            "toolgate_upstream_duration_seconds_count",
            &[("route", "payouts-create")]
        ),
        Some(1.0)
    );
    assert_eq!(m.get("toolgate_requests_in_flight", &[]), Some(0.0));
    assert_eq!(
        m.get("toolgate_audit_records_dropped_total", &[]),
        Some(0.0)
    );
    for (name, _) in m.series.iter().filter(|(k, _)| k.contains("route=")) {
        assert!(!name.contains("route=\"/"), "a raw path as a label: {name}");
    }

    gate.stop().await;
    let lines = gate.audit_lines();
    assert_eq!(lines.len(), 6, "one line per request");
    for l in &lines {
        for f in support::audit_fields::AUDIT_FIELDS {
            assert!(l.get(*f).is_some(), "{f} missing in {l}");
        }
        assert!(l["ts"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok());
        assert!(l["total_ms"].as_f64().unwrap() >= 0.0);
    }
    let recs = by_id(lines);

    // request_id -> policy_version -> environment -> approved_by -> final_runtime_action.
    let a = &recs["req-allow"];
    assert_eq!(a["trace_id"], TRACE);
    assert_eq!(a["policy_version"], "tools@1.0.0");
    assert_eq!(a["environment"], "production");
    assert_eq!(a["approved_by"], "[email protected]");
    assert_eq!(a["approved_at"], "2026-03-16T09:30:00Z");
    assert_eq!(a["approval_status"], "approved");
    assert_eq!(
        (a["actor"].as_str(), a["actor_role"].as_str()),
        (Some("agent-7"), Some("finance_operator"))
    );
    assert_eq!(a["run_id"], "run_pay_001");
    assert_eq!(a["final_runtime_action"], "forwarded");
    assert_eq!(
        (a["decision"].as_str(), a["verdict"].as_str()),
        (Some("GO"), Some("ALLOW"))
    );
    assert_eq!(
        (
            a["route"].as_str(),
            a["method"].as_str(),
            a["path"].as_str()
        ),
        (
            Some("payouts-create"),
            Some("POST"),
            Some("/payments/v1/payouts")
        )
    );
    assert_eq!(a["tools"], json!(["payments_api"]));
    assert_eq!(a["side_effects"], json!(["payout"]));
    assert!(a["risk"].as_u64().unwrap() > 0);
    assert_eq!(a["upstream_status"], 200);
    assert!(a["upstream_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(a["mode"], "enforce");

    let d = &recs["req-defer"];
    assert_eq!(
        (d["decision"].as_str(), d["verdict"].as_str()),
        (Some("DEFER"), Some("DEFER"))
    );
    assert_eq!(
        d["issues"],
        json!([
            "APPROVAL_REQUIRED",
            "APPROVER_MISSING",
            "APPROVAL_TIMESTAMP_MISSING"
        ])
    );
    assert_eq!(d["final_runtime_action"], "execution_stopped");
    assert_eq!(
        (d["upstream_status"].clone(), d["upstream_ms"].clone()),
        (Value::Null, Value::Null)
    );

    let n = &recs["req-deny"];
    assert_eq!(
        (n["decision"].as_str(), n["verdict"].as_str()),
        (Some("NO_GO"), Some("DENY"))
    );
    assert_eq!(n["final_runtime_action"], "execution_stopped");
    assert_eq!(n["trace_id"], Value::Null);

    let u = &recs["req-unmatched"];
    assert_eq!(
        (u["route"].clone(), u["issues"].clone()),
        (Value::Null, json!(["ROUTE_NOT_MAPPED"]))
    );
    assert_eq!(u["path"], "/payments/v1/balances");
    let t = &recs["req-target"];
    assert_eq!(
        (t["verdict"].as_str(), t["issues"].clone()),
        (Some("DENY"), json!(["INVALID_REQUEST"]))
    );
    let b = &recs["req-big"];
    assert_eq!(
        (b["route"].as_str(), b["issues"].clone()),
        (Some("payouts-create"), json!(["INVALID_REQUEST"]))
    );
    assert_eq!(b["final_runtime_action"], "execution_stopped");
    assert_eq!(up.seen().len(), 1, "only the ALLOW reached the tool");
}

#[tokio::test]
async fn upstream_failures_are_audited_and_counted_by_kind() {
    let dead = dead_upstream().await;
    let mut gate = Sidecar::start(&dead, |_, _| {}).await;
    let viewer = [
        ("x-request-id", "req-502"),
        ("x-actor-role", "viewer"),
        ("x-environment", "production"),
    ];
    let r = call(gate.proxy, "GET", "/db/v1/tenants/t-42", &viewer, "").await;
    assert_eq!(
        (r.status, r.header("x-toolgate-verdict")),
        (502, Some("ALLOW"))
    );
    let m = gate.metrics().await;
    assert_eq!(
        m.get(
            "toolgate_upstream_errors_total",
            &[("route", "tenants-get"), ("kind", "connect")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "toolgate_decisions_total",
            &[("route", "tenants-get"), ("verdict", "allow")]
        ),
        Some(1.0)
    );
    let rec = gate.decision("req-502").await;
    assert_eq!(rec["verdict"], "ALLOW");
    assert_eq!(rec["final_runtime_action"], "upstream_error");
    assert_eq!(rec["upstream_status"], Value::Null);
    gate.stop().await;
}

#[tokio::test]
async fn a_client_that_goes_away_still_leaves_a_record() {
    use tokio::io::AsyncWriteExt;
    let up = Upstream::start().await;
    up.set(Behavior::Slow(std::time::Duration::from_secs(30)));
    let gate = Sidecar::start(&up.url(), |_, _| {}).await;
    let mut s = tokio::net::TcpStream::connect(gate.proxy).await.unwrap();
    let head = format!(
        "GET /db/v1/tenants/t-42 HTTP/1.1\r\nhost: {}\r\nx-request-id: req-gone\r\n\
         x-actor-role: viewer\r\nx-environment: production\r\n\r\n",
        gate.proxy
    );
    s.write_all(head.as_bytes()).await.unwrap();
    eventually("the request upstream", || async { !up.seen().is_empty() }).await;
    drop(s);
    // The tool may have acted; nobody heard its answer; the tool was not at fault.
    let rec = gate.decision("req-gone").await;
    assert_eq!(rec["verdict"], "ALLOW");
    assert_eq!(rec["final_runtime_action"], "client_cancelled");
    assert_eq!(rec["upstream_status"], Value::Null);
    let m = gate.metrics().await;
    assert_eq!(m.get("toolgate_requests_in_flight", &[]), Some(0.0));
    assert_eq!(
        m.sum("toolgate_upstream_errors_total", &[]),
        0.0,
        "a client leaving is no upstream error"
    );
}

/// A client that leaves while the tool's response streams is recorded as a cancel, with the
/// tool's status: the tool answered, the client did not hear it all.
#[tokio::test]
async fn a_client_that_leaves_mid_response_is_recorded_with_the_tools_status() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The tool sends its head and a first chunk, then holds the rest.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n",
                    )
                    .await;
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            });
        }
    });
    let mut gate = Sidecar::start(&url, |_, _| {}).await;
    let mut s = tokio::net::TcpStream::connect(gate.proxy).await.unwrap();
    let head = format!(
        "GET /db/v1/tenants/t-42 HTTP/1.1\r\nhost: {}\r\nx-request-id: req-left\r\n\
         x-actor-role: viewer\r\nx-environment: production\r\n\r\n",
        gate.proxy
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("first") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("the first chunk arrives")
            .unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&chunk[..n]);
    }
    drop(s);
    let rec = gate.decision("req-left").await;
    assert_eq!(rec["final_runtime_action"], "client_cancelled");
    assert_eq!(rec["upstream_status"], 200);
    let m = gate.metrics().await;
    assert_eq!(m.sum("toolgate_upstream_errors_total", &[]), 0.0);
    gate.stop().await;
}
