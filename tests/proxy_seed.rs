//! The example bundle `policies/tools` through the proxy: for each request, the status and
//! body the client got AND exactly what the upstream received (or that it received
//! nothing). The clock is fixed at Monday 2026-03-16 10:00 UTC (inside business hours).

mod support;
use serde_json::{json, Value};
use support::*;

struct Case {
    name: &'static str,
    method: &'static str,
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    status: u16,
    verdict: &'static str,
    /// Exact issues, in canonical order.
    issues: Value,
    /// What the upstream must have received: the target, or nothing.
    forwarded: Option<&'static str>,
}

const VIEWER_PROD: &[(&str, &str)] = &[
    ("x-actor", "agent-5"),
    ("x-actor-role", "viewer"),
    ("x-environment", "production"),
];
const FINANCE: &[(&str, &str)] = &[
    ("x-actor", "agent-7"),
    ("x-actor-role", "finance_operator"),
    ("x-environment", "production"),
];
const RELEASE_STAGING: &[(&str, &str)] = &[
    ("x-actor", "agent-3"),
    ("x-actor-role", "release_manager"),
    ("x-environment", "staging"),
];
const RELEASE_PROD: &[(&str, &str)] = &[
    ("x-actor", "agent-3"),
    ("x-actor-role", "release_manager"),
    ("x-environment", "production"),
];
const STAGING_DEPLOY: &str =
    r#"{"service": "payments", "release": "2026.03.16", "environment": "staging"}"#;

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "blocked production delete",
            method: "DELETE",
            target: "/db/v1/tenants/t-42",
            headers: VIEWER_PROD,
            body: "",
            status: 403,
            verdict: "DENY",
            issues: json!([
                "ROLE_NOT_AUTHORIZED",
                "APPROVAL_REQUIRED",
                "APPROVER_MISSING",
                "APPROVAL_TIMESTAMP_MISSING",
                "DESTRUCTIVE_ACTION_REQUIRES_APPROVAL"
            ]),
            forwarded: None,
        },
        Case {
            name: "deferred payout",
            method: "POST",
            target: "/payments/v1/payouts",
            headers: FINANCE,
            body: r#"{"amount": 500, "currency": "EUR", "destination": "acct-1"}"#,
            status: 409,
            verdict: "DEFER",
            issues: json!([
                "APPROVAL_REQUIRED",
                "APPROVER_MISSING",
                "APPROVAL_TIMESTAMP_MISSING"
            ]),
            forwarded: None,
        },
        Case {
            name: "deferred production deploy",
            method: "POST",
            target: "/deploy/v1/deployments",
            headers: RELEASE_PROD,
            body: r#"{"service": "payments", "release": "2026.03.16", "environment": "production"}"#,
            status: 409,
            verdict: "DEFER",
            issues: json!([
                "APPROVAL_REQUIRED",
                "APPROVER_MISSING",
                "APPROVAL_TIMESTAMP_MISSING",
                "ROLLBACK_PLAN_MISSING",
                "MFA_REQUIRED"
            ]),
            forwarded: None,
        },
        Case {
            name: "allowed staging deploy",
            method: "POST",
            target: "/deploy/v1/deployments",
            headers: RELEASE_STAGING,
            body: STAGING_DEPLOY,
            status: 200,
            verdict: "ALLOW",
            issues: Value::Null,
            forwarded: Some("/deploy/v1/deployments"),
        },
        Case {
            name: "allowed payout read",
            method: "GET",
            target: "/payments/v1/payouts/po-1001?expand=destination",
            headers: &[("x-actor", "agent-7"), ("x-actor-role", "viewer")],
            body: "",
            status: 200,
            verdict: "ALLOW",
            issues: Value::Null,
            forwarded: Some("/payments/v1/payouts/po-1001?expand=destination"),
        },
        Case {
            name: "allowed tenant read, normalized",
            method: "GET",
            target: "/db/v1/./tenants//t-42",
            headers: VIEWER_PROD,
            body: "",
            status: 200,
            verdict: "ALLOW",
            issues: Value::Null,
            forwarded: Some("/db/v1/tenants/t-42"),
        },
        Case {
            name: "payout over the limit",
            method: "POST",
            target: "/payments/v1/payouts",
            headers: &[
                ("x-actor", "agent-7"),
                ("x-actor-role", "finance_admin"),
                ("x-environment", "production"),
                ("x-approval-status", "approved"),
                ("x-approved-by", "[email protected]"),
                ("x-approved-at", "2026-03-16T09:30:00Z"),
            ],
            body: r#"{"amount": 25000, "currency": "EUR", "destination": "acct-1"}"#,
            status: 403,
            verdict: "DENY",
            issues: json!(["AMOUNT_LIMIT_EXCEEDED"]),
            forwarded: None,
        },
        Case {
            name: "header and body environments disagree",
            method: "POST",
            target: "/deploy/v1/deployments",
            headers: RELEASE_STAGING,
            body: r#"{"service": "payments", "release": "2026.03.16", "environment": "production"}"#,
            status: 403,
            verdict: "DENY",
            issues: Value::Null,
            forwarded: None,
        },
        Case {
            name: "unmapped route",
            method: "GET",
            target: "/payments/v1/balances?currency=EUR",
            headers: &[("x-actor", "agent-7")],
            body: "",
            status: 403,
            verdict: "DENY",
            issues: json!(["ROUTE_NOT_MAPPED"]),
            forwarded: None,
        },
        Case {
            name: "malformed JSON on a body-reading route",
            method: "POST",
            target: "/payments/v1/payouts",
            headers: FINANCE,
            body: r#"{"amount": 500,"#,
            status: 400,
            verdict: "DENY",
            issues: json!(["INVALID_REQUEST"]),
            forwarded: None,
        },
    ]
}

