//! The decision API's series: checks by key and verdict (key names come from the keys
//! file, so the label stays bounded), and calls refused for want of a valid key.

use crate::policy::Verdict;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct ApiMetrics {
    checks: IntCounterVec,
    unauthorized: IntCounter,
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
        Ok(ApiMetrics {
            checks,
            unauthorized,
        })
    }

    pub fn checked(&self, key: &str, verdict: Verdict) {
        self.checks.with_label_values(&[key, verdict.label()]).inc();
    }

    pub fn unauthorized(&self) {
        self.unauthorized.inc();
    }
}
