//! The authorization stage: evaluate an action against a request's facts at an instant (the
//! one call into the engine, for requests and `/check` payloads alike), and decide what the
//! runtime does with the outcome: forward it, or refuse it with the decision body, and for a
//! DEFER under signed approvals, with the approval a reviewer must sign. Pure.

use crate::approval::{ApprovalRequest, ApprovalVerifier};
use crate::identity::{binding_of, IdentitySource, TrustInput};
use crate::policy::{Decision, Facts, IssueCode, Outcome, Policy, PreparedAction, Verdict};
use crate::snapshot::Mode;
use jiff::Timestamp;

/// The issues a signed approval can resolve: a DEFER with one of them asks for approval.
pub const APPROVAL_ISSUES: [IssueCode; 5] = [
    IssueCode::ApprovalRequired,
    IssueCode::ApproverMissing,
    IssueCode::ApprovalTimestampMissing,
    IssueCode::ApprovalExpired,
    IssueCode::DestructiveActionRequiresApproval,
];

/// The engine's outcome for `action` on `facts` at `now`.
pub fn evaluate(
    policy: &Policy,
    action: &PreparedAction,
    facts: &Facts<'_>,
    now: Timestamp,
) -> Outcome {
    policy.evaluate(action, facts, now)
}

/// The decision body for an outcome, with the reasons the verification step gave.
pub fn decision(
    policy: &Policy,
    action: &PreparedAction,
    facts: &Facts<'_>,
    outcome: &Outcome,
    details: Vec<String>,
    request_id: String,
    now: Timestamp,
) -> Decision {
    policy.decision(action, facts, outcome, request_id, now, details)
}

/// What the runtime does with an evaluated request.
#[derive(Debug)]
pub enum Enforced {
    /// Forward it: always an ALLOW, except on a shadow route, whose DENY or DEFER is
    /// recorded (and sent as `x-toolgate-verdict`) but not enforced.
    Forward(Verdict),
    /// Refuse it with this decision (DENY).
    Deny(Box<Decision>),
    /// Hold it with this decision (DEFER), and under signed approvals the approval that
    /// would release it.
    Defer(Box<Decision>, Option<Box<ApprovalRequest>>),
}

/// Where the pieces of an enforcement come from.
pub struct Enforce<'a, 'r> {
    pub policy: &'a Policy,
    pub action: &'a PreparedAction,
    pub mode: Mode,
    pub identity: &'a IdentitySource,
    pub approvals: Option<&'a ApprovalVerifier>,
    /// What the approval binding is built from.
    pub input: &'a TrustInput<'r>,
}

impl Enforce<'_, '_> {
    /// Forward, deny or defer the evaluated request; `details` join the decision's.
    pub fn enforce(
        &self,
        facts: &Facts<'_>,
        outcome: &Outcome,
        details: Vec<String>,
        request_id: &str,
        now: Timestamp,
    ) -> Enforced {
        let verdict = Verdict::from_issues(outcome.issues);
        let decide = |details| {
            let d = decision(
                self.policy,
                self.action,
                facts,
                outcome,
                details,
                request_id.to_owned(),
                now,
            );
            Box::new(d)
        };
        match (verdict, self.mode) {
            (Verdict::Allow, _) => Enforced::Forward(Verdict::Allow),
            (Verdict::Deny | Verdict::Defer, Mode::Shadow) => Enforced::Forward(verdict),
            (Verdict::Deny, Mode::Enforce) => Enforced::Deny(decide(details)),
            (Verdict::Defer, Mode::Enforce) => {
                let wants = outcome.issues.iter().any(|c| APPROVAL_ISSUES.contains(&c));
                let approval = wants
                    .then(|| self.approval_request(facts, request_id))
                    .flatten()
                    .map(Box::new);
                Enforced::Defer(decide(details), approval)
            }
        }
    }

    /// The approval a reviewer must give for this request, when approvals are signed and
    /// the body was read (routes that may need approval always read it). None while a
    /// verified identity is missing: an approval for "whoever asks" is not asked for.
    fn approval_request(&self, facts: &Facts<'_>, request_id: &str) -> Option<ApprovalRequest> {
        let verifier = self.approvals?;
        if self.identity.is_verified() && facts.actor.is_none() {
            return None;
        }
        Some(ApprovalRequest {
            binding: binding_of(self.input, facts)?,
            goal: self.action.goal.to_string(),
            request_id: request_id.to_owned(),
            policy_version: self.policy.policy_version.to_string(),
            max_ttl_seconds: verifier.max_ttl,
        })
    }
}
