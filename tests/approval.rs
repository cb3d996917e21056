//! Signed approvals through the proxy: the whole defer -> approve (the real CLI) -> allow
//! loop, replay, the binding (body, path, query, method, environment, actor), expiry on a
//! clock the test moves, every failure code, and what reaches the upstream.

mod identity_support;
mod support;

use identity_support::*;
use jiff::SignedDuration;
use serde_json::{json, Value};
use support::Gate;
use support::{call, Reply, Upstream};
use toolgate::approval::Binding;

const PAYOUT: &str = r#"{"amount": 100, "currency": "EUR", "destination": "acct-1"}"#;

/// A gate with jwt identity (ES256) and signed approvals (EdDSA).
struct Setup {
    _tmp: tempfile::TempDir,
    idp: TestKey,
    approvals: TestKey,
    up: Upstream,
    gate: Gate,
}

impl Setup {
    async fn start() -> Setup {
        Setup::with(TestKey::ed25519()).await
    }

    async fn with(approvals: TestKey) -> Setup {
        let (tmp, dir) = tempdir();
        let idp = TestKey::es256();
        let files = [
            (idp.public_file.0, idp.public_file.1.as_slice()),
            (approvals.public_file.0, approvals.public_file.1.as_slice()),
        ];
        write_bundle(
            &dir,
            &jwt_identity(&idp),
            &signed_approvals(&approvals),
            &files,
        );
        let up = Upstream::start().await;
        let gate = Gate::start(load(&dir), &up.url(), |_| {}).await;
        Setup {
            _tmp: tmp,
            idp,
            approvals,
            up,
            gate,
        }
    }

    fn bearer(&self, sub: &str, role: &str) -> String {
        format!(
            "Bearer {}",
            self.idp.token(None, sub, json!(role), t0(), 24 * 3600)
        )
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        call(self.gate.addr, method, path, headers, body).await
    }

    /// A payout by agent-7 in production, with extra headers.
    async fn payout(&self, path: &str, body: &str, extra: &[(&str, &str)]) -> Reply {
        let auth = self.bearer("agent-7", "finance_operator");
        let mut h = vec![
            ("authorization", auth.as_str()),
            ("x-environment", "production"),
        ];
        h.extend_from_slice(extra);
        self.send("POST", path, &h, body).await
    }

    /// The binding the gate asks for on a deferred payout.
    async fn payout_binding(&self, body: &str) -> Binding {
        let r = self.payout("/payouts", body, &[]).await;
        assert_eq!(r.status, 409, "{:?}", r.body);
        approval_request(&r.json()).binding
    }
}

fn issues(r: &Reply) -> Value {
    r.json()["issues"].clone()
}

#[tokio::test]
async fn defer_then_approve_with_the_cli_then_allow_once_then_replay_is_denied() {
    let s = Setup::start().await;
    // 1. The request is held, and the 409 says exactly what to approve.
    let r = s
        .payout("/payouts", PAYOUT, &[("x-run-id", "run-42")])
        .await;
    assert_eq!(r.status, 409);
    let deferred = r.json();
    assert_eq!(deferred["verdict"], "DEFER");
    assert_eq!(
        deferred["issues"],
        json!([
            "APPROVAL_REQUIRED",
            "APPROVER_MISSING",
            "APPROVAL_TIMESTAMP_MISSING"
        ])
    );
    let req = &deferred["approval_request"];
    assert_eq!(
        req["binding"],
        json!({
            "route": "payouts-create",
            "method": "POST",
            "path": "/payouts",
            "body_sha256": toolgate::approval::request::body_sha256(PAYOUT.as_bytes()),
            "environment": "production",
            "run_id": "run-42",
            "actor": "agent-7",
        })
    );
    assert_eq!(req["goal"], "Create a payout");
    assert_eq!(req["policy_version"], "trust-test@1");
    assert_eq!(req["request_id"], deferred["request_id"]);
    assert_eq!(req["max_ttl_seconds"], 7200);

    // 2. A reviewer mints the approval from the whole 409 body.
    let (_keep, dir) = tempdir();
    let key = dir.join("approvals.key.pem");
    std::fs::write(&key, &s.approvals.private_pem).unwrap();
    let request = dir.join("deferred.json");
    std::fs::write(&request, r.body.as_ref()).unwrap();
    let (code, token, err) = toolgate(
        &[
            "approve",
            "--key",
            key.to_str().unwrap(),
            "--request",
            request.to_str().unwrap(),
            "--approver",
            "alice",
            "--ttl",
            "15m",
            "--now",
            T0,
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let token = token.trim();

    // 3. The same request with the approval goes through, once.
    let with = [("x-run-id", "run-42"), ("x-approval", token)];
    let r = s.payout("/payouts", PAYOUT, &with).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let seen = s.up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].body,
        PAYOUT.as_bytes(),
        "the approved bytes are the forwarded bytes"
    );
    assert!(
        seen[0].header("x-approval").is_none(),
        "the approval is not forwarded"
    );

    // 4. Replaying it is denied, and nothing more reaches the upstream.
    let r = s.payout("/payouts", PAYOUT, &with).await;
    assert_eq!(r.status, 403);
    assert_eq!(issues(&r), json!(["APPROVAL_REPLAYED"]));
    assert!(r.json()["details"].to_string().contains("already used"));
    assert_eq!(s.up.seen().len(), 1);
}

