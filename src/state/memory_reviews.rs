//! The in-process store's reviews and decision traces: the semantics of `review.lua`, in
//! Rust, run by the store's one task (so every operation is atomic, as the script is).

use super::{Engine, Entry};
use crate::state::review::{
    DecideResult, Review, ReviewAnswer, ReviewOp, ReviewRecord, ReviewStatus, Touched, Verdict,
};
use std::collections::{HashMap, VecDeque};

/// A review and what only the store needs of it.
#[derive(Debug)]
struct Stored {
    review: Review,
    claim_key: Option<String>,
    notified: bool,
    /// Forgotten after this instant (ms): `review.retention` after its last activity.
    until_ms: i64,
}

/// Reviews by id and by binding, and the traces kept for the inbox.
#[derive(Debug, Default)]
pub(super) struct Reviews {
    by_id: HashMap<String, Stored>,
    by_binding: HashMap<String, String>,
    traces: HashMap<String, String>,
    trace_order: VecDeque<String>,
}

impl Engine {
    /// Runs one review operation at `now_ms`; reviews live `keep_ms` after their last
    /// activity.
    pub(super) fn review(&mut self, op: ReviewOp, now_ms: i64, keep_ms: i64) -> ReviewAnswer {
        let r = &mut self.reviews;
        if r.by_id.len() >= 1024 && r.by_id.len().is_power_of_two() {
            r.by_id.retain(|_, s| s.until_ms > now_ms);
            let ids = &r.by_id;
            r.by_binding.retain(|_, id| ids.contains_key(id));
        }
        match op {
            ReviewOp::Touch { key, id, record } => {
                ReviewAnswer::Touched(self.touch(key, id, &record, now_ms, keep_ms))
            }
            ReviewOp::List { limit } => {
                let mut rows: Vec<&Stored> =
                    r.by_id.values().filter(|s| s.until_ms > now_ms).collect();
                rows.sort_by_key(|s| std::cmp::Reverse(activity(&s.review)));
                let rows = rows.into_iter().take(limit);
                ReviewAnswer::Rows(rows.map(|s| s.review.clone()).collect())
            }
            ReviewOp::Get { id } => ReviewAnswer::Rows(
                r.by_id
                    .get(&id)
                    .filter(|s| s.until_ms > now_ms)
                    .map(|s| s.review.clone())
                    .into_iter()
                    .collect(),
            ),
            ReviewOp::Decide {
                id,
                approver,
                verdict,
            } => {
                let Some(s) = r.by_id.get_mut(&id).filter(|s| s.until_ms > now_ms) else {
                    return ReviewAnswer::Decided(DecideResult::Missing);
                };
                if s.review.status != ReviewStatus::Pending {
                    return ReviewAnswer::Decided(DecideResult::NotPending(s.review.status));
                }
                let (status, reason, exp, token, claim_key) = match verdict {
                    Verdict::Approve {
                        token,
                        exp,
                        claim_key,
                    } => (
                        ReviewStatus::Approved,
                        String::new(),
                        exp,
                        Some(token),
                        Some(claim_key),
                    ),
                    Verdict::Reject { reason } => (ReviewStatus::Rejected, reason, 0, None, None),
                };
                s.review.status = status;
                s.review.token = token;
                s.claim_key = claim_key;
                s.review.decided = Some(crate::state::review::Decided {
                    approver,
                    decided_at_ms: now_ms,
                    reason,
                    exp,
                });
                s.until_ms = now_ms + keep_ms;
                ReviewAnswer::Decided(DecideResult::Done)
            }
            ReviewOp::Outcome { id, text } => {
                let found = r.by_id.get_mut(&id).filter(|s| s.until_ms > now_ms);
                if let Some(s) = found {
                    s.review.outcome = Some(text);
                }
                ReviewAnswer::Flag(true)
            }
            ReviewOp::Settle {
                key,
                approver,
                text,
            } => {
                let id = r.by_binding.get(&key).cloned().unwrap_or_default();
                let found = r.by_id.get_mut(&id).filter(|s| s.until_ms > now_ms);
                if let Some(s) = found.filter(|s| s.review.status == ReviewStatus::Pending) {
                    s.review.status = ReviewStatus::Approved;
                    s.review.token = None;
                    s.review.outcome = Some(text);
                    s.review.decided = Some(crate::state::review::Decided {
                        approver,
                        decided_at_ms: now_ms,
                        reason: String::new(),
                        exp: 0,
                    });
                    s.until_ms = now_ms + keep_ms;
                }
                ReviewAnswer::Flag(true)
            }
            ReviewOp::Notify { id } => {
                let found = r.by_id.get_mut(&id).filter(|s| s.until_ms > now_ms);
                ReviewAnswer::Flag(found.is_some_and(|s| !std::mem::replace(&mut s.notified, true)))
            }
            ReviewOp::TracePut { items, cap } => {
                for (id, json) in items {
                    if r.traces.insert(id.clone(), json).is_none() {
                        r.trace_order.push_back(id);
                    }
                }
                while r.trace_order.len() > cap {
                    if let Some(old) = r.trace_order.pop_front() {
                        r.traces.remove(&old);
                    }
                }
                ReviewAnswer::Flag(true)
            }
            ReviewOp::TraceGet { id } => ReviewAnswer::Text(r.traces.get(&id).cloned()),
        }
    }

