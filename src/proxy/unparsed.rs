//! Requests refused before hyper parsed them: the HTTP/1.1 framing guard
//! (`crate::server`) judges every head first and puts a stand-in request in the place of
//! one it refuses, which is answered here: tagged, audited and counted like any other
//! refusal (route `unmatched`), instead of hyper's bare status line.

use super::refusal::{Refusal, RenderCx};
use super::trail::Trail;
use super::Gate;
use crate::body::{self, ProxyBody};
use crate::headers::{self, Tags};
use http::{header, HeaderMap, HeaderValue, Method, Response};
use std::fmt;

/// Header fields a request head may have: hyper's own default, which the guard enforces
/// first so that the refusal is toolgate's.
pub const MAX_HEADER_FIELDS: usize = 100;

/// Why a request head was refused before hyper parsed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The head is not HTTP/1.x as RFC 9112 writes it (httparse's reason).
    Malformed(&'static str),
    /// The head is over the connection's limit, in bytes or fields (431).
    TooLarge(usize),
    /// The request target is over hyper's limit (414).
    UriTooLong,
    /// A transfer coding other than `chunked` (501, RFC 9112 §6.1).
    UnknownCoding(String),
    /// Transfer-Encoding or Content-Length that does not frame one body unambiguously.
    Ambiguous(&'static str),
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Framing::Malformed(why) => write!(f, "malformed request head: {why}"),
            Framing::TooLarge(limit) => write!(
                f,
                "request head is over {limit} bytes or {} header fields",
                MAX_HEADER_FIELDS
            ),
            Framing::UriTooLong => f.write_str("request target is too long"),
            Framing::UnknownCoding(c) => write!(
                f,
                "transfer coding {c:?} is not supported (only chunked is)"
            ),
            Framing::Ambiguous(why) => write!(f, "ambiguous message framing: {why}"),
        }
    }
}

/// What the guard could read of a refused head, for the audit record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefusedHead {
    pub method: Option<String>,
    pub target: Option<String>,
}

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
        &Tags {
            request_id: &request_id,
            verdict: r.verdict.as_str(),
            policy_version: &snapshot.meta.policy_version,
        },
    );
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, trail.follow(body))
}
