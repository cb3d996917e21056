//! The proxy listener: accept loop, connection cap, TLS, and graceful shutdown. Servers
//! take an already-bound `TcpListener` and a shutdown future, so tests bind port 0 and
//! `main` owns signal handling.
//!
//! Shutdown: the listener is dropped at once (new connections are refused by the kernel),
//! [`Server::draining`] turns true for readiness probes, every open connection is asked to
//! finish what is in flight, and whatever still runs after `shutdown_grace` is cut off.
//! The application module wraps the proxy with hot reload, the admin listener and the audit
//! trail.

mod accept;
pub use accept::raise_fd_limit;
pub(crate) use accept::{accept_until, AtFdLimit};
mod conn;
mod deadline;
mod guard;
mod refused;
pub(crate) mod service;
mod sniff;
mod stall;
pub mod tls;

use crate::clock::Clock;
use crate::config::Config;
use crate::ops::Ops;
use crate::proxy::Gate;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use conn::ConnLimits;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// A configured proxy server, ready to run on a listener.
pub struct Server {
    gate: Arc<Gate>,
    tls: Option<TlsAcceptor>,
    limits: ConnLimits,
    max_connections: usize,
    grace: Duration,
    draining: Arc<AtomicBool>,
}

impl Server {
    /// Builds the server for a validated config and a loaded snapshot, with detached
    /// operations (a private metrics registry; audit records kept only in memory).
    pub fn new(
        cfg: &Config,
        snapshot: Arc<ArcSwap<Snapshot>>,
        clock: Clock,
    ) -> anyhow::Result<Server> {
        Server::with_ops(cfg, snapshot, clock, Arc::new(Ops::detached()?))
    }

    /// Builds the server with the sidecar's metrics, audit sink and candidate bundle.
    pub fn with_ops(
        cfg: &Config,
        snapshot: Arc<ArcSwap<Snapshot>>,
        clock: Clock,
        ops: Arc<Ops>,
    ) -> anyhow::Result<Server> {
        let tls = match &cfg.tls {
            Some(t) => Some(tls::acceptor(&t.cert, &t.key, t.client_ca.as_deref())?),
            None => None,
        };
        Ok(Server {
            gate: Arc::new(Gate::with_ops(cfg, snapshot, clock, ops)?),
            tls,
            limits: ConnLimits {
                header_read_timeout: cfg.limits.header_read_timeout.get(),
                max_header_bytes: cfg.limits.max_header_bytes,
                max_concurrent_streams: cfg.limits.max_concurrent_streams,
                response_write_timeout: cfg.limits.response_write_timeout.get(),
            },
            max_connections: cfg.limits.max_connections,
            grace: cfg.shutdown_grace.get(),
            draining: Arc::new(AtomicBool::new(false)),
        })
    }

    /// True once shutdown has started: the readiness probe should fail from then on.
    pub fn draining(&self) -> Arc<AtomicBool> {
        self.draining.clone()
    }

    /// Accepts and serves connections until `shutdown` completes, then drains.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let local = listener.local_addr()?;
        tracing::info!(%local, tls = self.tls.is_some(), "proxy listening");
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut conns = JoinSet::new();
        let shutdown = std::pin::pin!(shutdown);
        accept_until(
            &listener,
            self.max_connections,
            shutdown,
            "proxy",
            // A TLS client cannot read a plain-text reply: it is only closed.
            match self.tls {
                None => AtFdLimit::Refuse {
                    reply: accept::FD_EXHAUSTED_REPLY,
                    metrics: &self.gate.ops.metrics,
                },
                Some(_) => AtFdLimit::Refuse {
                    reply: b"",
                    metrics: &self.gate.ops.metrics,
                },
            },
            |stream, addr, permit| {
                while conns.try_join_next().is_some() {}
                let (gate, tls, limits, stop) = (
                    self.gate.clone(),
                    self.tls.clone(),
                    self.limits,
                    stop_rx.clone(),
                );
                conns.spawn(async move {
                    conn::serve(stream, addr, tls, gate, limits, stop).await;
                    drop(permit);
                });
            },
        )
        .await?;

        self.draining.store(true, Ordering::SeqCst);
        drop(listener);
        let _ = stop_tx.send(true);
        tracing::info!(open = conns.len(), grace = ?self.grace, "shutting down: draining connections");
        let drained = tokio::time::timeout(self.grace, async {
            while conns.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                open = conns.len(),
                "shutdown grace period over: closing connections"
            );
            conns.shutdown().await;
        }
        Ok(())
    }
}
