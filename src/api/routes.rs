//! The decision API's endpoints: `POST /check` (Stage0's wire format), `POST /v1/check`
//! (toolgate's decision JSON). A missing or unknown key is 401 before anything is read.

use super::stage0::stage0;
use super::DecisionApi;
use crate::audit::{AuditRecord, FinalAction};
use crate::headers::{self, Tags};
use crate::policy::{CheckRequest, Decision};
use crate::reply::{error, json_reply, read_payload, Reply};
use http::{header, HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::Arc;

/// Which answer shape a check gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Stage0,
    Toolgate,
}

pub(super) async fn route(api: &DecisionApi, req: Request<Incoming>) -> Reply {
    let shape = match req.uri().path() {
        "/check" => Shape::Stage0,
        "/v1/check" => Shape::Toolgate,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such endpoint: POST /check or POST /v1/check",
            )
        }
    };
    if req.method() != Method::POST {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "takes POST",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let Some(key) = authenticate(api, req.headers()) else {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "a valid API key is required (x-api-key, or Authorization: Bearer)",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        api.ops.metrics.api.unauthorized();
        return r;
    };
    let request_id = api.ids.take_or_mint(req.headers());
    let payload =
        match read_payload(req.into_body(), api.max_body_bytes, api.body_read_timeout).await {
            Ok(b) => b,
            Err(r) => return r,
        };
    let invalid = |e: crate::policy::PayloadError| {
        let body = json!({ "error": "INVALID_PAYLOAD", "field": e.field, "message": e.message, "request_id": request_id });
        json_reply(StatusCode::BAD_REQUEST, &body)
    };
    let request = match CheckRequest::from_json(&payload) {
        Ok(r) => r,
        Err(e) => return invalid(e),
    };
    // One load: the facts, the evaluation and the reported version are the same bundle's.
    let snapshot = api.snapshot.load_full();
    let now = (api.clock)();
    let decision = match crate::decide::check(&snapshot, &request, request_id.clone(), now) {
        Ok(d) => d,
        Err(e) => return invalid(e),
    };
    api.ops.metrics.api.checked(&key, decision.verdict);
    record(api, &key, &request, &snapshot.amount_field, &decision, now);
    let mut r = match shape {
        Shape::Stage0 => json_reply(StatusCode::OK, &stage0(&decision, now)),
        Shape::Toolgate => json_reply(StatusCode::OK, &decision),
    };
    headers::tag(
        r.headers_mut(),
        &Tags {
            request_id: &request_id,
            verdict: decision.verdict.as_str(),
            policy_version: &snapshot.meta.policy_version,
        },
    );
    r
}

/// The name of the key the caller presented, if it is one of the keys file's.
fn authenticate(api: &DecisionApi, h: &http::HeaderMap) -> Option<Arc<str>> {
    let presented = h
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            h.get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
        })?
        .trim();
    if presented.is_empty() {
        return None;
    }
    api.keys.load().find(presented).map(|k| k.name.clone())
}

/// One audit record per call, found by its request id like a proxied one.
fn record(
    api: &DecisionApi,
    key: &Arc<str>,
    request: &CheckRequest,
    amount_field: &str,
    d: &Decision,
    now: jiff::Timestamp,
) {
    let mut rec = AuditRecord::new(
        now,
        Arc::from(d.request_id.as_str()),
        Method::POST,
        Arc::from("/check"),
        d.policy_version.clone(),
        d.verdict,
    );
    if let Ok(facts) = request.facts(amount_field) {
        rec.set_facts(&facts);
    }
    rec.environment = d.environment.as_deref().map(Arc::from);
    rec.issues = d.issues;
    rec.risk = d.risk.score;
    rec.route = d.route.clone();
    rec.tools = request
        .tools
        .iter()
        .map(|t| t.as_str().into())
        .collect::<Vec<Box<str>>>()
        .into();
    rec.side_effects = request
        .side_effects
        .iter()
        .map(|t| t.as_str().into())
        .collect::<Vec<Box<str>>>()
        .into();
    rec.final_runtime_action = FinalAction::DecisionOnly;
    rec.api_key = Some(key.clone());
    api.ops.audit.record(rec);
}
