//! The decision API as Stage0's clients see it, over real sockets: every `check:` scenario
//! of the example bundle's own tests (the Stage0 seed payloads among them) and crafted
//! ALLOW / DENY / DEFER payloads posted to `POST /check`, each field a Stage0 client reads
//! checked with its type; a small Stage0-style client (parses exactly those fields, fails
//! closed on anything else) concludes the verdicts toolgate gave; keys (401, Bearer, hot
//! reload), the audit record, bad input.

mod support;

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use support::{call, TestClock};
use tokio::net::TcpListener;
use toolgate::app::{Listeners, Sidecar};
use toolgate::config::Config;

struct Api {
    api: SocketAddr,
    admin: SocketAddr,
    clock: TestClock,
    key: String,
    keys_file: PathBuf,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Api {
    start_with("").await
}

/// With `quota` (e.g. ` per_minute=3`) after the key's line.
async fn start_with(quota: &str) -> Api {
    start_tls(quota, None).await
}

/// With TLS on the listeners when `tls` is given (certificate and key files).
async fn start_tls(quota: &str, tls: Option<(PathBuf, PathBuf)>) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let (key, line) = toolgate::api::keys::new_key("orchestrator").unwrap();
    let keys_file = dir.path().join("keys");
    std::fs::write(
        &keys_file,
        format!("# decision API callers\n{line}{quota}\n"),
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = Config {
        policies: Some(root.join("policies/tools")),
        ..Config::default()
    };
    if let Some((cert, key)) = tls {
        cfg.tls = Some(toolgate::config::Tls {
            cert,
            key,
            client_ca: None,
        });
    }
    cfg.audit.sink = toolgate::config::AuditSinkKind::File;
    cfg.audit.path = Some(dir.path().join("audit.jsonl"));
    let listeners = Listeners {
        proxy: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        api: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
    };
    let api = listeners.api.as_ref().unwrap().local_addr().unwrap();
    let admin = listeners.admin.local_addr().unwrap();
    cfg.decision_api.listen = Some(api);
    cfg.decision_api.keys_file = Some(keys_file.clone());
    cfg.validate().unwrap_or_else(|e| panic!("{e}"));
    let clock = TestClock::new();
    let sidecar = Sidecar::load(cfg, clock.clock()).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sidecar.run(listeners, async move {
        let _ = rx.await;
    }));
    Api {
        api,
        admin,
        clock,
        key,
        keys_file,
        _dir: dir,
        _stop: tx,
    }
}

impl Api {
    async fn check(&self, path: &str, payload: &Value) -> support::Reply {
        let key = self.key.clone();
        call(
            self.api,
            "POST",
            path,
            &[("x-api-key", &key)],
            &payload.to_string(),
        )
        .await
    }
}

/// What a Stage0 client concludes from an answer: it reads exactly these fields with these
/// types, and anything it cannot read is a DENY (fail closed). An ALLOW carrying a HIGH
/// issue or a risk score of 100 is denied locally.
fn stage0_client(status: u16, body: &[u8]) -> &'static str {
    let parse = || -> Option<&'static str> {
        if status == 429 {
            return Some("DEFER");
        }
        if status != 200 {
            return None;
        }
        let v: Value = serde_json::from_slice(body).ok()?;
        let verdict = match v.get("verdict")?.as_str()? {
            "ALLOW" => "ALLOW",
            "DENY" => "DENY",
            "DEFER" => "DEFER",
            _ => return None,
        };
        let decision = v.get("decision")?.as_str()?;
        let paired = matches!(
            (verdict, decision),
            ("ALLOW", "GO") | ("DENY", "NO_GO") | ("DEFER", "DEFER")
        );
        let mut high = false;
        for issue in v.get("issues")?.as_array()? {
            issue.get("code")?.as_str()?;
            issue.get("message")?.as_str()?;
            high |= match issue.get("severity")?.as_str()? {
                "HIGH" => true,
                "MEDIUM" | "LOW" => false,
                _ => return None,
            };
        }
        v.get("reason")?.as_str()?;
        let questions = v.get("clarifying_questions")?.as_array()?;
        if questions.iter().any(|q| !q.is_string()) {
            return None;
        }
        v.get("request_id")?.as_str()?;
        v.get("policy_version")?.as_str()?;
        v.get("evaluated_at")?.as_f64()?;
        let risk = v.get("risk_score")?.as_u64()?;
        v.get("high_risk")?.as_bool()?;
        if !paired || risk > 100 {
            return None;
        }
        Some(if verdict == "ALLOW" && (high || risk == 100) {
            "DENY"
        } else {
            verdict
        })
    };
    parse().unwrap_or("DENY")
}

