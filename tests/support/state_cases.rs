//! The state store's behaviour for one replica, as a table each store must pass: the
//! in-process default (tests/state_memory.rs) and Redis (tests/state_redis.rs). The example
//! bundle gets three counted limits: `rate_limit:3/1m per actor` on `payouts-get`,
//! `max_calls_per_run:2` on `tenants-get`, `daily_amount_limit:25000 per actor` on
//! `payouts-create`. Each row is a request, what the client got, and how many requests the
//! upstream had received after it.

use super::processes::issues;
use super::sidecar::{edit, eventually, payout, Sidecar};
use super::{call, Upstream};
use serde_json::Value;
use std::path::Path;

/// Adds the three counted limits to the example bundle copied into `root/live`.
pub fn add_counted_limits(root: &Path) {
    let live = root.join("live");
    edit(
        &live,
        "routes.yaml",
        "      path: /payments/v1/payouts/{id}\n",
        "      path: /payments/v1/payouts/{id}\n      constraints: [\"rate_limit:3/1m per actor\"]\n",
    );
    edit(
        &live,
        "routes.yaml",
        "      path: /db/v1/tenants/{id}\n",
        "      path: /db/v1/tenants/{id}\n      constraints: [\"max_calls_per_run:2\"]\n",
    );
    edit(
        &live,
        "routes.yaml",
        "constraints: [\"human approval required\", \"max_amount:10000\"]",
        "constraints: [\"human approval required\", \"max_amount:10000\", \"daily_amount_limit:25000 per actor\"]",
    );
    // The bundle's own test of a tenant read now names its run.
    edit(
        &live,
        "tests.yaml",
        "headers: { x-actor: agent-5, x-actor-role: viewer, x-environment: production }",
        "headers: { x-actor: agent-5, x-actor-role: viewer, x-environment: production, x-run-id: run-t }",
    );
}

/// A sidecar in front of `upstream` with the counted limits, on `state_url` (None: the
/// default in-process store).
pub async fn sidecar(upstream: &str, state_url: Option<&str>) -> Sidecar {
    let url = state_url.map(str::to_owned);
    Sidecar::start(upstream, move |root, cfg| {
        add_counted_limits(root);
        if let Some(url) = url {
            cfg.state.url = url;
        }
    })
    .await
}

/// agent `actor`'s approved payout headers at the clock's `now` (approved ten minutes ago).
pub fn payout_headers(
    actor: &'static str,
    approved_at: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-actor", actor),
        ("x-actor-role", "finance_operator"),
        ("x-environment", "production"),
        ("x-approval-status", "approved"),
        ("x-approved-by", "[email protected]"),
        ("x-approved-at", approved_at),
    ]
}

