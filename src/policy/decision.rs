//! The Stage0 decision: GO / NO_GO / DEFER paired 1:1 with ALLOW / DENY / DEFER, and the
//! JSON body that carries it to callers, audits and the CLI.

use super::issue::{IssueClass, IssueSet};
use serde::Serialize;
use std::sync::Arc;

/// What the runtime does with the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Allow,
    Deny,
    Defer,
}

/// Stage0's decision spelling, paired 1:1 with [`Verdict`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DecisionKind {
    #[serde(rename = "GO")]
    Go,
    #[serde(rename = "NO_GO")]
    NoGo,
    #[serde(rename = "DEFER")]
    Defer,
}

impl Verdict {
    /// The verdict rule: any DENY-class issue denies; else any DEFER-class issue defers;
    /// else allow. An empty set is the only way to ALLOW.
    pub fn from_issues(issues: IssueSet) -> Verdict {
        if issues.has_class(IssueClass::Deny) {
            Verdict::Deny
        } else if issues.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Defer
        }
    }

    pub const fn decision(self) -> DecisionKind {
        match self {
            Verdict::Allow => DecisionKind::Go,
            Verdict::Deny => DecisionKind::NoGo,
            Verdict::Defer => DecisionKind::Defer,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "ALLOW",
            Verdict::Deny => "DENY",
            Verdict::Defer => "DEFER",
        }
    }

    /// Lower-case label for metrics.
    pub const fn label(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Defer => "defer",
        }
    }
}

/// Risk as reported: a 0-100 score and the signals that produced it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Risk {
    pub score: u8,
    pub signals: Vec<Arc<str>>,
}

/// The decision body, as returned by `/v1/check`, `toolgate check`, and in 403/409 bodies.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub decision: DecisionKind,
    pub verdict: Verdict,
    pub issues: IssueSet,
    pub defer_questions: Vec<Arc<str>>,
    pub request_id: String,
    pub policy_version: Arc<str>,
    pub policy_digest: Arc<str>,
    pub environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Arc<str>>,
    pub risk: Risk,
    /// Human-readable reasons for issues that need one (a malformed field, an unrecognized
    /// constraint); empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The instant the decision was evaluated at (RFC 3339).
    pub evaluated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::issue::IssueCode;

    #[test]
    fn verdict_rule() {
        let none = IssueSet::EMPTY;
        assert_eq!(Verdict::from_issues(none), Verdict::Allow);
        let defer = IssueSet::of(IssueCode::ApprovalRequired);
        assert_eq!(Verdict::from_issues(defer), Verdict::Defer);
        let deny = defer.union(IssueSet::of(IssueCode::RoleNotAuthorized));
        assert_eq!(Verdict::from_issues(deny), Verdict::Deny);
        assert_eq!(Verdict::Deny.decision(), DecisionKind::NoGo);
        assert_eq!(
            serde_json::to_string(&DecisionKind::NoGo).unwrap(),
            "\"NO_GO\""
        );
    }
}
