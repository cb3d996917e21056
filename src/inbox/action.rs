//! A reviewer's decision on a review: who may decide (never the requesting actor; a
//! reviewer role when the bundle requires one), what an approval may be (a lifetime up to
//! the bundle's `max_ttl`), the approval signed (the same token `toolgate approve` mints)
//! and stored with the review, and every refusal a typed error mapped to one answer.

use super::reviewer::Reviewer;
use super::Inbox;
use crate::approval::request::mint_claims;
use crate::state::review::{DecideResult, Review, ReviewStatus, Verdict};
use crate::state::StateError;
use http::StatusCode;
use jiff::SignedDuration;

/// The shortest approval the inbox signs.
pub const MIN_TTL: i64 = 60;
/// The longest rejection reason kept.
pub const MAX_REASON: usize = 500;

/// What the reviewer asked for.
pub enum Ask {
    Approve { ttl_seconds: i64 },
    Reject { reason: String },
}

/// Why a decision was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no review {0} (it may have expired)")]
    NotFound(String),
    #[error("this review was already {status} by {by}")]
    AlreadyDecided { status: &'static str, by: String },
    #[error("{0} is the requesting actor: a request cannot be approved or rejected by whoever made it (four eyes)")]
    SelfReview(String),
    #[error("this route needs a reviewer with one of the roles {0}; you hold none of them")]
    RoleRequired(String),
    #[error(
        "the approval lifetime must be between {MIN_TTL} and {0} seconds (the bundle's max_ttl)"
    )]
    BadTtl(i64),
    #[error("a rejection needs a reason (at most {MAX_REASON} characters)")]
    BadReason,
    #[error("{0}")]
    Csrf(#[from] super::csrf::CsrfError),
    #[error("cross-site request refused")]
    CrossSite,
    #[error("the form could not be read: {0}")]
    BadForm(String),
    #[error("the state store is unavailable: {0}")]
    Store(#[from] StateError),
    #[error("the approval could not be signed: {0}")]
    Sign(String),
}

impl ActionError {
    /// The one mapping of refusals to statuses.
    pub fn status(&self) -> StatusCode {
        match self {
            ActionError::NotFound(_) => StatusCode::NOT_FOUND,
            ActionError::AlreadyDecided { .. } => StatusCode::CONFLICT,
            ActionError::SelfReview(_) | ActionError::RoleRequired(_) => StatusCode::FORBIDDEN,
            ActionError::Csrf(_) | ActionError::CrossSite => StatusCode::FORBIDDEN,
            ActionError::BadTtl(_) | ActionError::BadReason | ActionError::BadForm(_) => {
                StatusCode::BAD_REQUEST
            }
            ActionError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ActionError::Sign(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code of the JSON error.
    pub fn code(&self) -> &'static str {
        match self {
            ActionError::NotFound(_) => "REVIEW_NOT_FOUND",
            ActionError::AlreadyDecided { .. } => "REVIEW_ALREADY_DECIDED",
            ActionError::SelfReview(_) => "SELF_APPROVAL",
            ActionError::RoleRequired(_) => "REVIEWER_ROLE_REQUIRED",
            ActionError::BadTtl(_) => "INVALID_TTL",
            ActionError::BadReason => "REASON_REQUIRED",
            ActionError::Csrf(_) => "CSRF_INVALID",
            ActionError::CrossSite => "CROSS_SITE",
            ActionError::BadForm(_) => "INVALID_REQUEST",
            ActionError::Store(_) => "STATE_UNAVAILABLE",
            ActionError::Sign(_) => "SIGNING_FAILED",
        }
    }
}

/// Whether `reviewer` may decide `review` at all (shown before the forms, checked again
/// on the decision).
pub fn may_decide(review: &Review, reviewer: &Reviewer) -> Result<(), ActionError> {
    let actor = review
        .record
        .approval
        .binding
        .actor
        .as_deref()
        .or(review.record.actor.as_deref());
    if actor.is_some_and(|a| a.trim().eq_ignore_ascii_case(reviewer.name.trim())) {
        return Err(ActionError::SelfReview(reviewer.name.clone()));
    }
    let needed = &review.record.reviewer_roles;
    if !needed.is_empty() && !needed.iter().any(|r| reviewer.roles.contains(r)) {
        return Err(ActionError::RoleRequired(needed.join(", ")));
    }
    Ok(())
}

/// The longest approval this review may get, in seconds.
pub fn max_ttl(review: &Review) -> i64 {
    match review.record.approval.max_ttl_seconds {
        n if n > 0 => n,
        // A review that does not say its bundle's `max_ttl`: the bundle's own default.
        _ => crate::bundle::DEFAULT_MAX_TTL_SECS,
    }
}

impl Inbox {
    /// Records `reviewer`'s decision on review `id`; the review as it now stands.
    pub async fn decide(
        &self,
        id: &str,
        reviewer: &Reviewer,
        ask: Ask,
    ) -> Result<Review, ActionError> {
        let now = (self.clock)();
        let review = self
            .ops
            .state
            .review_get(id, now)
            .await?
            .ok_or_else(|| ActionError::NotFound(id.to_owned()))?;
        if review.status != ReviewStatus::Pending {
            return Err(already(&review));
        }
        may_decide(&review, reviewer)?;
        let verdict = match &ask {
            Ask::Approve { ttl_seconds } => {
                let max = max_ttl(&review);
                // A bundle whose max_ttl is under a minute still gets approvals of it.
                if !(MIN_TTL.min(max)..=max).contains(ttl_seconds) {
                    return Err(ActionError::BadTtl(max));
                }
                let (token, claims) = mint_claims(
                    &self.signer,
                    self.key_id.as_deref(),
                    &review.record.approval.binding,
                    &reviewer.name,
                    now,
                    SignedDuration::from_secs(*ttl_seconds),
                )
                .map_err(ActionError::Sign)?;
                Verdict::Approve {
                    token,
                    exp: claims.exp,
                    claim_key: crate::state::plan::claim_key(self.ops.state.prefix(), &claims.jti),
                }
            }
            Ask::Reject { reason } => {
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > MAX_REASON {
                    return Err(ActionError::BadReason);
                }
                Verdict::Reject {
                    reason: reason.to_owned(),
                }
            }
        };
        let state = &self.ops.state;
        match state
            .review_decide(id, &reviewer.name, verdict, now)
            .await?
        {
            DecideResult::Done => {}
            DecideResult::Missing => return Err(ActionError::NotFound(id.to_owned())),
            DecideResult::NotPending(_) => {
                let now_stands = state.review_get(id, now).await?;
                return Err(now_stands
                    .as_ref()
                    .map_or(ActionError::NotFound(id.to_owned()), already));
            }
        }
        let decided = state
            .review_get(id, now)
            .await?
            .ok_or_else(|| ActionError::NotFound(id.to_owned()))?;
        self.audit_action(&decided, reviewer, now);
        self.ops.metrics.review.decided(decided.status.as_str());
        Ok(decided)
    }
}

fn already(review: &Review) -> ActionError {
    ActionError::AlreadyDecided {
        status: review.status.as_str(),
        by: review
            .decided
            .as_ref()
            .map_or_else(String::new, |d| d.approver.clone()),
    }
}
