//! Metrics: every series toolgate exports, registered once in one owned
//! [`prometheus::Registry`] (never the global one), and the per-snapshot
//! [`RouteMetricsTable`] that the request path uses so that counting a decision is a few
//! atomic adds — no label hashing and no `String` formatting per request.
//!
//! Labels are bounded: `route` is a route name from the bundle (or `unmatched`), never a raw
//! path; `verdict`, `issue` and `kind` come from closed enums.

use crate::policy::issue::{IssueCode, IssueSet, ISSUE_COUNT};
use crate::policy::Verdict;
use crate::snapshot::BundleMeta;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::{Arc, OnceLock};

/// The `route` label value for requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Decision latency is in-process evaluation: microseconds, up to a pathological 10 ms.
const DECISION_BUCKETS: &[f64] = &[
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2,
];
/// Upstream latency is a network round trip to the tool API: milliseconds to tens of seconds.
const UPSTREAM_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const VERDICTS: [Verdict; 3] = [Verdict::Allow, Verdict::Deny, Verdict::Defer];

/// Why a forwarded request got no usable response from the tool API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpstreamErrorKind {
    Connect,
    Timeout,
    Protocol,
    Reset,
}

impl UpstreamErrorKind {
    pub const ALL: [UpstreamErrorKind; 4] = [
        UpstreamErrorKind::Connect,
        UpstreamErrorKind::Timeout,
        UpstreamErrorKind::Protocol,
        UpstreamErrorKind::Reset,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            UpstreamErrorKind::Connect => "connect",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Protocol => "protocol",
            UpstreamErrorKind::Reset => "reset",
        }
    }
}

