//! MCP endpoints in the decision: the JSON-RPC message read strictly, the route of the
//! tool, resource or prompt it names, what a caller sees in `tools/list`, and what an
//! approval of an MCP call binds.

use super::{judge_route, pass, trust_input, Admitted, Head, Judgement, Unjudged};
use crate::extract::media;
use crate::extract::ExtractError;
use crate::identity::TrustInput;
use crate::mcp::{message, Kind, Malformed, Target};
use crate::policy::Verdict;
use crate::snapshot::{Route, Snapshot};
use http::Method;
use jiff::Timestamp;
use std::collections::HashSet;

/// What the JSON-RPC message to an MCP endpoint was, owned: answering it needs its `id`;
/// the audit record names its method and tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpCall {
    pub endpoint: usize,
    pub kind: Kind,
    /// The `id`, as JSON text.
    pub id: Option<Box<str>>,
    pub method: Option<Box<str>>,
    /// The tool or prompt name, or the resource URI.
    pub name: Option<Box<str>>,
}

/// Judges a request to MCP endpoint `endpoint` (its route admitted it): streams pass where
/// the route table has them, a POST's message is judged by the route it names.
pub(super) fn judge_endpoint<'r>(
    snapshot: &Snapshot,
    head: &Head<'r>,
    admitted: &Admitted<'_, 'r>,
    body: Option<&'r [u8]>,
    endpoint: usize,
    now: Timestamp,
) -> Judgement<'r> {
    let judgement = |route, mcp, result| Judgement {
        route: Some(route),
        mcp,
        result,
    };
    // The endpoint's streams (GET, DELETE) are in the route table only where they pass.
    if head.method != Method::POST {
        return judgement(admitted.index, None, pass(admitted.route, head));
    }
    let bytes = body.unwrap_or_default();
    if let Err(e) = media::inspect(Some(&admitted.route.context), head.headers, bytes) {
        return judgement(admitted.index, None, Err(Unjudged::Context(e)));
    }
    let msg = match message::parse(bytes, head.headers) {
        Ok(m) => m,
        Err(e) => return judgement(admitted.index, None, Err(Unjudged::McpMalformed(e))),
    };
    let server = &snapshot.mcp[endpoint];
    let call = McpCall {
        endpoint,
        kind: msg.kind,
        id: msg.id.clone(),
        method: msg.method.as_deref().map(Box::from),
        name: msg.name.as_deref().or(msg.uri.as_deref()).map(Box::from),
    };
    match server.target(&msg) {
        Target::Pass => judgement(admitted.index, Some(call), pass(admitted.route, head)),
        Target::Unmapped => {
            let what = match (&call.method, &call.name) {
                (Some(m), Some(n)) => format!("{m} of {n:?}"),
                (Some(m), None) => format!("method {m:?}"),
                (None, _) => "message".to_owned(),
            };
            judgement(admitted.index, Some(call), Err(Unjudged::McpUnmapped(what)))
        }
        Target::Route(index) => {
            let route = &snapshot.routes[index];
            let named = (
                call.method.as_deref().unwrap_or_default(),
                call.name.as_deref().unwrap_or_default(),
            );
            let result = judge_route(
                snapshot,
                head,
                route,
                &admitted.params,
                body,
                Some(named),
                now,
            )
            .map_err(ambiguous_arguments);
            judgement(index, Some(call.clone()), result)
        }
    }
}

/// An argument the tool's route reads that a lenient server could read another way (a
/// repeated key, or one differing only by case, padding or a NUL) makes the message
/// malformed, as the same fault in the envelope does: 400, not a policy refusal.
fn ambiguous_arguments(e: Unjudged) -> Unjudged {
    match e {
        Unjudged::Context(
            e @ (ExtractError::BodyDuplicateKey { .. } | ExtractError::BodyAmbiguousKey { .. }),
        ) => Unjudged::McpMalformed(Malformed::Invalid(format!("params.arguments: {e}"))),
        other => other,
    }
}

/// The tools of MCP server `endpoint` this caller may see in a `tools/list` answer: those
/// whose decision, with the call's arguments unknown, is not DENY.
pub fn visible_tools(
    snapshot: &Snapshot,
    head: &Head<'_>,
    endpoint: usize,
    now: Timestamp,
) -> HashSet<Box<str>> {
    let params = matchit::Params::new();
    let Some(server) = snapshot.mcp.get(endpoint) else {
        return Default::default();
    };
    server
        .tools
        .iter()
        .filter(|(name, &index)| {
            let route = &snapshot.routes[index];
            let named = Some(("tools/call", &***name));
            judge_route(snapshot, head, route, &params, None, named, now)
                .is_ok_and(|j| Verdict::from_issues(j.outcome.issues) != Verdict::Deny)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// What [`Judged::enforce`] reads the evidence from: the request, and the MCP call it
/// carried (an approval binds its method, tool and arguments).
pub fn enforce_input<'a>(
    head: &Head<'a>,
    route: &'a Route,
    body: Option<&'a [u8]>,
    mcp: Option<&'a McpCall>,
) -> TrustInput<'a> {
    let mcp = mcp.map(|c| {
        (
            c.method.as_deref().unwrap_or_default(),
            c.name.as_deref().unwrap_or_default(),
        )
    });
    trust_input(head, route, body, mcp)
}
