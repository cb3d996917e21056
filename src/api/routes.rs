//! The decision API's endpoints: `POST /check` (Stage0's wire format), `POST /v1/check`
//! (toolgate's decision JSON). A missing or unknown key is 401 before anything is read.

use super::keys::KeyEntry;
use super::stage0::stage0;
use super::DecisionApi;
use crate::audit::{AuditRecord, FinalAction};
use crate::headers::{self, Tags};
use crate::policy::{CheckRequest, Decision};
use crate::reply::{error, json_reply, read_payload, Reply};
use crate::state::plan::Op;
use crate::state::quota::{month_of, QuotaLimits};
use crate::state::Applied;
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
    let (shape, allowed) = match req.uri().path() {
        "/check" => (Some(Shape::Stage0), Method::POST),
        "/v1/check" => (Some(Shape::Toolgate), Method::POST),
        "/usage" => (None, Method::GET),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such endpoint: POST /check, POST /v1/check, GET /usage",
            )
        }
    };
    if req.method() != allowed {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            &format!("takes {allowed}"),
        );
        let allow =
            HeaderValue::from_str(allowed.as_str()).unwrap_or(HeaderValue::from_static("POST"));
        r.headers_mut().insert(header::ALLOW, allow);
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
    let Some(shape) = shape else {
        return usage(api, &key).await;
    };
    if let Err(r) = count(api, &key).await {
        return r;
    }
    let key = key.name;
    let request_id = api.ids.take_or_mint(req.headers());
    let payload = match read_payload(req.into_body(), api.max_body_bytes, api.body_read_timeout)
        .await
    {
        Ok(b) => b,
        // The contract Stage0 clients get: every unreadable payload is a 400 that names
        // what is wrong (the admin listener answers 413 here).
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = format!(
                "the payload is over the {}-byte limit (limits.max_body_bytes)",
                api.max_body_bytes
            );
            let body =
                json!({ "error": "PAYLOAD_TOO_LARGE", "field": "(payload)", "message": message });
            return json_reply(StatusCode::BAD_REQUEST, &body);
        }
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
        &Tags::new(&request_id, &snapshot.meta.policy_version_header),
        decision.verdict.as_str(),
    );
    r
}

/// Counts one check against the key's quota, in the state store (shared by replicas):
/// over it, 429 with `Retry-After` (Stage0 clients defer); a store that fails, 503.
async fn count(api: &DecisionApi, key: &KeyEntry) -> Result<(), Reply> {
    let state = &api.ops.state;
    let now = (api.clock)();
    let plan = state.planner(now).quota(&key.name, key.quota);
    if plan.is_empty() {
        return Ok(());
    }
    match state.apply(&plan).await {
        Ok(Applied::Granted) => Ok(()),
        Ok(Applied::Refused(refused)) => {
            let (_, month_left_ms) = month_of(now);
            let wait_ms = refused
                .iter()
                .map(|r| match plan.ops.get(r.op) {
                    Some(Op::Rate { .. }) => r.value.max(1),
                    _ => month_left_ms,
                })
                .max()
                .unwrap_or(1000);
            let seconds = (wait_ms as u64).div_ceil(1000).max(1);
            api.ops.metrics.api.over_quota(&key.name);
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "QUOTA_EXCEEDED",
                &format!(
                    "key {:?} is over its quota; retry in {seconds}s (GET /usage shows the counts)",
                    key.name
                ),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            Err(r)
        }
        Err(e) => {
            tracing::warn!(key = %key.name, error = %e, "decision API: quota not countable");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "STATE_UNAVAILABLE",
                "the key's quota could not be counted: the state store did not answer",
            ))
        }
    }
}

/// `GET /usage`: the calling key's counts and limits.
async fn usage(api: &DecisionApi, key: &KeyEntry) -> Reply {
    let now = (api.clock)();
    let state = &api.ops.state;
    // Both counts are read, limited or not: an unlimited key still sees its use.
    let everything = QuotaLimits {
        per_minute: Some(key.quota.per_minute.unwrap_or(u64::from(u32::MAX))),
        per_month: Some(key.quota.per_month.unwrap_or(i64::MAX as u64)),
    };
    let plan = state.planner(now).quota(&key.name, everything);
    match state.peek(&plan).await {
        Ok(used) => json_reply(
            StatusCode::OK,
            &json!({
                "key": &*key.name,
                "month": month_of(now).0,
                "used": { "minute": used.first(), "month": used.get(1) },
                "limits": { "per_minute": key.quota.per_minute, "per_month": key.quota.per_month },
            }),
        ),
        Err(e) => {
            tracing::warn!(key = %key.name, error = %e, "decision API: usage not readable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "STATE_UNAVAILABLE",
                "the key's counts could not be read: the state store did not answer",
            )
        }
    }
}

/// The key the caller presented, if it is one of the keys file's.
fn authenticate(api: &DecisionApi, h: &http::HeaderMap) -> Option<KeyEntry> {
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
    api.keys.load().find(presented).cloned()
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
