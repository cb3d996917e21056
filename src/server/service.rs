//! The operator-facing listeners that are not the proxy (the decision API, the review
//! inbox): one hyper service per connection, plain or TLS (the client certificate rustls
//! verified handed to the service), a connection cap, the same head deadline as the proxy,
//! and a bounded grace for open connections at shutdown.

use super::{accept_until, AtFdLimit};
use crate::identity::ClientCert;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long open connections may finish after shutdown.
const GRACE: Duration = Duration::from_secs(5);

/// How one such listener is served.
pub struct Endpoint {
    /// For logs and the accept loop's counts, e.g. `decision_api`.
    pub name: &'static str,
    pub max_connections: usize,
    /// A request head (and a TLS handshake) must arrive within this.
    pub header_read_timeout: Duration,
}

/// Serves `handle` on `listener` until `shutdown` completes, then lets open connections
/// finish for a short grace.
pub async fn serve<H, F>(
    endpoint: Endpoint,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    handle: H,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>, Option<Arc<ClientCert>>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let name = endpoint.name;
    tracing::info!(local = %listener.local_addr()?, tls = tls.is_some(), "{name} listening");
    // Owned here; each connection gets a watcher, so shutdown reaches every open one.
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(endpoint.header_read_timeout);
    let builder = Arc::new(builder);
    let handshake = endpoint.header_read_timeout;
    let shutdown = std::pin::pin!(shutdown);
    accept_until(
        &listener,
        endpoint.max_connections,
        shutdown,
        name,
        AtFdLimit::Serve,
        |stream, addr, permit| {
            let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = |cert: Option<Arc<ClientCert>>| {
                    service_fn(move |req| {
                        let answer = handle(req, cert.clone());
                        async move { Ok::<_, Infallible>(answer.await) }
                    })
                };
                let ended = match tls {
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(stream), service(None));
                        watcher.watch(conn.into_owned()).await
                    }
                    Some(tls) => match tokio::time::timeout(handshake, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let cert = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|der| Arc::new(ClientCert::from_der(der)));
                            let conn =
                                builder.serve_connection(TokioIo::new(stream), service(cert));
                            watcher.watch(conn.into_owned()).await
                        }
                        _ => Ok(()),
                    },
                };
                if let Err(e) = ended {
                    tracing::debug!(%addr, error = %e, "{name} connection ended with an error");
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
        tracing::warn!("{name} connections still open after the grace period");
    }
    Ok(())
}