#[tokio::test]
async fn an_approval_binds_body_path_method_environment_and_actor() {
    let s = Setup::start().await;
    let binding = s.payout_binding(PAYOUT).await;
    let token = s.approvals.approval(&binding, "alice", t0(), 600);
    let a = [("x-approval", token.as_str())];
    let bigger = r#"{"amount": 100000, "currency": "EUR", "destination": "acct-1"}"#;
    // Changed body (one digit), added query, other environment: each refused.
    let r = s.payout("/payouts", bigger, &a).await;
    assert_eq!(
        (r.status, issues(&r)),
        (403, json!(["APPROVAL_SCOPE_MISMATCH"]))
    );
    assert!(r.json()["details"].to_string().contains("body_sha256"));
    let r = s.payout("/payouts?dry_run=false", PAYOUT, &a).await;
    assert_eq!(
        (r.status, issues(&r)),
        (403, json!(["APPROVAL_SCOPE_MISMATCH"]))
    );
    let auth = s.bearer("agent-7", "finance_operator");
    let staging = [
        ("authorization", auth.as_str()),
        ("x-environment", "staging"),
        a[0],
    ];
    let r = s.send("POST", "/payouts", &staging, PAYOUT).await;
    assert_eq!(
        (r.status, issues(&r)),
        (403, json!(["APPROVAL_SCOPE_MISMATCH"]))
    );
    assert!(r.json()["details"].to_string().contains("environment"));
    // Another actor presenting agent-7's approval.
    let other = s.bearer("agent-8", "finance_operator");
    let h = [
        ("authorization", other.as_str()),
        ("x-environment", "production"),
        a[0],
    ];
    let r = s.send("POST", "/payouts", &h, PAYOUT).await;
    assert_eq!(
        (r.status, issues(&r)),
        (403, json!(["APPROVAL_SCOPE_MISMATCH"]))
    );
    // Another method (and so route) on a path the approval does not name.
    let mut get = binding.clone();
    get.path = "/payouts/p-1".into();
    let t = s.approvals.approval(&get, "alice", t0(), 600);
    let h = [("authorization", auth.as_str()), ("x-approval", t.as_str())];
    let r = s.send("GET", "/payouts/p-1", &h, "").await;
    assert_eq!(
        (r.status, issues(&r)),
        (403, json!(["APPROVAL_SCOPE_MISMATCH"]))
    );
    assert!(s.up.seen().is_empty());
    // And the untouched request still passes: the refusals did not use the approval.
    let r = s.payout("/payouts", PAYOUT, &a).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn expiry_follows_the_gate_clock() {
    let s = Setup::start().await;
    let binding = s.payout_binding(PAYOUT).await;
    // Valid 10 minutes; the bundle's clock_skew (60s) is the leeway on exp.
    let token = s.approvals.approval(&binding, "alice", t0(), 600);
    let a = [("x-approval", token.as_str())];
    s.gate.set_clock(SignedDuration::from_secs(600 + 61));
    let r = s.payout("/payouts", PAYOUT, &a).await;
    assert_eq!((r.status, issues(&r)), (409, json!(["APPROVAL_EXPIRED"])));
    assert!(r.json()["details"].to_string().contains("expired at"));
    assert!(
        r.json().get("approval_request").is_some(),
        "re-approval is asked for"
    );
    s.gate.set_clock(SignedDuration::from_secs(600 + 59));
    let r = s.payout("/payouts", PAYOUT, &a).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Within exp but older than the bundle's max_age (30m): the engine expires it.
    let long = s.approvals.approval(&binding, "alice", t0(), 3600);
    s.gate.set_clock(SignedDuration::from_mins(31));
    let r = s.payout("/payouts", PAYOUT, &[("x-approval", &long)]).await;
    assert_eq!((r.status, issues(&r)), (409, json!(["APPROVAL_EXPIRED"])));

    // Issued for longer than max_ttl (2h): not accepted even when fresh.
    s.gate.set_clock(SignedDuration::ZERO);
    let too_long = s.approvals.approval(&binding, "alice", t0(), 3 * 3600);
    let r = s
        .payout("/payouts", PAYOUT, &[("x-approval", &too_long)])
        .await;
    assert_eq!((r.status, issues(&r)), (409, json!(["APPROVAL_EXPIRED"])));
    assert!(r.json()["details"].to_string().contains("max_ttl"));
}

#[tokio::test]
async fn forged_malformed_self_given_and_unsigned_approvals_do_not_count() {
    let s = Setup::start().await;
    let binding = s.payout_binding(PAYOUT).await;
    let forger = TestKey::ed25519();
    let forged = forger.approval(&binding, "alice", t0(), 600);
    for bad in [forged.as_str(), "garbage", "a.b.c"] {
        let r = s.payout("/payouts", PAYOUT, &[("x-approval", bad)]).await;
        assert_eq!(r.status, 403, "{bad}");
        assert!(issues(&r)
            .as_array()
            .unwrap()
            .contains(&json!("APPROVAL_SIGNATURE_INVALID")));
    }
    // Two approvals on one request: refused, not picked from.
    let good = s.approvals.approval(&binding, "alice", t0(), 600);
    let r = s
        .payout(
            "/payouts",
            PAYOUT,
            &[("x-approval", &good), ("x-approval", &good)],
        )
        .await;
    assert_eq!(r.status, 403);
    // Approving your own request.
    let own = s.approvals.approval(&binding, "agent-7", t0(), 600);
    let r = s.payout("/payouts", PAYOUT, &[("x-approval", &own)]).await;
    assert_eq!((r.status, issues(&r)), (403, json!(["SELF_APPROVAL"])));
    // The unsigned headers that used to be approval.
    let unsigned = [
        ("x-approval-status", "approved"),
        ("x-approved-by", "alice"),
        ("x-approved-at", "2026-03-16T09:59:00Z"),
    ];
    let r = s.payout("/payouts", PAYOUT, &unsigned).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        issues(&r),
        json!([
            "APPROVAL_REQUIRED",
            "APPROVER_MISSING",
            "APPROVAL_TIMESTAMP_MISSING"
        ])
    );
    assert!(s.up.seen().is_empty());
    // With them present on an allowed request, none reach the upstream.
    let mut h = unsigned.to_vec();
    h.push(("x-approval", &good));
    let r = s.payout("/payouts", PAYOUT, &h).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let seen = &s.up.seen()[0];
    for name in [
        "x-approval",
        "x-approval-status",
        "x-approved-by",
        "x-approved-at",
    ] {
        assert!(seen.header(name).is_none(), "{name} forwarded");
    }
}

#[tokio::test]
async fn concurrent_uses_of_one_approval_forward_exactly_one() {
    let s = Setup::with(TestKey::hs256(
        "an hmac secret of at least thirty-two bytes",
    ))
    .await;
    let binding = s.payout_binding(PAYOUT).await;
    let token = s.approvals.approval(&binding, "alice", t0(), 600);
    let auth = s.bearer("agent-7", "finance_operator");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (addr, auth, token) = (s.gate.addr, auth.clone(), token.clone());
            tokio::spawn(async move {
                let h = [
                    ("authorization", auth.as_str()),
                    ("x-environment", "production"),
                    ("x-approval", token.as_str()),
                ];
                call(addr, "POST", "/payouts", &h, PAYOUT).await.status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        15,
        "{statuses:?}"
    );
    assert_eq!(s.up.seen().len(), 1);
}

#[tokio::test]
async fn no_approval_is_asked_for_an_unidentified_caller() {
    let s = Setup::start().await;
    let r = s
        .send(
            "POST",
            "/payouts",
            &[("x-environment", "production")],
            PAYOUT,
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(issues(&r)
        .as_array()
        .unwrap()
        .contains(&json!("ACTOR_ROLE_MISSING")));
    assert!(r.json().get("approval_request").is_none());
}
