//! The inbox's routes: pages for people (`/`, `/reviews/{id}`, `/decisions/{request_id}`,
//! POST forms to approve or reject), the same for machines under `/api/` (JSON; a POST
//! must be `application/json`, which no cross-site form can send), and `/healthz` and
//! `/inbox.css`, the only answers without a reviewer. Every answer carries a strict
//! Content-Security-Policy and is never cached.

use super::action::{ActionError, Ask};
use super::csrf::{form, same_origin};
use super::html::{self, Page};
use super::reviewer::Reviewer;
use super::{Inbox, LISTED};
use crate::identity::ClientCert;
use crate::reply::{error, json_reply, read_payload, reply, Reply};
use crate::state::review::{Review, ReviewStatus};
use http::{header, HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;
use std::time::Duration;

/// A form or JSON body's largest size.
const MAX_FORM: u64 = 16 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn route(
    inbox: &Inbox,
    mut req: Request<Incoming>,
    cert: Option<&ClientCert>,
) -> Reply {
    // HTTP/2 carries the host in the URI, not a Host header: the origin check needs it.
    if !req.headers().contains_key(header::HOST) {
        let authority = req.uri().authority().map(|a| a.as_str().to_owned());
        if let Some(v) = authority.and_then(|a| HeaderValue::from_str(&a).ok()) {
            req.headers_mut().insert(header::HOST, v);
        }
    }
    let mut resp = answer(inbox, req, cert).await;
    let h = resp.headers_mut();
    let csp = HeaderValue::from_static(html::CONTENT_SECURITY_POLICY);
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn page(status: StatusCode, body: String) -> Reply {
    reply(status, "text/html; charset=utf-8", body)
}

async fn answer(inbox: &Inbox, req: Request<Incoming>, cert: Option<&ClientCert>) -> Reply {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => return reply(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, "/metrics") => {
            let text = inbox.ops.metrics.encode();
            return reply(StatusCode::OK, "text/plain; version=0.0.4", text);
        }
        (&Method::GET, "/inbox.css") => {
            return reply(StatusCode::OK, "text/css; charset=utf-8", html::STYLESHEET)
        }
        _ => {}
    }
    let api = path.starts_with("/api/");
    let Some(reviewer) = inbox.reviewers.reviewer(req.headers(), cert) else {
        let why = "No verified reviewer identity: the inbox is reached through the authenticating proxy (or with a client certificate).";
        if method == Method::POST {
            inbox.ops.metrics.review.refused("REVIEWER_UNKNOWN");
        }
        return if api {
            error(StatusCode::UNAUTHORIZED, "REVIEWER_UNKNOWN", why)
        } else {
            page(
                StatusCode::UNAUTHORIZED,
                html::message(None, "Sign-in required", why),
            )
        };
    };
    let now = (inbox.clock)();
    let csrf = inbox.csrf.token(&reviewer.name, now.as_second());
    let pg = Page {
        reviewer: &reviewer.name,
        csrf: &csrf,
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let segments: Vec<String> = segments
        .iter()
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (&method, seg.as_slice()) {
        (&Method::GET, [""]) => match inbox.ops.state.reviews(LISTED, now).await {
            Ok(all) => {
                let (pending, decided) = split(all);
                page(
                    StatusCode::OK,
                    html::inbox(&pg, &pending, &decided, now.as_millisecond()),
                )
            }
            Err(e) => unavailable(&pg, &e.to_string()),
        },
        (&Method::GET, ["reviews", id]) => match inbox.ops.state.review_get(id, now).await {
            Ok(Some(r)) => {
                let notice = notice_for(&r, &reviewer);
                page(
                    StatusCode::OK,
                    html::review(&pg, &r, now.as_millisecond(), notice.as_deref()),
                )
            }
            Ok(None) => page(
                StatusCode::NOT_FOUND,
                html::message(
                    Some(&pg),
                    "Not found",
                    "No such review (it may have expired).",
                ),
            ),
            Err(e) => unavailable(&pg, &e.to_string()),
        },
        (&Method::POST, ["reviews", id, verb @ ("approve" | "reject")]) => {
            let result = form_action(inbox, req, &reviewer, verb, now.as_second()).await;
            let result = match result {
                Ok(ask) => inbox.decide(id, &reviewer, ask).await.map(drop),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => see_other(&format!("/reviews/{id}")),
                Err(e) => {
                    inbox.ops.metrics.review.refused(e.code());
                    refused_page(inbox, &pg, id, &e, now).await
                }
            }
        }
        (&Method::GET, ["decisions", rid]) => {
            let (record, review) = trace(inbox, rid, now).await;
            page(
                StatusCode::OK,
                html::trace(&pg, rid, record.as_ref(), review.as_ref()),
            )
        }
        (&Method::GET, ["api", "reviews"]) => match inbox.ops.state.reviews(LISTED, now).await {
            Ok(all) => json_reply(StatusCode::OK, &serde_json::json!({ "reviews": all })),
            Err(e) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "STATE_UNAVAILABLE",
                &e.to_string(),
            ),
        },
        (&Method::GET, ["api", "reviews", id]) => match inbox.ops.state.review_get(id, now).await {
            Ok(Some(r)) => json_reply(StatusCode::OK, &r),
            Ok(None) => error(StatusCode::NOT_FOUND, "REVIEW_NOT_FOUND", "no such review"),
            Err(e) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "STATE_UNAVAILABLE",
                &e.to_string(),
            ),
        },
        (&Method::POST, ["api", "reviews", id, verb @ ("approve" | "reject")]) => {
            let result = match json_action(req, verb).await {
                Ok(ask) => inbox.decide(id, &reviewer, ask).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(r) => json_reply(StatusCode::OK, &r),
                Err(e) => {
                    inbox.ops.metrics.review.refused(e.code());
                    error(e.status(), e.code(), &e.to_string())
                }
            }
        }
        (&Method::GET, ["api", "decisions", rid]) => {
            let (record, review) = trace(inbox, rid, now).await;
            match record {
                Some(record) => json_reply(
                    StatusCode::OK,
                    &serde_json::json!({ "record": record, "review": review }),
                ),
                None => error(
                    StatusCode::NOT_FOUND,
                    "DECISION_NOT_FOUND",
                    "no decision with this request id is known",
                ),
            }
        }
        _ if api => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint"),
        _ => page(
            StatusCode::NOT_FOUND,
            html::message(Some(&pg), "Not found", "There is no such page."),
        ),
    }
}

