//! Runtime state that must hold across requests, and with Redis across replicas and
//! restarts: used approval `jti`s and the limits toolgate counts itself (`rate_limit`,
//! `max_calls_per_run`, `daily_amount_limit`). A request's needs are one [`plan::Plan`],
//! checked and applied in one atomic step (one round trip), bounded by `state.timeout`.
//! Any failure is an error the request path turns into 503 `STATE_UNAVAILABLE`: nothing
//! that needs state is forwarded without it.

mod memory;
pub mod plan;
pub mod quota;
mod redis;
pub mod review;
pub mod traces;

pub use memory::Engine;
pub use plan::{Applied, Plan, Planner, Refused, What};

use crate::config::{StateConfig, StateKind};
use crate::metrics::{StateErrorKind, StateMetrics, StateResult};
use jiff::Timestamp;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the health check pings a Redis store.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

enum Backend {
    Memory(memory::Memory),
    Redis(redis::Redis),
}

/// Why a plan could not be run; the request is refused, never forwarded.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the state store is not reachable: {0}")]
    Connection(String),
    #[error("the state store answered with an error: {0}")]
    Server(String),
}

impl StateError {
    fn kind(&self) -> StateErrorKind {
        match self {
            StateError::Timeout(_) => StateErrorKind::Timeout,
            StateError::Connection(_) => StateErrorKind::Connection,
            StateError::Server(_) => StateErrorKind::Server,
        }
    }
}

/// The state store the sidecar was configured with; shared by every request.
pub struct StateStore {
    backend: Backend,
    timeout: Duration,
    prefix: Arc<str>,
    run_ttl_ms: i64,
    review_ttl_ms: i64,
    metrics: StateMetrics,
    up: Arc<AtomicBool>,
    /// Names each plan's sliding-window entries: this process, then a sequence number.
    nonce: u64,
    seq: AtomicU64,
}

impl StateStore {
    /// The in-process store with `cfg`'s timeout and prefix.
    pub fn memory(cfg: &StateConfig, metrics: StateMetrics) -> StateStore {
        StateStore::with(Backend::Memory(memory::Memory::default()), cfg, metrics)
    }

    /// The store `cfg.url` names. A Redis store connects lazily and pings it every second
    /// (off the request path) for `toolgate_state_up` and `/healthz`; must be called inside
    /// the runtime.
    pub async fn connect(cfg: &StateConfig, metrics: StateMetrics) -> anyhow::Result<StateStore> {
        let kind = cfg.kind().map_err(|m| anyhow::anyhow!("state.url: {m}"))?;
        if kind == StateKind::Memory {
            return Ok(StateStore::memory(cfg, metrics));
        }
        let password = cfg.password().map_err(anyhow::Error::msg)?;
        let client = redis::Redis::connect(cfg, password.as_deref()).await?;
        let store = StateStore::with(Backend::Redis(client.clone()), cfg, metrics);
        // The first connection is made now, so a reachable Redis serves the first request.
        let first = tokio::time::timeout(Duration::from_secs(2), client.ping()).await;
        let ok = matches!(first, Ok(Ok(())));
        if !ok {
            tracing::warn!(url = %cfg.url, "state store not reachable at start: stateful requests are refused until it is");
        }
        store.up.store(ok, Ordering::Relaxed);
        store.metrics.up.set(i64::from(ok));
        let (up, metrics, timeout) = (store.up.clone(), store.metrics.clone(), store.timeout);
        tokio::spawn(async move {
            loop {
                let started = Instant::now();
                let ok = matches!(
                    tokio::time::timeout(timeout.max(Duration::from_millis(500)), client.ping())
                        .await,
                    Ok(Ok(()))
                );
                if ok {
                    metrics.round_trip.observe(started.elapsed().as_secs_f64());
                }
                if up.swap(ok, Ordering::Relaxed) != ok {
                    tracing::warn!(up = ok, "state store health changed");
                }
                metrics.up.set(i64::from(ok));
                // Nothing holds this task but the store's clones; it ends with the process.
                if Arc::strong_count(&up) == 1 {
                    return;
                }
                tokio::time::sleep(HEALTH_EVERY).await;
            }
        });
        Ok(store)
    }

