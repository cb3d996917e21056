//! Headers on both legs: the three tags on every response and every forwarded request,
//! request ids, forwarding claims replaced, hop-by-hop removed, `Connection` unable to
//! remove what must survive, no upgrades, `Host` kept.

mod support;
use support::*;

const ENV: (&str, &str) = ("x-environment", "staging");

#[tokio::test]
async fn every_response_carries_the_tags() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.max_body_bytes = 64;
        c.limits.max_header_bytes = 1024;
    })
    .await;
    let dead = Gate::start(fixture::snapshot(), &dead_upstream().await, |_| {}).await;
    let pad = "p".repeat(2000);
    let big = format!("{{\"x\":\"{}\"}}", "y".repeat(100));
    type Case<'a> = (
        &'a Gate,
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        &'a str,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (&gate, "GET", "/items/1", vec![ENV], "", 200, "ALLOW"),
        (&gate, "DELETE", "/items/1", vec![ENV], "", 403, "DENY"),
        (&gate, "GET", "/nowhere", vec![], "", 403, "DENY"),
        (&gate, "POST", "/approve", vec![ENV], "", 409, "DEFER"),
        (&gate, "GET", "/items/%2f", vec![], "", 400, "DENY"),
        (&gate, "POST", "/orders", vec![ENV], "{", 400, "DENY"),
        (&gate, "POST", "/orders", vec![ENV], &big, 413, "DENY"),
        (
            &gate,
            "GET",
            "/items/1",
            vec![("x-pad", &pad)],
            "",
            431,
            "DENY",
        ),
        (&gate, "POST", "/shadow", vec![ENV], "", 200, "DENY"),
        (&dead, "GET", "/items/1", vec![ENV], "", 502, "ALLOW"),
    ];
    for (g, method, path, headers, body, status, verdict) in cases {
        let r = call(g.addr, method, path, &headers, body).await;
        let what = format!("{method} {path}: {:?}", r.body);
        assert_eq!(r.status, status, "{what}");
        assert_eq!(r.header("x-toolgate-verdict"), Some(verdict), "{what}");
        assert_eq!(
            r.header("x-toolgate-policy-version"),
            Some(fixture::POLICY_VERSION),
            "{what}"
        );
        let id = r.header("x-request-id").expect("x-request-id");
        if status != 200 {
            assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
            assert_eq!(r.json()["request_id"], id, "{what}");
        }
    }
}

#[tokio::test]
async fn refusal_bodies_have_the_decision_shape() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let r = call(gate.addr, "GET", "/nowhere", &[], "").await;
    let body = r.json();
    assert_eq!(body["verdict"], "DENY");
    assert_eq!(body["decision"], "NO_GO");
    assert_eq!(body["issues"], serde_json::json!(["ROUTE_NOT_MAPPED"]));
    assert_eq!(body["route"], "unmatched");
    assert_eq!(body["evaluated_at"], NOW);

    let r = call(
        gate.addr,
        "GET",
        "/items/1",
        &[("x-environment", "a"), ("x-environment", "b")],
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    let body = r.json();
    assert_eq!(body["issues"], serde_json::json!(["INVALID_REQUEST"]));
    assert_eq!(body["route"], "read_item");
    assert!(
        body["details"][0]
            .as_str()
            .unwrap()
            .contains("x-environment"),
        "{body}"
    );

    let r = call(gate.addr, "POST", "/approve", &[ENV], "").await;
    let body = r.json();
    assert_eq!(body["verdict"], "DEFER");
    assert!(body["issues"]
        .as_array()
        .unwrap()
        .contains(&"APPROVAL_REQUIRED".into()));
    assert!(!body["defer_questions"].as_array().unwrap().is_empty());
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn request_ids_are_kept_when_clean_and_forwarded() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let r = call(
        gate.addr,
        "GET",
        "/items/1",
        &[ENV, ("x-request-id", "abc.DEF_1:2-3")],
        "",
    )
    .await;
    assert_eq!(r.header("x-request-id"), Some("abc.DEF_1:2-3"));
    let r2 = call(
        gate.addr,
        "GET",
        "/items/1",
        &[ENV, ("x-request-id", "bad id!")],
        "",
    )
    .await;
    let minted = r2.header("x-request-id").unwrap();
    assert_ne!(minted, "bad id!");
    let seen = up.seen();
    assert_eq!(seen[0].header("x-request-id"), Some("abc.DEF_1:2-3"));
    assert_eq!(seen[1].header("x-request-id"), Some(minted));
    assert_eq!(seen[1].header("x-toolgate-verdict"), Some("ALLOW"));
    assert_eq!(
        seen[1].header("x-toolgate-policy-version"),
        Some(fixture::POLICY_VERSION)
    );
}

