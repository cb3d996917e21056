//! Issue codes: the stable SCREAMING_SNAKE reasons behind every verdict, their class
//! (DENY or DEFER), and a copy-free set of them that evaluation fills without allocating.

use serde::{Serialize, Serializer};
use std::fmt;

/// The class of an issue decides the verdict: any DENY-class issue denies, else any
/// DEFER-class issue defers, else the action is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueClass {
    Deny,
    Defer,
}

macro_rules! issue_codes {
    ($( $variant:ident => $text:literal, $class:ident, $question:literal; )*) => {
        /// Every reason toolgate can give. The order is the order issues appear in a decision.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum IssueCode { $( $variant, )* }

        impl IssueCode {
            /// All codes, in canonical order.
            pub const ALL: &'static [IssueCode] = &[ $( IssueCode::$variant, )* ];

            /// The stable wire spelling, e.g. `APPROVAL_REQUIRED`.
            pub const fn as_str(self) -> &'static str {
                match self { $( IssueCode::$variant => $text, )* }
            }

            /// Whether this issue denies or defers.
            pub const fn class(self) -> IssueClass {
                match self { $( IssueCode::$variant => IssueClass::$class, )* }
            }

            /// The question asked when a bundle phrases none for a DEFER issue.
            pub const fn default_question(self) -> &'static str {
                match self { $( IssueCode::$variant => $question, )* }
            }

            /// Parses the wire spelling (exact, upper case).
            pub fn parse(s: &str) -> Option<IssueCode> {
                match s { $( $text => Some(IssueCode::$variant), )* _ => None }
            }
        }
    };
}

issue_codes! {
    RouteNotMapped => "ROUTE_NOT_MAPPED", Deny, "";
    InvalidRequest => "INVALID_REQUEST", Deny, "";
    IdentityInvalid => "IDENTITY_INVALID", Deny, "";
    ActionForbidden => "ACTION_FORBIDDEN", Deny, "";
    RoleNotAuthorized => "ROLE_NOT_AUTHORIZED", Deny, "";
    ActorRoleMissing => "ACTOR_ROLE_MISSING", Defer, "Which role does the requesting actor hold?";
    EnvironmentMissing => "ENVIRONMENT_MISSING", Defer, "Which environment does this action target?";
    EnvironmentNotAllowed => "ENVIRONMENT_NOT_ALLOWED", Deny, "";
    EnvironmentMismatch => "ENVIRONMENT_MISMATCH", Deny, "";
    ContextMismatch => "CONTEXT_MISMATCH", Deny, "";
    ApprovalRequired => "APPROVAL_REQUIRED", Defer, "Who approved this action?";
    ApprovalRejected => "APPROVAL_REJECTED", Deny, "";
    ApproverMissing => "APPROVER_MISSING", Defer, "Who is the approver of record?";
    ApprovalTimestampMissing => "APPROVAL_TIMESTAMP_MISSING", Defer, "Is approval still valid?";
    ApprovalExpired => "APPROVAL_EXPIRED", Defer, "Can the approval be renewed?";
    ApprovalSignatureInvalid => "APPROVAL_SIGNATURE_INVALID", Deny, "";
    ApprovalScopeMismatch => "APPROVAL_SCOPE_MISMATCH", Deny, "";
    ApprovalReplayed => "APPROVAL_REPLAYED", Deny, "";
    SelfApproval => "SELF_APPROVAL", Deny, "";
    DestructiveActionRequiresApproval => "DESTRUCTIVE_ACTION_REQUIRES_APPROVAL", Defer, "Who approved this destructive action?";
    ChangeWindowClosed => "CHANGE_WINDOW_CLOSED", Defer, "Can this wait until the change window opens?";
    RollbackPlanMissing => "ROLLBACK_PLAN_MISSING", Defer, "What is the rollback plan?";
    MfaRequired => "MFA_REQUIRED", Defer, "Has the actor completed MFA?";
    MaxIterationsExceeded => "MAX_ITERATIONS_EXCEEDED", Deny, "";
    IterationCountMissing => "ITERATION_COUNT_MISSING", Defer, "Which iteration of the run is this?";
    TimeoutExceeded => "TIMEOUT_EXCEEDED", Deny, "";
    ElapsedTimeMissing => "ELAPSED_TIME_MISSING", Defer, "How long has the run been going?";
    BudgetExceeded => "BUDGET_EXCEEDED", Deny, "";
    CostMissing => "COST_MISSING", Defer, "What has the run cost so far?";
    AmountLimitExceeded => "AMOUNT_LIMIT_EXCEEDED", Deny, "";
    AmountMissing => "AMOUNT_MISSING", Defer, "What amount does this action move?";
    ActorMissing => "ACTOR_MISSING", Defer, "Who is making this request?";
    RunIdMissing => "RUN_ID_MISSING", Defer, "Which run is this call part of?";
    RateLimited => "RATE_LIMITED", Deny, "";
    RunCallLimitExceeded => "RUN_CALL_LIMIT_EXCEEDED", Deny, "";
    AmountBudgetExceeded => "AMOUNT_BUDGET_EXCEEDED", Deny, "";
    StateUnavailable => "STATE_UNAVAILABLE", Deny, "";
    SideEffectUnclassified => "SIDE_EFFECT_UNCLASSIFIED", Defer, "What does this side effect do?";
    ConstraintUnrecognized => "CONSTRAINT_UNRECOGNIZED", Defer, "Who can verify the constraints toolgate does not recognize?";
}

