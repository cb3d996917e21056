//! Each issue code in words: the one-sentence message a Stage0 client shows its user (the
//! `message` of an issue object, and the decision's `reason`).

use super::issue::IssueCode;

impl IssueCode {
    /// What failed, in words.
    pub const fn message(self) -> &'static str {
        use IssueCode::*;
        match self {
            RouteNotMapped => "No route or tool of the policy bundle maps this action.",
            InvalidRequest => "The request could not be read unambiguously.",
            IdentityInvalid => "The caller's identity could not be verified.",
            ActionForbidden => "The policy forbids this action outright.",
            RoleNotAuthorized => "The actor's role is not allowed to perform this action.",
            ActorRoleMissing => "The actor's role is not stated.",
            EnvironmentMissing => "The target environment is not stated.",
            EnvironmentNotAllowed => "The action is not allowed in this environment.",
            EnvironmentMismatch => "The sources of the environment disagree.",
            ContextMismatch => "The sources of a context field disagree.",
            ApprovalRequired => "The action needs a human approval it does not have.",
            ApprovalRejected => "The action's approval was rejected.",
            ApproverMissing => "The approver of record is not stated.",
            ApprovalTimestampMissing => "The approval's time is not stated.",
            ApprovalExpired => "The approval is too old, or dated in the future.",
            ApprovalSignatureInvalid => "The signed approval does not verify.",
            ApprovalScopeMismatch => "The signed approval was given for another request.",
            ApprovalReplayed => "The signed approval was already used.",
            SelfApproval => "The actor approved their own action.",
            DestructiveActionRequiresApproval => {
                "A destructive action needs a human approval it does not have."
            }
            ChangeWindowClosed => "The change window for this action is closed.",
            RollbackPlanMissing => "The action needs a rollback plan it does not have.",
            MfaRequired => "The actor has not completed MFA.",
            MaxIterationsExceeded => "The run is past its iteration limit.",
            IterationCountMissing => "The run's iteration count is not stated.",
            TimeoutExceeded => "The run is past its time limit.",
            ElapsedTimeMissing => "The run's elapsed time is not stated.",
            BudgetExceeded => "The run is past its cost budget.",
            CostMissing => "The run's cost so far is not stated.",
            AmountLimitExceeded => "The amount is over the action's limit.",
            AmountMissing => "The amount the action moves is not stated.",
            ActorMissing => "The actor is not stated.",
            RunIdMissing => "The run this call belongs to is not stated.",
            RateLimited => "Too many such requests in the rate limit's window.",
            RunCallLimitExceeded => "The run already made as many calls as it may.",
            AmountBudgetExceeded => "The amount would take the actor past today's budget.",
            StateUnavailable => "The state the decision needs could not be reached.",
            SideEffectUnclassified => "A side effect of the action is not classified.",
            ConstraintUnrecognized => "A constraint could not be verified.",
        }
    }
}
