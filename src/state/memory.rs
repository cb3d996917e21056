//! The in-process state store, the embedded default for one replica: the same semantics as
//! the Redis script (check every op, then apply all or none), held by one task that owns
//! the map, so requests never take a lock; they send their plan and wait for the answer.
//! Nothing survives a restart, and nothing is shared with another replica.

use super::plan::{Applied, Op, Plan, Refused};
use super::review::{ReviewAnswer, ReviewOp};
use smallvec::SmallVec;
use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;
use tokio::sync::{mpsc, oneshot};

/// Plans queued for the task; a full queue is answered as a timeout would be.
const QUEUE: usize = 4096;
/// Expired entries are swept when the map reaches this size, or twice what the last sweep
/// left: amortized constant work per plan.
const MIN_SWEEP: usize = 1024;

#[derive(Debug)]
enum Entry {
    /// A used approval, until this instant (ms).
    Claimed(i64),
    /// A sliding window's entries: when each was counted, and by which request.
    Window {
        counted: VecDeque<(i64, Box<str>)>,
        window_ms: i64,
    },
    /// A count or a sum (thousandths), until this instant (ms).
    Total(i64, i64),
}

impl Entry {
    fn expired(&self, now: i64) -> bool {
        match self {
            Entry::Claimed(until) | Entry::Total(_, until) => *until <= now,
            Entry::Window { counted, window_ms } => {
                counted.back().is_none_or(|(at, _)| at + window_ms <= now)
            }
        }
    }
}

/// The state and its semantics, without the task: what the Redis script does, in Rust.
#[derive(Debug, Default)]
pub struct Engine {
    map: HashMap<String, Entry>,
    sweep_at: usize,
    reviews: reviews::Reviews,
}

#[path = "memory_reviews.rs"]
mod reviews;

impl Engine {
    fn live(&mut self, key: &str, now: i64) -> Option<&mut Entry> {
        self.map.get_mut(key).filter(|e| !e.expired(now))
    }

    /// Checks every op at `plan.now_ms`; applies them all when none is refused.
    pub fn apply(&mut self, plan: &Plan) -> Applied {
        let now = plan.now_ms;
        if self.map.len() >= self.sweep_at.max(MIN_SWEEP) {
            self.map.retain(|_, e| !e.expired(now));
            self.sweep_at = self.map.len() * 2;
        }
        let mut refused: SmallVec<[Refused; 1]> = SmallVec::new();
        for (i, op) in plan.ops.iter().enumerate() {
            let entry = self.live(op.key(), now);
            let value = match (op, entry) {
                (Op::Claim { .. }, Some(_)) => Some(0),
                (
                    Op::Rate {
                        limit, window_ms, ..
                    },
                    Some(Entry::Window { counted, .. }),
                ) => {
                    counted.retain(|(at, _)| at + window_ms > now);
                    let n = counted.len();
                    let limit = *limit as usize;
                    (n >= limit).then(|| counted[n - limit].0 + window_ms - now)
                }
                (Op::Calls { limit, .. }, Some(Entry::Total(n, _))) => (*n >= *limit).then_some(*n),
                (Op::Amount { limit, add, .. }, Some(Entry::Total(sum, _))) => {
                    (sum.saturating_add(*add) > *limit).then_some(*sum)
                }
                (Op::Amount { limit, add, .. }, None) => (*add > *limit).then_some(0),
                _ => None,
            };
            if let Some(value) = value {
                refused.push(Refused { op: i, value });
            }
        }
        if !refused.is_empty() {
            return Applied::Refused(refused);
        }
        for op in &plan.ops {
            let (key, old) = match self.map.remove_entry(op.key()) {
                Some((key, old)) => (key, Some(old).filter(|e| !e.expired(now))),
                None => (op.key().to_owned(), None),
            };
            let total = |old: Option<Entry>| match old {
                Some(Entry::Total(n, _)) => n,
                _ => 0,
            };
            let entry = match op {
                Op::Claim { ttl_ms, .. } => Entry::Claimed(now + ttl_ms),
                Op::Rate { window_ms, .. } => {
                    let mut counted = match old {
                        Some(Entry::Window { counted, .. }) => counted,
                        _ => VecDeque::new(),
                    };
                    counted.push_back((now, plan.member.as_str().into()));
                    Entry::Window {
                        counted,
                        window_ms: *window_ms,
                    }
                }
                Op::Calls { ttl_ms, .. } => Entry::Total(total(old) + 1, now + ttl_ms),
                Op::Amount { add, ttl_ms, .. } => Entry::Total(total(old) + add, now + ttl_ms),
            };
            self.map.insert(key, entry);
        }
        Applied::Granted
    }

    /// What each op of `plan` has counted at `plan.now_ms`, changing nothing.
    pub fn peek(&self, plan: &Plan) -> Vec<i64> {
        let now = plan.now_ms;
        plan.ops
            .iter()
            .map(
                |op| match self.map.get(op.key()).filter(|e| !e.expired(now)) {
                    Some(Entry::Window { counted, window_ms }) => counted
                        .iter()
                        .filter(|(at, _)| at + window_ms > now)
                        .count()
                        as i64,
                    Some(Entry::Total(n, _)) => *n,
                    Some(Entry::Claimed(_)) => 1,
                    None => 0,
                },
            )
            .collect()
    }

