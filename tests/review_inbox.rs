//! The review inbox end to end over real sockets, on the sidecar's in-process state store:
//! a deferred payout opens a review (the 409 says where), identical retries count on it,
//! a reviewer approves it in the inbox and the identical retry is forwarded once; a
//! rejection denies the retry with the reason; and the inbox's guards: reviewer identity,
//! four eyes, reviewer roles, approval lifetimes, decisions taken once.

mod support;

use serde_json::json;
use support::review::{review_id, ReviewSetup, LEAD, PAYOUT, PAYOUTS};

#[tokio::test]
async fn a_reviewed_payout_is_forwarded_once_on_its_identical_retry() {
    let s = ReviewSetup::start().await;
    // Held: the 409 names its review, pending, with a link into the inbox.
    let held = s.agent("POST", PAYOUTS, PAYOUT).await;
    assert_eq!(held.status, 409, "{:?}", held.body);
    let body = held.json();
    let id = review_id(&held);
    assert_eq!(body["review"]["status"], "pending");
    assert_eq!(
        body["review"]["url"],
        json!(format!("http://{}/reviews/{id}", s.inbox))
    );
    assert!(body["approval_request"].is_object());
    // An identical retry while pending: the same review, counted.
    let again = s.agent("POST", PAYOUTS, PAYOUT).await;
    assert_eq!((again.status, review_id(&again)), (409, id.clone()));
    let seen = s
        .inbox("GET", &format!("/api/reviews/{id}"), Some(LEAD), &[], "")
        .await;
    assert_eq!(seen.status, 200, "{:?}", seen.body);
    let review = seen.json();
    assert_eq!(review["retries"], 1);
    assert_eq!(review["status"], "pending");
    assert_eq!(review["record"]["actor"], "agent-7");
    assert_eq!(review["record"]["route"], "payouts-create");
    assert!(
        review["record"]["payload"]
            .as_str()
            .unwrap()
            .contains("[redacted]"),
        "the bundle redacts the account number: {review}"
    );
    assert!(!review.to_string().contains("DE89370400440532013000"));
    assert!(review.get("token").is_none(), "the token is never shown");
    assert!(s.up.seen().is_empty(), "nothing forwarded while pending");

    // Approved in the inbox: the identical retry goes through, once, without x-approval.
    let approved = s.approve(&id, LEAD, 900).await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.json()["status"], "approved");
    assert_eq!(approved.json()["decided"]["approver"], LEAD.0);
    let through = s.agent("POST", PAYOUTS, PAYOUT).await;
    assert_eq!(through.status, 200, "{:?}", through.body);
    assert_eq!(through.header("x-toolgate-verdict"), Some("ALLOW"));
    let seen = s.up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, PAYOUT.as_bytes());
    assert_eq!(seen[0].header("x-approval"), None);
    // The approval is used: the same request again is a new review.
    let next = s.agent("POST", PAYOUTS, PAYOUT).await;
    assert_eq!(next.status, 409, "{:?}", next.body);
    assert_ne!(review_id(&next), id);
    assert_eq!(s.up.seen().len(), 1);
}

