//! Metrics: every series toolgate exports, registered once in one owned
//! [`prometheus::Registry`] (never the global one), and the per-snapshot
//! [`RouteMetricsTable`] that the request path uses so that counting a decision is a few
//! atomic adds — no label hashing and no `String` formatting per request.
//!
//! Labels are bounded: `route` is a route name from the bundle (or `unmatched`), never a raw
//! path; `verdict`, `issue` and `kind` come from closed enums.

mod api;
mod mcp;
mod review;
mod state;
mod table;

pub use api::ApiMetrics;
pub use mcp::{mcp_method_label, MCP_MALFORMED, MCP_METHODS};
pub use review::ReviewMetrics;
pub use state::{StateErrorKind, StateMetrics, StateResult};

use table::RouteHandles;
pub use table::RouteMetricsTable;

use crate::policy::Verdict;
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
    /// ALLOWed, but `upstream.max_concurrent_requests` were already under way: refused
    /// with 503 and never sent.
    Overloaded,
}

impl UpstreamErrorKind {
    pub const ALL: [UpstreamErrorKind; 5] = [
        UpstreamErrorKind::Connect,
        UpstreamErrorKind::Timeout,
        UpstreamErrorKind::Protocol,
        UpstreamErrorKind::Reset,
        UpstreamErrorKind::Overloaded,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            UpstreamErrorKind::Connect => "connect",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Protocol => "protocol",
            UpstreamErrorKind::Reset => "reset",
            UpstreamErrorKind::Overloaded => "overloaded",
        }
    }
}

/// Why a client connection ended badly where no request could be answered or audited: the
/// peer never completed a head, or the transport itself failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnError {
    /// No complete request head (or TLS handshake, or HTTP/2 preface) in
    /// `limits.header_read_timeout`.
    HeaderTimeout,
    /// The peer closed the connection part-way through a request head.
    ClosedMidHead,
    /// The TLS handshake failed.
    TlsHandshake,
    /// The protocol spoken is not the one ALPN agreed.
    AlpnMismatch,
    /// An HTTP/2 protocol error ended the connection (GOAWAY).
    H2Protocol,
    /// A chunked request body broke its framing (the request itself is answered).
    BadChunk,
    /// The client read nothing of a response for `limits.response_write_timeout`.
    WriteTimeout,
    /// Accepted while out of file descriptors: answered 503 from the reserve and closed.
    FdExhausted,
    /// Any other transport error.
    Io,
}

impl ConnError {
    pub const ALL: [ConnError; 9] = [
        ConnError::HeaderTimeout,
        ConnError::ClosedMidHead,
        ConnError::TlsHandshake,
        ConnError::AlpnMismatch,
        ConnError::H2Protocol,
        ConnError::BadChunk,
        ConnError::WriteTimeout,
        ConnError::FdExhausted,
        ConnError::Io,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            ConnError::HeaderTimeout => "header_timeout",
            ConnError::ClosedMidHead => "closed_mid_head",
            ConnError::TlsHandshake => "tls_handshake",
            ConnError::AlpnMismatch => "alpn_mismatch",
            ConnError::H2Protocol => "h2_protocol",
            ConnError::BadChunk => "bad_chunk",
            ConnError::WriteTimeout => "write_timeout",
            ConnError::FdExhausted => "fd_exhausted",
            ConnError::Io => "io",
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
    upstream_connections: IntGauge,
    reload_success: IntCounter,
    reload_failure: IntCounter,
    bundle_info: IntGaugeVec,
    last_reload_success: Gauge,
    audit_dropped: IntCounter,
    candidate_disagreements: IntCounterVec,
    mcp_messages: IntCounterVec,
    /// The state store's series.
    pub state: StateMetrics,
    /// The decision API's series.
    pub api: ApiMetrics,
    pub review: ReviewMetrics,
    /// Indexed by `ConnError as usize`, every reason exported from the start.
    conn_errors: Arc<[IntCounter; ConnError::ALL.len()]>,
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
        let conn_errors = counter_vec(
            r,
            "toolgate_connection_errors_total",
            "Client connections that ended without a request to answer or audit, by reason (header_timeout, closed_mid_head, tls_handshake, alpn_mismatch, h2_protocol, bad_chunk, write_timeout, fd_exhausted, io).",
            &["reason"],
        )?;
        Ok(Metrics {
            state: StateMetrics::register(r)?,
            api: ApiMetrics::register(r)?,
            review: ReviewMetrics::register(r)?,
            conn_errors: Arc::new(ConnError::ALL.map(|e| conn_errors.with_label_values(&[e.label()]))),
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
            upstream_connections: register(
                r,
                IntGauge::new(
                    "toolgate_upstream_connections",
                    "Connections open to the upstream, in use or idle (at most upstream.max_concurrent_requests + upstream.max_idle_connections).",
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
            mcp_messages: counter_vec(
                r,
                "toolgate_mcp_messages_total",
                "JSON-RPC messages to MCP endpoints, by server, method (the specification's \
                 methods; other, response, malformed), tool (a mapped tool's name, or empty) \
                 and the verdict sent.",
                &["server", "method", "tool", "verdict"],
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
            mcp: std::array::from_fn(|_| Default::default()),
            families: self.clone(),
        }
    }

    /// A new bundle is serving: `toolgate_bundle_info` ends with exactly its series (set
    /// before the old one goes, so a scrape never finds none), the success counter and the
    /// last-success timestamp move.
    pub fn bundle_activated(&self, name: &str, version: &str, digest: &str, at: jiff::Timestamp) {
        let current = [name, version, digest];
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
        self.reload_unchanged(at);
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

    /// Counts a connection that ended for `why`.
    pub fn connection_error(&self, why: ConnError) {
        self.conn_errors[why as usize].inc();
    }

    /// The handle the audit sink counts dropped records into.
    pub fn audit_dropped(&self) -> IntCounter {
        self.audit_dropped.clone()
    }

    /// The gauge of connections open to the upstream.
    pub fn upstream_connections(&self) -> IntGauge {
        self.upstream_connections.clone()
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