    fn with(backend: Backend, cfg: &StateConfig, metrics: StateMetrics) -> StateStore {
        metrics.up.set(1);
        let nonce = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        use std::hash::BuildHasher;
        StateStore {
            backend,
            timeout: cfg.timeout.get(),
            prefix: cfg.key_prefix.as_str().into(),
            run_ttl_ms: i64::try_from(cfg.run_ttl.get().as_millis()).unwrap_or(i64::MAX),
            review_ttl_ms: i64::try_from(cfg.review_ttl.get().as_millis()).unwrap_or(i64::MAX),
            metrics,
            up: Arc::new(AtomicBool::new(true)),
            nonce,
            seq: AtomicU64::new(0),
        }
    }

    /// The key prefix (`state.key_prefix`, without its braces).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `memory` or `redis`, for `/healthz` and the audit record.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// Whether the last health check (or round trip) succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// A planner for a request judged at `now`.
    pub fn planner(&self, now: Timestamp) -> Planner<'_> {
        Planner {
            prefix: &self.prefix,
            run_ttl_ms: self.run_ttl_ms,
            now,
            nonce: self.nonce,
            seq: &self.seq,
        }
    }

    /// Checks and applies `plan` in one round trip within `state.timeout`.
    pub async fn apply(&self, plan: &Plan) -> Result<Applied, StateError> {
        let started = Instant::now();
        let result = self
            .within(async {
                match &self.backend {
                    Backend::Memory(m) => m.apply(plan.clone()).await.ok_or_else(full),
                    Backend::Redis(r) => r.apply(plan).await.map_err(|e| self.redis_error(e)),
                }
            })
            .await;
        match &result {
            Ok(applied) => {
                self.metrics
                    .round_trip
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.result(match applied {
                    Applied::Granted => StateResult::Granted,
                    Applied::Refused(_) => StateResult::Refused,
                });
            }
            Err(e) => {
                self.metrics.error(e.kind());
                self.metrics.result(StateResult::Unavailable);
            }
        }
        result
    }

    /// What each op of `plan` has counted (for `GET /usage`), within `state.timeout`.
    pub async fn peek(&self, plan: &Plan) -> Result<Vec<i64>, StateError> {
        self.within(async {
            match &self.backend {
                Backend::Memory(m) => m.peek(plan.clone()).await.ok_or_else(full),
                Backend::Redis(r) => r.peek(plan).await.map_err(|e| self.redis_error(e)),
            }
        })
        .await
    }

    /// Gives back what an applied plan took: its request certainly never reached the
    /// tool. Bounded by `state.timeout`, before the client is answered, so its next request
    /// sees the count given back. Best effort: a failure leaves the count spent.
    pub async fn refund(&self, plan: Plan) {
        let done = self
            .within(async {
                match &self.backend {
                    Backend::Memory(m) => m.refund(plan).await.ok_or_else(full),
                    Backend::Redis(r) => r.refund(&plan).await.map_err(|e| self.redis_error(e)),
                }
            })
            .await;
        if done.is_err() {
            tracing::warn!("state store: a refund after a connect failure was lost");
        }
    }

    /// `call`, or a timeout once `state.timeout` has passed.
    async fn within<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StateError>>,
    ) -> Result<T, StateError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(StateError::Timeout(self.timeout)))
    }

    fn redis_error(&self, e: redis::CallError) -> StateError {
        match e {
            redis::CallError::Timeout => StateError::Timeout(self.timeout),
            redis::CallError::Connection(m) => StateError::Connection(m),
            redis::CallError::Server(m) => StateError::Server(m),
        }
    }
}

/// The in-process store's queue is full (or its task is gone): as unreachable.
fn full() -> StateError {
    StateError::Connection("the in-process store is full".into())
}
