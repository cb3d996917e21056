//! The in-process state store (the default, one replica): counted limits and what a
//! connect failure gives back, through the whole sidecar over real sockets. The same rows
//! run against a real Redis in tests/state_redis.rs.

mod support;

use support::state_cases;

#[tokio::test]
async fn counted_limits_hold_for_one_replica() {
    state_cases::one_replica_behaviours(None).await;
}

#[tokio::test]
async fn a_connect_failure_gives_its_counts_back() {
    let dead = support::dead_upstream().await;
    state_cases::connect_failures_give_counts_back(None, &dead).await;
}

/// A Redis that is not there when the sidecar starts does not stop it: requests that need
/// no state flow, those that do are refused with 503 and never forwarded.
#[tokio::test]
async fn a_sidecar_starts_without_its_redis_and_fails_closed_only_where_state_is_needed() {
    let dead = support::dead_upstream()
        .await
        .replace("http://", "redis://")
        + "/0";
    let up = support::Upstream::start().await;
    let gate = state_cases::sidecar(&up.url(), Some(&dead)).await;
    // A staging deploy by a release manager: no signed approval, no counted limit.
    let deploy = support::call(
        gate.proxy,
        "POST",
        "/deploy/v1/deployments",
        &[
            ("x-actor", "agent-7"),
            ("x-actor-role", "release_manager"),
            ("x-environment", "staging"),
            ("content-type", "application/json"),
        ],
        r#"{"service": "payments", "release": "2026.03.16", "environment": "staging"}"#,
    )
    .await;
    assert_eq!(deploy.status, 200, "{:?}", deploy.body);
    assert_eq!(up.seen().len(), 1);
    let r = support::call(
        gate.proxy,
        "GET",
        "/payments/v1/payouts/p1",
        &[("x-actor", "alice")],
        "",
    )
    .await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert_eq!(r.json()["error"], "STATE_UNAVAILABLE");
    assert_eq!(r.json()["issues"], serde_json::json!(["STATE_UNAVAILABLE"]));
    assert_eq!(up.seen().len(), 1, "the stateful request was not forwarded");
    let health = gate.get("/healthz").await;
    assert_eq!(
        (health.status, &health.body[..]),
        (200, &b"ok\nstate: redis down\n"[..])
    );
    assert_eq!(gate.get("/readyz").await.status, 200);
}
