//! The admin listener: health, readiness, metrics, bundle status and reload, `/v1/check`,
//! and the recent decisions, on their own address (by default 127.0.0.1, and never the
//! proxy's), so the endpoints that describe or change the sidecar are not reachable through
//! the port agents use.
//!
//! Like the proxy server it takes an already-bound listener and a shutdown future. It keeps
//! serving while the proxy drains (readiness then says 503), and stops last.

mod routes;

use crate::clock::Clock;
use crate::headers::RequestIds;
use crate::ops::Ops;
use crate::reload::Reloader;
use crate::server::{accept_until, AtFdLimit};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Admin connections at once: probes and scrapes need few; more wait in the backlog.
const MAX_CONNECTIONS: usize = 64;
/// A request head must arrive within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open admin connections may finish after shutdown.
const GRACE: Duration = Duration::from_secs(5);

/// Everything the admin endpoints read or act on.
pub struct Admin {
    pub live: Reloader,
    pub candidate: Option<Reloader>,
    pub ops: Arc<Ops>,
    /// The clock `/v1/check` evaluates at: the proxy's.
    pub clock: Clock,
    /// Set when the proxy starts draining: `/readyz` answers 503 from then on.
    pub draining: Arc<AtomicBool>,
    pub ids: RequestIds,
    /// `limits.max_body_bytes`, for `/v1/check` payloads.
    pub max_body_bytes: u64,
    /// `limits.body_read_timeout`, for `/v1/check` payloads.
    pub body_read_timeout: Duration,
}

impl Admin {
    /// Serves the admin endpoints until `shutdown` completes, then lets open requests finish
    /// (for a short grace period).
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tracing::info!(local = %listener.local_addr()?, "admin listening");
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let shutdown = std::pin::pin!(shutdown);
        accept_until(
            &listener,
            MAX_CONNECTIONS,
            shutdown,
            "admin",
            AtFdLimit::Serve,
            |stream, addr, permit| {
                let admin = self.clone();
                let service = service_fn(move |req| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(routes::route(&admin, req).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%addr, error = %e, "admin connection ended with an error");
                    }
                    drop(permit);
                });
            },
        )
        .await?;
        drop(listener);
        if tokio::time::timeout(GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("admin connections still open after the grace period");
        }
        Ok(())
    }
}
