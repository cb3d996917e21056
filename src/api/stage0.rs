//! Stage0's wire format for `POST /check`: the decision as Stage0's client libraries read
//! it. Every field they read has their type: `issues` as objects, `evaluated_at` and
//! `timestamp` as Unix seconds, `reason` in words, the questions also as
//! `clarifying_questions`. toolgate's own fields (route, details, digest, risk signals)
//! are added beside them; nothing a client reads changes type. Pure.

use crate::policy::{Decision, DecisionKind, IssueClass, Verdict};
use jiff::Timestamp;
use serde::Serialize;
use std::sync::Arc;

/// A decision whose risk score is at least this is `high_risk` (unless it is an ALLOW).
pub const HIGH_RISK: u8 = 70;

/// One issue as Stage0 clients keep it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stage0Issue {
    pub code: &'static str,
    /// `HIGH` for a DENY-class issue, `MEDIUM` for a DEFER-class one.
    pub severity: &'static str,
    pub message: &'static str,
}

/// The `/check` answer.
#[derive(Clone, Debug, Serialize)]
pub struct Stage0Decision<'a> {
    pub decision: DecisionKind,
    pub verdict: Verdict,
    pub issues: Vec<Stage0Issue>,
    pub reason: String,
    pub defer_questions: &'a [Arc<str>],
    pub clarifying_questions: &'a [Arc<str>],
    pub request_id: &'a str,
    pub policy_version: &'a str,
    pub policy_pack_version: &'a str,
    pub risk_score: u8,
    pub high_risk: bool,
    pub evaluated_at: f64,
    pub timestamp: f64,
    pub environment: Option<&'a str>,
    pub cached: bool,
    // toolgate's own, additive.
    pub policy_digest: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<&'a str>,
    pub risk_signals: &'a [Arc<str>],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub details: &'a [String],
}

/// `d` (evaluated at `at`) in Stage0's shape.
pub fn stage0(d: &Decision, at: Timestamp) -> Stage0Decision<'_> {
    let issues: Vec<Stage0Issue> = d
        .issues
        .iter()
        .map(|c| Stage0Issue {
            code: c.as_str(),
            severity: match c.class() {
                IssueClass::Deny => "HIGH",
                IssueClass::Defer => "MEDIUM",
            },
            message: c.message(),
        })
        .collect();
    let reason = match d.verdict {
        Verdict::Allow => "Allowed: every requirement of the policy is met.".to_owned(),
        Verdict::Deny | Verdict::Defer => {
            let words: Vec<String> = issues
                .iter()
                .map(|i| {
                    let m = i.message.trim_end_matches('.');
                    let mut c = m.chars();
                    c.next()
                        .map(|f| f.to_lowercase().chain(c).collect())
                        .unwrap_or_default()
                })
                .collect();
            let verb = if d.verdict == Verdict::Deny {
                "Denied"
            } else {
                "Deferred"
            };
            format!("{verb}: {}.", words.join("; "))
        }
    };
    // An ALLOW is the policy accepting the risk: Stage0 clients deny a score of 100 or a
    // high-risk flag locally, which would turn toolgate's ALLOW into their DENY.
    let allow = d.verdict == Verdict::Allow;
    let risk_score = if allow {
        d.risk.score.min(99)
    } else {
        d.risk.score
    };
    let seconds = at.as_millisecond() as f64 / 1000.0;
    Stage0Decision {
        decision: d.decision,
        verdict: d.verdict,
        issues,
        reason,
        defer_questions: &d.defer_questions,
        clarifying_questions: &d.defer_questions,
        request_id: &d.request_id,
        policy_version: &d.policy_version,
        policy_pack_version: &d.policy_version,
        risk_score,
        high_risk: !allow && risk_score >= HIGH_RISK,
        evaluated_at: seconds,
        timestamp: seconds,
        environment: d.environment.as_deref(),
        cached: false,
        policy_digest: &d.policy_digest,
        route: d.route.as_deref(),
        risk_signals: &d.risk.signals,
        details: &d.details,
    }
}
