//! The admin listener of a whole sidecar, over real sockets: health and readiness (through a
//! real drain), `/v1/check` on the seed payloads, bundle status, reload on demand (good and
//! broken bundles), recent decisions by request id, and its error answers.

mod support;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::time::Duration;
use support::sidecar::*;
use support::*;

fn seed(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    fs::read_to_string(path).unwrap()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn check_answers_the_seed_decisions_with_200_whatever_the_verdict() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, _| {}).await;

    // Seed 000: fully evidenced, 15 minutes after the approval.
    gate.clock.set("2026-03-14T09:45:00Z");
    let r = gate
        .post("/v1/check", &seed("seeds/000_enterprise_deploy.json"))
        .await;
    assert_eq!(r.status, 200);
    let d = r.json();
    assert_eq!(
        (&d["decision"], &d["verdict"]),
        (&json!("GO"), &json!("ALLOW"))
    );
    assert_eq!(d["issues"], json!([]));
    assert_eq!(d["policy_version"], "tools@1.0.0");
    assert_eq!(r.header("x-toolgate-verdict"), Some("ALLOW"));
    assert_eq!(r.header("x-toolgate-policy-version"), Some("tools@1.0.0"));
    assert_eq!(
        d["evaluated_at"], "2026-03-14T09:45:00Z",
        "the gate's clock"
    );

    // The same evidence an hour later has expired: the clock is the proxy's, not fixed.
    gate.clock.set("2026-03-14T10:45:00Z");
    let d = gate
        .post("/v1/check", &seed("seeds/000_enterprise_deploy.json"))
        .await
        .json();
    assert_eq!(strings(&d["issues"]), ["APPROVAL_EXPIRED"]);

    // Seed 001: pending production deploy, inside business hours.
    gate.clock.set("2026-03-16T09:00:00Z");
    let r = gate
        .post(
            "/v1/check",
            &seed("seeds/001_deferred_production_deploy.json"),
        )
        .await;
    assert_eq!(r.status, 200);
    let d = r.json();
    assert_eq!(
        (&d["decision"], &d["verdict"]),
        (&json!("DEFER"), &json!("DEFER"))
    );
    let issues = strings(&d["issues"]);
    for want in ["APPROVAL_REQUIRED", "ROLLBACK_PLAN_MISSING", "MFA_REQUIRED"] {
        assert!(issues.contains(&want), "{issues:?}");
    }
    assert!(!issues.contains(&"CHANGE_WINDOW_CLOSED"));

    // Seed 002: a payout without evidence defers, with the bundle's questions.
    let d = gate
        .post("/v1/check", &seed("seeds/002_payout_missing_approval.json"))
        .await
        .json();
    assert_eq!(d["verdict"], "DEFER");
    let questions = strings(&d["defer_questions"]);
    assert!(
        questions.contains(&"Who approved this payout?"),
        "{questions:?}"
    );

    // The blocked production delete: NO_GO, still 200.
    let r = gate.post("/v1/check", &seed("blocked_delete.json")).await;
    assert_eq!(r.status, 200);
    let d = r.json();
    assert_eq!(
        (&d["decision"], &d["verdict"]),
        (&json!("NO_GO"), &json!("DENY"))
    );
    assert!(strings(&d["issues"]).contains(&"ROLE_NOT_AUTHORIZED"));

    // A caller's request id is echoed.
    let r = call(
        gate.admin,
        "POST",
        "/v1/check",
        &[("x-request-id", "ask-1")],
        &seed("blocked_delete.json"),
    )
    .await;
    assert_eq!(
        (r.json()["request_id"].as_str(), r.header("x-request-id")),
        (Some("ask-1"), Some("ask-1"))
    );
    assert!(up.seen().is_empty(), "a check never reaches the tool");
}

