//! Evaluation: prepared action + facts + the instant `now` -> issues, risk and verdict. Pure
//! and deterministic: no I/O, no clock, no parsing; the per-request path allocates nothing
//! until a decision body is needed.

use super::decision::{Decision, Risk, Verdict};
use super::facts::{ApprovalState, Facts};
use super::issue::{IssueClass, IssueCode, IssueSet};
use super::model::{
    normalize_label, ClassMask, Outcome, Policy, PreparedAction, QuestionTable, Rule,
};
use super::requirements::{Counted, NameSet, Requirements};
use jiff::Timestamp;
use std::sync::Arc;

/// Whether a dynamic rule applies to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum InForce {
    Yes,
    No,
    /// It depends on a fact the request lacks (the environment).
    Unknown,
}

/// Whether `env` (already trimmed) is in `set`, ignoring ASCII case.
fn contains_env(set: &NameSet, env: &str) -> bool {
    set.iter().any(|e| e.eq_ignore_ascii_case(env))
}

impl Policy {
    /// Resolves what an action's static parts imply. `own` holds the action's constraints,
    /// already parsed; `route_questions` the route's wording, if any.
    pub fn prepare<S: AsRef<str>>(
        &self,
        route: Option<&str>,
        goal: &str,
        tools: &[S],
        side_effects: &[S],
        own: Requirements,
        route_questions: Option<&QuestionTable>,
    ) -> PreparedAction {
        let mut classes = ClassMask::default();
        let mut unclassified = smallvec::SmallVec::new();
        for label in side_effects {
            match self.class_of(label.as_ref()) {
                Some(id) => classes = classes.with(id),
                None => unclassified.push(normalize_label(label.as_ref()).into_boxed_str()),
            }
        }
        let mut risk: u32 = 0;
        let mut signals = Vec::new();
        let mut destructive = false;
        let mut questions = route_questions.cloned().unwrap_or_default();
        for (id, class) in self.classes.iter().enumerate() {
            if classes.contains(id as u8) {
                risk += u32::from(class.risk);
                signals.push(class.signal.clone());
                destructive |= class.destructive;
                questions.fill_from(&class.questions);
            }
        }
        for label in &unclassified {
            risk += u32::from(self.risk.unclassified_weight);
            signals.push(Arc::from(format!("unclassified_side_effect:{label}")));
        }
        questions.fill_from(&self.questions);

        let mut requirements = own;
        // A route's own counted limits count per route; `/check` payloads' never count.
        match route {
            Some(r) => requirements.scope_counters(&format!("route:{r}")),
            None => requirements.scope_counters("check"),
        }
        let mut dynamic_rules = smallvec::SmallVec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let w = &rule.when;
            let route_ok = w
                .routes
                .as_ref()
                .is_none_or(|set| route.is_some_and(|r| set.iter().any(|n| &**n == r)));
            let class_ok = w.classes.is_none_or(|m| m.intersects(classes));
            let tool_ok = w.tools.as_ref().is_none_or(|set| {
                tools.iter().any(|t| {
                    set.iter()
                        .any(|n| n.eq_ignore_ascii_case(t.as_ref().trim()))
                })
            });
            if route_ok && class_ok && tool_ok {
                if w.is_dynamic() {
                    dynamic_rules.push(i as u16);
                } else {
                    requirements.merge(&rule.require);
                }
            }
        }
        PreparedAction {
            route: route.map(Arc::from),
            goal: goal.into(),
            tools: tools.iter().map(|t| t.as_ref().into()).collect(),
            side_effects: side_effects.iter().map(|t| t.as_ref().into()).collect(),
            classes,
            unclassified,
            destructive,
            requirements,
            dynamic_rules,
            base_risk: risk.min(100) as u8,
            signals,
            questions: Arc::new(questions),
        }
    }

    /// Evaluates a prepared action against facts at `now`.
    pub fn evaluate(&self, action: &PreparedAction, facts: &Facts<'_>, now: Timestamp) -> Outcome {
        let mut issues = facts.issues;
        let env = facts.environment.as_deref().map(str::trim);
        if let (Some(known), Some(e)) = (&self.known_environments, env) {
            if !contains_env(known, e) {
                issues.insert(IssueCode::EnvironmentNotAllowed);
            }
        }
        let environment_risk = env.and_then(|e| {
            self.risk
                .environments
                .iter()
                .position(|(name, _, _)| name.eq_ignore_ascii_case(e))
        });
        let env_weight = environment_risk.map_or(0, |i| u32::from(self.risk.environments[i].1));
        let risk = (u32::from(action.base_risk) + env_weight).min(100) as u8;

        self.check(&action.requirements, facts, now, &mut issues);
        for &i in &action.dynamic_rules {
            let rule = &self.rules[usize::from(i)];
            match self.rule_in_force(rule, action, env, risk) {
                InForce::Yes => self.check(&rule.require, facts, now, &mut issues),
                InForce::No => {}
                // Which rules apply cannot be known: hold for the missing fact.
                InForce::Unknown => issues.insert(IssueCode::EnvironmentMissing),
            }
        }
        if action.destructive {
            // A destructive side effect needs approval whatever the constraints say, so it
            // gets the whole approval check: a rejection denies, self-approval denies.
            match facts.approval_state() {
                ApprovalState::Rejected => issues.insert(IssueCode::ApprovalRejected),
                ApprovalState::NotApproved => {
                    issues.insert(IssueCode::DestructiveActionRequiresApproval)
                }
                ApprovalState::Approved => self.check_approval_evidence(facts, now, &mut issues),
            }
        }
        if !action.unclassified.is_empty() && self.risk.defer_unclassified {
            issues.insert(IssueCode::SideEffectUnclassified);
        }
        Outcome {
            issues,
            risk,
            environment_risk: environment_risk.map(|i| i as u16),
        }
    }

    /// Whether a dynamic rule (one that depends on the environment or the risk) applies.
    pub(super) fn rule_in_force(
        &self,
        rule: &Rule,
        action: &PreparedAction,
        env: Option<&str>,
        risk: u8,
    ) -> InForce {
        if let Some(envs) = &rule.when.environments {
            match env {
                None => return InForce::Unknown,
                Some(e) if !contains_env(envs, e) => return InForce::No,
                Some(_) => {}
            }
        }
        if let Some(min) = rule.when.min_risk.filter(|min| risk < *min) {
            // Without an environment its weight is unknown, not zero: when the heaviest
            // one would reach the threshold, which rules apply cannot be known either.
            let heaviest = self.risk.environments.iter().map(|e| u32::from(e.1)).max();
            let could_reach = u32::from(action.base_risk) + heaviest.unwrap_or(0) >= u32::from(min);
            return if env.is_none() && could_reach {
                InForce::Unknown
            } else {
                InForce::No
            };
        }
        InForce::Yes
    }

    fn check(&self, req: &Requirements, facts: &Facts<'_>, now: Timestamp, issues: &mut IssueSet) {
        use IssueCode::*;
        if req.forbid {
            issues.insert(ActionForbidden);
        }
        for set in &req.roles {
            let held = |role: &str| set.iter().any(|r| **r == *role);
            match facts.actor_role.as_deref() {
                None => issues.insert(ActorRoleMissing),
                Some(role) if !held(role) && !facts.extra_roles.iter().any(|r| held(r)) => {
                    issues.insert(RoleNotAuthorized)
                }
                Some(_) => {}
            }
        }
        for set in &req.environments {
            match facts.environment.as_deref().map(str::trim) {
                None => issues.insert(EnvironmentMissing),
                Some(e) if !contains_env(set, e) => issues.insert(EnvironmentNotAllowed),
                Some(_) => {}
            }
        }
        if req.approval {
            match facts.approval_state() {
                ApprovalState::Rejected => issues.insert(ApprovalRejected),
                ApprovalState::NotApproved => {
                    issues.insert(ApprovalRequired);
                    if facts.approved_by.is_none() {
                        issues.insert(ApproverMissing);
                    }
                    if facts.approved_at.is_none() {
                        issues.insert(ApprovalTimestampMissing);
                    }
                }
                ApprovalState::Approved => self.check_approval_evidence(facts, now, issues),
            }
        }
        for &w in &req.windows {
            if !self.windows[usize::from(w)].is_open(now) {
                issues.insert(ChangeWindowClosed);
            }
        }
        if req.rollback_plan && facts.rollback_plan != Some(true) {
            issues.insert(RollbackPlanMissing);
        }
        if req.mfa && facts.mfa != Some(true) {
            issues.insert(MfaRequired);
        }
        limit(
            req.max_iterations.map(|m| m as f64),
            facts.current_iteration.map(|i| i as f64),
            IterationCountMissing,
            MaxIterationsExceeded,
            issues,
        );
        limit(
            req.timeout_seconds,
            facts.elapsed_seconds,
            ElapsedTimeMissing,
            TimeoutExceeded,
            issues,
        );
        limit(
            req.max_cost_usd,
            facts.cumulative_cost_usd,
            CostMissing,
            BudgetExceeded,
            issues,
        );
        limit(
            req.max_amount,
            facts.amount,
            AmountMissing,
            AmountLimitExceeded,
            issues,
        );
        if !req.unrecognized.is_empty() {
            issues.insert(ConstraintUnrecognized);
        }
        super::counters::check(&req.counters, facts, issues);
    }

    /// Status says approved: the rest of the evidence must stand up too.
    fn check_approval_evidence(&self, facts: &Facts<'_>, now: Timestamp, issues: &mut IssueSet) {
        use IssueCode::*;
        match facts.approved_by.as_deref() {
            None => issues.insert(ApproverMissing),
            Some(by) => {
                let by = by.trim();
                if by.is_empty() {
                    issues.insert(ApproverMissing);
                } else if facts
                    .actor
                    .as_deref()
                    .is_some_and(|actor| actor.trim().eq_ignore_ascii_case(by))
                {
                    issues.insert(SelfApproval);
                }
            }
        }
        match facts.approved_at {
            None => issues.insert(ApprovalTimestampMissing),
            Some(at) => {
                let age = now.duration_since(at);
                if age > self.approval.max_age || -age > self.approval.clock_skew {
                    issues.insert(ApprovalExpired);
                }
            }
        }
    }

    /// Builds the decision body. Allocates; called for DENY/DEFER bodies, `/check` and audit.
    pub fn decision(
        &self,
        action: &PreparedAction,
        facts: &Facts<'_>,
        outcome: &Outcome,
        request_id: String,
        now: Timestamp,
        details: Vec<String>,
    ) -> Decision {
        let verdict = Verdict::from_issues(outcome.issues);
        let defer_questions = outcome
            .issues
            .iter()
            .filter(|c| c.class() == IssueClass::Defer)
            .map(|c| {
                action
                    .questions
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(c.default_question()))
            })
            .collect();
        let mut signals = action.signals.clone();
        if let Some(i) = outcome.environment_risk {
            signals.push(self.risk.environments[usize::from(i)].2.clone());
        }
        Decision {
            decision: verdict.decision(),
            verdict,
            issues: outcome.issues,
            defer_questions,
            request_id,
            policy_version: self.policy_version.clone(),
            policy_digest: self.digest.clone(),
            environment: facts.environment.as_deref().map(str::to_owned),
            route: action.route.clone(),
            risk: Risk {
                score: outcome.risk,
                signals,
            },
            details,
            evaluated_at: now.to_string(),
        }
    }
}

