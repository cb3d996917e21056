//! The decision, once: from the snapshot, a classified request (its head, the route the
//! classifier matched, and the body bytes the request path buffered, or none) and an
//! instant, to the outcome. The proxy, the bundle test runner, candidate evaluation and the
//! check APIs all decide through here, so a bundle whose tests pass decides the same way in
//! the proxy, and a candidate identical to the live bundle never disagrees. Pure: no I/O,
//! no clock, no state (claiming an approval and counting limits are the caller's, after
//! the decision: see [`Judged::plan`]).
//!
//! The steps, in order: [`admit`] (the route; `Connection` may not remove what the route
//! reads or what identity verifies) -> [`judge`] (a body the route may not carry, or that a
//! framework would read otherwise than toolgate, `crate::extract::media`; extract the
//! context, `crate::extract`; verify identity and the signed approval, `crate::identity`;
//! evaluate, `crate::authorize`).

use crate::authorize::{self, Enforce, Enforced};
use crate::classify::router::RouteMatch;
use crate::extract::{extract, media, ExtractError, RequestView};
use crate::headers;
use crate::identity::{Claim, ClientCert, TrustInput};
use crate::mcp::Malformed;
use crate::policy::{
    CheckRequest, Decision, Facts, IssueCode, IssueSet, Outcome, PayloadError, PreparedAction,
};
use crate::snapshot::{Route, RouteKind, Snapshot};

mod mcp;
mod review;
mod state;
use http::{HeaderMap, HeaderName, Method};
use jiff::Timestamp;
pub use mcp::{enforce_input, visible_tools, McpCall};

/// A classified request head: what the decision reads besides the body.
#[derive(Clone, Copy)]
pub struct Head<'r> {
    pub method: &'r Method,
    /// The normalized path (what was matched, and what is forwarded) and the raw query.
    pub path: &'r str,
    pub query: Option<&'r str>,
    pub headers: &'r HeaderMap,
    /// The connection's verified client certificate (set by the server, never from the
    /// wire).
    pub client_cert: Option<&'r ClientCert>,
}

/// Why a request could not be evaluated: answered without a policy decision.
#[derive(Debug)]
pub enum Unjudged {
    /// No route maps the method and path (DENY, `ROUTE_NOT_MAPPED`).
    NotMapped,
    /// `Connection` lists a header that must reach the upstream as evaluated (400).
    Connection(String),
    /// A non-empty body on a method without body semantics, on a route that neither reads
    /// nor allows one (400).
    BodyNotAllowed,
    /// The route's context cannot be read from the request (400).
    Context(ExtractError),
    /// An MCP endpoint's body is not one readable JSON-RPC message (400, JSON-RPC -32700 or
    /// -32600).
    McpMalformed(Malformed),
    /// No tool, resource, prompt or allowed method of the MCP server maps the message
    /// (DENY, `ROUTE_NOT_MAPPED`): the method, and the name it called.
    McpUnmapped(String),
}

impl Unjudged {
    /// The one issue the refusal carries.
    pub fn issue(&self) -> IssueCode {
        match self {
            Unjudged::NotMapped | Unjudged::McpUnmapped(_) => IssueCode::RouteNotMapped,
            Unjudged::Connection(_)
            | Unjudged::BodyNotAllowed
            | Unjudged::Context(_)
            | Unjudged::McpMalformed(_) => IssueCode::InvalidRequest,
        }
    }
}

impl std::fmt::Display for Unjudged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unjudged::NotMapped => {
                f.write_str("no route of the policy bundle maps this method and path")
            }
            Unjudged::Connection(why) => f.write_str(why),
            Unjudged::BodyNotAllowed => f.write_str(
                "this method may not carry a body on this route (a route may set allow_body)",
            ),
            Unjudged::Context(e) => write!(f, "{e}"),
            Unjudged::McpMalformed(m) => write!(f, "not one JSON-RPC message: {}", m.message()),
            Unjudged::McpUnmapped(what) => {
                write!(
                    f,
                    "the MCP server's {what} is not mapped by the policy bundle"
                )
            }
        }
    }
}