#[tokio::test]
async fn check_refuses_malformed_payloads_with_400_and_the_field() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, cfg| cfg.limits.max_body_bytes = 2048).await;
    for (payload, field) in [
        ("{", "(payload)"),
        (r#"{"tools": []}"#, "(payload)"),
        (r#"{"goal": 7}"#, "goal"),
        (
            r#"{"goal": "x", "context": {"approved_at": "yesterday"}}"#,
            "context.approved_at",
        ),
        (
            r#"{"goal": "x", "context": {"current_iteration": -1}}"#,
            "context.current_iteration",
        ),
    ] {
        let r = gate.post("/v1/check", payload).await;
        assert_eq!(r.status, 400, "{payload}");
        let e = r.json();
        assert_eq!(e["error"], "INVALID_PAYLOAD");
        assert_eq!(e["field"], field, "{payload}: {e}");
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    let big = format!(r#"{{"goal": "{}"}}"#, "x".repeat(4096));
    let r = gate.post("/v1/check", &big).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
}

#[tokio::test]
async fn unknown_endpoints_and_wrong_methods() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, _| {}).await;
    let r = gate.get("/v1/nothing").await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let r = gate.get("/v1/check").await;
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = gate.post("/metrics", "").await;
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    // The proxy's routes are not the admin's, and the admin's are not the proxy's.
    assert_eq!(gate.get("/db/v1/tenants/t-42").await.status, 404);
    let r = call(gate.proxy, "GET", "/metrics", &[], "").await;
    assert_eq!(
        (r.status, r.header("x-toolgate-verdict")),
        (403, Some("DENY"))
    );
}

#[tokio::test]
async fn health_readiness_and_a_real_drain() {
    let up = Upstream::start().await;
    up.set(Behavior::Slow(Duration::from_millis(600)));
    let mut gate = Sidecar::start(&up.url(), |_, _| {}).await;
    let h = gate.get("/healthz").await;
    assert_eq!(
        (h.status, &h.body[..]),
        (200, &b"ok\nstate: memory up\n"[..])
    );
    let r = gate.get("/readyz").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"ready": true, "policy_version": "tools@1.0.0"})
    );

    // A slow request is in flight when shutdown starts: readiness fails at once, the
    // request still completes, and its audit record is on disk when `run` returns.
    let proxy = gate.proxy;
    let slow = tokio::spawn(async move {
        call(
            proxy,
            "GET",
            "/db/v1/tenants/t-42",
            &[
                ("x-request-id", "slow-1"),
                ("x-actor-role", "viewer"),
                ("x-environment", "production"),
            ],
            "",
        )
        .await
    });
    eventually("the request reaches the upstream", || async {
        !up.seen().is_empty()
    })
    .await;
    gate.shutdown();
    eventually("readyz 503", || async {
        let r = gate.get("/readyz").await;
        r.status == 503 && r.json()["reason"] == "draining"
    })
    .await;
    assert_eq!(
        gate.get("/healthz").await.status,
        200,
        "alive while draining"
    );
    let done = slow.await.unwrap();
    assert_eq!(done.status, 200);
    gate.stop().await;
    let lines = gate.audit_lines();
    let rec = lines
        .iter()
        .find(|l| l["request_id"] == "slow-1")
        .expect("flushed");
    assert_eq!(rec["final_runtime_action"], "forwarded");
    assert_eq!(rec["upstream_status"], 200);
    assert!(rec["upstream_ms"].as_f64().unwrap() >= 600.0, "{rec}");
}

#[tokio::test]
async fn bundle_status_and_reload_on_demand() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, _| {}).await;
    let b = gate.get("/v1/bundle").await;
    assert_eq!(b.status, 200);
    let b = b.json();
    assert_eq!(
        (&b["name"], &b["version"]),
        (&json!("tools"), &json!("1.0.0"))
    );
    assert!(b["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(b["loaded_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .is_ok());
    assert_eq!(b["routes"], 7);
    assert_eq!(b["last_error"], Value::Null);
    assert_eq!(b["candidate"], Value::Null);

    // Nothing changed: a no-op success.
    let r = gate.post("/v1/reload", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["live"]["changed"], false);

    edit(
        &gate.live,
        "bundle.yaml",
        "version: 1.0.0",
        "version: 1.0.1",
    );
    let r = gate.post("/v1/reload", "").await;
    assert_eq!(r.status, 200);
    let live = &r.json()["live"];
    // The watcher may have been first; either way 1.0.1 serves now.
    assert_eq!(live["current"], "tools@1.0.1");
    assert_eq!(gate.serving().await, "tools@1.0.1");
    let m = gate.metrics().await;
    assert_eq!(m.count("toolgate_bundle_info"), 1);
    assert_eq!(
        m.get(
            "toolgate_bundle_info",
            &[
                ("name", "tools"),
                ("version", "1.0.1"),
                ("digest", live["digest"].as_str().unwrap())
            ]
        ),
        Some(1.0)
    );
    assert!(
        m.get("toolgate_bundle_last_reload_success_timestamp_seconds", &[])
            .unwrap()
            > 1.7e9
    );
}