/// Polls `f` until it returns `Some`, for at most 5 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(mut f: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "not within 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_rejection_denies_the_retry_with_the_reason_and_the_trail_says_who() {
    let s = ReviewSetup::start().await;
    let refund = r#"{"amount":900,"currency":"EUR","payment":"pay-77"}"#;
    let held = s.agent("POST", "/payments/v1/refunds", refund).await;
    assert_eq!(held.status, 409, "{:?}", held.body);
    let id = review_id(&held);
    let deferred_id = held.json()["request_id"].as_str().unwrap().to_owned();
    let r = s.reject(&id, LEAD, "duplicate of refund r-12").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["status"], "rejected");
    assert_eq!(r.json()["decided"]["reason"], "duplicate of refund r-12");
    let denied = s.agent("POST", "/payments/v1/refunds", refund).await;
    assert_eq!(denied.status, 403, "{:?}", denied.body);
    let d = denied.json();
    assert_eq!(denied.header("x-toolgate-verdict"), Some("DENY"));
    assert!(
        d["issues"]
            .as_array()
            .unwrap()
            .contains(&json!("APPROVAL_REJECTED")),
        "{d}"
    );
    let details = d["details"].to_string();
    assert!(
        details.contains("duplicate of refund r-12") && details.contains(LEAD.0),
        "{d}"
    );
    assert!(s.up.seen().is_empty());
    // A decided review cannot be decided again.
    let twice = s.approve(&id, LEAD, 900).await;
    assert_eq!(twice.status, 409, "{:?}", twice.body);
    assert_eq!(twice.json()["error"], "REVIEW_ALREADY_DECIDED");

    // The trail: the reviewer's decision is an audit line; the denied retry's record
    // names the review; the deferred request's trace is found through the inbox.
    s.gate.ops.audit.flush().await;
    let lines = support::review::audit_lines(&s.audit);
    let decision = lines
        .iter()
        .find(|l| l["event"] == "review_decision")
        .expect("an audit line for the decision");
    assert_eq!(decision["review_id"], json!(id));
    assert_eq!(decision["reviewer"], LEAD.0);
    assert_eq!(decision["decision"], "rejected");
    assert_eq!(decision["request_id"], json!(deferred_id));
    assert_eq!(decision["reason"], "duplicate of refund r-12");
    let retry_rid = denied.header("x-request-id").unwrap().to_owned();
    let record = lines
        .iter()
        .find(|l| l["request_id"] == json!(retry_rid))
        .unwrap();
    assert_eq!(record["review_id"], json!(id));
    assert_eq!(record["final_runtime_action"], "execution_stopped");
    let path = format!("/api/decisions/{deferred_id}");
    let trace = eventually(|| async {
        let r = s.inbox("GET", &path, Some(LEAD), &[], "").await;
        (r.status == 200).then(|| r.json())
    })
    .await;
    assert_eq!(trace["record"]["verdict"], "DEFER");
    assert_eq!(trace["record"]["policy_version"], "tools-signed@1.0.0");
    assert_eq!(trace["review"]["id"], json!(id));
    let page = s
        .inbox(
            "GET",
            &format!("/decisions/{deferred_id}"),
            Some(LEAD),
            &[],
            "",
        )
        .await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("id=\"chain\"") && html.contains("tools-signed@1.0.0"),
        "{html}"
    );
}