/// A request admitted to evaluation.
pub struct Admitted<'s, 'r> {
    /// The matched route's index in the snapshot, and the route.
    pub index: usize,
    pub route: &'s Route,
    pub params: matchit::Params<'s, 'r>,
    /// Header names a `Connection` header lists: dropped on the way upstream.
    pub listed: Vec<HeaderName>,
}

/// An evaluated request.
#[derive(Debug)]
pub struct Judged<'r> {
    pub facts: Facts<'r>,
    pub outcome: Outcome,
    /// Reasons for identity and approval issues, for the decision's `details`.
    pub details: Vec<String>,
    /// A verified approval to use once, if the request is forwarded.
    pub claim: Option<Claim>,
}

/// A judged request: the route that judged it (an MCP call: the tool's, resource's or
/// prompt's route, or the endpoint's for what passes or is refused outright), the MCP
/// message it carried, and the judgement.
#[derive(Debug)]
pub struct Judgement<'r> {
    /// `None`: no route maps the request.
    pub route: Option<usize>,
    pub mcp: Option<McpCall>,
    pub result: Result<Judged<'r>, Unjudged>,
}

/// The route for a classified request, checked for `Connection` tricks.
pub fn admit<'s, 'r>(
    snapshot: &'s Snapshot,
    head: &Head<'r>,
    found: Option<RouteMatch<'s, 'r>>,
) -> Result<Admitted<'s, 'r>, Unjudged> {
    let found = found.ok_or(Unjudged::NotMapped)?;
    let route = snapshot
        .routes
        .get(found.index)
        .ok_or(Unjudged::NotMapped)?;
    let listed = headers::connection_listed(
        head.headers,
        &route.context.headers,
        snapshot.trust.verified_headers(),
    )
    .map_err(Unjudged::Connection)?;
    Ok(Admitted {
        index: found.index,
        route,
        params: found.params,
        listed,
    })
}

/// Evaluates an admitted request with the body the request path buffered (`None`: it
/// streams, unread). A message to an MCP endpoint is first read as JSON-RPC: the route of
/// the tool, resource or prompt it names judges it.
pub fn judge<'r>(
    snapshot: &Snapshot,
    head: &Head<'r>,
    admitted: &Admitted<'_, 'r>,
    body: Option<&'r [u8]>,
    now: Timestamp,
) -> Judgement<'r> {
    let judgement = |route, mcp, result| Judgement {
        route: Some(route),
        mcp,
        result,
    };
    let RouteKind::McpEndpoint(endpoint) = admitted.route.kind else {
        let result = judge_route(
            snapshot,
            head,
            admitted.route,
            &admitted.params,
            body,
            None,
            now,
        );
        return judgement(admitted.index, None, result);
    };
    mcp::judge_endpoint(snapshot, head, admitted, body, endpoint, now)
}

/// A message that passes without evaluation (an MCP lifecycle method, a client's response,
/// an allowed stream): ALLOW, its actor and environment read for the record.
fn pass<'r>(route: &Route, head: &Head<'r>) -> Result<Judged<'r>, Unjudged> {
    let params = matchit::Params::new();
    let view = RequestView {
        headers: head.headers,
        params: &params,
        query: head.query,
        body: None,
    };
    // What the record says of the caller is not a condition of passing.
    let facts = extract(&route.context, &view)
        .map(|x| x.facts)
        .unwrap_or_default();
    Ok(Judged {
        facts: Facts {
            issues: IssueSet::EMPTY,
            ..facts
        },
        outcome: Outcome {
            issues: IssueSet::EMPTY,
            risk: 0,
            environment_risk: None,
        },
        details: Vec::new(),
        claim: None,
    })
}

