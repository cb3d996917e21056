//! Refusals of MCP messages, in the shape MCP clients decode: a request (it has an `id`)
//! gets a JSON-RPC error with the same `id`, toolgate's code for the verdict, and the whole
//! decision as `error.data`, with HTTP 200 (or the refusal's own status, when the endpoint
//! says `refusal: http`); a notification keeps the refusal's status and decision body; a
//! body that is not one JSON-RPC message gets the specification's error and `id: null`.

use super::refusal::Rendered;
use crate::mcp::{reply, Malformed, RefusalStyle};
use crate::policy::Verdict;
use bytes::Bytes;
use http::StatusCode;

/// How the MCP message being answered wants its refusals.
#[derive(Clone, Debug)]
pub(super) struct Rpc {
    /// The request's `id` as JSON text; `None` for a notification.
    pub(super) id: Option<Box<str>>,
    pub(super) style: RefusalStyle,
}

/// `r` as the JSON-RPC answer to the message `rpc` describes (a malformed message: to
/// none).
pub(super) fn answer(r: Rendered, rpc: Option<&Rpc>, malformed: Option<&Malformed>) -> Rendered {
    if let Some(m) = malformed {
        let body = reply::error(None, m.code(), m.message(), Some(&r.body));
        return Rendered {
            status: StatusCode::BAD_REQUEST,
            body: Bytes::from(body),
            ..r
        };
    }
    let Some(Rpc {
        id: Some(id),
        style,
    }) = rpc
    else {
        return r;
    };
    let code = match (r.upstream_error, r.verdict) {
        (Some(_), _) => reply::UPSTREAM,
        (None, Verdict::Defer) => reply::DEFER,
        (None, Verdict::Allow | Verdict::Deny) => reply::DENY,
    };
    let codes: Vec<&str> = r.issues.iter().map(|c| c.as_str()).collect();
    let message = match r.upstream_error {
        Some(kind) => format!(
            "ALLOW, but the MCP server gave no answer ({})",
            kind.label()
        ),
        None if codes.is_empty() => r.verdict.as_str().to_owned(),
        None => format!("{}: {}", r.verdict.as_str(), codes.join(", ")),
    };
    let body = reply::error(Some(id), code, &message, Some(&r.body));
    let status = match style {
        RefusalStyle::JsonRpc => StatusCode::OK,
        RefusalStyle::Http => r.status,
    };
    Rendered {
        status,
        body: Bytes::from(body),
        ..r
    }
}
