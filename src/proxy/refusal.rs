//! Every way a request can end without the upstream's own response, as one enum, and the
//! ONE exhaustive `match` that turns each into a status, a verdict tag and a JSON body. A
//! new refusal cannot be added without deciding here what the client sees.
//!
//! Bodies: a policy DENY/DEFER carries the engine's decision; a request toolgate cannot
//! evaluate carries the same decision shape (`verdict: DENY`, one issue, `details: [why]`);
//! an upstream fault after an ALLOW carries `{error, message, request_id, verdict: ALLOW,
//! policy_version}`, since the decision was to let it through. A DEFER that asks for a
//! signed approval carries the decision and, beside its fields, `approval_request`.

use crate::approval::ApprovalRequest;
use crate::classify::target::TargetError;
use crate::extract::ExtractError;
use crate::forward;
use crate::metrics::UpstreamErrorKind;
use crate::policy::{Decision, DecisionKind, IssueCode, IssueSet, Risk, Verdict};
use bytes::Bytes;
use http::StatusCode;
use jiff::Timestamp;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// Why a request did not get the upstream's response.
#[derive(Debug)]
pub enum Refusal {
    /// Method, target form, `Host` or a reinterpreting header (400).
    BadTarget(TargetError),
    /// Request head over `limits.max_header_bytes` (431).
    HeadersTooLarge { size: usize, limit: usize },
    /// No route of the bundle maps this method and path (403, `ROUTE_NOT_MAPPED`).
    RouteNotMapped,
    /// The route's context could not be read from the request (400).
    BadContext(ExtractError),
    /// The request target could not be rebuilt for the upstream (400).
    BadUpstreamTarget(String),
    /// The body is larger than `limits.max_body_bytes` (413).
    BodyTooLarge { limit: u64 },
    /// A body toolgate reads did not arrive within `limits.body_read_timeout` (408).
    BodyTimeout,
    /// The client's body stream failed before it was complete (400).
    BodyUnreadable(String),
    /// A non-empty body on a method without body semantics, on a route that neither reads
    /// nor allows one (400).
    BodyNotAllowed(http::Method),
    /// The policy denied the action (403).
    Denied(Box<Decision>),
    /// The policy deferred the action to a person (409).
    Deferred(Box<Decision>),
    /// Denied only because a rate limit counted enough requests in its window (429, with
    /// `Retry-After`: the seconds until one would be counted again).
    RateLimited(Box<Decision>, u64),
    /// The decision needs the state store (a signed approval to claim, a counted limit),
    /// and the store did not answer in time, or failed (503, `STATE_UNAVAILABLE`).
    StateUnavailable(Box<Decision>),
    /// Deferred for approval under signed approvals (409): the decision, and the binding a
    /// reviewer must sign (`approval_request`).
    AwaitingApproval(
        Box<Decision>,
        Box<ApprovalRequest>,
        Option<Box<crate::state::review::ReviewRef>>,
    ),
    /// ALLOWed, but the upstream could not be connected to (502).
    UpstreamConnect(String),
    /// ALLOWed, but the upstream did not connect or answer in time (504).
    UpstreamTimeout(&'static str),
    /// ALLOWed, but the upstream's answer was not valid HTTP (502).
    UpstreamBadResponse(String),
    /// ALLOWed, but `upstream.max_concurrent_requests` exchanges were under way (503); the
    /// request was not sent and will not be.
    UpstreamOverloaded { limit: usize },
    /// The HTTP/1.1 framing guard refused the head before it was parsed (400; 414, 431,
    /// or 501 for an unknown transfer coding).
    Unparsed(Framing),
    /// An MCP endpoint's body is not one readable JSON-RPC message (400, with the JSON-RPC
    /// error the specification gives it).
    McpMalformed(crate::mcp::Malformed),
    /// The MCP server's method, tool, resource or prompt is not mapped (403,
    /// `ROUTE_NOT_MAPPED`).
    McpUnmapped(String),
    /// A bug: the request path panicked (500). Nothing after the panic point ran.
    Internal,
}

impl From<forward::Error> for Refusal {
    fn from(e: forward::Error) -> Refusal {
        match e {
            forward::Error::Target(why) => {
                Refusal::BadUpstreamTarget(format!("request target: {why}"))
            }
            forward::Error::Connect(why) => Refusal::UpstreamConnect(why),
            forward::Error::Timeout(what) => Refusal::UpstreamTimeout(what),
            forward::Error::BadResponse(why) => Refusal::UpstreamBadResponse(why),
            forward::Error::Overloaded { limit } => Refusal::UpstreamOverloaded { limit },
        }
    }
}

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

/// What a refusal body needs to know about the request.
pub struct RenderCx<'a> {
    pub request_id: &'a str,
    pub policy_version: &'a Arc<str>,
    pub policy_digest: &'a Arc<str>,
    /// The matched route's name, `unmatched`, or none when routing was not reached.
    pub route: Option<Arc<str>>,
    pub now: Timestamp,
}

