//! The application: the whole sidecar, wired from its parts: the live bundle (and a
//! candidate) under hot reload, the proxy, the admin listener, metrics and the audit trail,
//! with one shutdown order:
//! stop accepting and report not-ready, drain in-flight requests, hand over their audit
//! records and flush them, then stop the admin listener.

use crate::admin::Admin;
use crate::clock::{self, Clock};
use crate::config::Config;
use crate::headers::RequestIds;
use crate::metrics::Metrics;
use crate::ops::{Ops, BUILD_VERSION};
use crate::reload::{bundle_loader, on_sighup, Reloader};
use crate::server::{raise_fd_limit, Server};
use crate::state::StateStore;
use anyhow::Context as _;
use prometheus::Registry;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long shutdown waits for audit records still being finished (a candidate's
/// evaluation takes microseconds; this only bounds a bug).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The two listeners, bound by the caller (`main` binds the configured addresses; tests bind
/// port 0).
pub struct Listeners {
    pub proxy: TcpListener,
    pub admin: TcpListener,
}

/// A loaded sidecar, ready to run: its bundles passed validation and their own tests, are
/// watched for changes (and SIGHUP), and its audit sink is open.
pub struct Sidecar {
    cfg: Config,
    live: Reloader,
    candidate: Option<Reloader>,
    ops: Arc<Ops>,
    clock: Clock,
    triggers: Triggers,
}

/// The reload trigger tasks; stopped when dropped.
struct Triggers(Vec<JoinHandle<()>>);

impl Drop for Triggers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

async fn load_bundle(dir: &Path, metrics: Metrics, what: &str) -> anyhow::Result<Reloader> {
    Reloader::load(dir.to_path_buf(), bundle_loader(), metrics)
        .await
        .map_err(|e| anyhow::anyhow!("invalid {what} {}:\n{e}", dir.display()))
}

impl Sidecar {
    /// Loads the live bundle (refusing to start without a valid one whose own tests pass,
    /// so there is never a moment without a policy) and the candidate bundle if configured,
    /// starts their reload triggers (so a change or a SIGHUP from now on is seen), and opens
    /// the audit sink. `cfg` should be validated.
    pub async fn load(cfg: Config, clock: Clock) -> anyhow::Result<Sidecar> {
        let dir = cfg
            .policies
            .clone()
            .context("policies: required: the policy bundle directory")?;
        let metrics = Metrics::new(&Registry::new(), BUILD_VERSION)?;
        let live = load_bundle(&dir, metrics.clone(), "policy bundle").await?;
        let candidate = match &cfg.candidate_policies {
            // The candidate's reloads are not the live bundle's: its loads count into a
            // registry of their own, and its status is on `GET /v1/bundle`.
            Some(dir) => {
                let own = Metrics::new(&Registry::new(), BUILD_VERSION)?;
                Some(load_bundle(dir, own, "candidate bundle").await?)
            }
            None => None,
        };
        let audit = Ops::audit_sink(&cfg, &metrics)?;
        let state = StateStore::connect(&cfg.state, metrics.state.clone()).await?;
        let ops = Ops::new(
            metrics,
            audit,
            candidate.as_ref().map(|c| c.snapshot().clone()),
            state,
        );
        let debounce = cfg.reload.debounce.get();
        let mut triggers = reload_triggers(&live, debounce);
        if let Some(c) = &candidate {
            triggers.extend(reload_triggers(c, debounce));
        }
        Ok(Sidecar {
            cfg,
            live,
            candidate,
            ops: Arc::new(ops),
            clock,
            triggers: Triggers(triggers),
        })
    }

    /// The live snapshot (what a request would be decided by now).
    pub fn snapshot(&self) -> Arc<crate::snapshot::Snapshot> {
        self.live.snapshot().load_full()
    }

    /// Serves until `shutdown` completes, then shuts down in order (see the module docs).
    pub async fn run(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Sidecar {
            cfg,
            live,
            candidate,
            ops,
            clock,
            triggers,
        } = self;
        let server = Server::with_ops(&cfg, live.snapshot().clone(), clock.clone(), ops.clone())?;
        let admin = Arc::new(Admin {
            live,
            candidate,
            ops: ops.clone(),
            clock,
            draining: server.draining(),
            ids: RequestIds::default(),
            max_body_bytes: cfg.limits.max_body_bytes,
            body_read_timeout: cfg.limits.body_read_timeout.get(),
        });
        let (stop_admin, admin_stopped) = oneshot::channel::<()>();
        let admin = tokio::spawn(admin.run(listeners.admin, async move {
            let _ = admin_stopped.await;
        }));

        let served = server.run(listeners.proxy, shutdown).await;

        // Every drained request has dropped its trail: its record is queued, or pending on a
        // candidate evaluation. Wait for those, then write everything out.
        if tokio::time::timeout(SETTLE_TIMEOUT, ops.settle())
            .await
            .is_err()
        {
            tracing::error!("audit records still pending at shutdown; closing the sink anyway");
        }
        ops.audit.flush_and_close().await;
        tracing::info!(dropped = ops.audit.dropped(), "audit trail flushed");
        drop(triggers);
        let _ = stop_admin.send(());
        match admin.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "admin listener failed"),
            Err(e) => tracing::warn!(error = %e, "admin listener task failed"),
            Ok(Ok(())) => {}
        }
        served
    }
}

/// The file watch and the SIGHUP handler for one bundle. A trigger that cannot be set up is
/// logged, not fatal: the bundle keeps serving and the other triggers (and `POST
/// /v1/reload`) still work.
fn reload_triggers(reloader: &Reloader, debounce: Duration) -> Vec<JoinHandle<()>> {
    let dir = reloader.dir().display().to_string();
    let mut tasks = Vec::new();
    match reloader.watch_with(debounce) {
        Ok(t) => tasks.push(t),
        Err(e) => {
            tracing::error!(dir, error = %e, "cannot watch the bundle dir; reload with SIGHUP or POST /v1/reload")
        }
    }
    match on_sighup(reloader.clone()) {
        Ok(t) => tasks.push(t),
        Err(e) => tracing::error!(dir, error = %e, "cannot install the SIGHUP handler"),
    }
    tasks
}

/// Runs toolgate: loads the bundle from `cfg.policies` (refusing to start without a valid
/// one, so there is never a moment without a policy), binds `cfg.listen` and
/// `cfg.admin_listen`, and serves until `shutdown` completes, in-flight requests have
/// drained and their audit records are written. `cfg` should be validated.
pub async fn serve(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // Every proxied request may hold a client socket and an upstream one.
    let wanted = cfg.limits.max_connections + cfg.upstream.max_concurrent_requests + 64;
    match raise_fd_limit() {
        Some(limit) if limit < wanted as u64 => tracing::warn!(
            limit,
            wanted,
            "the open-file limit is below max_connections + upstream.max_concurrent_requests: at the limit new clients get 503 from the descriptor reserve"
        ),
        Some(limit) => tracing::debug!(limit, "open-file limit"),
        None => {}
    }
    let sidecar = Sidecar::load(cfg.clone(), clock::system_clock()).await?;
    let bind = |addr, what: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("{what} {addr}: {e}"))
    };
    let listeners = Listeners {
        proxy: bind(cfg.listen, "listen").await?,
        admin: bind(cfg.admin_listen, "admin_listen").await?,
    };
    sidecar.run(listeners, shutdown).await
}
