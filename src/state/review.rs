//! Reviews: requests deferred for a human approval, kept in the state store (in process, or
//! Redis so every replica and the inbox see one list), one per approval binding. A sidecar
//! touches the review of a deferred request (creating it, counting a retry, or finding its
//! decision) in one round trip; the inbox lists them and records a reviewer's decision,
//! only while the review is pending. Data and store calls only: what a decision means is
//! the request path's and the inbox's.

use crate::approval::{ApprovalRequest, Binding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How a review stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    Pending,
    Approved,
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewStatus> {
        match s {
            "pending" => Some(ReviewStatus::Pending),
            "approved" => Some(ReviewStatus::Approved),
            "rejected" => Some(ReviewStatus::Rejected),
            _ => None,
        }
    }
}

/// What the sidecar saw of a deferred request, written once when its review is created:
/// everything the inbox shows and signs. Attacker-controlled text throughout (body,
/// arguments, path, actor): the inbox escapes all of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewRecord {
    /// The binding to sign, the goal, the deferred request's id and policy version, and
    /// the bundle's `max_ttl`.
    pub approval: ApprovalRequest,
    /// The route that judged it (for an MCP call, the tool's route).
    pub route: String,
    /// An MCP call's tool (or prompt, or resource).
    #[serde(default)]
    pub tool: Option<String>,
    /// The HTTP method, or the JSON-RPC method of an MCP call.
    pub method: String,
    /// The normalized path and query.
    pub path: String,
    /// The body (JSON pretty-printed) or the call's arguments, with the fields the bundle
    /// marks `redact` replaced by `"[redacted]"`; text that is not JSON is cut at 4 KiB.
    pub payload: String,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    /// The DEFER's issue codes and questions.
    pub issues: Vec<String>,
    pub questions: Vec<String>,
    /// Roles a reviewer must hold (any one of them); empty: any reviewer.
    #[serde(default)]
    pub reviewer_roles: Vec<String>,
}

/// A reviewer's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The signed approval for the binding, its expiry (Unix seconds) and the state key
    /// its `jti` is claimed under (so a used approval is known for one).
    Approve {
        token: String,
        exp: i64,
        claim_key: String,
    },
    Reject {
        reason: String,
    },
}

/// A decided review's decision, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decided {
    pub approver: String,
    pub decided_at_ms: i64,
    /// A rejection's reason; empty for an approval.
    pub reason: String,
    /// An approval's expiry (Unix seconds); 0 for a rejection.
    pub exp: i64,
}

/// One review as the store holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Review {
    pub id: String,
    pub status: ReviewStatus,
    pub record: ReviewRecord,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Identical requests seen after the first, while it was pending.
    pub retries: i64,
    pub decided: Option<Decided>,
    /// What became of the approved retry: `forwarded <status>` (the tool's answer) or a
    /// refusal's code; `None`: never retried (yet).
    pub outcome: Option<String>,
    /// The approval token (approved reviews only); never shown by the inbox.
    #[serde(skip)]
    pub token: Option<String>,
}

/// What a sidecar's touch found for a deferred request's binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Touched {
    /// Waiting for a reviewer; `created` when this request opened it (the previous one, if
    /// any, was used or expired).
    Pending { id: String, created: bool },
    /// Approved and not used yet: the token to verify and use once.
    Approved { id: String, token: String },
    /// Rejected: the reviewer and their reason.
    Rejected {
        id: String,
        approver: String,
        reason: String,
    },
}

/// Whether a decision was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecideResult {
    Done,
    /// Already decided (or otherwise not pending): its status.
    NotPending(ReviewStatus),
    Missing,
}

