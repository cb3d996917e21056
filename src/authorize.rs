//! The authorization stage: evaluate a route's prepared action against the request's facts
//! at the injected clock's `now`, and turn the outcome into "forward" or a typed refusal
//! that carries the decision body. The engine is pure; this is the only place the proxy
//! calls it.

use crate::policy::{Facts, Outcome, Verdict};
use crate::proxy::refusal::Refusal;
use crate::snapshot::{Mode, Route, Snapshot};
use jiff::Timestamp;

/// The engine's outcome for a route's action on these facts, at `now`. The one call into
/// the engine for requests, shared by [`authorize`] and candidate evaluation.
pub fn evaluate(snapshot: &Snapshot, route: &Route, facts: &Facts<'_>, now: Timestamp) -> Outcome {
    snapshot.policy.evaluate(&route.action, facts, now)
}

/// Evaluates the route's action; returns the outcome (for audit and metrics) and what to do.
/// `Ok(verdict)` means forward: always `Allow`, except on a route the bundle marks
/// `shadow`, whose DENY/DEFER verdicts are recorded (logged, and sent as
/// `x-toolgate-verdict`) but not enforced. Otherwise DENY and DEFER become refusals
/// carrying the decision.
pub fn authorize(
    snapshot: &Snapshot,
    route: &Route,
    facts: &Facts<'_>,
    now: Timestamp,
    request_id: &str,
) -> (Outcome, Result<Verdict, Refusal>) {
    let outcome = evaluate(snapshot, route, facts, now);
    (
        outcome,
        enforce(snapshot, route, facts, &outcome, now, request_id),
    )
}

fn enforce(
    snapshot: &Snapshot,
    route: &Route,
    facts: &Facts<'_>,
    outcome: &Outcome,
    now: Timestamp,
    request_id: &str,
) -> Result<Verdict, Refusal> {
    let policy = &snapshot.policy;
    let verdict = Verdict::from_issues(outcome.issues);
    match (verdict, route.mode) {
        (Verdict::Allow, _) => Ok(Verdict::Allow),
        (Verdict::Deny | Verdict::Defer, Mode::Shadow) => {
            tracing::warn!(
                request_id,
                route = %route.name,
                verdict = verdict.as_str(),
                issues = ?outcome.issues,
                "shadow route: verdict recorded, request forwarded"
            );
            Ok(verdict)
        }
        (Verdict::Deny, Mode::Enforce) => Err(Refusal::Denied(Box::new(policy.decision(
            &route.action,
            facts,
            outcome,
            request_id.to_owned(),
            now,
            Vec::new(),
        )))),
        (Verdict::Defer, Mode::Enforce) => Err(Refusal::Deferred(Box::new(policy.decision(
            &route.action,
            facts,
            outcome,
            request_id.to_owned(),
            now,
            Vec::new(),
        )))),
    }
}
