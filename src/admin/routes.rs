//! The admin endpoints, one function each, and the table that routes to them. Every answer
//! is JSON except `/metrics` (Prometheus text) and `/healthz` (plain text); errors are
//! `{error, message}` (plus `field` for a malformed `/v1/check` payload).

use super::Admin;
use crate::headers::{self, Tags};
use crate::policy::CheckRequest;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::atomic::Ordering;

use crate::reply::{error, json_reply, read_payload, reply, Reply};

/// Routes one admin request.
pub(super) async fn route(admin: &Admin, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let allowed = match path.as_str() {
        "/metrics" | "/healthz" | "/readyz" | "/v1/bundle" => Method::GET,
        "/v1/check" | "/v1/reload" => Method::POST,
        p if p.starts_with("/v1/decisions/") => Method::GET,
        _ => return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such admin endpoint"),
    };
    if method != allowed {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            &format!("{path} takes {allowed}"),
        );
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_str(allowed.as_str()).unwrap_or(HeaderValue::from_static("GET")),
        );
        return r;
    }
    match path.as_str() {
        "/metrics" => metrics(admin),
        "/healthz" => healthz(admin),
        "/readyz" => readyz(admin),
        "/v1/bundle" => bundle(admin),
        "/v1/reload" => reload(admin).await,
        "/v1/check" => check(admin, req).await,
        _ => decision(admin, &path["/v1/decisions/".len()..]).await,
    }
}

/// Liveness: 200 while the process serves. The state store's health is reported, not
/// enforced: a sidecar whose Redis is down still serves every request that needs no state,
/// and a restart would not bring Redis back.
fn healthz(admin: &Admin) -> Reply {
    let state = &admin.ops.state;
    let up = if state.is_up() { "up" } else { "down" };
    let body = format!("ok\nstate: {} {up}\n", state.backend());
    reply(StatusCode::OK, "text/plain; charset=utf-8", body)
}

/// `GET /metrics`: the one registry, Prometheus text format 0.0.4.
fn metrics(admin: &Admin) -> Reply {
    reply(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        admin.ops.metrics.encode(),
    )
}

/// `GET /readyz`: 200 while a bundle serves and the proxy is not draining, else 503. (A
/// bundle is always active once the sidecar runs: it refuses to start without one.)
fn readyz(admin: &Admin) -> Reply {
    let version = admin.live.snapshot().load().meta.policy_version.clone();
    if admin.draining.load(Ordering::SeqCst) {
        let body = json!({ "ready": false, "reason": "draining", "policy_version": version });
        json_reply(StatusCode::SERVICE_UNAVAILABLE, &body)
    } else {
        json_reply(
            StatusCode::OK,
            &json!({ "ready": true, "policy_version": version }),
        )
    }
}

/// `GET /v1/bundle`: the live bundle (name, version, digest, loaded_at, route count, last
/// reload error) and, under `candidate`, the candidate's (null when none is configured).
fn bundle(admin: &Admin) -> Reply {
    let mut body = json!(admin.live.status());
    body["candidate"] = json!(admin.candidate.as_ref().map(|c| c.status()));
    json_reply(StatusCode::OK, &body)
}

/// `POST /v1/reload`: reloads the live bundle now (and the candidate, if configured). 200
/// with what changed; 422 when the live bundle on disk is invalid (it keeps serving).
async fn reload(admin: &Admin) -> Reply {
    let candidate = match &admin.candidate {
        Some(c) => Some(match c.reload(crate::reload::Trigger::Api).await {
            Ok(o) => json!(o),
            Err(e) => json!({ "error": "RELOAD_FAILED", "message": e.to_string() }),
        }),
        None => None,
    };
    match admin.live.reload_now().await {
        Ok(outcome) => json_reply(
            StatusCode::OK,
            &json!({ "live": outcome, "candidate": candidate }),
        ),
        Err(e) => {
            let serving = admin.live.snapshot().load().meta.policy_version.clone();
            let body = json!({
                "error": "RELOAD_FAILED",
                "message": e.to_string(),
                "serving": serving,
                "candidate": candidate,
            });
            json_reply(StatusCode::UNPROCESSABLE_ENTITY, &body)
        }
    }
}

/// `POST /v1/check`: a Stage0 `/check` payload decided by the live bundle at the proxy's
/// clock. 200 with the decision whatever the verdict; 400 for a malformed payload; 413 over
/// `limits.max_body_bytes`. Nothing is forwarded, counted as a proxy decision or audited:
/// it is a question, not an action.
async fn check(admin: &Admin, req: Request<Incoming>) -> Reply {
    let request_id = admin.ids.take_or_mint(req.headers());
    let payload = match read_body(admin, req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let invalid = |e: crate::policy::PayloadError| {
        let body = json!({ "error": "INVALID_PAYLOAD", "field": e.field, "message": e.message });
        json_reply(StatusCode::BAD_REQUEST, &body)
    };
    let request = match CheckRequest::from_json(&payload) {
        Ok(r) => r,
        Err(e) => return invalid(e),
    };
    // One load: the facts, the evaluation and the reported version are the same bundle's.
    let snapshot = admin.live.snapshot().load_full();
    let decision =
        match crate::decide::check(&snapshot, &request, request_id.clone(), (admin.clock)()) {
            Ok(d) => d,
            Err(e) => return invalid(e),
        };
    let mut r = json_reply(StatusCode::OK, &decision);
    headers::tag(
        r.headers_mut(),
        &Tags::new(&request_id, &snapshot.meta.policy_version_header),
        decision.verdict.as_str(),
    );
    r
}

async fn read_body(admin: &Admin, body: Incoming) -> Result<Bytes, Reply> {
    read_payload(body, admin.max_body_bytes, admin.body_read_timeout).await
}

/// `GET /v1/decisions/{request_id}`: the audit record of a recent request (from the ring of
/// the last `audit.recent` records), or 404.
async fn decision(admin: &Admin, request_id: &str) -> Reply {
    if !headers::is_valid_request_id(request_id.as_bytes()) {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "not a request id");
    }
    let audit = &admin.ops.audit;
    let found = match audit.recent(request_id) {
        Some(r) => Some(r),
        None => {
            // Records reach the ring through the writer: let it catch up once.
            audit.flush().await;
            audit.recent(request_id)
        }
    };
    match found {
        Some(rec) => json_reply(StatusCode::OK, &*rec),
        None => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no recent decision with this request id (only the latest audit.recent are kept)",
        ),
    }
}
