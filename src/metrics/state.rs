//! The state store's series: whether it is up, how long a round trip takes, what fails and
//! what each stateful request's check came to. Every label value is exported from the start.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use std::sync::Arc;

/// A round trip to a local Redis is a fraction of a millisecond; `state.timeout` defaults
/// to 50 ms.
const ROUND_TRIP_BUCKETS: &[f64] = &[
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Why a round trip to the state store failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateErrorKind {
    /// No answer within `state.timeout`.
    Timeout,
    /// Not connected, or the connection broke.
    Connection,
    /// The store answered with an error.
    Server,
}

impl StateErrorKind {
    pub const ALL: [StateErrorKind; 3] = [
        StateErrorKind::Timeout,
        StateErrorKind::Connection,
        StateErrorKind::Server,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            StateErrorKind::Timeout => "timeout",
            StateErrorKind::Connection => "connection",
            StateErrorKind::Server => "server",
        }
    }
}

/// What a stateful request's check came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateResult {
    Granted,
    Refused,
    Unavailable,
}

impl StateResult {
    pub const ALL: [StateResult; 3] = [
        StateResult::Granted,
        StateResult::Refused,
        StateResult::Unavailable,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            StateResult::Granted => "granted",
            StateResult::Refused => "refused",
            StateResult::Unavailable => "unavailable",
        }
    }
}

#[derive(Clone)]
pub struct StateMetrics {
    pub up: IntGauge,
    pub round_trip: Histogram,
    errors: Arc<[IntCounter; 3]>,
    results: Arc<[IntCounter; 3]>,
}

impl StateMetrics {
    pub fn register(r: &Registry) -> prometheus::Result<StateMetrics> {
        let up = IntGauge::new(
            "toolgate_state_up",
            "1 when the state store (state.url) answered its last round trip or health check, else 0; the in-process store is always 1.",
        )?;
        r.register(Box::new(up.clone()))?;
        let round_trip = Histogram::with_opts(
            HistogramOpts::new(
                "toolgate_state_round_trip_seconds",
                "Round trips to the state store: one per stateful request, and health checks.",
            )
            .buckets(ROUND_TRIP_BUCKETS.to_vec()),
        )?;
        r.register(Box::new(round_trip.clone()))?;
        let errors = IntCounterVec::new(
            Opts::new(
                "toolgate_state_errors_total",
                "Failed round trips to the state store, by reason (timeout, connection, server).",
            ),
            &["reason"],
        )?;
        r.register(Box::new(errors.clone()))?;
        let results = IntCounterVec::new(
            Opts::new(
                "toolgate_state_checks_total",
                "Stateful requests' checks (approval claims, counted limits), by result (granted, refused, unavailable).",
            ),
            &["result"],
        )?;
        r.register(Box::new(results.clone()))?;
        Ok(StateMetrics {
            up,
            round_trip,
            errors: Arc::new(StateErrorKind::ALL.map(|k| errors.with_label_values(&[k.label()]))),
            results: Arc::new(StateResult::ALL.map(|k| results.with_label_values(&[k.label()]))),
        })
    }

    pub fn error(&self, kind: StateErrorKind) {
        self.errors[kind as usize].inc();
    }

    pub fn result(&self, result: StateResult) {
        self.results[result as usize].inc();
    }
}