/// A runtime limit: missing evidence defers, a value over the limit denies. NaN never
/// passes: it is neither missing nor within the limit.
fn limit(
    max: Option<f64>,
    value: Option<f64>,
    missing: IssueCode,
    exceeded: IssueCode,
    issues: &mut IssueSet,
) {
    use std::cmp::Ordering::{Equal, Less};
    if let Some(max) = max {
        match value.map(|v| v.partial_cmp(&max)) {
            None => issues.insert(missing),
            Some(Some(Less | Equal)) => {}
            // Greater, or incomparable (NaN): never within the limit.
            Some(_) => issues.insert(exceeded),
        }
    }
}

impl Policy {
    /// The counted limits in force for `action` evaluated on `facts` as `outcome`: the
    /// action's own and its static rules', and those of the dynamic rules that applied.
    pub fn counters_in_force<'p>(
        &'p self,
        action: &'p PreparedAction,
        facts: &Facts<'_>,
        outcome: &Outcome,
    ) -> impl Iterator<Item = &'p Counted> + 'p {
        let env = facts.environment.as_deref().map(str::trim);
        let dynamic: smallvec::SmallVec<[u16; 4]> = action
            .dynamic_rules
            .iter()
            .copied()
            .filter(|&i| {
                let rule = &self.rules[usize::from(i)];
                !rule.require.counters.is_empty()
                    && self.rule_in_force(rule, action, env, outcome.risk) == InForce::Yes
            })
            .collect();
        action.requirements.counters.iter().chain(
            dynamic
                .into_iter()
                .flat_map(move |i| self.rules[usize::from(i)].require.counters.iter()),
        )
    }
}