#[tokio::test]
async fn a_broken_bundle_keeps_the_old_version_serving_and_is_visible() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, _| {}).await;
    let failures =
        |m: &prom::Exposition| m.get("toolgate_bundle_reloads_total", &[("result", "failure")]);
    assert_eq!(failures(&gate.metrics().await), Some(0.0));

    edit(&gate.live, "bundle.yaml", "risk: 40", "risk: lots");
    // The watcher sees it too; wait for its verdict so the counts below are settled.
    eventually("the watcher's failed reload", || async {
        failures(&gate.metrics().await) == Some(1.0)
    })
    .await;
    let r = gate.post("/v1/reload", "").await;
    assert_eq!(r.status, 422);
    let e = r.json();
    assert_eq!(e["error"], "RELOAD_FAILED");
    assert_eq!(e["serving"], "tools@1.0.0");
    let bundle_yaml = gate.live.join("bundle.yaml").display().to_string();
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{bundle_yaml}:")),
        "file and line: {message}"
    );
    assert_eq!(failures(&gate.metrics().await), Some(2.0));

    let b = gate.get("/v1/bundle").await.json();
    assert_eq!(b["policy_version"], "tools@1.0.0");
    assert_eq!(b["last_error"].as_str(), Some(message));
    // Requests are still decided by the old version.
    let r = call(
        gate.proxy,
        "DELETE",
        "/db/v1/tenants/t-42",
        &[("x-actor-role", "viewer"), ("x-environment", "production")],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.header("x-toolgate-policy-version")),
        (403, Some("tools@1.0.0"))
    );
    assert_eq!(
        gate.get("/readyz").await.status,
        200,
        "the old bundle still serves"
    );

    // Fixed: the error clears.
    edit(&gate.live, "bundle.yaml", "risk: lots", "risk: 40");
    let r = gate.post("/v1/reload", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        gate.get("/v1/bundle").await.json()["last_error"],
        Value::Null
    );
}

#[tokio::test]
async fn decisions_are_found_by_the_response_request_id() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, _| {}).await;
    let viewer = [
        ("x-actor", "agent-5"),
        ("x-actor-role", "viewer"),
        ("x-environment", "production"),
    ];

    let r = call(gate.proxy, "GET", "/db/v1/tenants/t-42", &viewer, "").await;
    assert_eq!(r.status, 200);
    let id = r.header("x-request-id").unwrap().to_owned();
    assert!(id.starts_with("tg-"), "minted: {id}");
    let rec = gate.decision(&id).await;
    assert_eq!(rec["request_id"], id.as_str());
    assert_eq!(rec["route"], "tenants-get");
    assert_eq!(rec["verdict"], "ALLOW");
    assert_eq!(rec["final_runtime_action"], "forwarded");
    assert_eq!(rec["upstream_status"], 200);
    assert_eq!(
        rec["policy_version"],
        r.header("x-toolgate-policy-version").unwrap()
    );

    let r = call(gate.proxy, "DELETE", "/db/v1/tenants/t-42", &viewer, "").await;
    let rec = gate.decision(r.header("x-request-id").unwrap()).await;
    assert_eq!(
        (rec["verdict"].as_str(), rec["decision"].as_str()),
        (Some("DENY"), Some("NO_GO"))
    );
    assert_eq!(rec["final_runtime_action"], "execution_stopped");
    assert_eq!(
        rec["issues"],
        r.json()["issues"],
        "the record carries the body's issues"
    );

    let r = gate.get("/v1/decisions/never-seen").await;
    assert_eq!(r.status, 404);
    assert_eq!(gate.get("/v1/decisions/not%20an%20id").await.status, 404);
}