/// Runs every row against a sidecar on `state_url`.
pub async fn one_replica_behaviours(state_url: Option<&str>) {
    let up = Upstream::start().await;
    let gate = sidecar(&up.url(), state_url).await;
    let p = gate.proxy;
    let get = |path: &'static str, headers: Vec<(&'static str, &'static str)>| async move {
        call(p, "GET", path, &headers, "").await
    };

    // rate_limit:3/1m per actor: three forwarded, the fourth 429 with Retry-After.
    for i in 0..3 {
        let r = get("/payments/v1/payouts/p1", vec![("x-actor", "alice")]).await;
        assert_eq!(r.status, 200, "request {i}: {:?}", r.body);
    }
    assert_eq!(up.seen().len(), 3);
    let r = get(
        "/payments/v1/payouts/p1",
        vec![("x-actor", "alice"), ("x-request-id", "rl-4")],
    )
    .await;
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert_eq!(issues(&r), ["RATE_LIMITED"]);
    assert_eq!(r.json()["verdict"], "DENY");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        up.seen().len(),
        3,
        "a rate-limited request reached the upstream"
    );
    // Another actor counts apart; a request without one cannot be counted.
    let r = get("/payments/v1/payouts/p1", vec![("x-actor", "bob")]).await;
    assert_eq!(r.status, 200);
    let r = get("/payments/v1/payouts/p1", vec![]).await;
    assert_eq!(
        (r.status, issues(&r)),
        (409, vec!["ACTOR_MISSING".to_owned()])
    );
    assert_eq!(up.seen().len(), 4);
    // A minute later the window has moved on.
    gate.clock.set("2026-03-16T10:01:01Z");
    let r = get("/payments/v1/payouts/p1", vec![("x-actor", "alice")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(up.seen().len(), 5);

    // max_calls_per_run:2: counted per run; no run id defers.
    for run in ["run-a", "run-a"] {
        let r = get("/db/v1/tenants/t1", vec![("x-run-id", run)]).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let r = get("/db/v1/tenants/t1", vec![("x-run-id", "run-a")]).await;
    assert_eq!(
        (r.status, issues(&r)),
        (403, vec!["RUN_CALL_LIMIT_EXCEEDED".to_owned()])
    );
    let r = get("/db/v1/tenants/t1", vec![("x-run-id", "run-b")]).await;
    assert_eq!(r.status, 200);
    let r = get("/db/v1/tenants/t1", vec![]).await;
    assert_eq!(
        (r.status, issues(&r)),
        (409, vec!["RUN_ID_MISSING".to_owned()])
    );
    assert_eq!(up.seen().len(), 8);

    // daily_amount_limit:25000 per actor, with max_amount:10000 per payout.
    let approved = payout_headers("agent-7", "2026-03-16T09:55:00Z");
    let pay = |amount: u32, headers: Vec<(&'static str, &'static str)>| async move {
        call(p, "POST", "/payments/v1/payouts", &headers, &payout(amount)).await
    };
    let table: &[(u32, u16, &[&str])] = &[
        (9000, 200, &[]),
        // Over max_amount: denied before anything is counted.
        (12000, 403, &["AMOUNT_LIMIT_EXCEEDED"]),
        (9000, 200, &[]),
        (8000, 403, &["AMOUNT_BUDGET_EXCEEDED"]),
        (7000, 200, &[]),
        (1, 403, &["AMOUNT_BUDGET_EXCEEDED"]),
    ];
    let before = up.seen().len();
    let mut forwarded = 0;
    for (amount, status, want) in table {
        let r = pay(*amount, approved.clone()).await;
        assert_eq!(
            (r.status, issues(&r)),
            (
                *status,
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            ),
            "payout {amount}: {:?}",
            r.body
        );
        forwarded += usize::from(*status == 200);
        assert_eq!(up.seen().len(), before + forwarded, "payout {amount}");
    }
    let r = pay(2000, approved.clone()).await;
    let details: Vec<Value> = r.json()["details"].as_array().unwrap().clone();
    let said = details
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains("spent 25000") && said.contains("0 left"),
        "{said}"
    );
    // Another actor has a budget of its own; the next UTC day starts from zero.
    let r = pay(9000, payout_headers("agent-8", "2026-03-16T09:55:00Z")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    gate.clock.set("2026-03-17T10:00:00Z");
    let r = pay(9000, payout_headers("agent-7", "2026-03-17T09:55:00Z")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // The audit trail says what the store did (records are written after the response).
    let forwarded = up.seen().len();
    eventually("every forwarded request's record", || async {
        let lines = gate.audit_lines();
        lines.iter().filter(|l| l["state"] == "counted").count() == forwarded
    })
    .await;
    let lines = gate.audit_lines();
    let state_of = |id: &str| {
        lines
            .iter()
            .find(|l| l["request_id"] == id)
            .map(|l| l["state"].clone())
    };
    assert_eq!(state_of("rl-4"), Some(Value::from("refused")));
    let m = gate.metrics().await;
    assert_eq!(
        m.get("toolgate_state_checks_total", &[("result", "unavailable")]),
        Some(0.0)
    );
    assert!(
        m.get("toolgate_state_checks_total", &[("result", "refused")])
            .unwrap()
            >= 4.0
    );
    assert_eq!(m.get("toolgate_state_up", &[]), Some(1.0));
}

/// A request whose upstream refuses the connection never reached the tool: what it counted
/// is given back (three 502s under `rate_limit:3/1m` leave the fourth request its turn).
pub async fn connect_failures_give_counts_back(state_url: Option<&str>, dead_upstream: &str) {
    let gate = sidecar(dead_upstream, state_url).await;
    for i in 0..5 {
        let r = call(
            gate.proxy,
            "GET",
            "/payments/v1/payouts/p1",
            &[("x-actor", "carol")],
            "",
        )
        .await;
        assert_eq!(
            r.status, 502,
            "request {i} (a 429 means a refund was lost): {:?}",
            r.body
        );
    }
}
