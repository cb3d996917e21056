//! The application: the whole sidecar, wired from its parts: the live bundle (and a
//! candidate) under hot reload, the proxy, the admin listener, metrics and the audit trail,
//! with one shutdown order:
//! stop accepting and report not-ready, drain in-flight requests, hand over their audit
//! records and flush them, then stop the admin listener.

use crate::admin::Admin;
use crate::api::DecisionApi;
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
    /// The decision API's (`decision_api.listen`), when it is on.
    pub api: Option<TcpListener>,
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
        if cfg.review.signing_key.is_some() {
            tracing::warn!("review.signing_key is set: a sidecar never reads it (toolgate review alone signs approvals); keep the private key out of the sidecar's pod");
        }
        let state = StateStore::connect(&cfg.state, metrics.state.clone()).await?;
        // Traces serve an inbox: one that shares the store (Redis), or one this process
        // runs beside the sidecar (the demo, which sets review.url). Otherwise no inbox can
        // read them, and they would cost every request a copy and the process memory.
        let shared = state.backend() == "redis";
        if !shared && cfg.review.url.is_some() {
            tracing::warn!("review.url is set but state.url is memory: a review inbox in another process cannot see this sidecar's reviews; point both at one Redis");
        }
        let traces_kept = if shared || cfg.review.url.is_some() {
            cfg.review.traces
        } else {
            0
        };
        let (tap, traces) = crate::state::traces::channel(traces_kept);
        let audit = Ops::audit_sink(&cfg, &metrics, tap)?;
        let ops = Arc::new(Ops::new(
            metrics,
            audit,
            candidate.as_ref().map(|c| c.snapshot().clone()),
            state,
        ));
        if let Some(rx) = traces {
            let (shared, cap) = (ops.clone(), cfg.review.traces);
            tokio::spawn(async move { crate::state::traces::ship(&shared.state, rx, cap).await });
        }
        let debounce = cfg.reload.debounce.get();
        let mut triggers = reload_triggers(&live, debounce);
        if let Some(c) = &candidate {
            triggers.extend(reload_triggers(c, debounce));
        }
        Ok(Sidecar {
            cfg,
            live,
            candidate,
            ops,
            clock,
            triggers: Triggers(triggers),
        })
    }

    /// The live snapshot (what a request would be decided by now).
    /// Its operations (state store, audit, metrics): the demo's review inbox shares them.
    pub fn ops(&self) -> Arc<Ops> {
        self.ops.clone()
    }

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
        let admin = admin(&cfg, live, candidate, &ops, clock, server.draining());
        let (stop_api, api_stopped) = oneshot::channel::<()>();
        let api = match listeners.api {
            Some(l) => Some(start_api(
                &cfg,
                &admin.live,
                &ops,
                &admin.clock,
                l,
                api_stopped,
            )?),
            None => None,
        };
        let (stop_admin, admin_stopped) = oneshot::channel::<()>();
        let admin = tokio::spawn(admin.run(listeners.admin, async move {
            let _ = admin_stopped.await;
        }));

        let served = server.run(listeners.proxy, shutdown).await;
        let _ = stop_api.send(());
        if let Some(api) = api {
            finish("decision API", api).await;
        }

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
        finish("admin", admin).await;
        served
    }

    /// `toolgate api`: the decision API and the admin listener, no proxy. Serves until
    /// `shutdown` completes, then writes out the audit trail.
    pub async fn run_api(
        self,
        admin_listener: TcpListener,
        api_listener: TcpListener,
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
        // Nothing drains here but the API, which stops before the admin listener.
        let admin = admin(&cfg, live, candidate, &ops, clock, Arc::default());
        let (stop_api, api_stopped) = oneshot::channel::<()>();
        let api = start_api(
            &cfg,
            &admin.live,
            &ops,
            &admin.clock,
            api_listener,
            api_stopped,
        )?;
        let (stop_admin, admin_stopped) = oneshot::channel::<()>();
        let admin = tokio::spawn(admin.run(admin_listener, async move {
            let _ = admin_stopped.await;
        }));
        shutdown.await;
        let _ = stop_api.send(());
        finish("decision API", api).await;
        ops.audit.flush_and_close().await;
        drop(triggers);
        let _ = stop_admin.send(());
        finish("admin", admin).await;
        Ok(())
    }
}

/// The admin listener's state.
fn admin(
    cfg: &Config,
    live: Reloader,
    candidate: Option<Reloader>,
    ops: &Arc<Ops>,
    clock: Clock,
    draining: Arc<std::sync::atomic::AtomicBool>,
) -> Arc<Admin> {
    Arc::new(Admin {
        live,
        candidate,
        ops: ops.clone(),
        clock,
        draining,
        ids: RequestIds::default(),
        max_body_bytes: cfg.limits.max_body_bytes,
        body_read_timeout: cfg.limits.body_read_timeout.get(),
    })
}

/// Starts the decision API on `listener` with the keys file, TLS as the proxy's.
fn start_api(
    cfg: &Config,
    live: &Reloader,
    ops: &Arc<Ops>,
    clock: &Clock,
    listener: TcpListener,
    stop: oneshot::Receiver<()>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let path = cfg
        .decision_api
        .keys_file
        .as_deref()
        .context("decision_api.keys_file: required with decision_api.listen")?;
    let (keys, watch) = crate::api::load_keys(path)?;
    let tls = match &cfg.tls {
        Some(t) => Some(crate::server::tls::acceptor(
            &t.cert,
            &t.key,
            t.client_ca.as_deref(),
        )?),
        None => None,
    };
    let api = Arc::new(DecisionApi {
        snapshot: live.snapshot().clone(),
        keys,
        ops: ops.clone(),
        clock: clock.clone(),
        ids: RequestIds::default(),
        max_body_bytes: cfg.limits.max_body_bytes,
        body_read_timeout: cfg.limits.body_read_timeout.get(),
        header_read_timeout: cfg.limits.header_read_timeout.get(),
    });
    Ok(tokio::spawn(async move {
        let served = api
            .run(listener, tls, async move {
                let _ = stop.await;
            })
            .await;
        watch.abort();
        served
    }))
}

/// Waits for a listener's task, logging how it ended.
async fn finish(what: &str, task: JoinHandle<anyhow::Result<()>>) {
    match task.await {
        Ok(Err(e)) => tracing::warn!(listener = what, error = %e, "listener failed"),
        Err(e) => tracing::warn!(listener = what, error = %e, "listener task failed"),
        Ok(Ok(())) => {}
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
    let api = match cfg.decision_api.listen {
        Some(addr) => Some(bind(addr, "decision_api.listen").await?),
        None => None,
    };
    let listeners = Listeners {
        proxy: bind(cfg.listen, "listen").await?,
        admin: bind(cfg.admin_listen, "admin_listen").await?,
        api,
    };
    sidecar.run(listeners, shutdown).await
}

/// `toolgate api`: the decision API without the proxy, for a central deployment behind a
/// Service (replicas share quota counts through `state.url`). `decision_api.listen` must
/// be set.
pub async fn serve_api(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let addr = cfg
        .decision_api
        .listen
        .context("decision_api.listen: required by toolgate api (or --listen)")?;
    let sidecar = Sidecar::load(cfg.clone(), clock::system_clock()).await?;
    let admin = TcpListener::bind(cfg.admin_listen)
        .await
        .map_err(|e| anyhow::anyhow!("admin_listen {}: {e}", cfg.admin_listen))?;
    let api = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("decision_api.listen {addr}: {e}"))?;
    sidecar.run_api(admin, api, shutdown).await
}
