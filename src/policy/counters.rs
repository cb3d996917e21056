//! Counted limits (`rate_limit`, `max_calls_per_run`, `daily_amount_limit`): what evaluation
//! checks before anything is counted (the facts a count is keyed by, an amount that alone
//! exceeds the day's budget), and which counted limits are in force for an evaluated
//! request. The counting is the runtime's, in the state store, after an ALLOW.

use super::eval::InForce;
use super::facts::Facts;
use super::issue::{IssueCode, IssueSet};
use super::model::{Outcome, Policy, PreparedAction};
use super::requirements::{Counted, Limit, Per};

fn present(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty())
}

/// A count needs who it counts for: without an actor or a run id the request cannot be
/// counted, so it defers for that fact rather than counting under an empty key.
pub(super) fn check(counters: &[Counted], facts: &Facts<'_>, issues: &mut IssueSet) {
    let actor = present(facts.actor.as_deref());
    let run = present(facts.run_id.as_deref());
    for c in counters {
        match c.limit {
            Limit::Rate { per, .. } => match per {
                Per::Actor if !actor => issues.insert(IssueCode::ActorMissing),
                Per::Run if !run => issues.insert(IssueCode::RunIdMissing),
                Per::Actor | Per::Run | Per::Route => {}
            },
            Limit::RunCalls(_) => {
                if !run {
                    issues.insert(IssueCode::RunIdMissing);
                }
            }
            Limit::DailyAmount(max) => {
                if !actor {
                    issues.insert(IssueCode::ActorMissing);
                }
                match facts.amount {
                    None => issues.insert(IssueCode::AmountMissing),
                    // A negative amount would give budget back; NaN compares to nothing.
                    Some(a) if !(0.0..=max).contains(&a) => {
                        issues.insert(IssueCode::AmountBudgetExceeded)
                    }
                    Some(_) => {}
                }
            }
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