fn assert_stage0_fields(v: &Value, what: &str) {
    let t = |k: &str, ok: fn(&Value) -> bool| {
        assert!(v.get(k).is_some_and(ok), "{what}: {k} = {:?}", v.get(k));
    };
    t("decision", Value::is_string);
    t("verdict", Value::is_string);
    t("reason", |r| r.as_str().is_some_and(|s| !s.is_empty()));
    t("defer_questions", Value::is_array);
    t("clarifying_questions", Value::is_array);
    t("request_id", Value::is_string);
    t("policy_version", Value::is_string);
    t("policy_pack_version", Value::is_string);
    t("risk_score", |r| r.as_u64().is_some_and(|n| n <= 100));
    t("high_risk", Value::is_boolean);
    t("evaluated_at", Value::is_number);
    t("timestamp", Value::is_number);
    t("cached", |c| c == &json!(false));
    assert_eq!(v["defer_questions"], v["clarifying_questions"], "{what}");
    for issue in v["issues"].as_array().unwrap() {
        let sev = issue["severity"].as_str().unwrap();
        assert!(sev == "HIGH" || sev == "MEDIUM", "{what}: {issue}");
        assert!(
            issue["code"].is_string() && issue["message"].is_string(),
            "{what}: {issue}"
        );
    }
    if v["verdict"] == "ALLOW" {
        assert!(v["issues"].as_array().unwrap().is_empty(), "{what}");
        assert!(v["risk_score"].as_u64().unwrap() < 100, "{what}");
    }
}