/// A refusal ready to send.
pub struct Rendered {
    pub status: StatusCode,
    /// The `x-toolgate-verdict` to send.
    pub verdict: Verdict,
    /// The issues the body reports (for audit and metrics).
    pub issues: IssueSet,
    /// Set when the refusal is the upstream's fault, after an ALLOW.
    pub upstream_error: Option<UpstreamErrorKind>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    pub body: Bytes,
}

/// The status an enforced policy verdict is answered with; `None` for ALLOW, which gets the
/// upstream's. A shadow route records it as the status it would have sent.
pub const fn policy_status(verdict: Verdict) -> Option<StatusCode> {
    match verdict {
        Verdict::Allow => None,
        Verdict::Deny => Some(StatusCode::FORBIDDEN),
        Verdict::Defer => Some(StatusCode::CONFLICT),
    }
}

enum Body {
    Decision(Box<Decision>),
    /// A decision that could not be completed, with the error that stopped it.
    Unfinished(Box<Decision>, &'static str),
    /// A decision with the approval request beside its fields.
    Approval(
        Box<Decision>,
        Box<ApprovalRequest>,
        Option<Box<crate::state::review::ReviewRef>>,
    ),
    /// Not evaluable: one issue and the reason.
    Invalid(IssueCode, String),
    /// A fault after the decision (or a bug): code, message, the verdict that stood, and
    /// the upstream's part in it.
    Fault(&'static str, String, Verdict, Option<UpstreamErrorKind>),
}

#[derive(Serialize)]
struct ApprovalBody<'a> {
    #[serde(flatten)]
    decision: &'a Decision,
    approval_request: &'a ApprovalRequest,
    /// Where the request waits in the review inbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    review: Option<&'a crate::state::review::ReviewRef>,
}

#[derive(Serialize)]
struct UnfinishedBody<'a> {
    error: &'static str,
    #[serde(flatten)]
    decision: &'a Decision,
}

#[derive(Serialize)]
struct FaultBody<'a> {
    error: &'static str,
    message: &'a str,
    request_id: &'a str,
    verdict: Verdict,
    policy_version: &'a str,
}

