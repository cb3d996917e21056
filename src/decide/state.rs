//! A judged request and the state store: the plan of what forwarding it would claim and
//! count, and, when the store refuses part of it, the request judged again with the
//! reasons (`APPROVAL_REPLAYED`, `RATE_LIMITED`, `RUN_CALL_LIMIT_EXCEEDED`,
//! `AMOUNT_BUDGET_EXCEEDED`). Pure: the round trip is the caller's.

use super::Judged;
use crate::authorize;
use crate::policy::{IssueCode, Limit};
use crate::snapshot::{Route, Snapshot};
use crate::state::{Plan, Planner, Refused, What};
use jiff::Timestamp;

impl Judged<'_> {
    /// What forwarding this request claims (its approval's `jti`) and counts (the counted
    /// limits in force on `route`). Empty when it needs no state: no round trip then.
    pub fn plan(&self, planner: Planner<'_>, snapshot: &Snapshot, route: &Route) -> Plan {
        let counters = snapshot
            .policy
            .counters_in_force(&route.action, &self.facts, &self.outcome);
        let claim = self.claim.as_ref().map(|c| (c.jti.as_str(), c.until));
        planner.plan(&route.name, claim, counters, &self.facts)
    }

    /// The store refused `refused` of `plan`: the request is judged again with why. Returns
    /// the seconds until a refused rate limit would count it again (for `Retry-After`).
    pub fn state_refused(
        &mut self,
        snapshot: &Snapshot,
        route: &Route,
        plan: &Plan,
        refused: &[Refused],
        now: Timestamp,
    ) -> Option<u64> {
        let mut retry_ms: Option<i64> = None;
        for r in refused {
            let Some(what) = plan.what.get(r.op) else {
                // A refusal nothing explains must still refuse: never judged ALLOW again.
                self.facts.issues.insert(IssueCode::StateUnavailable);
                self.details
                    .push(format!("state: op {} refused without a reason", r.op));
                continue;
            };
            let (code, detail) = match what {
                What::Approval { jti } => {
                    self.claim = None;
                    (
                        IssueCode::ApprovalReplayed,
                        format!("approval: jti {jti:?} was already used; an approval is good for one request"),
                    )
                }
                What::Limit(Limit::Rate {
                    limit,
                    window_ms,
                    per,
                }) => {
                    let wait = r.value.max(1);
                    retry_ms = Some(retry_ms.map_or(wait, |w| w.max(wait)));
                    (
                        IssueCode::RateLimited,
                        format!(
                            "rate_limit {limit}/{}s per {}: {limit} requests were counted in the window; the next is counted in {:.1}s",
                            window_ms / 1000,
                            per.as_str(),
                            wait as f64 / 1000.0
                        ),
                    )
                }
                What::Limit(Limit::RunCalls(limit)) => (
                    IssueCode::RunCallLimitExceeded,
                    format!(
                        "max_calls_per_run {limit}: run {:?} already made {} forwarded calls",
                        self.facts.run_id.as_deref().unwrap_or(""),
                        r.value
                    ),
                ),
                What::Limit(Limit::DailyAmount(limit)) => {
                    let spent = r.value as f64 / 1000.0;
                    (
                        IssueCode::AmountBudgetExceeded,
                        format!(
                            "daily_amount_limit {limit} per actor: spent {spent} today (UTC), {} left; this request moves {}",
                            (limit - spent).max(0.0),
                            self.facts.amount.unwrap_or(0.0)
                        ),
                    )
                }
            };
            self.facts.issues.insert(code);
            self.details.push(detail);
        }
        self.outcome = authorize::evaluate(&snapshot.policy, &route.action, &self.facts, now);
        retry_ms.map(|ms| (ms as u64).div_ceil(1000))
    }

    /// The store could not be asked (`why`): the request is judged again as refused for
    /// want of state, so it is denied like any other DENY (on a shadow route, recorded).
    pub fn state_unavailable(
        &mut self,
        snapshot: &Snapshot,
        route: &Route,
        why: &dyn std::fmt::Display,
        now: Timestamp,
    ) {
        self.facts.issues.insert(IssueCode::StateUnavailable);
        self.details
            .push(format!("state: {why}; nothing was forwarded"));
        self.outcome = authorize::evaluate(&snapshot.policy, &route.action, &self.facts, now);
    }
}
