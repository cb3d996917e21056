//! Requirements: what an action must show before it may run. Route constraints, `/check`
//! constraints and bundle rules all compile to this one shape; evaluation checks each set
//! independently, so "both apply" needs no merging at request time.

use smallvec::SmallVec;
use std::sync::Arc;

/// Index of a named change window in the policy.
pub type WindowId = u16;

/// Whose requests a rate limit counts together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    Actor,
    Run,
    Route,
}

impl Per {
    pub const fn as_str(self) -> &'static str {
        match self {
            Per::Actor => "actor",
            Per::Run => "run",
            Per::Route => "route",
        }
    }
}

/// A limit toolgate counts itself, in the state store, over forwarded requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// At most `limit` requests in any `window_ms` (a sliding window), per `per`.
    Rate {
        limit: u32,
        window_ms: u64,
        per: Per,
    },
    /// At most this many forwarded requests per run id.
    RunCalls(u64),
    /// At most this sum of amounts per actor per UTC day.
    DailyAmount(f64),
}

/// A counted limit and the scope its counts belong to: the route (`route:NAME`) or the
/// rule (`rule:NAME`) that states it, so two routes' limits of the same shape count apart
/// and one rule's limit counts every route it covers together.
#[derive(Clone, Debug, PartialEq)]
pub struct Counted {
    pub limit: Limit,
    pub scope: Arc<str>,
}

/// A set of accepted values (roles, environments), matched exactly.
pub type NameSet = Arc<[Box<str>]>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Requirements {
    /// The action is forbidden outright (a rule with `deny: true`).
    pub forbid: bool,
    pub approval: bool,
    /// Each set must contain the actor's role.
    pub roles: SmallVec<[NameSet; 1]>,
    /// Each set must contain the environment.
    pub environments: SmallVec<[NameSet; 1]>,
    /// Each window must be open.
    pub windows: SmallVec<[WindowId; 1]>,
    pub rollback_plan: bool,
    pub mfa: bool,
    pub max_iterations: Option<u64>,
    pub timeout_seconds: Option<f64>,
    pub max_cost_usd: Option<f64>,
    pub max_amount: Option<f64>,
    /// Constraints the engine cannot verify, verbatim; any one defers the action.
    pub unrecognized: SmallVec<[Box<str>; 0]>,
    /// Limits counted in the state store (`rate_limit`, `max_calls_per_run`,
    /// `daily_amount_limit`). Evaluation checks what they need to be counted; the count
    /// itself is the runtime's, after an ALLOW.
    pub counters: SmallVec<[Counted; 0]>,
}

fn tighter(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Requirements {
    /// Adds `other`'s requirements to these: flags are or-ed, sets accumulate, limits
    /// take the tighter value. Requirements only ever grow.
    pub fn merge(&mut self, other: &Requirements) {
        self.forbid |= other.forbid;
        self.approval |= other.approval;
        self.rollback_plan |= other.rollback_plan;
        self.mfa |= other.mfa;
        for set in &other.roles {
            if !self.roles.contains(set) {
                self.roles.push(set.clone());
            }
        }
        for set in &other.environments {
            if !self.environments.contains(set) {
                self.environments.push(set.clone());
            }
        }
        for w in &other.windows {
            if !self.windows.contains(w) {
                self.windows.push(*w);
            }
        }
        self.max_iterations = match (self.max_iterations, other.max_iterations) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, None) => a,
            (None, b) => b,
        };
        self.timeout_seconds = tighter(self.timeout_seconds, other.timeout_seconds);
        self.max_cost_usd = tighter(self.max_cost_usd, other.max_cost_usd);
        self.max_amount = tighter(self.max_amount, other.max_amount);
        for c in &other.counters {
            if !self.counters.contains(c) {
                self.counters.push(c.clone());
            }
        }
        for u in &other.unrecognized {
            if !self.unrecognized.contains(u) {
                self.unrecognized.push(u.clone());
            }
        }
    }
}

impl Requirements {
    /// Gives the counted limits added without a scope this one (see [`Counted`]).
    pub fn scope_counters(&mut self, scope: &str) {
        let mut shared: Option<Arc<str>> = None;
        for c in self.counters.iter_mut().filter(|c| c.scope.is_empty()) {
            c.scope = shared.get_or_insert_with(|| Arc::from(scope)).clone();
        }
    }
}