impl Refusal {
    /// The one mapping from refusal to what the client sees.
    pub fn render(self, cx: &RenderCx<'_>) -> Rendered {
        use IssueCode::{InvalidRequest, RouteNotMapped};
        let mut retry_after = None;
        let (status, body) = match self {
            Refusal::BadTarget(e) => (
                StatusCode::BAD_REQUEST,
                Body::Invalid(InvalidRequest, e.to_string()),
            ),
            Refusal::HeadersTooLarge { size, limit } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                Body::Invalid(
                    InvalidRequest,
                    format!("request head is {size} bytes; the limit is {limit}"),
                ),
            ),
            Refusal::RouteNotMapped => (
                StatusCode::FORBIDDEN,
                Body::Invalid(
                    RouteNotMapped,
                    "no route of the policy bundle maps this method and path".into(),
                ),
            ),
            Refusal::BadContext(e) => (
                StatusCode::BAD_REQUEST,
                Body::Invalid(InvalidRequest, e.to_string()),
            ),
            Refusal::BadUpstreamTarget(why) => {
                (StatusCode::BAD_REQUEST, Body::Invalid(InvalidRequest, why))
            }
            Refusal::BodyTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Body::Invalid(
                    InvalidRequest,
                    format!("request body is over the {limit}-byte limit"),
                ),
            ),
            Refusal::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                Body::Invalid(
                    InvalidRequest,
                    "request body did not arrive within body_read_timeout".into(),
                ),
            ),
            Refusal::BodyUnreadable(why) => (
                StatusCode::BAD_REQUEST,
                Body::Invalid(
                    InvalidRequest,
                    format!("request body could not be read: {why}"),
                ),
            ),
            Refusal::BodyNotAllowed(method) => (
                StatusCode::BAD_REQUEST,
                Body::Invalid(
                    InvalidRequest,
                    format!("a {method} request may not carry a body on this route: toolgate does not evaluate it, and an upstream that ignores {method} bodies would read it as another request (a route may set allow_body to stream one)"),
                ),
            ),
            Refusal::Unparsed(why) => {
                let status = match &why {
                    Framing::Malformed(_) | Framing::Ambiguous(_) => StatusCode::BAD_REQUEST,
                    Framing::TooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    Framing::UriTooLong => StatusCode::URI_TOO_LONG,
                    Framing::UnknownCoding(_) => StatusCode::NOT_IMPLEMENTED,
                };
                (status, Body::Invalid(InvalidRequest, why.to_string()))
            }
            Refusal::Denied(d) => (StatusCode::FORBIDDEN, Body::Decision(d)),
            Refusal::Deferred(d) => (StatusCode::CONFLICT, Body::Decision(d)),
            Refusal::RateLimited(d, seconds) => {
                retry_after = Some(seconds);
                (StatusCode::TOO_MANY_REQUESTS, Body::Decision(d))
            }
            Refusal::StateUnavailable(d) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Body::Unfinished(d, "STATE_UNAVAILABLE"),
            ),
            Refusal::AwaitingApproval(d, r, v) => (StatusCode::CONFLICT, Body::Approval(d, r, v)),
            Refusal::UpstreamConnect(why) => (
                StatusCode::BAD_GATEWAY,
                Body::Fault(
                    "UPSTREAM_UNAVAILABLE",
                    why,
                    Verdict::Allow,
                    Some(UpstreamErrorKind::Connect),
                ),
            ),
            Refusal::UpstreamTimeout(what) => (
                StatusCode::GATEWAY_TIMEOUT,
                Body::Fault(
                    "UPSTREAM_TIMEOUT",
                    format!("upstream {what} timed out"),
                    Verdict::Allow,
                    Some(UpstreamErrorKind::Timeout),
                ),
            ),
            Refusal::UpstreamBadResponse(why) => (
                StatusCode::BAD_GATEWAY,
                Body::Fault(
                    "UPSTREAM_BAD_RESPONSE",
                    why,
                    Verdict::Allow,
                    Some(UpstreamErrorKind::Protocol),
                ),
            ),
            Refusal::UpstreamOverloaded { limit } => (
                StatusCode::SERVICE_UNAVAILABLE,
                Body::Fault(
                    "UPSTREAM_OVERLOADED",
                    format!("{limit} requests to the upstream are already under way (upstream.max_concurrent_requests); this one was not sent"),
                    Verdict::Allow,
                    Some(UpstreamErrorKind::Overloaded),
                ),
            ),
            Refusal::McpMalformed(m) => (
                StatusCode::BAD_REQUEST,
                Body::Invalid(
                    InvalidRequest,
                    format!("not one JSON-RPC message: {}", m.message()),
                ),
            ),
            Refusal::McpUnmapped(what) => (
                StatusCode::FORBIDDEN,
                Body::Invalid(
                    RouteNotMapped,
                    format!("the MCP server's {what} is not mapped by the policy bundle"),
                ),
            ),
            Refusal::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Body::Fault(
                    "INTERNAL_ERROR",
                    "toolgate failed; the request was not completed".into(),
                    Verdict::Deny,
                    None,
                ),
            ),
        };
        let (verdict, issues, upstream_error, json) = match body {
            Body::Decision(d) => (d.verdict, d.issues, None, serde_json::to_vec(&d)),
            Body::Unfinished(d, error) => (
                d.verdict,
                d.issues,
                None,
                serde_json::to_vec(&UnfinishedBody {
                    error,
                    decision: &d,
                }),
            ),
            Body::Approval(d, r, v) => (
                d.verdict,
                d.issues,
                None,
                serde_json::to_vec(&ApprovalBody {
                    decision: &d,
                    approval_request: &r,
                    review: v.as_deref(),
                }),
            ),
            Body::Invalid(code, why) => (
                Verdict::Deny,
                IssueSet::of(code),
                None,
                serde_json::to_vec(&invalid(code, why, cx)),
            ),
            Body::Fault(error, message, verdict, upstream) => (
                verdict,
                IssueSet::EMPTY,
                upstream,
                serde_json::to_vec(&FaultBody {
                    error,
                    message: &message,
                    request_id: cx.request_id,
                    verdict,
                    policy_version: cx.policy_version,
                }),
            ),
        };
        // Serializing plain structs of strings cannot fail; if it ever did, the status
        // still refuses.
        let body = json
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::from_static(b"{}"));
        Rendered {
            status,
            verdict,
            issues,
            upstream_error,
            retry_after,
            body,
        }
    }
}

/// The decision shape for a request that could not be evaluated.
fn invalid(code: IssueCode, why: String, cx: &RenderCx<'_>) -> Decision {
    Decision {
        decision: DecisionKind::NoGo,
        verdict: Verdict::Deny,
        issues: IssueSet::of(code),
        defer_questions: Vec::new(),
        request_id: cx.request_id.to_owned(),
        policy_version: cx.policy_version.clone(),
        policy_digest: cx.policy_digest.clone(),
        environment: None,
        route: cx.route.clone(),
        risk: Risk::default(),
        details: vec![why],
        evaluated_at: cx.now.to_string(),
    }
}