#[tokio::test]
async fn forwarding_claims_and_hop_by_hop_fields_are_replaced() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let spoofed = [
        ENV,
        ("host", "tools.internal:8000"),
        ("x-toolgate-verdict", "ALLOW"),
        ("x-toolgate-policy-version", "forged@9"),
        ("x-toolgate-bypass", "1"),
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil"),
        ("forwarded", "for=6.6.6.6;proto=https"),
        ("x-real-ip", "6.6.6.6"),
        ("connection", "keep-alive, x-debug"),
        ("x-debug", "1"),
        ("keep-alive", "timeout=5"),
        ("te", "trailers"),
        ("proxy-authorization", "Basic eA=="),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
    ];
    let r = call(gate.addr, "GET", "/items/1", &spoofed, "").await;
    assert_eq!(r.status, 200);
    let s = &up.seen()[0];
    assert_eq!(
        s.header("host"),
        Some("tools.internal:8000"),
        "Host is kept"
    );
    assert_eq!(s.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(s.header("x-forwarded-proto"), Some("http"));
    assert_eq!(s.header("forwarded"), Some("for=127.0.0.1;proto=http"));
    assert_eq!(s.header("x-toolgate-verdict"), Some("ALLOW"));
    assert_eq!(
        s.header("x-toolgate-policy-version"),
        Some(fixture::POLICY_VERSION)
    );
    assert_eq!(s.header("traceparent"), Some(spoofed[15].1));
    assert_eq!(s.header("x-environment"), Some("staging"));
    for gone in [
        "x-toolgate-bypass",
        "x-forwarded-host",
        "x-real-ip",
        "x-debug",
        "keep-alive",
        "te",
        "proxy-authorization",
    ] {
        assert_eq!(s.header(gone), None, "{gone}");
    }
}

#[tokio::test]
async fn connection_cannot_drop_a_header_the_policy_read_or_toolgate_sets() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    for token in ["x-environment", "X-Forwarded-For", "x-request-id", "host"] {
        let r = call(
            gate.addr,
            "GET",
            "/items/1",
            &[ENV, ("connection", token)],
            "",
        )
        .await;
        assert_eq!(r.status, 400, "{token}");
        assert!(
            r.json()["details"][0]
                .as_str()
                .unwrap()
                .contains("Connection"),
            "{token}"
        );
    }
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn upgrades_are_not_forwarded_as_upgrades() {
    let up = Upstream::start().await;
    // A short idle timeout closes the kept-alive connection once the response is read.
    let gate = Gate::start(fixture::snapshot(), &up.url(), |c| {
        c.limits.header_read_timeout =
            toolgate::config::HumanDuration(std::time::Duration::from_millis(300));
    })
    .await;
    for (connection, upgrade, extra) in [
        (
            "Upgrade, HTTP2-Settings",
            "websocket",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        ),
        (
            "Upgrade, HTTP2-Settings",
            "h2c",
            "HTTP2-Settings: AAMAAABkAAQAAP__\r\n",
        ),
        // HTTP2-Settings is connection-specific even when Connection does not list it.
        ("Upgrade", "h2c", "HTTP2-Settings: AAMAAABkAAQAAP__\r\n"),
    ] {
        let text = format!(
            "GET /items/1 HTTP/1.1\r\nHost: t\r\nx-environment: staging\r\nConnection: {connection}\r\nUpgrade: {upgrade}\r\n{extra}\r\n"
        );
        let resp = raw(gate.addr, text.as_bytes()).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    for s in up.seen() {
        for gone in ["upgrade", "connection", "http2-settings"] {
            assert_eq!(s.header(gone), None, "{gone}");
        }
    }
    assert_eq!(up.seen().len(), 3);
}
