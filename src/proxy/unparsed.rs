//! Requests refused before hyper parsed them: the HTTP/1.1 framing guard
//! (in the proxy listener) judges every head first and puts a stand-in request in the place of
//! one it refuses, which is answered here: tagged, audited and counted like any other
//! refusal (route `unmatched`), instead of hyper's bare status line.

use super::refusal::{Framing, Refusal, RefusedHead, RenderCx};
use super::trail::Trail;
use super::Gate;
use crate::body::{self, ProxyBody};
use crate::headers::{self, Tags};
use http::{header, HeaderMap, HeaderValue, Method, Response};

/// Answers the stand-in for a head the guard refused: a refusal like any other (decision
/// body, request id, tags, one audit record, the `unmatched` count), and the connection
/// closes after it.
pub fn refuse_unparsed(gate: &Gate, why: Framing, head: RefusedHead) -> Response<ProxyBody> {
    let snapshot = gate.snapshot.load();
    let now = (gate.clock)();
    let request_id = gate.ids.mint();
    // Unparsed parts are recorded as `-`; a method hyper would not read is not a method.
    let method = head
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or_else(|| Method::from_bytes(b"-").expect("a token"));
    let path = head.target.unwrap_or_else(|| "-".into());
    let mut trail = Trail::start(
        &gate.ops,
        &snapshot,
        now,
        &request_id,
        &method,
        &HeaderMap::new(),
        &path,
    );
    trail.unmatched();
    let cx = RenderCx {
        request_id: &request_id,
        policy_version: &snapshot.meta.policy_version,
        policy_digest: &snapshot.meta.digest,
        route: trail.route_label(),
        now,
    };
    let r = Refusal::Unparsed(why).render(&cx);
    trail.refused(&r);
    tracing::debug!(
        request_id,
        status = r.status.as_u16(),
        "request head refused"
    );
    let mut resp = Response::new(body::full(r.body));
    *resp.status_mut() = r.status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers::tag(
        h,
        &Tags::new(&request_id, &snapshot.meta.policy_version_header),
        r.verdict.as_str(),
    );
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, trail.follow(body))
}