/// The key a binding's review is found by: the SHA-256 of its fields, each
/// length-prefixed (no two bindings share one), lower-case hex.
pub fn binding_key(b: &Binding) -> String {
    let mut h = Sha256::new();
    let none = "\u{0}";
    for part in [
        b.route.as_str(),
        b.method.as_str(),
        b.path.as_str(),
        b.tool.as_deref().unwrap_or(none),
        &b.body_sha256.to_ascii_lowercase(),
        &b.environment
            .as_deref()
            .map(|e| e.trim().to_ascii_lowercase())
            .unwrap_or_else(|| none.into()),
        b.run_id.as_deref().unwrap_or(none),
        b.actor.as_deref().unwrap_or(none),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A fresh review id: 128 random bits, hex (never guessed), as an approval's `jti`.
pub fn new_id() -> Result<String, String> {
    crate::approval::request::new_jti()
}

/// One review operation, as both stores run it (the memory store in its task, Redis in
/// `review.lua`), atomically.
#[derive(Clone, Debug)]
pub(super) enum ReviewOp {
    /// A deferred request's binding: count a retry of a pending review, answer a decided
    /// one, or open a review with `id` and `record` (JSON of a [`ReviewRecord`]).
    Touch {
        key: String,
        id: String,
        record: String,
    },
    /// The `limit` most recently active reviews.
    List {
        limit: usize,
    },
    Get {
        id: String,
    },
    /// Records a reviewer's decision, only while the review is pending.
    Decide {
        id: String,
        approver: String,
        verdict: Verdict,
    },
    /// What became of the approved retry.
    Outcome {
        id: String,
        text: String,
    },
    /// The binding's request was forwarded with an approval of its own (`x-approval`):
    /// its pending review is closed as approved by that approver, with nothing left to
    /// use, so a late approval in the inbox cannot release the request a second time.
    Settle {
        key: String,
        approver: String,
        text: String,
    },
    /// Marks a review notified; true only for the first caller.
    Notify {
        id: String,
    },
    /// Keeps decision traces (request id, audit record JSON), the newest `cap`.
    TracePut {
        items: Vec<(String, String)>,
        cap: usize,
    },
    TraceGet {
        id: String,
    },
}

/// What a [`ReviewOp`] answers.
#[derive(Clone, Debug)]
pub(super) enum ReviewAnswer {
    Touched(Touched),
    Rows(Vec<Review>),
    Decided(DecideResult),
    Flag(bool),
    Text(Option<String>),
}

/// A stored review's fields, as `HGETALL` answers them (field, value pairs): parsed.
pub(super) fn from_fields(id: &str, pairs: &[(String, String)]) -> Result<Review, String> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let int = |name: &str| get(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let record = get("record").ok_or_else(|| format!("review {id}: no record"))?;
    let record: ReviewRecord =
        serde_json::from_str(record).map_err(|e| format!("review {id}: record: {e}"))?;
    let status = get("status")
        .and_then(ReviewStatus::parse)
        .ok_or_else(|| format!("review {id}: no status"))?;
    let decided = match status {
        ReviewStatus::Pending => None,
        ReviewStatus::Approved | ReviewStatus::Rejected => Some(Decided {
            approver: get("approver").unwrap_or("").to_owned(),
            decided_at_ms: int("decided_at"),
            reason: get("reason").unwrap_or("").to_owned(),
            exp: int("exp"),
        }),
    };
    Ok(Review {
        id: id.to_owned(),
        status,
        record,
        first_seen_ms: int("first"),
        last_seen_ms: int("last"),
        retries: int("retries"),
        decided,
        outcome: get("outcome").map(str::to_owned),
        token: get("token").map(str::to_owned),
    })
}

impl super::StateStore {
    /// One review operation at `now`, within `state.timeout`.
    async fn review(
        &self,
        op: ReviewOp,
        now: jiff::Timestamp,
    ) -> Result<ReviewAnswer, super::StateError> {
        let (now_ms, keep) = (now.as_millisecond(), self.review_ttl_ms);
        let kind = match op {
            ReviewOp::TracePut { .. } => OpKind::Traces,
            _ => OpKind::Reviews,
        };
        let answer = self
            .within(async {
                match &self.backend {
                    super::Backend::Memory(m) => {
                        m.review(op, now_ms, keep).await.ok_or_else(super::full)
                    }
                    super::Backend::Redis(r) => r
                        .review(&op, &self.prefix, now_ms, keep)
                        .await
                        .map_err(|e| self.redis_error(e)),
                }
            })
            .await;
        // The shared traces are background work, not a request's: a failure to put them
        // is logged by the shipper, not counted with the requests' errors.
        if let (Err(e), false) = (&answer, matches!(kind, OpKind::Traces)) {
            self.metrics.error(e.kind());
        }
        answer
    }

    /// A deferred request's review: counts a retry of the pending one, answers a decided
    /// one, or opens one (`record`, under a fresh id) when there is none or the last was
    /// used or expired. One round trip.
    pub async fn review_touch(
        &self,
        binding_key: String,
        record: &ReviewRecord,
        now: jiff::Timestamp,
    ) -> Result<Touched, super::StateError> {
        let record =
            serde_json::to_string(record).map_err(|e| super::StateError::Server(e.to_string()))?;
        let op = ReviewOp::Touch {
            key: binding_key,
            id: new_id().map_err(super::StateError::Server)?,
            record,
        };
        match self.review(op, now).await? {
            ReviewAnswer::Touched(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }

    /// The `limit` most recently active reviews, pending and decided.
    pub async fn reviews(
        &self,
        limit: usize,
        now: jiff::Timestamp,
    ) -> Result<Vec<Review>, super::StateError> {
        match self.review(ReviewOp::List { limit }, now).await? {
            ReviewAnswer::Rows(rows) => Ok(rows),
            other => Err(unexpected(other)),
        }
    }

    /// One review by id.
    pub async fn review_get(
        &self,
        id: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<Review>, super::StateError> {
        match self
            .review(ReviewOp::Get { id: id.to_owned() }, now)
            .await?
        {
            ReviewAnswer::Rows(rows) => Ok(rows.into_iter().next()),
            other => Err(unexpected(other)),
        }
    }

    /// Records a reviewer's decision, only while the review is pending.
    pub async fn review_decide(
        &self,
        id: &str,
        approver: &str,
        verdict: Verdict,
        now: jiff::Timestamp,
    ) -> Result<DecideResult, super::StateError> {
        let op = ReviewOp::Decide {
            id: id.to_owned(),
            approver: approver.to_owned(),
            verdict,
        };
        match self.review(op, now).await? {
            ReviewAnswer::Decided(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    /// Records what became of an approved review's retry.
    pub async fn review_outcome(
        &self,
        id: &str,
        text: String,
        now: jiff::Timestamp,
    ) -> Result<(), super::StateError> {
        self.review(
            ReviewOp::Outcome {
                id: id.to_owned(),
                text,
            },
            now,
        )
        .await
        .map(drop)
    }

    /// Closes the pending review of `binding_key`, if any, as approved by `approver` with
    /// an approval of the request's own: forwarded, nothing left to release.
    pub async fn review_settle(
        &self,
        binding_key: String,
        approver: &str,
        text: String,
        now: jiff::Timestamp,
    ) -> Result<(), super::StateError> {
        let op = ReviewOp::Settle {
            key: binding_key,
            approver: approver.to_owned(),
            text,
        };
        self.review(op, now).await.map(drop)
    }

    /// Marks a review notified: true only for the first caller (one webhook per review,
    /// however many inbox replicas run).
    pub async fn review_notify(
        &self,
        id: &str,
        now: jiff::Timestamp,
    ) -> Result<bool, super::StateError> {
        match self
            .review(ReviewOp::Notify { id: id.to_owned() }, now)
            .await?
        {
            ReviewAnswer::Flag(first) => Ok(first),
            other => Err(unexpected(other)),
        }
    }

    /// Keeps decision traces (request id, audit record JSON), the newest `cap` of them.
    pub async fn traces_put(
        &self,
        items: Vec<(String, String)>,
        cap: usize,
        now: jiff::Timestamp,
    ) -> Result<(), super::StateError> {
        self.review(ReviewOp::TracePut { items, cap }, now)
            .await
            .map(drop)
    }

    /// A decision trace by request id.
    pub async fn trace_get(
        &self,
        request_id: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<String>, super::StateError> {
        match self
            .review(
                ReviewOp::TraceGet {
                    id: request_id.to_owned(),
                },
                now,
            )
            .await?
        {
            ReviewAnswer::Text(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }
}

/// Whose work an operation is, for the error count.
enum OpKind {
    Reviews,
    Traces,
}

fn unexpected(answer: ReviewAnswer) -> super::StateError {
    super::StateError::Server(format!("unexpected review answer {answer:?}"))
}

/// The `review` of a 409: where the request waits for a reviewer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReviewRef {
    pub id: String,
    /// The review's page in the inbox (`review.url` + `/reviews/ID`); null when the
    /// sidecar was not told where the inbox is.
    pub url: Option<String>,
    pub status: ReviewStatus,
}
