//! The decision stage of the request path, as the orchestrator runs it: judge the request
//! (`crate::decide`), claim and count in the state store what forwarding it needs (a
//! verified approval used once, counted limits; a refusal re-judges it with the reason, an
//! unreachable store refuses it), enforce, and report each step to the trail. What comes out is only what may be
//! forwarded; everything else is a refusal.

use super::refusal::Refusal;
use super::review::Consulted;
use super::trail::Trail;
use super::Gate;
use crate::audit::StateAction;
use crate::authorize::Enforced;
use crate::body::ProxyBody;
use crate::classify::target::TargetError;
use crate::decide::{self, Admitted, Head, McpCall, Unjudged};
use crate::mcp::list::{Filtered, Framing};
use crate::policy::{Decision, IssueClass, IssueCode, Verdict};
use crate::snapshot::{RouteKind, Snapshot};
use crate::state::{Applied, Plan};
use http::{HeaderName, Method};
use jiff::Timestamp;
use std::collections::HashSet;
use std::time::Instant;

/// A request the decision lets through.
pub(super) struct Passed {
    /// Header names its `Connection` header listed: dropped on the way upstream.
    pub(super) listed: Vec<HeaderName>,
    /// ALLOW, or a shadow route's recorded verdict.
    pub(super) verdict: Verdict,
    /// The MCP message it carried.
    pub(super) mcp: Option<McpCall>,
    /// What the state store claimed and counted for it: given back if it is certainly
    /// never sent.
    pub(super) applied: Option<Plan>,
    /// The review whose approval released it: told what became of it.
    pub(super) review: Option<Box<str>>,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn decide<'r>(
    gate: &Gate,
    snapshot: &Snapshot,
    head: &Head<'r>,
    admitted: Admitted<'_, 'r>,
    body: Option<&'r [u8]>,
    request_id: &str,
    now: Timestamp,
    trail: &mut Trail,
) -> Result<Passed, Refusal> {
    let started = Instant::now();
    let judgement = decide::judge(snapshot, head, &admitted, body, now);
    let index = judgement.route.unwrap_or(admitted.index);
    let route = snapshot.routes.get(index).ok_or(Refusal::Internal)?;
    if index != admitted.index {
        // An MCP call: its tool's route judges it, and names it in the record.
        trail.routed(index, route);
    }
    if let Some(call) = &judgement.mcp {
        trail.mcp(call, snapshot);
    } else if let (RouteKind::McpEndpoint(n), Err(Unjudged::McpMalformed(_))) =
        (admitted.route.kind, &judgement.result)
    {
        trail.mcp_malformed(n, snapshot);
    }
    let mut judged = judgement.result.map_err(|e| {
        if matches!(e, Unjudged::Context(_)) {
            trail.context_invalid();
        }
        trail.add_decision_time(started.elapsed());
        unjudged(e, head.method)
    })?;
    let mcp = judgement.mcp;
    let input = decide::enforce_input(head, route, body, mcp.as_ref());
    let enforce = |j: &decide::Judged<'_>| j.enforce(snapshot, route, &input, request_id, now);
    let mut enforced = enforce(&judged);
    trail.add_decision_time(started.elapsed());
    // Held for a signed approval: the review inbox may hold the reviewer's decision.
    let mut review = None;
    let mut released_by = None;
    if let Enforced::Defer(d, Some(approval)) = &enforced {
        match super::review::consult(
            gate,
            snapshot,
            route,
            &mut judged,
            &input,
            approval,
            d,
            body,
            now,
        )
        .await
        {
            Consulted::Pending(r) => {
                trail.review(&r.id);
                review = Some(Box::new(r));
            }
            Consulted::Decided(id) => {
                trail.review(&id);
                released_by = Some(id.into_boxed_str());
                enforced = enforce(&judged);
            }
            Consulted::Unavailable => {}
        }
    }
    // What forwarding claims and counts, in one round trip; only for what would be sent.
    let mut applied = None;
    let mut retry_after = None;
    if let Enforced::Forward(_) = &enforced {
        let state = &gate.ops.state;
        let plan = judged.plan(state.planner(now), snapshot, route);
        if !plan.is_empty() {
            match state.apply(&plan).await {
                Ok(Applied::Granted) => {
                    if let Some(claim) = &judged.claim {
                        tracing::info!(request_id, jti = claim.jti, approved_by = ?judged.facts.approved_by, "signed approval used");
                        trail.state(StateAction::Claimed);
                        if released_by.is_none() {
                            // Closed now, before it is sent: a reviewer approving the
                            // same binding meanwhile must not release it a second time.
                            let closing = super::review::settling(&input, &judged.facts);
                            super::review::settle(gate, closing, now);
                        }
                    } else {
                        trail.state(StateAction::Counted);
                    }
                    applied = Some(plan);
                }
                Ok(Applied::Refused(refused)) => {
                    trail.state(StateAction::Refused);
                    retry_after = judged.state_refused(snapshot, route, &plan, &refused, now);
                    enforced = enforce(&judged);
                }
                Err(e) => {
                    trail.state(StateAction::Unavailable);
                    tracing::warn!(request_id, route = %route.name, error = %e, "state store unavailable: request refused");
                    judged.state_unavailable(snapshot, route, &e, now);
                    enforced = enforce(&judged);
                }
            }
        }
    }
    trail.facts(&judged.facts);
    trail.decided(route.mode, &judged.outcome);
    let verdict = match enforced {
        Enforced::Forward(verdict) => verdict,
        Enforced::Deny(d) => {
            return Err(match retry_after {
                _ if d.issues.contains(IssueCode::StateUnavailable) => Refusal::StateUnavailable(d),
                Some(secs) if only_rate_limited(&d) => Refusal::RateLimited(d, secs),
                _ => Refusal::Denied(d),
            })
        }
        Enforced::Defer(d, Some(approval)) => {
            return Err(Refusal::AwaitingApproval(d, approval, review))
        }
        Enforced::Defer(d, None) => return Err(Refusal::Deferred(d)),
    };
    if verdict != Verdict::Allow {
        tracing::warn!(
            request_id,
            route = %route.name,
            verdict = verdict.as_str(),
            issues = ?judged.outcome.issues,
            "shadow route: verdict recorded, request forwarded"
        );
    }
    Ok(Passed {
        listed: admitted.listed,
        verdict,
        mcp,
        applied,
        review: released_by,
    })
}

