//! The reviewer's side of the loop from the command line (`toolgate approve`), and what a
//! bundle with header approvals answers (no approval request: there is nothing to sign).

mod identity_support;
mod support;

use identity_support::*;
use support::Gate;
use support::{call, Upstream};

const PAYOUT: &str = r#"{"amount": 100, "currency": "EUR", "destination": "acct-1"}"#;

#[tokio::test]
async fn header_approvals_bundles_carry_no_approval_request() {
    let up = Upstream::start().await;
    let gate = Gate::start(support::tools_bundle(), &up.url(), |_| {}).await;
    let h = [
        ("x-actor", "agent-7"),
        ("x-actor-role", "finance_operator"),
        ("x-environment", "production"),
    ];
    let r = call(gate.addr, "POST", "/payments/v1/payouts", &h, PAYOUT).await;
    assert_eq!(r.status, 409);
    assert!(r.json().get("approval_request").is_none());
}

#[test]
fn the_approve_cli_refuses_what_it_cannot_sign() {
    let (_keep, dir) = tempdir();
    let key = dir.join("k.pem");
    std::fs::write(&key, TestKey::ed25519().private_pem).unwrap();
    let key = key.to_str().unwrap();
    let (code, _, err) = toolgate(
        &["approve", "--key", key, "--approver", "a"],
        br#"{"verdict":"DEFER"}"#,
    );
    assert_eq!(code, 2);
    assert!(err.contains("approval_request"), "{err}");
    let req = br#"{"binding":{"route":"r","method":"GET","path":"/","body_sha256":"x"}}"#;
    let (code, out, _) = toolgate(
        &["approve", "--key", key, "--approver", "a", "--ttl", "5m"],
        req,
    );
    assert_eq!(code, 0);
    assert_eq!(out.trim().split('.').count(), 3);
    // The one duration grammar: a compound lifetime is a lifetime on the command line too.
    let (code, out, err) = toolgate(
        &["approve", "--key", key, "--approver", "a", "--ttl", "1h30m"],
        req,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim().split('.').count(), 3);
    let (code, _, _) = toolgate(
        &["approve", "--key", key, "--approver", "a", "--ttl", "90"],
        req,
    );
    assert_eq!(code, 2, "a bare number is no duration");
    let (code, _, err) = toolgate(
        &["approve", "--key", "/nonexistent", "--approver", "a"],
        req,
    );
    assert_eq!(code, 1, "{err}");
    let (code, _, _) = toolgate(
        &["approve", "--key", key, "--approver", "a", "--alg", "RS256"],
        req,
    );
    assert_eq!(code, 2);
}
