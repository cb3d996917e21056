//! The review inbox's series: reviews opened by the sidecar (a request deferred for a
//! signed approval that no review held yet), reviewers' decisions, and decisions the inbox
//! refused, by the refusal's stable code (a bounded set).

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct ReviewMetrics {
    opened: IntCounter,
    decisions: IntCounterVec,
    refused: IntCounterVec,
}

impl ReviewMetrics {
    pub fn register(r: &Registry) -> prometheus::Result<ReviewMetrics> {
        let opened = IntCounter::new(
            "toolgate_reviews_opened_total",
            "Reviews opened: requests deferred for a signed approval that no pending review held yet.",
        )?;
        r.register(Box::new(opened.clone()))?;
        let decisions = IntCounterVec::new(
            Opts::new(
                "toolgate_review_decisions_total",
                "Reviewers' decisions recorded by the review inbox, by decision (approved, rejected).",
            ),
            &["decision"],
        )?;
        r.register(Box::new(decisions.clone()))?;
        let refused = IntCounterVec::new(
            Opts::new(
                "toolgate_review_refusals_total",
                "Decisions the review inbox refused (no reviewer, four eyes, role, CSRF, ...), by code.",
            ),
            &["code"],
        )?;
        r.register(Box::new(refused.clone()))?;
        for d in ["approved", "rejected"] {
            decisions.with_label_values(&[d]);
        }
        Ok(ReviewMetrics {
            opened,
            decisions,
            refused,
        })
    }

    pub fn opened(&self) {
        self.opened.inc();
    }

    pub fn decided(&self, decision: &'static str) {
        self.decisions.with_label_values(&[decision]).inc();
    }

    pub fn refused(&self, code: &'static str) {
        self.refused.with_label_values(&[code]).inc();
    }
}