#[tokio::test]
async fn the_approved_retry_s_outcome_is_kept_with_the_review() {
    let s = ReviewSetup::start().await;
    let id = review_id(&s.agent("POST", PAYOUTS, PAYOUT).await);
    assert_eq!(s.approve(&id, LEAD, 900).await.status, 200);
    assert_eq!(s.agent("POST", PAYOUTS, PAYOUT).await.status, 200);
    let path = format!("/api/reviews/{id}");
    let outcome = eventually(|| async {
        let r = s.inbox("GET", &path, Some(LEAD), &[], "").await.json();
        r["outcome"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(outcome, "forwarded, the tool answered 200");
}

#[tokio::test]
async fn an_approval_that_expired_unused_gives_way_to_a_fresh_review() {
    let s = ReviewSetup::start().await;
    let id = review_id(&s.agent("POST", PAYOUTS, PAYOUT).await);
    assert_eq!(s.approve(&id, LEAD, 300).await.status, 200);
    s.clock().set("2026-03-16T10:10:00Z");
    let later = s.agent("POST", PAYOUTS, PAYOUT).await;
    assert_eq!(later.status, 409, "{:?}", later.body);
    let fresh = review_id(&later);
    assert_ne!(fresh, id);
    assert_eq!(later.json()["review"]["status"], "pending");
    assert!(s.up.seen().is_empty());
    let old = s
        .inbox("GET", &format!("/api/reviews/{id}"), Some(LEAD), &[], "")
        .await
        .json();
    assert_eq!(old["status"], "approved");
    assert_eq!(
        old["outcome"],
        serde_json::Value::Null,
        "never retried in time"
    );
}

/// A request to the inbox (name, method, path, reviewer, headers, body) and what it must
/// answer (status, error code or "").
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<(&'a str, &'a str)>,
    Vec<(&'a str, &'a str)>,
    String,
    u16,
    &'a str,
);

/// Who may decide, and how: each row is a request to the inbox and what it answered.
#[tokio::test]
async fn the_inbox_refuses_what_it_must() {
    let s = ReviewSetup::start().await;
    let id = review_id(&s.agent("POST", PAYOUTS, PAYOUT).await);
    let approve = format!("/api/reviews/{id}/approve");
    let form = format!("/reviews/{id}/approve");
    let json_ct = ("content-type", "application/json");
    let form_ct = ("content-type", "application/x-www-form-urlencoded");
    let other = ("ana@example.com", "payments-lead");
    let now = (s.gate.clock.clock())().as_second();
    let lead_token = s.inbox_state.csrf.token(LEAD.0, now);
    let other_token = s.inbox_state.csrf.token(other.0, now);
    let with_token = |t: &str| format!("csrf={t}&ttl=900");
    let lead_form = with_token(&lead_token);
    let other_form = with_token(&other_token);
    let cases: Vec<Case<'_>> = vec![
        (
            "no reviewer: page",
            "GET",
            "/",
            None,
            vec![],
            String::new(),
            401,
            "",
        ),
        (
            "no reviewer: api",
            "GET",
            "/api/reviews",
            None,
            vec![],
            String::new(),
            401,
            "REVIEWER_UNKNOWN",
        ),
        (
            "no reviewer: approve",
            "POST",
            &approve,
            None,
            vec![json_ct],
            r#"{"ttl_seconds":900}"#.into(),
            401,
            "REVIEWER_UNKNOWN",
        ),
        (
            "the actor reviews itself",
            "POST",
            &approve,
            Some(("agent-7", "payments-lead")),
            vec![json_ct],
            r#"{"ttl_seconds":900}"#.into(),
            403,
            "SELF_APPROVAL",
        ),
        (
            "no reviewer role",
            "POST",
            &approve,
            Some(("sam@example.com", "sre")),
            vec![json_ct],
            r#"{"ttl_seconds":900}"#.into(),
            403,
            "REVIEWER_ROLE_REQUIRED",
        ),
        (
            "ttl over max_ttl",
            "POST",
            &approve,
            Some(LEAD),
            vec![json_ct],
            r#"{"ttl_seconds":7200}"#.into(),
            400,
            "INVALID_TTL",
        ),
        (
            "ttl too short",
            "POST",
            &approve,
            Some(LEAD),
            vec![json_ct],
            r#"{"ttl_seconds":5}"#.into(),
            400,
            "INVALID_TTL",
        ),
        (
            "not JSON",
            "POST",
            &approve,
            Some(LEAD),
            vec![form_ct],
            r#"{"ttl_seconds":900}"#.into(),
            400,
            "INVALID_REQUEST",
        ),
        (
            "cross-site JSON",
            "POST",
            &approve,
            Some(LEAD),
            vec![json_ct, ("sec-fetch-site", "cross-site")],
            r#"{"ttl_seconds":900}"#.into(),
            403,
            "CROSS_SITE",
        ),
        (
            "unknown review",
            "POST",
            "/api/reviews/ffffffffffffffffffffffff/approve",
            Some(LEAD),
            vec![json_ct],
            r#"{"ttl_seconds":900}"#.into(),
            404,
            "REVIEW_NOT_FOUND",
        ),
        (
            "form without a token",
            "POST",
            &form,
            Some(LEAD),
            vec![form_ct],
            "ttl=900".into(),
            403,
            "",
        ),
        (
            "form with another reviewer's token",
            "POST",
            &form,
            Some(LEAD),
            vec![form_ct],
            other_form.clone(),
            403,
            "",
        ),
        (
            "form from another origin",
            "POST",
            &form,
            Some(LEAD),
            vec![form_ct, ("origin", "http://evil.example")],
            lead_form.clone(),
            403,
            "",
        ),
        (
            "form, as it should be",
            "POST",
            &form,
            Some(LEAD),
            vec![form_ct],
            lead_form.clone(),
            303,
            "",
        ),
        (
            "decided already",
            "POST",
            &form,
            Some(other),
            vec![form_ct],
            other_form.clone(),
            409,
            "",
        ),
    ];
    for (name, method, path, who, extra, body, status, code) in &cases {
        let r = s.inbox(method, path, *who, extra, body).await;
        assert_eq!(r.status, *status, "{name}: {:?}", r.body);
        if !code.is_empty() {
            assert_eq!(r.json()["error"], *code, "{name}");
        }
        assert_eq!(
            r.header("content-security-policy"),
            Some(toolgate::inbox::html::CONTENT_SECURITY_POLICY),
            "{name}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{name}");
    }
    // Every refusal is counted by its code; the one decision by what it was.
    let m = s.gate.metrics();
    let refusals = |code: &str| m.get("toolgate_review_refusals_total", &[("code", code)]);
    assert_eq!(refusals("REVIEWER_UNKNOWN"), Some(1.0));
    assert_eq!(refusals("SELF_APPROVAL"), Some(1.0));
    assert_eq!(refusals("INVALID_TTL"), Some(2.0));
    assert_eq!(refusals("CSRF_INVALID"), Some(2.0));
    assert_eq!(refusals("CROSS_SITE"), Some(2.0));
    assert_eq!(refusals("REVIEW_ALREADY_DECIDED"), Some(1.0));
    let approved = [("decision", "approved")];
    assert_eq!(
        m.get("toolgate_review_decisions_total", &approved),
        Some(1.0)
    );
    assert_eq!(m.get("toolgate_reviews_opened_total", &[]), Some(1.0));
    // Only the good form decided it, once, and its retry goes through once.
    let review = s
        .inbox("GET", &format!("/api/reviews/{id}"), Some(LEAD), &[], "")
        .await
        .json();
    assert_eq!(review["status"], "approved");
    assert_eq!(review["decided"]["approver"], LEAD.0);
    assert_eq!(s.agent("POST", PAYOUTS, PAYOUT).await.status, 200);
    assert_eq!(s.up.seen().len(), 1);
}

#[tokio::test]
async fn pages_show_attacker_controlled_text_escaped() {
    let s = ReviewSetup::start().await;
    let id = review_id(&s.agent("POST", PAYOUTS, PAYOUT).await);
    for path in ["/".to_owned(), format!("/reviews/{id}")] {
        let r = s.inbox("GET", &path, Some(LEAD), &[], "").await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let html = String::from_utf8_lossy(&r.body);
        assert!(!html.contains("<b>ACME"), "{path}: {html}");
        assert!(!html.contains("<script"), "{path}");
        if path != "/" {
            assert!(html.contains("&lt;b&gt;ACME"), "{html}");
            assert!(html.contains("[redacted]") && !html.contains("DE89370400440532013000"));
        }
    }
}

/// A request released by an approval of its own (`x-approval`, as `toolgate approve` mints
/// it) closes its pending review: a late approval in the inbox cannot release it twice.
#[tokio::test]
async fn an_x_approval_closes_the_pending_review_of_its_request() {
    let s = ReviewSetup::start().await;
    let held = s.agent("POST", PAYOUTS, PAYOUT).await;
    let id = review_id(&held);
    let minted = toolgate::commands::mint_approval(
        &held.body,
        "bob@example.com",
        &toolgate::commands::MintOptions {
            key: &support::review::keys().join("approvals.ed25519.key.pem"),
            alg: None,
            kid: None,
            ttl: jiff::SignedDuration::from_mins(15),
            now: Some((s.gate.clock.clock())()),
        },
    )
    .unwrap();
    let bearer = format!("Bearer {}", s.token("agent-7", &["finance_operator"]));
    let headers = [
        ("authorization", bearer.as_str()),
        ("x-environment", "production"),
        ("content-type", "application/json"),
        ("x-approval", minted.token.as_str()),
    ];
    let through = support::call(s.gate.addr, "POST", PAYOUTS, &headers, PAYOUT).await;
    assert_eq!(through.status, 200, "{:?}", through.body);
    let path = format!("/api/reviews/{id}");
    let review = eventually(|| async {
        let r = s.inbox("GET", &path, Some(LEAD), &[], "").await.json();
        (r["status"] == "approved").then_some(r)
    })
    .await;
    assert_eq!(review["decided"]["approver"], "bob@example.com");
    assert_eq!(review["outcome"], "released by an x-approval of its own");
    let late = s.approve(&id, LEAD, 900).await;
    assert_eq!(late.status, 409, "{:?}", late.body);
    let again = s.agent("POST", PAYOUTS, PAYOUT).await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_ne!(review_id(&again), id);
    assert_eq!(s.up.seen().len(), 1);
}
