//! Signed approvals on an MCP endpoint: the DEFER of a `tools/call` carries an
//! `approval_request` bound to the call (route, JSON-RPC method, tool, the SHA-256 of the
//! arguments in RFC 8785 form, environment, actor), never to the message's `id`. The
//! reviewer signs it (`toolgate approve`'s code reads the JSON-RPC error as the agent got
//! it); the agent's retry with a new `id`, and the same arguments written another way, is
//! the approved call and reaches the server once; a replay, or other arguments, do not.
//! Identity is a verified bearer token, as on REST routes.

mod support;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use support::*;
use toolgate::commands::{mint_approval, mint_token, MintOptions};

const SERVER: &str = r#"apiVersion: toolgate.dev/v1alpha1
kind: McpServer
metadata:
  name: payments-mcp
spec:
  path: /mcp
  defaults:
    context:
      environment: { header: x-environment }
  tools:
    - name: delete_customer
      goal: Delete a customer and their data
      tools: [payments_mcp]
      side_effects: [delete]
"#;

fn keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools-signed/example-private-keys")
}

/// `policies/tools-signed` (jwt identity, signed approvals; its REST routes kept) with an
/// MCP server added.
fn signed_mcp_bundle(dir: &Path) -> toolgate::snapshot::Snapshot {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools-signed");
    for file in [
        "bundle.yaml",
        "routes.yaml",
        "rules.yaml",
        "approvals.ed25519.pub.pem",
        "idp.jwks.json",
    ] {
        std::fs::copy(src.join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("server.yaml"), SERVER).unwrap();
    toolgate::bundle::load(dir, NOW.parse().unwrap()).unwrap_or_else(|e| panic!("{e:#}"))
}

fn options(key: &str, kid: Option<&'static str>) -> (PathBuf, Option<&'static str>) {
    (keys().join(key), kid)
}

fn token() -> String {
    let (key, kid) = options("idp.es256.key.pem", Some("example-idp-2026-03"));
    let claims = br#"{"iss":"https://idp.example.test","aud":"toolgate","sub":"agent-5","roles":["platform_admin"]}"#;
    let o = MintOptions {
        key: &key,
        alg: None,
        kid,
        ttl: jiff::SignedDuration::from_hours(1),
        now: Some(NOW.parse().unwrap()),
    };
    mint_token(claims, &o).unwrap()
}

fn approve(refusal: &[u8]) -> String {
    let (key, _) = options("approvals.ed25519.key.pem", None);
    let o = MintOptions {
        key: &key,
        alg: None,
        kid: None,
        ttl: jiff::SignedDuration::from_mins(15),
        now: Some(NOW.parse().unwrap()),
    };
    let minted = mint_approval(refusal, "bob.sre-lead", &o).unwrap();
    assert!(minted.warnings.is_empty(), "{:?}", minted.warnings);
    minted.token
}

fn call_body(id: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"delete_customer","arguments":{arguments}}}}}"#
    )
}

#[tokio::test]
async fn an_approval_binds_the_call_not_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start().await;
    let gate = Gate::start(signed_mcp_bundle(dir.path()), &up.url(), |_| {}).await;
    gate.clock.set(NOW);
    let bearer = format!("Bearer {}", token());
    let send = |id: &str, arguments: &str, approval: Option<&str>| {
        let body = call_body(id, arguments);
        let bearer = bearer.clone();
        let approval = approval.map(str::to_owned);
        async move {
            let mut headers = vec![
                ("authorization", bearer.as_str()),
                ("x-environment", "production"),
                ("content-type", "application/json"),
                ("accept", "application/json, text/event-stream"),
            ];
            if let Some(a) = &approval {
                headers.push(("x-approval", a.as_str()));
            }
            call(gate.addr, "POST", "/mcp", &headers, &body).await
        }
    };

    // 1. Deferred: a JSON-RPC error whose data holds the approval request.
    let first = send(
        "1",
        r#"{"customer_id":"cus_42","reason":"gdpr erasure"}"#,
        None,
    )
    .await;
    assert_eq!(first.status, 200);
    let err = first.json();
    assert_eq!(err["id"], 1);
    assert_eq!(err["error"]["code"], toolgate::mcp::reply::DEFER);
    let binding = &err["error"]["data"]["approval_request"]["binding"];
    let canonical = br#"{"customer_id":"cus_42","reason":"gdpr erasure"}"#;
    let digest = hex::encode(Sha256::digest(canonical));
    assert_eq!(binding["route"], "delete_customer", "{err}");
    assert_eq!(binding["method"], "tools/call");
    assert_eq!(binding["tool"], "delete_customer");
    assert_eq!(binding["path"], "/mcp");
    assert_eq!(binding["body_sha256"], digest.as_str());
    assert_eq!(binding["environment"], "production");
    assert_eq!(binding["actor"], "agent-5");
    assert!(
        binding.get("id").is_none(),
        "the id is not bound: {binding}"
    );
    assert!(up.seen().is_empty(), "a DEFER is not forwarded");

    // 2. The reviewer approves what the agent got; the agent retries with another id and
    // the same arguments in another order and spacing: the approved call, forwarded once,
    // byte for byte.
    let approval = approve(&first.body);
    let retry_args = r#"{ "reason": "gdpr erasure",  "customer_id": "cus_42" }"#;
    let retry = send("\"retry-2\"", retry_args, Some(&approval)).await;
    assert_eq!(
        retry.header("x-toolgate-verdict"),
        Some("ALLOW"),
        "{:?}",
        retry.body
    );
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].body,
        call_body("\"retry-2\"", retry_args).as_bytes()
    );
    assert!(
        seen[0].header("x-approval").is_none(),
        "the approval is not forwarded"
    );

    // 3. The same approval again: replayed, refused, not forwarded.
    let replay = send("3", retry_args, Some(&approval)).await;
    let err = replay.json();
    assert_eq!(
        (replay.status, err["id"].clone()),
        (200, serde_json::json!(3))
    );
    assert_eq!(err["error"]["code"], toolgate::mcp::reply::DENY);
    let issues = err["error"]["data"]["issues"].to_string();
    assert!(issues.contains("APPROVAL_REPLAYED"), "{issues}");

    // 4. A fresh approval for those arguments does not cover other arguments.
    let other = send(
        "4",
        r#"{"customer_id":"cus_43","reason":"gdpr erasure"}"#,
        Some(&approve(&first.body)),
    )
    .await;
    let err = other.json();
    let issues = err["error"]["data"]["issues"].to_string();
    assert!(issues.contains("APPROVAL_SCOPE_MISMATCH"), "{err}");
    assert_eq!(
        up.seen().len(),
        1,
        "only the approved call reached the server"
    );
}