#[tokio::test]
async fn seed_scenarios_through_the_proxy() {
    let up = Upstream::start().await;
    let snapshot = tools_bundle();
    let version = snapshot.meta.policy_version.to_string();
    let gate = Gate::start(snapshot, &up.url(), |_| {}).await;
    for case in cases() {
        let before = up.seen().len();
        let r = call(gate.addr, case.method, case.target, case.headers, case.body).await;
        let what = format!("{}: {:?}", case.name, r.body);
        assert_eq!(r.status, case.status, "{what}");
        assert_eq!(r.header("x-toolgate-verdict"), Some(case.verdict), "{what}");
        assert_eq!(
            r.header("x-toolgate-policy-version"),
            Some(version.as_str()),
            "{what}"
        );
        if case.status != 200 {
            let body = r.json();
            assert_eq!(body["verdict"], case.verdict, "{what}");
            assert_eq!(
                body["request_id"],
                r.header("x-request-id").unwrap(),
                "{what}"
            );
            if !case.issues.is_null() {
                assert_eq!(body["issues"], case.issues, "{what}");
            }
        }
        let seen = up.seen();
        match case.forwarded {
            None => assert_eq!(seen.len(), before, "{}: must not be forwarded", case.name),
            Some(target) => {
                assert_eq!(seen.len(), before + 1, "{what}");
                let s = &seen[before];
                assert_eq!(
                    (s.method.as_str(), s.target.as_str()),
                    (case.method, target),
                    "{what}"
                );
                assert_eq!(s.body, case.body.as_bytes(), "{what}: the very same bytes");
                for (k, v) in case.headers {
                    assert_eq!(s.header(k), Some(*v), "{what}: {k}");
                }
                assert_eq!(s.header("x-toolgate-verdict"), Some("ALLOW"));
            }
        }
    }
}

#[tokio::test]
async fn deferred_payout_carries_its_questions() {
    let up = Upstream::start().await;
    let gate = Gate::start(tools_bundle(), &up.url(), |_| {}).await;
    let body = r#"{"amount": 500, "currency": "EUR", "destination": "acct-1"}"#;
    let r = call(gate.addr, "POST", "/payments/v1/payouts", FINANCE, body).await;
    assert_eq!(r.status, 409);
    let d = r.json();
    assert_eq!(d["decision"], "DEFER");
    assert_eq!(d["route"], "payouts-create");
    assert_eq!(d["evaluated_at"], NOW);
    assert_eq!(
        d["defer_questions"],
        json!([
            "Who approved this payout?",
            "Who is the approver of record?",
            "Is approval still valid?"
        ])
    );
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn spellings_of_the_blocked_delete_never_reach_the_upstream() {
    let up = Upstream::start().await;
    let gate = Gate::start(tools_bundle(), &up.url(), |_| {}).await;
    let lines = [
        ("DELETE /db/v1/tenants/t-42", 403),
        ("DELETE /db/v1/tenants/%74-42", 403),
        ("DELETE //db/v1/tenants/t-42", 403),
        ("DELETE /db/v1/x/../tenants/t-42", 403),
        ("DELETE /db/v1/tenants/./t-42", 403),
        ("DELETE /db/v1/tenants%2ft-42", 400),
        ("DELETE /db/v1/tenants/t-42/", 403),
        ("DELETE /DB/v1/tenants/t-42", 403),
        ("DELETE /db/v1/tenants/t-42?_method=GET", 400),
        ("DELETE http://evil.example/db/v1/tenants/t-42", 400),
        ("delete /db/v1/tenants/t-42", 403),
    ];
    let head = "Host: t\r\nx-actor: agent-5\r\nx-actor-role: viewer\r\nx-environment: production\r\nConnection: close\r\n\r\n";
    for (line, want) in lines {
        let text = format!("{line} HTTP/1.1\r\n{head}");
        let got = raw_status(&raw(gate.addr, text.as_bytes()).await);
        assert_eq!(got, want, "{line}");
    }
    for (method, header) in [
        ("POST", "X-HTTP-Method-Override"),
        ("GET", "X-HTTP-Method"),
        ("GET", "X-Method-Override"),
    ] {
        let text = format!("{method} /db/v1/tenants/t-42 HTTP/1.1\r\n{header}: DELETE\r\n{head}");
        assert_eq!(
            raw_status(&raw(gate.addr, text.as_bytes()).await),
            400,
            "{header}"
        );
    }
    assert!(up.seen().is_empty(), "{:?}", up.seen());
}