/// The number of issue codes; a set fits in one `u64`.
pub const ISSUE_COUNT: usize = IssueCode::ALL.len();
const _: () = assert!(ISSUE_COUNT <= 64);

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for IssueCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A set of issue codes as a bit mask: union and membership are single instructions,
/// and iteration yields codes in canonical order, so decisions are deterministic.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct IssueSet(u64);

impl IssueSet {
    pub const EMPTY: IssueSet = IssueSet(0);

    pub fn of(code: IssueCode) -> IssueSet {
        IssueSet(1 << code as u8)
    }

    pub fn insert(&mut self, code: IssueCode) {
        self.0 |= 1 << code as u8;
    }

    pub fn contains(self, code: IssueCode) -> bool {
        self.0 & (1 << code as u8) != 0
    }

    pub fn union(self, other: IssueSet) -> IssueSet {
        IssueSet(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn iter(self) -> impl Iterator<Item = IssueCode> {
        IssueCode::ALL
            .iter()
            .copied()
            .filter(move |c| self.contains(*c))
    }

    pub fn has_class(self, class: IssueClass) -> bool {
        self.iter().any(|c| c.class() == class)
    }
}

impl FromIterator<IssueCode> for IssueSet {
    fn from_iter<I: IntoIterator<Item = IssueCode>>(iter: I) -> Self {
        let mut set = IssueSet::EMPTY;
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl fmt::Debug for IssueSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for IssueSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_spelling() {
        for code in IssueCode::ALL {
            assert_eq!(IssueCode::parse(code.as_str()), Some(*code));
            let q = code.default_question();
            assert_eq!(code.class() == IssueClass::Defer, !q.is_empty(), "{code}");
        }
        assert_eq!(IssueCode::parse("approval_required"), None);
    }

    #[test]
    fn set_iterates_in_canonical_order() {
        let set: IssueSet = [IssueCode::MfaRequired, IssueCode::RoleNotAuthorized]
            .into_iter()
            .collect();
        let v: Vec<_> = set.iter().collect();
        assert_eq!(v, [IssueCode::RoleNotAuthorized, IssueCode::MfaRequired]);
        assert!(set.has_class(IssueClass::Deny));
        assert_eq!(set.len(), 2);
    }
}