/// Whether a rate limit is the only reason for a denial: then waiting helps, and the
/// answer is 429 with `Retry-After` rather than 403.
fn only_rate_limited(d: &Decision) -> bool {
    d.issues
        .iter()
        .filter(|c| c.class() == IssueClass::Deny)
        .all(|c| c == IssueCode::RateLimited)
}

/// A request that could not be evaluated, as the refusal it is.
pub(super) fn unjudged(e: Unjudged, method: &Method) -> Refusal {
    match e {
        Unjudged::NotMapped => Refusal::RouteNotMapped,
        Unjudged::Connection(why) => Refusal::BadTarget(TargetError::Connection(why)),
        Unjudged::BodyNotAllowed => Refusal::BodyNotAllowed(method.clone()),
        Unjudged::Context(e) => Refusal::BadContext(e),
        Unjudged::McpMalformed(m) => Refusal::McpMalformed(m),
        Unjudged::McpUnmapped(what) => Refusal::McpUnmapped(what),
    }
}

/// Wraps a successful `tools/list` answer so the tools outside `visible` are left out;
/// its length changes, so it is sent without one. Anything else passes as it is.
pub(super) fn filter_listing(
    parts: &mut http::response::Parts,
    body: ProxyBody,
    visible: HashSet<Box<str>>,
) -> ProxyBody {
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let framing = if essence.eq_ignore_ascii_case("application/json") {
        Framing::Json
    } else if essence.eq_ignore_ascii_case("text/event-stream") {
        Framing::EventStream
    } else {
        return body;
    };
    if !parts.status.is_success() {
        return body;
    }
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Filtered::wrap(body, framing, visible)
}
