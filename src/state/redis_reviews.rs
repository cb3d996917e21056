//! Reviews and decision traces on Redis: each operation is one call of `review.lua`, and
//! its answer read back into the types both stores share.

use super::{CallError, Redis, Value};
use crate::state::review::{
    from_fields, DecideResult, Review, ReviewAnswer, ReviewOp, ReviewStatus, Touched, Verdict,
};
use redis::Script;
use std::sync::LazyLock;

static REVIEW: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("review.lua")));

impl Redis {
    /// Runs one review operation at `now_ms`; reviews are kept `keep_ms` after their last
    /// activity. `prefix` is the key prefix (without braces).
    pub async fn review(
        &self,
        op: &ReviewOp,
        prefix: &str,
        now_ms: i64,
        keep_ms: i64,
    ) -> Result<ReviewAnswer, CallError> {
        let tag = format!("{{{prefix}}}");
        let mut inv = REVIEW.prepare_invoke();
        let index = match op {
            ReviewOp::TracePut { .. } | ReviewOp::TraceGet { .. } => "traces",
            _ => "reviews",
        };
        inv.key(format!("{tag}{index}"));
        let name = match op {
            ReviewOp::Touch { .. } => "touch",
            ReviewOp::List { .. } => "list",
            ReviewOp::Get { .. } => "get",
            ReviewOp::Decide { .. } => "decide",
            ReviewOp::Outcome { .. } => "outcome",
            ReviewOp::Settle { .. } => "settle",
            ReviewOp::Notify { .. } => "notify",
            ReviewOp::TracePut { .. } => "trace_put",
            ReviewOp::TraceGet { .. } => "trace_get",
        };
        inv.arg(name).arg(&tag).arg(now_ms).arg(keep_ms);
        match op {
            ReviewOp::Touch { key, id, record } => inv.arg(key).arg(id).arg(record),
            ReviewOp::List { limit } => inv.arg(*limit),
            ReviewOp::Get { id } | ReviewOp::Notify { id } | ReviewOp::TraceGet { id } => {
                inv.arg(id)
            }
            ReviewOp::Decide {
                id,
                approver,
                verdict,
            } => {
                inv.arg(id);
                match verdict {
                    Verdict::Approve {
                        token,
                        exp,
                        claim_key,
                    } => inv
                        .arg("approved")
                        .arg(approver)
                        .arg("")
                        .arg(token)
                        .arg(exp)
                        .arg(claim_key),
                    Verdict::Reject { reason } => inv
                        .arg("rejected")
                        .arg(approver)
                        .arg(reason)
                        .arg("")
                        .arg(0)
                        .arg(""),
                }
            }
            ReviewOp::Outcome { id, text } => inv.arg(id).arg(text),
            ReviewOp::Settle {
                key,
                approver,
                text,
            } => inv.arg(key).arg(approver).arg(text),
            ReviewOp::TracePut { items, cap } => {
                inv.arg(*cap);
                for (id, json) in items {
                    inv.arg(id).arg(json);
                }
                &mut inv
            }
        };
        let value = self.run(&inv).await?;
        answer(op, value).map_err(CallError::Server)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads `{id, {field, value, ...}, ...}` as reviews.
fn rows(items: &[Value]) -> Result<Vec<Review>, String> {
    items
        .chunks(2)
        .map(|pair| {
            let [id, Value::Array(fields)] = pair else {
                return Err(format!("unexpected review row {pair:?}"));
            };
            let id = text(id).ok_or("review id is not text")?;
            let fields: Vec<(String, String)> = fields
                .chunks(2)
                .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
                .collect();
            from_fields(&id, &fields)
        })
        .collect()
}

fn answer(op: &ReviewOp, value: Value) -> Result<ReviewAnswer, String> {
    let unexpected = |v: &Value| format!("unexpected review answer {v:?}");
    match op {
        ReviewOp::Touch { .. } => {
            let Value::Array(items) = &value else {
                return Err(unexpected(&value));
            };
            let t: Vec<String> = items.iter().filter_map(text).collect();
            let touched = match t.as_slice() {
                [s, id, created] if s == "pending" => Touched::Pending {
                    id: id.clone(),
                    created: created == "1",
                },
                [s, id, token] if s == "approved" => Touched::Approved {
                    id: id.clone(),
                    token: token.clone(),
                },
                [s, id, approver, reason] if s == "rejected" => Touched::Rejected {
                    id: id.clone(),
                    approver: approver.clone(),
                    reason: reason.clone(),
                },
                _ => return Err(unexpected(&value)),
            };
            Ok(ReviewAnswer::Touched(touched))
        }
        ReviewOp::List { .. } | ReviewOp::Get { .. } => match &value {
            Value::Array(items) => rows(items).map(ReviewAnswer::Rows),
            _ => Err(unexpected(&value)),
        },
        ReviewOp::Decide { .. } => {
            let Value::Array(items) = &value else {
                return Err(unexpected(&value));
            };
            let t: Vec<String> = items.iter().filter_map(text).collect();
            let result = match t.as_slice() {
                [s] if s == "done" => DecideResult::Done,
                [s] if s == "missing" => DecideResult::Missing,
                [s, status] if s == "not_pending" => DecideResult::NotPending(
                    ReviewStatus::parse(status).ok_or_else(|| unexpected(&value))?,
                ),
                _ => return Err(unexpected(&value)),
            };
            Ok(ReviewAnswer::Decided(result))
        }
        ReviewOp::Outcome { .. }
        | ReviewOp::Settle { .. }
        | ReviewOp::Notify { .. }
        | ReviewOp::TracePut { .. } => match value {
            Value::Int(n) => Ok(ReviewAnswer::Flag(n == 1)),
            other => Err(unexpected(&other)),
        },
        ReviewOp::TraceGet { .. } => match &value {
            Value::Nil => Ok(ReviewAnswer::Text(None)),
            v => text(v)
                .map(|t| ReviewAnswer::Text(Some(t)))
                .ok_or_else(|| unexpected(v)),
        },
    }
}
