//! The per-snapshot route table of metric handles: what the request path counts into.

use super::{Metrics, UpstreamErrorKind, MCP_METHODS};
use crate::policy::issue::{IssueCode, IssueSet, ISSUE_COUNT};
use crate::policy::Verdict;
use prometheus::{Histogram, IntCounter};
use std::sync::{Arc, OnceLock};

/// Pre-resolved handles for one route. Rarely-hit series (shadow verdicts, issue codes,
/// candidate disagreements) are resolved on first use, so a bundle with many routes does
/// not export hundreds of zero series; after that, a use is one atomic load.
pub(super) struct RouteHandles {
    pub(super) name: Arc<str>,
    pub(super) decisions: [IntCounter; 3],
    pub(super) upstream_errors: [IntCounter; UpstreamErrorKind::ALL.len()],
    pub(super) upstream: Histogram,
    pub(super) shadow: [OnceLock<IntCounter>; 3],
    pub(super) issues: [OnceLock<IntCounter>; ISSUE_COUNT],
    pub(super) disagreements: [OnceLock<IntCounter>; 9],
    /// `toolgate_mcp_messages_total` for messages this route judged, by method and verdict.
    pub(super) mcp: [[OnceLock<IntCounter>; 3]; MCP_METHODS.len()],
    pub(super) families: Metrics,
}

impl RouteHandles {
    fn issue(&self, code: IssueCode) -> &IntCounter {
        self.issues[code as usize].get_or_init(|| {
            self.families
                .decision_issues
                .with_label_values(&[&*self.name, code.as_str()])
        })
    }
}

const fn verdict_index(v: Verdict) -> usize {
    match v {
        Verdict::Allow => 0,
        Verdict::Deny => 1,
        Verdict::Defer => 2,
    }
}

/// The request path's view of the metrics for one snapshot: index `i` is the snapshot's
/// route `i`; `None` is the unmatched bucket.
pub struct RouteMetricsTable {
    pub(super) routes: Box<[RouteHandles]>,
    pub(super) decision_duration: Histogram,
}

impl std::fmt::Debug for RouteMetricsTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteMetricsTable")
            .field("routes", &self.len())
            .finish_non_exhaustive()
    }
}

impl RouteMetricsTable {
    fn route(&self, route: Option<usize>) -> &RouteHandles {
        let unmatched = self.routes.len() - 1;
        let i = route.unwrap_or(unmatched);
        debug_assert!(i <= unmatched, "route index {i} out of range");
        // An out-of-range index is a wiring bug; count it as unmatched rather than panic
        // on the request path.
        &self.routes[i.min(unmatched)]
    }

    /// Counts one decision: its verdict (into the shadow family for shadow routes), each of
    /// its issues, and how long it took.
    pub fn decided(
        &self,
        route: Option<usize>,
        verdict: Verdict,
        shadow: bool,
        issues: IssueSet,
        decision_seconds: f64,
    ) {
        let h = self.route(route);
        let v = verdict_index(verdict);
        if shadow {
            h.shadow[v]
                .get_or_init(|| {
                    h.families
                        .shadow_decisions
                        .with_label_values(&[&*h.name, verdict.label()])
                })
                .inc();
        } else {
            h.decisions[v].inc();
        }
        for code in issues.iter() {
            h.issue(code).inc();
        }
        self.decision_duration.observe(decision_seconds);
    }

    /// Observes the upstream latency of a forwarded request.
    pub fn upstream(&self, route: Option<usize>, seconds: f64) {
        self.route(route).upstream.observe(seconds);
    }

    /// Counts a forwarded request that got no usable response.
    pub fn upstream_error(&self, route: Option<usize>, kind: UpstreamErrorKind) {
        self.route(route).upstream_errors[kind as usize].inc();
    }

    /// Counts a request where the candidate bundle disagreed with the live one.
    pub fn candidate_disagreement(&self, route: Option<usize>, live: Verdict, candidate: Verdict) {
        let h = self.route(route);
        h.disagreements[verdict_index(live) * 3 + verdict_index(candidate)]
            .get_or_init(|| {
                h.families.candidate_disagreements.with_label_values(&[
                    &*h.name,
                    live.label(),
                    candidate.label(),
                ])
            })
            .inc();
    }

    /// Counts an MCP message `route` judged (a tool's route, or the endpoint's for what it
    /// passed or refused outright): `method` indexes [`MCP_METHODS`]; `tool` is the
    /// mapped tool's name or empty. The labels are resolved on a route's first message.
    pub fn mcp(&self, route: usize, server: &str, tool: &str, method: usize, verdict: Verdict) {
        let h = self.route(Some(route));
        let Some(slot) = h.mcp.get(method) else {
            return;
        };
        slot[verdict_index(verdict)]
            .get_or_init(|| {
                h.families.mcp_messages.with_label_values(&[
                    server,
                    MCP_METHODS[method],
                    tool,
                    verdict.label(),
                ])
            })
            .inc();
    }

    /// Number of routes (excluding the unmatched bucket).
    pub fn len(&self) -> usize {
        self.routes.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