    /// Undoes an applied plan: the request certainly never reached the tool.
    pub fn refund(&mut self, plan: &Plan) {
        for op in &plan.ops {
            match (op, self.map.get_mut(op.key())) {
                (Op::Claim { .. }, Some(_)) => {
                    self.map.remove(op.key());
                }
                (Op::Rate { .. }, Some(Entry::Window { counted, .. })) => {
                    counted.retain(|(_, m)| **m != *plan.member);
                }
                (Op::Calls { .. }, Some(Entry::Total(n, _))) => *n = (*n - 1).max(0),
                (Op::Amount { add, .. }, Some(Entry::Total(n, _))) => *n = (*n - add).max(0),
                _ => {}
            }
        }
    }
}

enum Msg {
    Apply(Plan, oneshot::Sender<Applied>),
    Peek(Plan, oneshot::Sender<Vec<i64>>),
    Refund(Plan, oneshot::Sender<()>),
    /// A review operation at an instant (ms), reviews kept for a while (ms).
    Review(ReviewOp, i64, i64, oneshot::Sender<ReviewAnswer>),
}

/// The handle requests use; the task starts with the first plan (inside the runtime).
#[derive(Default)]
pub struct Memory {
    tx: OnceLock<mpsc::Sender<Msg>>,
}

impl Memory {
    fn sender(&self) -> &mpsc::Sender<Msg> {
        self.tx.get_or_init(|| {
            let (tx, mut rx) = mpsc::channel(QUEUE);
            tokio::spawn(async move {
                let mut engine = Engine::default();
                while let Some(msg) = rx.recv().await {
                    match msg {
                        Msg::Apply(plan, answer) => {
                            let _ = answer.send(engine.apply(&plan));
                        }
                        Msg::Peek(plan, answer) => {
                            let _ = answer.send(engine.peek(&plan));
                        }
                        Msg::Refund(plan, done) => {
                            engine.refund(&plan);
                            let _ = done.send(());
                        }
                        Msg::Review(op, now, keep, answer) => {
                            let _ = answer.send(engine.review(op, now, keep));
                        }
                    }
                }
            });
            tx
        })
    }

    /// `None` when the queue is full or the task is gone: the caller fails closed.
    pub async fn apply(&self, plan: Plan) -> Option<Applied> {
        self.ask(|answer| Msg::Apply(plan, answer)).await
    }

    /// What each op has counted; `None` as for [`Memory::apply`].
    pub async fn peek(&self, plan: Plan) -> Option<Vec<i64>> {
        self.ask(|answer| Msg::Peek(plan, answer)).await
    }

    /// `Some` once the refund was made.
    pub async fn refund(&self, plan: Plan) -> Option<()> {
        self.ask(|answer| Msg::Refund(plan, answer)).await
    }

    /// Runs a review operation; `None` as for [`Memory::apply`].
    pub async fn review(&self, op: ReviewOp, now_ms: i64, keep_ms: i64) -> Option<ReviewAnswer> {
        self.ask(|answer| Msg::Review(op, now_ms, keep_ms, answer))
            .await
    }

    /// Sends the task one message and waits for its answer; never waits for queue room.
    async fn ask<T>(&self, msg: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.sender().try_send(msg(tx)).ok()?;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(now_ms: i64, member: &str, ops: Vec<Op>) -> Plan {
        Plan {
            ops: ops.into(),
            now_ms,
            member: member.into(),
            what: SmallVec::new(),
        }
    }

    fn rate() -> Op {
        Op::Rate {
            key: "r".into(),
            limit: 2,
            window_ms: 1000,
        }
    }

    fn refused(op: usize, value: i64) -> Applied {
        Applied::Refused(smallvec::smallvec![Refused { op, value }])
    }

    #[test]
    fn a_sliding_window_says_when_the_next_request_counts() {
        let mut e = Engine::default();
        assert_eq!(e.apply(&plan(0, "a", vec![rate()])), Applied::Granted);
        assert_eq!(e.apply(&plan(400, "b", vec![rate()])), Applied::Granted);
        // The oldest of the two leaves the window at 1000.
        assert_eq!(e.apply(&plan(900, "c", vec![rate()])), refused(0, 100));
        assert_eq!(e.apply(&plan(1000, "d", vec![rate()])), Applied::Granted);
        assert_eq!(e.apply(&plan(1100, "e", vec![rate()])), refused(0, 300));
    }

    #[test]
    fn a_plan_is_applied_whole_or_not_at_all() {
        let mut e = Engine::default();
        let amount = |add| Op::Amount {
            key: "a".into(),
            limit: 1000,
            add,
            ttl_ms: 10_000,
        };
        let claim = Op::Claim {
            key: "j".into(),
            ttl_ms: 10_000,
        };
        assert_eq!(e.apply(&plan(0, "a", vec![amount(900)])), Applied::Granted);
        // Over the budget: the claim and the window entry beside it are not taken either.
        let both = plan(1, "b", vec![claim.clone(), rate(), amount(200)]);
        assert_eq!(e.apply(&both), refused(2, 900));
        let ok = plan(2, "c", vec![claim.clone(), rate(), amount(100)]);
        assert_eq!(e.apply(&ok), Applied::Granted);
        assert_eq!(e.apply(&plan(3, "d", vec![claim.clone()])), refused(0, 0));
        // Given back: the claim, the window entry and the amount.
        e.refund(&ok);
        assert_eq!(
            e.apply(&plan(4, "e", vec![claim, amount(100)])),
            Applied::Granted
        );
    }
}
