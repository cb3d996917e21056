//! What one forwarded request asks of the state store, as data: the approval `jti` to claim
//! and the counted limits to check and count, each under its key. Pure: built from the
//! judged request and the instant, run by either store (in process or Redis) as one atomic
//! step, all or nothing.
//!
//! Keys are `{PREFIX}kind:...`: the prefix in braces is a Redis Cluster hash tag, so every
//! key of one deployment lives in one slot and a request's keys can be checked and counted
//! in one script. Values a client controls (actor, run id, `jti`) come last in a key, and
//! scopes (route or rule names) are length-prefixed, so no two limits share a key by accident.

use crate::policy::{Counted, Facts, Limit, Per};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use smallvec::SmallVec;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A subject longer than this is keyed by its SHA-256 instead, so a key stays small.
const MAX_SUBJECT: usize = 128;
/// A day's amount key outlives its UTC day by this much, for clocks slightly behind.
const AMOUNT_GRACE_MS: i64 = 3_600_000;

/// One state operation: checked, then (when every check of its plan passes) applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Use an approval once: refused while its key exists.
    Claim { key: String, ttl_ms: i64 },
    /// A sliding window: refused when `limit` requests were counted in the last `window_ms`.
    Rate {
        key: String,
        limit: u32,
        window_ms: i64,
    },
    /// A run's forwarded requests: refused at `limit`.
    Calls {
        key: String,
        limit: i64,
        ttl_ms: i64,
    },
    /// A day's sum, in thousandths: refused when `add` would take it over `limit`.
    Amount {
        key: String,
        limit: i64,
        add: i64,
        ttl_ms: i64,
    },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Claim { key, .. }
            | Op::Rate { key, .. }
            | Op::Calls { key, .. }
            | Op::Amount { key, .. } => key,
        }
    }
}

/// The state operations of one request, and the instant they run at.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub ops: SmallVec<[Op; 2]>,
    /// Milliseconds since the epoch, from the sidecar's clock.
    pub now_ms: i64,
    /// Names this request's entry in a sliding window; never from the client.
    pub member: String,
    /// What each op stands for, for the decision's details (same order as `ops`).
    pub what: SmallVec<[What; 2]>,
}

/// What an op enforces, for explaining a refusal.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    Approval { jti: Box<str> },
    Limit(Limit),
}

/// A refused op: which, and what the store saw (for a rate limit, the milliseconds until
/// a request would be counted; for calls, the count; for an amount, the sum, in
/// thousandths; for a claim, nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub op: usize,
    pub value: i64,
}

/// The outcome of running a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Every op passed and was applied.
    Granted,
    /// At least one op was refused; nothing was applied.
    Refused(SmallVec<[Refused; 1]>),
}

/// Builds the plan for a request toolgate is about to forward.
pub struct Planner<'a> {
    pub prefix: &'a str,
    pub run_ttl_ms: i64,
    pub now: Timestamp,
    /// The plan's sliding-window entries are named `{nonce}-{seq}` (this process, then a
    /// sequence), taken only when there is a plan: most requests need no state and pay
    /// nothing for one.
    pub nonce: u64,
    pub seq: &'a AtomicU64,
}

impl Planner<'_> {
    /// The ops for a verified approval's `jti` (used until `until`, Unix seconds) and the
    /// counted limits in force. `route` names the route for `per route` limits.
    pub fn plan<'c>(
        self,
        route: &str,
        claim: Option<(&str, i64)>,
        counters: impl Iterator<Item = &'c Counted>,
        facts: &Facts<'_>,
    ) -> Plan {
        let now_ms = self.now.as_millisecond();
        let mut plan = Plan {
            ops: SmallVec::new(),
            now_ms,
            member: String::new(),
            what: SmallVec::new(),
        };
        if let Some((jti, until)) = claim {
            let ttl_ms = (until.saturating_mul(1000) - now_ms).max(1000);
            let key = claim_key(self.prefix, jti);
            plan.ops.push(Op::Claim { key, ttl_ms });
            plan.what.push(What::Approval { jti: jti.into() });
        }
        let actor = facts.actor.as_deref().map(str::trim).unwrap_or("");
        let run = facts.run_id.as_deref().map(str::trim).unwrap_or("");
        for c in counters {
            let scope = scoped(self.prefix, &c.scope);
            let op = match c.limit {
                Limit::Rate {
                    limit,
                    window_ms,
                    per,
                } => {
                    let who = match per {
                        Per::Actor => actor,
                        Per::Run => run,
                        Per::Route => route,
                    };
                    Op::Rate {
                        key: format!("{scope}rate:{window_ms}:{}:{}", per.as_str(), subject(who)),
                        limit,
                        window_ms: window_ms as i64,
                    }
                }
                Limit::RunCalls(limit) => Op::Calls {
                    key: format!("{scope}calls:{}", subject(run)),
                    limit: i64::try_from(limit).unwrap_or(i64::MAX),
                    ttl_ms: self.run_ttl_ms,
                },
                Limit::DailyAmount(limit) => {
                    let day = &self.now.to_string()[..10];
                    let next_day = (now_ms.div_euclid(86_400_000) + 1) * 86_400_000;
                    Op::Amount {
                        key: format!("{scope}amount:{day}:{}", subject(actor)),
                        limit: thousandths(limit),
                        add: thousandths(facts.amount.unwrap_or(0.0)),
                        ttl_ms: next_day - now_ms + AMOUNT_GRACE_MS,
                    }
                }
            };
            if !plan.ops.iter().any(|o| o.key() == op.key()) {
                plan.ops.push(op);
                plan.what.push(What::Limit(c.limit));
            }
        }
        if !plan.ops.is_empty() {
            plan.member = self.member();
        }
        plan
    }

    /// A name for this plan's sliding-window entries, unique to the process and request.
    pub(super) fn member(&self) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{:x}-{seq:x}", self.nonce)
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// `{prefix}` then the scope, length-prefixed: `{toolgate:}12:route:payout:`.
fn scoped(prefix: &str, scope: &Arc<str>) -> String {
    let mut s = String::with_capacity(prefix.len() + scope.len() + 8);
    let _ = write!(s, "{{{prefix}}}{}:{scope}:", scope.len());
    s
}

