//! The decision API's series: checks by key and verdict (key names come from the keys
//! file, so the label stays bounded), and calls refused for want of a valid key.

use crate::policy::Verdict;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct ApiMetrics {
    checks: IntCounterVec,
    unauthorized: IntCounter,
    over_quota: IntCounterVec,
}

impl ApiMetrics {
    pub fn register(r: &Registry) -> prometheus::Result<ApiMetrics> {
        let checks = IntCounterVec::new(
            Opts::new(
                "toolgate_api_checks_total",
                "Decision API checks (POST /check, /v1/check), by API key name and verdict.",
            ),
            &["key", "verdict"],
        )?;
        r.register(Box::new(checks.clone()))?;
        let unauthorized = IntCounter::new(
            "toolgate_api_unauthorized_total",
            "Decision API calls refused with 401: no key, or one the keys file does not hold.",
        )?;
        r.register(Box::new(unauthorized.clone()))?;
        let over_quota = IntCounterVec::new(
            Opts::new(
                "toolgate_api_quota_exceeded_total",
                "Decision API calls refused with 429 because the key was over its quota, by key name.",
            ),
            &["key"],
        )?;
        r.register(Box::new(over_quota.clone()))?;
        Ok(ApiMetrics {
            checks,
            unauthorized,
            over_quota,
        })
    }

    pub fn checked(&self, key: &str, verdict: Verdict) {
        self.checks.with_label_values(&[key, verdict.label()]).inc();
    }

    pub fn over_quota(&self, key: &str) {
        self.over_quota.with_label_values(&[key]).inc();
    }

    pub fn unauthorized(&self) {
        self.unauthorized.inc();
    }
}