/// Pending reviews oldest first; decided ones newest first.
fn split(all: Vec<Review>) -> (Vec<Review>, Vec<Review>) {
    let (mut pending, mut decided): (Vec<Review>, Vec<Review>) = all
        .into_iter()
        .partition(|r| r.status == ReviewStatus::Pending);
    pending.sort_by_key(|r| r.first_seen_ms);
    decided.sort_by_key(|r| std::cmp::Reverse(r.decided.as_ref().map_or(0, |d| d.decided_at_ms)));
    (pending, decided)
}

/// Why this reviewer cannot decide a pending review, said before they try.
fn notice_for(r: &Review, reviewer: &Reviewer) -> Option<String> {
    if r.status != ReviewStatus::Pending {
        return None;
    }
    super::action::may_decide(r, reviewer)
        .err()
        .map(|e| e.to_string())
}

/// A form POST: from the inbox's own pages, with this reviewer's CSRF token.
async fn form_action(
    inbox: &Inbox,
    req: Request<Incoming>,
    reviewer: &Reviewer,
    verb: &str,
    now_s: i64,
) -> Result<Ask, ActionError> {
    if !same_origin(req.headers()) {
        return Err(ActionError::CrossSite);
    }
    let body = read_payload(req.into_body(), MAX_FORM, READ_TIMEOUT)
        .await
        .map_err(|_| ActionError::BadForm("the form is too large or too slow".into()))?;
    let fields = form(&body);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    inbox
        .csrf
        .check(field("csrf").unwrap_or(""), &reviewer.name, now_s)?;
    ask(verb, field("ttl"), field("reason"))
}

/// A JSON POST: `{"ttl_seconds": N}` or `{"reason": "..."}`.
async fn json_action(req: Request<Incoming>, verb: &str) -> Result<Ask, ActionError> {
    if !same_origin(req.headers()) {
        return Err(ActionError::CrossSite);
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    if !json {
        return Err(ActionError::BadForm(
            "content-type must be application/json".into(),
        ));
    }
    let body = read_payload(req.into_body(), MAX_FORM, READ_TIMEOUT)
        .await
        .map_err(|_| ActionError::BadForm("the body is too large or too slow".into()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ActionError::BadForm(e.to_string()))?;
    let ttl = v.get("ttl_seconds").map(|t| t.to_string());
    ask(
        verb,
        ttl.as_deref(),
        v.get("reason").and_then(|r| r.as_str()),
    )
}

fn ask(verb: &str, ttl: Option<&str>, reason: Option<&str>) -> Result<Ask, ActionError> {
    if verb == "approve" {
        let ttl_seconds = ttl
            .and_then(|t| t.trim().parse::<i64>().ok())
            .ok_or_else(|| ActionError::BadForm("ttl: a number of seconds is required".into()))?;
        Ok(Ask::Approve { ttl_seconds })
    } else {
        Ok(Ask::Reject {
            reason: reason.unwrap_or("").to_owned(),
        })
    }
}

fn see_other(location: &str) -> Reply {
    let mut r = reply(StatusCode::SEE_OTHER, "text/plain", "");
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn unavailable(pg: &Page<'_>, why: &str) -> Reply {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        html::message(Some(pg), "State store unavailable", why),
    )
}

/// A refused decision: the review again, with why at the top.
async fn refused_page(
    inbox: &Inbox,
    pg: &Page<'_>,
    id: &str,
    e: &ActionError,
    now: jiff::Timestamp,
) -> Reply {
    tracing::info!(
        review_id = id,
        reviewer = pg.reviewer,
        code = e.code(),
        "review decision refused"
    );
    match inbox.ops.state.review_get(id, now).await {
        Ok(Some(r)) => page(
            e.status(),
            html::review(pg, &r, now.as_millisecond(), Some(&e.to_string())),
        ),
        _ => page(
            e.status(),
            html::message(Some(pg), "Not recorded", &e.to_string()),
        ),
    }
}

/// A request id's audit record (shared by the sidecars) and the review it opened or used.
async fn trace(
    inbox: &Inbox,
    rid: &str,
    now: jiff::Timestamp,
) -> (Option<serde_json::Value>, Option<Review>) {
    let record = inbox
        .ops
        .state
        .trace_get(rid, now)
        .await
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok());
    let review_id = record
        .as_ref()
        .and_then(|r| r.get("review_id"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let review = match review_id {
        Some(id) => inbox.ops.state.review_get(&id, now).await.ok().flatten(),
        None => None,
    };
    (record, review)
}
