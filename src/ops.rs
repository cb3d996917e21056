//! The operational state the proxy and the admin server share: the one metrics registry,
//! the audit sink, the candidate bundle (if one is configured), the state store, and a count of audit records
//! still being finished off the request path, so that shutdown can wait for them before it
//! closes the sink.

use crate::audit::{AuditOptions, AuditSink};
use crate::config::{AuditSinkKind, Config, StateConfig};
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::state::StateStore;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// The build's version, for `toolgate_build_info`.
pub const BUILD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Shared by every request and the admin server; held behind an `Arc`.
pub struct Ops {
    pub metrics: Metrics,
    pub audit: AuditSink,
    /// The candidate bundle, evaluated beside the live one and never enforced.
    pub candidate: Option<Arc<ArcSwap<Snapshot>>>,
    /// Used approvals and counted limits (`state.url`).
    pub state: StateStore,
    pending: Arc<Pending>,
}

#[derive(Default)]
struct Pending {
    count: AtomicUsize,
    idle: Notify,
}

/// Held by a task that will still hand a record to the audit sink.
pub struct PendingRecord(Arc<Pending>);

impl Drop for PendingRecord {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Ops {
    pub fn new(
        metrics: Metrics,
        audit: AuditSink,
        candidate: Option<Arc<ArcSwap<Snapshot>>>,
        state: StateStore,
    ) -> Ops {
        Ops {
            metrics,
            audit,
            candidate,
            state,
            pending: Arc::default(),
        }
    }

    /// The audit sink `cfg.audit` describes, counting drops into `metrics`.
    pub fn audit_sink(
        cfg: &Config,
        metrics: &Metrics,
        tap: Option<tokio::sync::mpsc::Sender<crate::audit::Trace>>,
    ) -> std::io::Result<AuditSink> {
        let a = &cfg.audit;
        let opts = AuditOptions::new(a.capacity, metrics.audit_dropped())
            .ring_capacity(a.recent)
            .tap(tap);
        match (a.sink, &a.path) {
            (AuditSinkKind::File, Some(path)) => AuditSink::file(path, opts).map_err(|e| {
                std::io::Error::new(e.kind(), format!("audit.path {}: {e}", path.display()))
            }),
            // `validate` refuses a file sink without a path.
            (AuditSinkKind::File, None) | (AuditSinkKind::Stdout, _) => AuditSink::stdout(opts),
        }
    }

    /// A private registry and an audit sink that keeps records only in its ring of recent
    /// ones: for a proxy embedded without the sidecar around it (tests, benchmarks).
    pub fn detached() -> anyhow::Result<Ops> {
        let metrics = Metrics::new(&prometheus::Registry::new(), BUILD_VERSION)?;
        let opts = AuditOptions::new(1024, metrics.audit_dropped());
        let audit = AuditSink::writer(Box::new(std::io::sink()), opts)?;
        let state = StateStore::memory(&StateConfig::default(), metrics.state.clone());
        Ok(Ops::new(metrics, audit, None, state))
    }

    /// Counts a record that a spawned task will hand over later.
    pub fn pending_record(&self) -> PendingRecord {
        self.pending.count.fetch_add(1, Ordering::AcqRel);
        PendingRecord(self.pending.clone())
    }

    /// Waits until no record is pending; for shutdown, after connections have drained and
    /// before the audit sink is closed.
    pub async fn settle(&self) {
        loop {
            let idle = self.pending.idle.notified();
            let mut idle = std::pin::pin!(idle);
            // Registered before the check, so a wake-up in between is not lost.
            idle.as_mut().enable();
            if self.pending.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn settle_waits_for_every_pending_record() {
        let ops = Ops::detached().unwrap();
        ops.settle().await;
        let (a, b) = (ops.pending_record(), ops.pending_record());
        let wait = Duration::from_secs(1);
        assert!(tokio::time::timeout(wait, ops.settle()).await.is_err());
        drop(a);
        assert!(tokio::time::timeout(wait, ops.settle()).await.is_err());
        let settling = tokio::spawn(async move {
            ops.settle().await;
        });
        tokio::task::yield_now().await;
        drop(b);
        tokio::time::timeout(wait, settling).await.unwrap().unwrap();
    }
}
