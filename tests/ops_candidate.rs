//! A candidate bundle beside the live one: every request is decided by the live bundle and
//! also judged by the candidate, after the response. A candidate that tightens a limit shows
//! exactly the expected disagreements, in the metrics and in the audit records; it never
//! changes what the client gets; and it hot-reloads on its own.

mod support;
use serde_json::{json, Value};
use support::sidecar::*;
use support::*;

fn unapproved(id: &'static str) -> Vec<(&'static str, &'static str)> {
    approved_finance(id)[..4].to_vec()
}

async fn start(up: &Upstream) -> Sidecar {
    Sidecar::start(&up.url(), |root, cfg| {
        // The candidate lowers the payout limit from 10000 to 1000.
        let next = root.join("candidate");
        copy_bundle(&next);
        edit(&next, "bundle.yaml", "version: 1.0.0", "version: 1.1.0-rc1");
        edit(&next, "routes.yaml", "max_amount:10000", "max_amount:1000");
        cfg.candidate_policies = Some(next);
    })
    .await
}

#[tokio::test]
async fn a_tightened_candidate_shows_the_expected_disagreements() {
    let up = Upstream::start().await;
    let gate = start(&up).await;
    let b = gate.get("/v1/bundle").await.json();
    assert_eq!(b["policy_version"], "tools@1.0.0");
    assert_eq!(b["candidate"]["policy_version"], "tools@1.1.0-rc1");

    let post = |h: Vec<(&'static str, &'static str)>, amount| {
        let addr = gate.proxy;
        async move { call(addr, "POST", "/payments/v1/payouts", &h, &payout(amount)).await }
    };
    // Live ALLOW (5000 <= 10000), candidate DENY (> 1000): forwarded all the same.
    assert_eq!(
        post(approved_finance("c-allow-deny"), 5000).await.status,
        200
    );
    // Live DEFER (no approval), candidate DENY (over its limit).
    assert_eq!(post(unapproved("c-defer-deny"), 5000).await.status, 409);
    // Both ALLOW, both DEFER, both DENY (over both limits): agreement.
    assert_eq!(
        post(approved_finance("c-agree-allow"), 500).await.status,
        200
    );
    assert_eq!(post(unapproved("c-agree-defer"), 500).await.status, 409);
    assert_eq!(
        post(approved_finance("c-agree-deny"), 20000).await.status,
        403
    );
    // No route in either bundle: agreement.
    let r = call(
        gate.proxy,
        "GET",
        "/payments/v1/balances",
        &[("x-request-id", "c-unmatched")],
        "",
    )
    .await;
    assert_eq!(r.status, 403);

    let rec = gate.decision("c-allow-deny").await;
    assert_eq!(
        (
            rec["verdict"].as_str(),
            rec["final_runtime_action"].as_str()
        ),
        (Some("ALLOW"), Some("forwarded"))
    );
    assert_eq!(rec["issues"], json!([]));
    assert_eq!(
        rec["candidate"],
        json!({"policy_version": "tools@1.1.0-rc1", "verdict": "DENY", "issues": ["AMOUNT_LIMIT_EXCEEDED"]})
    );
    let rec = gate.decision("c-defer-deny").await;
    assert_eq!(rec["verdict"], "DEFER");
    assert_eq!(
        rec["issues"],
        json!([
            "APPROVAL_REQUIRED",
            "APPROVER_MISSING",
            "APPROVAL_TIMESTAMP_MISSING"
        ])
    );
    assert_eq!(rec["candidate"]["verdict"], "DENY");
    let issues = rec["candidate"]["issues"].as_array().unwrap();
    assert!(
        issues.contains(&json!("AMOUNT_LIMIT_EXCEEDED"))
            && issues.contains(&json!("APPROVAL_REQUIRED")),
        "{issues:?}"
    );
    for id in [
        "c-agree-allow",
        "c-agree-defer",
        "c-agree-deny",
        "c-unmatched",
    ] {
        let rec = gate.decision(id).await;
        assert_eq!(rec.get("candidate"), None, "{id} agreed: {rec}");
    }

    let m = gate.metrics().await;
    let dis = |live: &str, cand: &str| {
        m.get(
            "toolgate_candidate_disagreements_total",
            &[
                ("route", "payouts-create"),
                ("live", live),
                ("candidate", cand),
            ],
        )
    };
    assert_eq!(dis("allow", "deny"), Some(1.0));
    assert_eq!(dis("defer", "deny"), Some(1.0));
    assert_eq!(
        m.count("toolgate_candidate_disagreements_total"),
        2,
        "nothing else disagreed"
    );
    // The candidate's verdicts are not live decisions.
    assert_eq!(
        m.sum("toolgate_decisions_total", &[("route", "payouts-create")]),
        5.0
    );
    assert_eq!(m.count("toolgate_bundle_info"), 1);
    assert_eq!(
        m.get(
            "toolgate_bundle_info",
            &[
                ("name", "tools"),
                ("version", "1.0.0"),
                ("digest", b["digest"].as_str().unwrap())
            ]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn the_candidate_hot_reloads_on_its_own() {
    let up = Upstream::start().await;
    let gate = start(&up).await;
    let next = gate.root.path().join("candidate");
    // Back to the live limit: the candidate now agrees. The version goes last, so a reload
    // that reports it has read both changes.
    edit(&next, "routes.yaml", "max_amount:1000", "max_amount:10000");
    edit(
        &next,
        "bundle.yaml",
        "version: 1.1.0-rc1",
        "version: 1.1.0-rc2",
    );
    eventually("the candidate's reload", || async {
        gate.get("/v1/bundle").await.json()["candidate"]["policy_version"] == "tools@1.1.0-rc2"
    })
    .await;
    assert_eq!(
        gate.serving().await,
        "tools@1.0.0",
        "the live bundle did not move"
    );
    let r = call(
        gate.proxy,
        "POST",
        "/payments/v1/payouts",
        &approved_finance("c-after"),
        &payout(5000),
    )
    .await;
    assert_eq!(r.status, 200);
    let rec = gate.decision("c-after").await;
    assert_eq!(rec.get("candidate"), None::<&Value>);
    let m = gate.metrics().await;
    assert_eq!(m.count("toolgate_candidate_disagreements_total"), 0);

    // A broken candidate keeps its last good version, and says so; the live one is unaffected.
    edit(&next, "bundle.yaml", "risk: 40", "risk: lots");
    let r = gate.post("/v1/reload", "").await;
    assert_eq!(r.status, 200, "the live bundle reloaded fine");
    let body = r.json();
    assert_eq!(body["candidate"]["error"], "RELOAD_FAILED");
    let b = gate.get("/v1/bundle").await.json();
    assert_eq!(b["candidate"]["policy_version"], "tools@1.1.0-rc2");
    assert!(b["candidate"]["last_error"]
        .as_str()
        .unwrap()
        .contains("bundle.yaml:"));
    assert_eq!(b["last_error"], Value::Null);
}
