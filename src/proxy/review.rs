//! The review step of the request path: a request deferred for a signed approval is
//! looked up in the review inbox by its approval binding, in one round trip. A pending
//! review counts the retry (the 409 says where it waits); an approved one is verified and
//! used like an `x-approval` header; a rejected one denies it with the reviewer's reason.
//! A store that cannot answer leaves the DEFER as it is: nothing is forwarded either way.

use super::Gate;
use crate::approval::ApprovalRequest;
use crate::decide::Judged;
use crate::identity::TrustInput;
use crate::policy::{Decision, Facts};
use crate::snapshot::{Route, Snapshot};
use crate::state::review::{binding_key, ReviewRef, ReviewStatus, Touched};
use jiff::Timestamp;

/// What the inbox holds for the request.
pub(super) enum Consulted {
    /// Still waiting (or just opened): where.
    Pending(ReviewRef),
    /// Decided: the request was judged again with the decision; the review's id.
    Decided(String),
    /// The store did not answer.
    Unavailable,
}

/// Looks up (or opens) the review of a request deferred for `approval`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn consult(
    gate: &Gate,
    snapshot: &Snapshot,
    route: &Route,
    judged: &mut Judged<'_>,
    input: &TrustInput<'_>,
    approval: &ApprovalRequest,
    decision: &Decision,
    body: Option<&[u8]>,
    now: Timestamp,
) -> Consulted {
    let record = judged.review_record(route, approval, decision, body);
    let key = binding_key(&approval.binding);
    let touched = match gate.ops.state.review_touch(key, &record, now).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(request_id = approval.request_id, route = %route.name, error = %e, "review inbox unavailable: the request stays deferred without a review");
            return Consulted::Unavailable;
        }
    };
    match touched {
        Touched::Pending { id, created } => {
            if created {
                gate.ops.metrics.review.opened();
                tracing::info!(request_id = approval.request_id, review_id = id, route = %route.name, "review opened");
            }
            let url = gate
                .review_url
                .as_deref()
                .map(|base| format!("{}/reviews/{id}", base.trim_end_matches('/')));
            Consulted::Pending(ReviewRef {
                id,
                url,
                status: ReviewStatus::Pending,
            })
        }
        Touched::Approved { id, token } => {
            judged.stored_approval(snapshot, route, input, &token, now);
            Consulted::Decided(id)
        }
        Touched::Rejected {
            id,
            approver,
            reason,
        } => {
            judged.review_rejected(snapshot, route, &approver, &reason, now);
            Consulted::Decided(id)
        }
    }
}

/// What closes the pending review of a request forwarded with its own `x-approval`: its
/// binding's key and the approver.
pub(super) fn settling(input: &TrustInput<'_>, facts: &Facts<'_>) -> Option<(String, String)> {
    let binding = crate::identity::binding_of(input, facts)?;
    let approver = facts.approved_by.as_deref()?.to_owned();
    Some((binding_key(&binding), approver))
}

/// Closes that review, off the request path (the request is about to be sent).
pub(super) fn settle(gate: &Gate, settle: Option<(String, String)>, now: Timestamp) {
    let Some((key, approver)) = settle else {
        return;
    };
    let ops = gate.ops.clone();
    tokio::spawn(async move {
        let text = "released by an x-approval of its own".to_owned();
        if let Err(e) = ops.state.review_settle(key, &approver, text, now).await {
            tracing::warn!(error = %e, "review not settled");
        }
    });
}

/// Records what became of an approved review's retry, off the request path.
pub(super) fn outcome(
    gate: &Gate,
    id: Option<Box<str>>,
    text: impl FnOnce() -> String,
    now: Timestamp,
) {
    // Most forwarded requests were released by no review: nothing to format then.
    let Some(id) = id else { return };
    let text = text();
    let ops = gate.ops.clone();
    tokio::spawn(async move {
        if let Err(e) = ops.state.review_outcome(&id, text, now).await {
            tracing::warn!(review_id = %id, error = %e, "review outcome not recorded");
        }
    });
}
