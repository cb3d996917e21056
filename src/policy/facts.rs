//! Facts: the typed context an action is evaluated with (who asks, in which role, for which
//! environment, with what approval and runtime state). Built by the caller (the `/check`
//! payload reader or the proxy's extractor); the engine only reads it.

use super::issue::IssueSet;
use jiff::Timestamp;
use std::borrow::Cow;

/// The context facts the engine checks. Borrowed where it can be, so extracting facts from
/// a request's headers allocates nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts<'a> {
    pub run_id: Option<Cow<'a, str>>,
    pub actor: Option<Cow<'a, str>>,
    pub actor_role: Option<Cow<'a, str>>,
    /// Further roles the actor holds (a verified token may carry several); a role
    /// requirement is met by `actor_role` or any of these.
    pub extra_roles: Vec<Cow<'a, str>>,
    pub approval_status: Option<Cow<'a, str>>,
    pub approved_by: Option<Cow<'a, str>>,
    pub approved_at: Option<Timestamp>,
    pub environment: Option<Cow<'a, str>>,
    pub current_iteration: Option<u64>,
    pub elapsed_seconds: Option<f64>,
    pub cumulative_cost_usd: Option<f64>,
    /// The value of the field the bundle names as the amount (`spec.limits.amount_field`).
    pub amount: Option<f64>,
    pub current_tool: Option<Cow<'a, str>>,
    pub ticket_id: Option<Cow<'a, str>>,
    pub rollback_plan: Option<bool>,
    pub mfa: Option<bool>,
    /// Issues found while gathering the facts (two sources that disagree, for instance).
    pub issues: IssueSet,
}

/// What an approval status says. Anything but a recognised spelling is not approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalState {
    Approved,
    Rejected,
    /// Absent, `pending`, or a word the engine does not know: no approval yet.
    NotApproved,
}

impl Facts<'_> {
    pub fn approval_state(&self) -> ApprovalState {
        match self.approval_status.as_deref().map(str::trim) {
            Some(s) if s.eq_ignore_ascii_case("approved") => ApprovalState::Approved,
            Some(s) if s.eq_ignore_ascii_case("rejected") || s.eq_ignore_ascii_case("denied") => {
                ApprovalState::Rejected
            }
            _ => ApprovalState::NotApproved,
        }
    }
}

/// Reads a boolean fact written as text (a header, a query value). `None` when the text is
/// not a boolean spelling, so the caller can refuse it.
pub fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim();
    for yes in ["true", "yes", "1", "on"] {
        if t.eq_ignore_ascii_case(yes) {
            return Some(true);
        }
    }
    for no in ["false", "no", "0", "off"] {
        if t.eq_ignore_ascii_case(no) {
            return Some(false);
        }
    }
    None
}
