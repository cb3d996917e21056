//! Shadow mode on a whole sidecar: a shadow route, or a shadow bundle, is evaluated,
//! counted and audited as usual, and forwarded anyway, with the would-be verdict and status
//! recorded; a request no route maps is still refused.

mod support;
use serde_json::json;
use support::sidecar::*;
use support::*;

#[tokio::test]
async fn a_shadow_route_forwards_and_records_the_would_be_verdict() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, cfg| {
        let live = cfg.policies.clone().unwrap();
        edit(
            &live,
            "routes.yaml",
            "      side_effects: [delete]\n",
            "      side_effects: [delete]\n      mode: shadow\n",
        );
    })
    .await;
    let viewer = [
        ("x-request-id", "req-shadow"),
        ("x-actor", "agent-5"),
        ("x-actor-role", "viewer"),
        ("x-environment", "production"),
    ];
    let r = call(gate.proxy, "DELETE", "/db/v1/tenants/t-42", &viewer, "").await;
    assert_eq!(r.status, 200, "forwarded anyway");
    assert_eq!(
        r.header("x-toolgate-verdict"),
        Some("DENY"),
        "the would-be verdict"
    );
    assert_eq!(up.seen().len(), 1);
    assert_eq!(up.seen()[0].header("x-toolgate-verdict"), Some("DENY"));

    let rec = gate.decision("req-shadow").await;
    assert_eq!(rec["mode"], "shadow");
    assert_eq!(
        (rec["decision"].as_str(), rec["verdict"].as_str()),
        (Some("GO"), Some("ALLOW"))
    );
    assert_eq!(
        (
            rec["shadow_verdict"].as_str(),
            rec["shadow_status"].as_u64()
        ),
        (Some("DENY"), Some(403))
    );
    assert!(rec["issues"]
        .as_array()
        .unwrap()
        .contains(&json!("ROLE_NOT_AUTHORIZED")));
    assert_eq!(
        (
            rec["final_runtime_action"].as_str(),
            rec["upstream_status"].as_u64()
        ),
        (Some("forwarded"), Some(200))
    );

    let m = gate.metrics().await;
    assert_eq!(
        m.get(
            "toolgate_shadow_decisions_total",
            &[("route", "tenants-delete"), ("verdict", "deny")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "toolgate_decisions_total",
            &[("route", "tenants-delete"), ("verdict", "deny")]
        ),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "toolgate_decision_issues_total",
            &[
                ("route", "tenants-delete"),
                ("issue", "ROLE_NOT_AUTHORIZED")
            ]
        ),
        Some(1.0)
    );

    // Other routes still enforce.
    let finance = [
        ("x-actor", "agent-7"),
        ("x-actor-role", "finance_operator"),
        ("x-environment", "production"),
    ];
    let r = call(
        gate.proxy,
        "POST",
        "/payments/v1/payouts",
        &finance,
        &payout(500),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn a_shadow_bundle_forwards_every_route_but_never_the_unmatched() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, cfg| {
        let live = cfg.policies.clone().unwrap();
        edit(&live, "bundle.yaml", "spec:\n", "spec:\n  mode: shadow\n");
        // A route's own mode wins over the bundle's.
        edit(
            &live,
            "routes.yaml",
            "      side_effects: [delete]\n",
            "      side_effects: [delete]\n      mode: enforce\n",
        );
    })
    .await;
    let finance = [
        ("x-request-id", "req-payout"),
        ("x-actor", "agent-7"),
        ("x-actor-role", "finance_operator"),
        ("x-environment", "production"),
    ];
    let r = call(
        gate.proxy,
        "POST",
        "/payments/v1/payouts",
        &finance,
        &payout(500),
    )
    .await;
    assert_eq!(
        (r.status, r.header("x-toolgate-verdict")),
        (200, Some("DEFER"))
    );
    let rec = gate.decision("req-payout").await;
    assert_eq!(
        (
            rec["mode"].as_str(),
            rec["shadow_verdict"].as_str(),
            rec["shadow_status"].as_u64()
        ),
        (Some("shadow"), Some("DEFER"), Some(409))
    );
    assert_eq!(
        up.seen()[0].body,
        payout(500).as_bytes(),
        "the body read for the context is forwarded"
    );

    let viewer = [("x-actor-role", "viewer"), ("x-environment", "production")];
    let r = call(gate.proxy, "DELETE", "/db/v1/tenants/t-42", &viewer, "").await;
    assert_eq!(r.status, 403, "the enforce route");
    let r = call(gate.proxy, "GET", "/payments/v1/balances", &[], "").await;
    assert_eq!(r.status, 403, "no route: refused even in a shadow bundle");
    assert_eq!(up.seen().len(), 1);
    let m = gate.metrics().await;
    assert_eq!(
        m.get(
            "toolgate_shadow_decisions_total",
            &[("route", "payouts-create"), ("verdict", "defer")]
        ),
        Some(1.0)
    );
}