/// The steps for one route: the body it may carry, its context, the evidence, the action.
fn judge_route<'r>(
    snapshot: &Snapshot,
    head: &Head<'r>,
    route: &Route,
    params: &matchit::Params<'_, 'r>,
    body: Option<&'r [u8]>,
    mcp: Option<(&str, &str)>,
    now: Timestamp,
) -> Result<Judged<'r>, Unjudged> {
    if let Some(bytes) = body {
        if route.refuses_body && !bytes.is_empty() {
            return Err(Unjudged::BodyNotAllowed);
        }
        let read = route.context.reads_body.then_some(&route.context);
        media::inspect(read, head.headers, bytes).map_err(Unjudged::Context)?;
    }
    let view = RequestView {
        headers: head.headers,
        params,
        query: head.query,
        body,
    };
    let mut facts = extract(&route.context, &view)
        .map_err(Unjudged::Context)?
        .facts;
    let evidence = snapshot
        .trust
        .verify(&trust_input(head, route, body, mcp), &mut facts, now);
    let outcome = authorize::evaluate(&snapshot.policy, &route.action, &facts, now);
    Ok(Judged {
        facts,
        outcome,
        details: evidence.details,
        claim: evidence.claim,
    })
}

/// [`admit`] then [`judge`], for callers that hold the whole request (bundle tests,
/// candidate evaluation).
pub fn decide<'s, 'r>(
    snapshot: &'s Snapshot,
    head: &Head<'r>,
    body: Option<&'r [u8]>,
    now: Timestamp,
) -> Judgement<'r>
where
    's: 'r,
{
    let found = snapshot.table.find(head.method, head.path);
    let index = found.as_ref().map(|f| f.index);
    match admit(snapshot, head, found) {
        Err(e) => Judgement {
            route: index,
            mcp: None,
            result: Err(e),
        },
        Ok(admitted) => judge(snapshot, head, &admitted, body, now),
    }
}

impl Judged<'_> {
    /// What the runtime does with this judgement on `route`, the request's evidence read
    /// from `input` (see [`enforce_input`]).
    pub fn enforce(
        &self,
        snapshot: &Snapshot,
        route: &Route,
        input: &TrustInput<'_>,
        request_id: &str,
        now: Timestamp,
    ) -> Enforced {
        Enforce {
            policy: &snapshot.policy,
            action: &route.action,
            mode: route.mode,
            identity: &snapshot.trust.identity,
            approvals: snapshot.trust.approvals.as_ref(),
            input,
        }
        .enforce(
            &self.facts,
            &self.outcome,
            self.details.clone(),
            request_id,
            now,
        )
    }

    /// The decision body, as the route's policy states it.
    pub fn decision(
        &self,
        snapshot: &Snapshot,
        route: &Route,
        request_id: String,
        now: Timestamp,
    ) -> Decision {
        authorize::decision(
            &snapshot.policy,
            &route.action,
            &self.facts,
            &self.outcome,
            self.details.clone(),
            request_id,
            now,
        )
    }
}

/// The decision for a request that could not be evaluated: its one issue, and why.
pub fn unjudged_decision(
    snapshot: &Snapshot,
    route: Option<&Route>,
    issue: IssueCode,
    detail: String,
    request_id: String,
    now: Timestamp,
) -> Decision {
    let outcome = Outcome {
        issues: IssueSet::of(issue),
        risk: 0,
        environment_risk: None,
    };
    let none = PreparedAction::default();
    let action = route.map_or(&none, |r| &r.action);
    authorize::decision(
        &snapshot.policy,
        action,
        &Facts::default(),
        &outcome,
        vec![detail],
        request_id,
        now,
    )
}

/// Decides a Stage0 `/check` payload (no route: the payload names its action), for `POST
/// /v1/check`, `toolgate check` and bundle tests. `Err` when the payload's context cannot
/// be read.
pub fn check(
    snapshot: &Snapshot,
    check: &CheckRequest,
    request_id: String,
    now: Timestamp,
) -> Result<Decision, PayloadError> {
    let facts = check.facts(&snapshot.amount_field)?;
    let (action, details) = check.prepare(&snapshot.policy);
    let outcome = authorize::evaluate(&snapshot.policy, &action, &facts, now);
    Ok(authorize::decision(
        &snapshot.policy,
        &action,
        &facts,
        &outcome,
        details,
        request_id,
        now,
    ))
}

fn trust_input<'a>(
    head: &Head<'a>,
    route: &'a Route,
    body: Option<&'a [u8]>,
    mcp: Option<(&'a str, &'a str)>,
) -> TrustInput<'a> {
    TrustInput {
        headers: head.headers,
        client_cert: head.client_cert,
        route: &route.name,
        method: head.method,
        path: head.path,
        query: head.query,
        body,
        mcp,
    }
}
