//! A judged request and the review inbox: what a reviewer is shown of a request deferred
//! for approval, and the request judged again with what the reviewer decided (the
//! approval they signed, verified like an `x-approval` header, or their rejection). Pure:
//! the round trip to the store is the caller's.

use super::Judged;
use crate::approval::ApprovalRequest;
use crate::authorize;
use crate::identity::TrustInput;
use crate::policy::{Decision, IssueCode};
use crate::redact::{redacted_payload, redacted_value};
use crate::snapshot::{Route, Snapshot};
use crate::state::review::ReviewRecord;
use jiff::Timestamp;

impl Judged<'_> {
    /// Judged again with the approval the review inbox stored for this request's binding.
    pub fn stored_approval(
        &mut self,
        snapshot: &Snapshot,
        route: &Route,
        input: &TrustInput<'_>,
        token: &str,
        now: Timestamp,
    ) {
        let ev = snapshot
            .trust
            .verify_stored_approval(token, input, &mut self.facts, now);
        self.details.extend(ev.details);
        self.claim = ev.claim;
        self.outcome = authorize::evaluate(&snapshot.policy, &route.action, &self.facts, now);
    }

    /// Judged again as rejected by `approver` in the review inbox, for `reason`.
    pub fn review_rejected(
        &mut self,
        snapshot: &Snapshot,
        route: &Route,
        approver: &str,
        reason: &str,
        now: Timestamp,
    ) {
        self.claim = None;
        self.facts.issues.insert(IssueCode::ApprovalRejected);
        self.details.push(format!(
            "review: rejected by {approver}: {}",
            if reason.is_empty() {
                "(no reason given)"
            } else {
                reason
            }
        ));
        self.outcome = authorize::evaluate(&snapshot.policy, &route.action, &self.facts, now);
    }

    /// What the reviewer is shown of this deferred request: the approval to sign, the
    /// request (the body, or an MCP call's arguments, with the route's `redact` fields
    /// masked), who asks, and why it was held.
    pub fn review_record(
        &self,
        route: &Route,
        approval: &ApprovalRequest,
        decision: &Decision,
        body: Option<&[u8]>,
    ) -> ReviewRecord {
        let redact = &route.review.redact;
        let payload = match (&approval.binding.tool, body) {
            (Some(_), Some(bytes)) => {
                let message: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
                let arguments = message
                    .pointer("/params/arguments")
                    .cloned()
                    .unwrap_or_default();
                redacted_value(&arguments, redact)
            }
            (None, Some(bytes)) => redacted_payload(bytes, redact),
            (_, None) => "(not read)".into(),
        };
        let text = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().map(str::to_owned);
        ReviewRecord {
            approval: approval.clone(),
            route: route.name.to_string(),
            tool: approval.binding.tool.clone(),
            method: approval.binding.method.clone(),
            path: approval.binding.path.clone(),
            payload,
            actor: text(&self.facts.actor),
            role: text(&self.facts.actor_role),
            environment: approval.binding.environment.clone(),
            run_id: approval.binding.run_id.clone(),
            issues: decision.issues.iter().map(|c| c.as_str().into()).collect(),
            questions: decision
                .defer_questions
                .iter()
                .map(|q| q.to_string())
                .collect(),
            reviewer_roles: route
                .review
                .reviewer_roles
                .iter()
                .map(|r| r.to_string())
                .collect(),
        }
    }
}