    fn touch(&mut self, key: String, id: String, record: &str, now: i64, keep: i64) -> Touched {
        let current = self.reviews.by_binding.get(&key).cloned();
        if let Some(found) = current {
            // Whether the approval's `jti` was claimed (used, and not given back).
            let used = |claim: &Option<String>, map: &HashMap<String, Entry>| {
                claim.as_ref().is_some_and(
                    |k| matches!(map.get(k), Some(Entry::Claimed(until)) if *until > now),
                )
            };
            let map = &self.map;
            if let Some(s) = self.reviews.by_id.get_mut(&found) {
                if s.until_ms > now {
                    let seen = |s: &mut Stored| {
                        s.review.retries += 1;
                        s.review.last_seen_ms = now;
                        s.until_ms = s.until_ms.max(now + keep);
                    };
                    match s.review.status {
                        ReviewStatus::Pending => {
                            seen(s);
                            return Touched::Pending {
                                id: found,
                                created: false,
                            };
                        }
                        ReviewStatus::Rejected => {
                            seen(s);
                            let d = s.review.decided.as_ref();
                            return Touched::Rejected {
                                id: found,
                                approver: d.map(|d| d.approver.clone()).unwrap_or_default(),
                                reason: d.map(|d| d.reason.clone()).unwrap_or_default(),
                            };
                        }
                        ReviewStatus::Approved => {
                            let exp = s.review.decided.as_ref().map_or(0, |d| d.exp);
                            if exp * 1000 > now && !used(&s.claim_key, map) {
                                if let Some(token) = s.review.token.clone() {
                                    return Touched::Approved { id: found, token };
                                }
                            }
                        }
                    }
                }
            }
        }
        // New, or the last one was used or expired: a fresh review for the reviewer.
        let Ok(record) = serde_json::from_str::<ReviewRecord>(record) else {
            return Touched::Pending { id, created: false };
        };
        let review = Review {
            id: id.clone(),
            status: ReviewStatus::Pending,
            record,
            first_seen_ms: now,
            last_seen_ms: now,
            retries: 0,
            decided: None,
            outcome: None,
            token: None,
        };
        let stored = Stored {
            review,
            claim_key: None,
            notified: false,
            until_ms: now + keep,
        };
        self.reviews.by_id.insert(id.clone(), stored);
        self.reviews.by_binding.insert(key, id.clone());
        Touched::Pending { id, created: true }
    }
}

/// When a review was last active: decided, or last seen.
fn activity(r: &Review) -> i64 {
    r.decided
        .as_ref()
        .map_or(r.last_seen_ms, |d| d.decided_at_ms.max(r.last_seen_ms))
}