/// A client-supplied key part: as it is when short, else its SHA-256.
/// The key an approval's `jti` is claimed under: a review keeps it, to know its approval
/// was used.
pub fn claim_key(prefix: &str, jti: &str) -> String {
    format!("{{{prefix}}}jti:{}", subject(jti))
}

fn subject(value: &str) -> String {
    if value.len() <= MAX_SUBJECT {
        return value.to_owned();
    }
    format!("sha256:{}", hex::encode(Sha256::digest(value.as_bytes())))
}

/// An amount in thousandths of a unit, rounded: sums of these are exact.
pub fn thousandths(amount: f64) -> i64 {
    (amount * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn counted(limit: Limit, scope: &str) -> Counted {
        Counted {
            limit,
            scope: scope.into(),
        }
    }

    #[test]
    fn keys_carry_the_hash_tag_the_scope_and_the_subject_last() {
        let facts = Facts {
            actor: Some(Cow::Borrowed("alice")),
            run_id: Some(Cow::Borrowed("run-1")),
            amount: Some(12.5),
            ..Facts::default()
        };
        let counters = [
            counted(
                Limit::Rate {
                    limit: 5,
                    window_ms: 60_000,
                    per: Per::Actor,
                },
                "route:payout",
            ),
            counted(Limit::RunCalls(3), "rule:runs"),
            counted(Limit::DailyAmount(100.0), "route:payout"),
        ];
        let plan = Planner {
            prefix: "toolgate:",
            run_ttl_ms: 86_400_000,
            now: "2026-03-16T10:00:00Z".parse().unwrap(),
            nonce: 1,
            seq: &AtomicU64::new(0),
        }
        .plan(
            "payout",
            Some(("j-1", 1_773_655_300)),
            counters.iter(),
            &facts,
        );
        let keys: Vec<&str> = plan.ops.iter().map(Op::key).collect();
        assert_eq!(
            keys,
            [
                "{toolgate:}jti:j-1",
                "{toolgate:}12:route:payout:rate:60000:actor:alice",
                "{toolgate:}9:rule:runs:calls:run-1",
                "{toolgate:}12:route:payout:amount:2026-03-16:alice",
            ]
        );
        assert_eq!(
            plan.ops[3],
            Op::Amount {
                key: keys[3].into(),
                limit: 100_000,
                add: 12_500,
                ttl_ms: 14 * 3_600_000 + AMOUNT_GRACE_MS,
            }
        );
        assert_eq!(
            plan.ops[0],
            Op::Claim {
                key: keys[0].into(),
                ttl_ms: 100_000
            }
        );
    }

    #[test]
    fn long_subjects_are_hashed_and_duplicates_count_once() {
        let long = "a".repeat(500);
        let facts = Facts {
            actor: Some(Cow::Owned(long)),
            ..Facts::default()
        };
        let c = counted(
            Limit::Rate {
                limit: 1,
                window_ms: 1000,
                per: Per::Actor,
            },
            "route:r",
        );
        let plan = Planner {
            prefix: "p",
            run_ttl_ms: 1,
            now: Timestamp::UNIX_EPOCH,
            nonce: 1,
            seq: &AtomicU64::new(0),
        }
        .plan("r", None, [c.clone(), c].iter(), &facts);
        assert_eq!(plan.ops.len(), 1);
        assert!(plan.ops[0].key().len() < 130, "{}", plan.ops[0].key());
        assert!(plan.ops[0].key().contains(":actor:sha256:"));
    }
}