/// All of toolgate's metric families. Cloning is cheap (every handle is an `Arc`).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    decisions: IntCounterVec,
    shadow_decisions: IntCounterVec,
    decision_issues: IntCounterVec,
    decision_duration: Histogram,
    upstream_duration: HistogramVec,
    upstream_errors: IntCounterVec,
    in_flight: IntGauge,
    reload_success: IntCounter,
    reload_failure: IntCounter,
    bundle_info: IntGaugeVec,
    last_reload_success: Gauge,
    audit_dropped: IntCounter,
    candidate_disagreements: IntCounterVec,
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn register<C: prometheus::core::Collector + Clone + 'static>(
    r: &Registry,
    c: C,
) -> prometheus::Result<C> {
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// Registers every family in `registry`. Fails if any name is already registered there.
    pub fn new(registry: &Registry, build_version: &str) -> prometheus::Result<Metrics> {
        let r = registry;
        let route_verdict = &["route", "verdict"];
        let reloads = counter_vec(
            r,
            "toolgate_bundle_reloads_total",
            "Bundle load attempts, by result; a failed reload keeps the last good bundle serving.",
            &["result"],
        )?;
        let build_info = register(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "toolgate_build_info",
                    "Always 1; the version of the running build.",
                ),
                &["version"],
            )?,
        )?;
        build_info.with_label_values(&[build_version]).set(1);
        Ok(Metrics {
            registry: registry.clone(),
            decisions: counter_vec(
                r,
                "toolgate_decisions_total",
                "Enforced decisions, by route and verdict.",
                route_verdict,
            )?,
            shadow_decisions: counter_vec(
                r,
                "toolgate_shadow_decisions_total",
                "Would-be decisions on shadow routes (the request was forwarded), by route and verdict.",
                route_verdict,
            )?,
            decision_issues: counter_vec(
                r,
                "toolgate_decision_issues_total",
                "Issues raised by decisions (enforced and shadow), by route and issue code.",
                &["route", "issue"],
            )?,
            decision_duration: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "toolgate_decision_duration_seconds",
                        "Time to classify, extract facts and evaluate policy for one request.",
                    )
                    .buckets(DECISION_BUCKETS.to_vec()),
                )?,
            )?,
            upstream_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "toolgate_upstream_duration_seconds",
                        "Time from forwarding a request to the tool API until its response head.",
                    )
                    .buckets(UPSTREAM_BUCKETS.to_vec()),
                    &["route"],
                )?,
            )?,
            upstream_errors: counter_vec(
                r,
                "toolgate_upstream_errors_total",
                "Forwarded requests that got no usable response, by route and kind (connect, timeout, protocol, reset).",
                &["route", "kind"],
            )?,
            in_flight: register(
                r,
                IntGauge::new(
                    "toolgate_requests_in_flight",
                    "Requests currently being decided or forwarded.",
                )?,
            )?,
            reload_success: reloads.with_label_values(&["success"]),
            reload_failure: reloads.with_label_values(&["failure"]),
            bundle_info: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "toolgate_bundle_info",
                        "Always 1, for the active bundle only: its name, version and digest.",
                    ),
                    &["name", "version", "digest"],
                )?,
            )?,
            last_reload_success: register(
                r,
                Gauge::new(
                    "toolgate_bundle_last_reload_success_timestamp_seconds",
                    "Unix time of the last successful bundle load (including no-op reloads of an identical bundle).",
                )?,
            )?,
            audit_dropped: register(
                r,
                IntCounter::new(
                    "toolgate_audit_records_dropped_total",
                    "Audit records not written because the queue was full or the writer failed.",
                )?,
            )?,
            candidate_disagreements: counter_vec(
                r,
                "toolgate_candidate_disagreements_total",
                "Requests where the candidate bundle's verdict differs from the live one.",
                &["route", "live", "candidate"],
            )?,
        })
    }

    /// Resolves every per-route handle for one snapshot's routes (index `i` is route `i`),
    /// plus one for unmatched requests. Called once per snapshot, off the request path.
    ///
    /// Series of routes that later disappear from the bundle are kept: in-flight requests
    /// may still count into them, and removing them would reset counters mid-scrape.
    pub fn for_routes(&self, route_names: &[Arc<str>]) -> Arc<RouteMetricsTable> {
        let routes = route_names
            .iter()
            .map(|n| &**n)
            .chain(std::iter::once(UNMATCHED))
            .map(|name| self.route_handles(name))
            .collect();
        Arc::new(RouteMetricsTable {
            routes,
            decision_duration: self.decision_duration.clone(),
        })
    }

    fn route_handles(&self, name: &str) -> RouteHandles {
        RouteHandles {
            name: name.into(),
            decisions: VERDICTS.map(|v| self.decisions.with_label_values(&[name, v.label()])),
            upstream_errors: UpstreamErrorKind::ALL
                .map(|k| self.upstream_errors.with_label_values(&[name, k.label()])),
            upstream: self.upstream_duration.with_label_values(&[name]),
            shadow: Default::default(),
            issues: std::array::from_fn(|_| OnceLock::new()),
            disagreements: Default::default(),
            families: self.clone(),
        }
    }

    /// A new bundle is serving: `toolgate_bundle_info` ends with exactly its series (set
    /// before the old one goes, so a scrape never finds none), the success counter and the
    /// last-success timestamp move.
    pub fn bundle_activated(&self, meta: &BundleMeta) {
        let current = [&*meta.name, &*meta.version, &*meta.digest];
        self.bundle_info.with_label_values(&current).set(1);
        for family in prometheus::core::Collector::collect(&self.bundle_info) {
            for m in family.get_metric() {
                let labels: std::collections::HashMap<&str, &str> = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name(), l.value()))
                    .collect();
                let is_current = ["name", "version", "digest"]
                    .iter()
                    .zip(current)
                    .all(|(k, v)| labels.get(k) == Some(&v));
                if !is_current {
                    let _ = self.bundle_info.remove(&labels);
                }
            }
        }
        self.reload_unchanged(meta.loaded_at);
    }

    /// A reload succeeded but found the bundle identical to the one serving.
    pub fn reload_unchanged(&self, at: jiff::Timestamp) {
        self.reload_success.inc();
        self.last_reload_success.set(at.as_duration().as_secs_f64());
    }

    /// A reload failed; the previous bundle keeps serving.
    pub fn reload_failed(&self) {
        self.reload_failure.inc();
    }

    /// The handle the audit sink counts dropped records into.
    pub fn audit_dropped(&self) -> IntCounter {
        self.audit_dropped.clone()
    }

    /// Counts a request as in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// The registry's contents in the Prometheus text format 0.0.4.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec only fails on inconsistent metric families, which the
        // registry rejects at registration.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Decrements `toolgate_requests_in_flight` when dropped.
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Pre-resolved handles for one route. Rarely-hit series (shadow verdicts, issue codes,
/// candidate disagreements) are resolved on first use, so a bundle with many routes does
/// not export hundreds of zero series; after that, a use is one atomic load.
struct RouteHandles {
    name: Arc<str>,
    decisions: [IntCounter; 3],
    upstream_errors: [IntCounter; 4],
    upstream: Histogram,
    shadow: [OnceLock<IntCounter>; 3],
    issues: [OnceLock<IntCounter>; ISSUE_COUNT],
    disagreements: [OnceLock<IntCounter>; 9],
    families: Metrics,
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
    routes: Box<[RouteHandles]>,
    decision_duration: Histogram,
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

    /// Number of routes (excluding the unmatched bucket).
    pub fn len(&self) -> usize {
        self.routes.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