/// The example bundle's `check:` scenarios, with their instants and expected verdicts.
fn bundle_scenarios() -> Vec<(String, String, Value, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools/tests.yaml");
    let suite: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    suite["spec"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t.get("check").is_some())
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["now"].as_str().unwrap().to_owned(),
                t["check"].clone(),
                t["expect"]["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn stage0_clients_read_every_decision_and_conclude_toolgates_verdict() {
    let api = start().await;
    let mut cases = bundle_scenarios();
    assert!(
        cases.len() >= 4,
        "the example bundle has its seed scenarios"
    );
    let deny = json!({"goal": "Delete tenant t-1", "tools": ["internal_db"],
        "side_effects": ["delete"], "constraints": ["required_role:platform_admin"],
        "context": {"actor_role": "viewer", "environment": "production"}});
    cases.push((
        "a viewer deleting".into(),
        support::NOW.into(),
        deny,
        "DENY".into(),
    ));
    for (name, now, payload, want) in &cases {
        api.clock.set(now);
        let r = api.check("/check", payload).await;
        assert_eq!(r.status, 200, "{name}: {:?}", r.body);
        let v = r.json();
        assert_stage0_fields(&v, name);
        assert_eq!(v["verdict"], json!(want), "{name}: {v}");
        assert_eq!(
            r.header("x-toolgate-verdict"),
            Some(want.as_str()),
            "{name}"
        );
        assert_eq!(
            stage0_client(r.status, &r.body),
            want,
            "{name}: the client concluded otherwise"
        );
        // /v1/check is toolgate's own JSON, unchanged: the same verdict and issue codes.
        let own = api.check("/v1/check", payload).await.json();
        assert_eq!(own["verdict"], v["verdict"], "{name}");
        let codes: Vec<Value> = v["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["code"].clone())
            .collect();
        assert_eq!(own["issues"], Value::from(codes), "{name}");
        assert!(
            own["evaluated_at"].is_string(),
            "{name}: /v1/check keeps RFC 3339"
        );
    }
    // The seed payloads as published (tests/fixtures/seeds): whatever toolgate decides, the
    // client reads it and concludes the same.
    api.clock.set(support::NOW);
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds");
    let mut read = 0;
    for entry in std::fs::read_dir(seeds).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let payload: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let r = api.check("/check", &payload).await;
        let what = path.display().to_string();
        assert_eq!(r.status, 200, "{what}");
        assert_stage0_fields(&r.json(), &what);
        let own = api.check("/v1/check", &payload).await.json();
        assert_eq!(
            stage0_client(r.status, &r.body),
            own["verdict"].as_str().unwrap(),
            "{what}"
        );
        read += 1;
    }
    assert_eq!(read, 3, "the three seed payloads");
    let seen: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.3.as_str()).collect();
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["ALLOW", "DEFER", "DENY"]
    );
    // A client fails closed on what it cannot read.
    assert_eq!(stage0_client(200, br#"{"verdict":"ALLOW"}"#), "DENY");
    assert_eq!(stage0_client(500, b"{}"), "DENY");
}

#[tokio::test]
async fn keys_are_required_and_the_trail_names_them() {
    let api = start().await;
    let payload =
        json!({"goal": "Read a payout", "tools": ["payments_api"], "side_effects": ["read"]});
    let body = payload.to_string();
    for headers in [
        vec![],
        vec![("x-api-key", "tg_wrong")],
        vec![("authorization", "Bearer ")],
    ] {
        let r = call(api.api, "POST", "/check", &headers, &body).await;
        assert_eq!(r.status, 401, "{headers:?}");
        assert_eq!(r.json()["error"], "UNAUTHORIZED");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    let bearer = format!("Bearer {}", api.key);
    let r = call(
        api.api,
        "POST",
        "/check",
        &[("authorization", &bearer), ("x-request-id", "chk-1")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["request_id"], "chk-1");
    // The record is found by its request id, like a proxied one.
    let mut record = Value::Null;
    for _ in 0..200 {
        let d = call(api.admin, "GET", "/v1/decisions/chk-1", &[], "").await;
        if d.status == 200 {
            record = d.json();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(record["final_runtime_action"], "decision_only", "{record}");
    assert_eq!(record["api_key"], "orchestrator", "{record}");
    assert_eq!(record["policy_version"], "tools@1.0.0");
    let m = call(api.admin, "GET", "/metrics", &[], "").await;
    let text = String::from_utf8_lossy(&m.body);
    assert!(
        text.contains(r#"toolgate_api_checks_total{key="orchestrator",verdict="allow"} 1"#),
        "{text}"
    );
    assert!(text.contains("toolgate_api_unauthorized_total 3"), "{text}");
    // A new key added to the file works without a restart; a removed one stops working.
    let (second, line) = toolgate::api::keys::new_key("ci").unwrap();
    std::fs::write(&api.keys_file, format!("{line}\n")).unwrap();
    let mut ok = false;
    for _ in 0..500 {
        let r = call(api.api, "POST", "/check", &[("x-api-key", &second)], &body).await;
        if r.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ok, "the new key was not picked up");
    let r = call(api.api, "POST", "/check", &[("x-api-key", &api.key)], &body).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field_and_decides_nothing() {
    let api = start().await;
    let key = api.key.clone();
    let table: &[(&str, u16, &str)] = &[
        ("{", 400, "(payload)"),
        (r#"{"tools": []}"#, 400, "(payload)"),
        (r#"{"goal": "x", "tools": "payments_api"}"#, 400, "tools"),
        (
            r#"{"goal": "x", "context": {"current_iteration": "three"}}"#,
            400,
            "current_iteration",
        ),
    ];
    for (body, status, field) in table {
        let r = call(api.api, "POST", "/check", &[("x-api-key", &key)], body).await;
        assert_eq!(r.status, *status, "{body}: {:?}", r.body);
        let v = r.json();
        assert_eq!(v["error"], "INVALID_PAYLOAD", "{body}");
        assert!(v["field"].as_str().unwrap().contains(field), "{body}: {v}");
        assert!(v.get("verdict").is_none(), "{body}: no decision");
    }
    let big = format!(r#"{{"goal": "{}"}}"#, "x".repeat(2 << 20));
    let r = call(api.api, "POST", "/check", &[("x-api-key", &key)], &big).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "PAYLOAD_TOO_LARGE");
    assert_eq!(r.json()["field"], "(payload)");
    let r = call(api.api, "GET", "/check", &[("x-api-key", &key)], "").await;
    assert_eq!(r.status, 405);
    let r = call(api.api, "POST", "/v1/reload", &[("x-api-key", &key)], "").await;
    assert_eq!(
        r.status, 404,
        "operator endpoints stay on the admin listener"
    );
}

#[tokio::test]
async fn a_key_over_its_quota_is_told_when_to_come_back() {
    let api = start_with(" per_minute=3 per_month=5").await;
    let payload =
        json!({"goal": "Read a payout", "tools": ["payments_api"], "side_effects": ["read"]});
    let usage = || async {
        let key = api.key.clone();
        call(api.api, "GET", "/usage", &[("x-api-key", &key)], "")
            .await
            .json()
    };
    for i in 0..3 {
        assert_eq!(api.check("/check", &payload).await.status, 200, "check {i}");
    }
    let r = api.check("/check", &payload).await;
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert_eq!(r.json()["error"], "QUOTA_EXCEEDED");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // A Stage0 client maps 429 to DEFER.
    assert_eq!(stage0_client(r.status, &r.body), "DEFER");
    let u = usage().await;
    assert_eq!(u["key"], "orchestrator");
    assert_eq!(u["used"], json!({"minute": 3, "month": 3}), "{u}");
    assert_eq!(u["limits"], json!({"per_minute": 3, "per_month": 5}), "{u}");
    // A minute on, the window has room; the month has two left.
    api.clock.set("2026-03-16T10:01:01Z");
    for i in 0..2 {
        assert_eq!(api.check("/check", &payload).await.status, 200, "check {i}");
    }
    let r = api.check("/check", &payload).await;
    assert_eq!(r.status, 429);
    let month_left: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(month_left > 86_400, "until April: {month_left}s");
    assert_eq!(usage().await["used"]["month"], 5);
    // Next month, counts start again.
    api.clock.set("2026-04-01T00:00:01Z");
    assert_eq!(api.check("/check", &payload).await.status, 200);
    assert_eq!(usage().await["used"], json!({"minute": 1, "month": 1}));
}

#[tokio::test]
async fn the_decision_api_speaks_tls_with_the_proxys_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let cert = support::test_cert(certs.path());
    let api = start_tls("", Some((cert.cert.clone(), cert.key.clone()))).await;
    let (tls, _) = support::tls_connect(api.api, &cert, &[b"http/1.1"]).await;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let payload =
        json!({"goal": "Read a payout", "tools": ["payments_api"], "side_effects": ["read"]});
    let req = http::Request::post("/check")
        .header("host", "localhost")
        .header("x-api-key", &api.key)
        .body(http_body_util::Full::new(bytes::Bytes::from(
            payload.to_string(),
        )))
        .unwrap();
    let r = support::read_reply(tx.send_request(req).await.unwrap())
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["verdict"], "ALLOW");
    // Plain text on the TLS listener gets no decision.
    let plain = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        support::send_h1(
            api.api,
            support::request("POST", api.api, "/check", &[], "{}"),
        ),
    )
    .await
    .expect("the listener answers or closes");
    assert!(plain.is_err(), "{plain:?}");
}