/// The review inbox for an MCP call: the JSON-RPC error's data says where the call waits;
/// a retry with another id and the arguments written another way is the same review; once
/// a reviewer approves it in the inbox, that retry reaches the server once, with no
/// approval header from the agent.
#[tokio::test]
async fn a_deferred_tool_call_waits_in_the_inbox_and_its_retry_is_released_once() {
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inbox_addr = listener.local_addr().unwrap();
    let cfg = support::review::config(inbox_addr, |_| {});
    let review = cfg.review.clone();
    let gate = Gate::start(signed_mcp_bundle(dir.path()), &up.url(), move |c| {
        c.review = review;
    })
    .await;
    gate.clock.set(NOW);
    let inbox = toolgate::inbox::start::build(&cfg, gate.ops.clone(), gate.clock.clock()).unwrap();
    support::review::serve_inbox(std::sync::Arc::new(inbox), listener);
    let bearer = format!("Bearer {}", token());
    let send = |id: &str, arguments: &str| {
        let body = call_body(id, arguments);
        let bearer = bearer.clone();
        async move {
            let headers = [
                ("authorization", bearer.as_str()),
                ("x-environment", "production"),
                ("content-type", "application/json"),
                ("accept", "application/json, text/event-stream"),
            ];
            call(gate.addr, "POST", "/mcp", &headers, &body).await
        }
    };
    let held = send("1", r#"{"customer_id":"cus_42","reason":"gdpr erasure"}"#).await;
    let err = held.json();
    assert_eq!(err["error"]["code"], toolgate::mcp::reply::DEFER, "{err}");
    let review = &err["error"]["data"]["review"];
    assert_eq!(review["status"], "pending", "{err}");
    let id = review["id"].as_str().unwrap().to_owned();
    assert_eq!(
        review["url"],
        serde_json::json!(format!("http://{inbox_addr}/reviews/{id}"))
    );
    let retry_args = r#"{ "reason": "gdpr erasure",  "customer_id": "cus_42" }"#;
    let again = send("\"r-2\"", retry_args).await.json();
    assert_eq!(
        again["error"]["data"]["review"]["id"],
        serde_json::json!(id)
    );
    assert!(up.seen().is_empty());
    // The reviewer (holding no role the tool requires) approves it in the inbox.
    let approve = format!("/api/reviews/{id}/approve");
    let headers = [
        ("x-forwarded-email", "bob.sre-lead@example.com"),
        ("content-type", "application/json"),
    ];
    let r = call(
        inbox_addr,
        "POST",
        &approve,
        &headers,
        r#"{"ttl_seconds":600}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let released = send("3", retry_args).await;
    assert_eq!(
        released.header("x-toolgate-verdict"),
        Some("ALLOW"),
        "{:?}",
        released.body
    );
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, call_body("3", retry_args).as_bytes());
    let next = send("4", retry_args).await.json();
    assert_eq!(next["error"]["code"], toolgate::mcp::reply::DEFER, "{next}");
    assert_ne!(next["error"]["data"]["review"]["id"], serde_json::json!(id));
    assert_eq!(up.seen().len(), 1);
}
