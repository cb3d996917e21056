//! One client connection, from accept to close: the TLS handshake and the first request
//! bytes under the header-read deadline, then HTTP/1.1 (behind the framing guard) or HTTP/2
//! (as negotiated by ALPN or announced by the h2 preface) with toolgate's limits and the
//! response write deadline, until the peer leaves or shutdown asks it to finish its
//! in-flight requests. A connection that ends with no request to answer is counted by
//! reason (`toolgate_connection_errors_total`).

use super::deadline::WriteDeadline;
use super::guard::Guard;
use super::refused::{GuardHooks, Slot};
use super::sniff::{sniff, Prefixed, Protocol};
use super::stall::{Progress, StallExecutor};
use crate::headers::Peer;
use crate::identity::ClientCert;
use crate::metrics::ConnError;
use crate::proxy::{self, Gate};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// HTTP/2 liveness pings: a peer that stops answering is disconnected.
const H2_KEEPALIVE: Duration = Duration::from_secs(20);

/// Per-connection limits, from `limits.*`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ConnLimits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_concurrent_streams: u32,
    pub response_write_timeout: Duration,
}

impl ConnLimits {
    /// hyper's own head limit sits above toolgate's, as a backstop: below it toolgate
    /// measures the head itself and answers with a tagged 431.
    fn backstop(self) -> usize {
        self.max_header_bytes.saturating_mul(2).max(16 * 1024)
    }
}

/// Serves one accepted connection to completion.
pub(super) async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    gate: Arc<Gate>,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let tls_used = tls.is_some();
    let peer = Peer::new(addr, tls_used);
    let opening = tokio::time::timeout(limits.header_read_timeout, async {
        match tls {
            None => {
                let mut stream = stream;
                let first = sniff(&mut stream).await?;
                Ok(first.map(|(proto, bytes)| Opened::Plain(proto, Prefixed::new(bytes, stream))))
            }
            Some(acceptor) => {
                let mut stream = acceptor.accept(stream).await?;
                let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                // Only present when rustls verified it against tls.client_ca.
                let client = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(ClientCert::from_der);
                let Some((proto, bytes)) = sniff(&mut stream).await? else {
                    return Ok(None);
                };
                // What was negotiated must be what is spoken.
                let agreed = match alpn.as_deref() {
                    Some(b"h2") => proto == Protocol::Http2,
                    Some(b"http/1.1") => proto == Protocol::Http1,
                    _ => true,
                };
                if !agreed {
                    return Err(std::io::Error::other(ALPN_MISMATCH));
                }
                Ok(Some(Opened::Tls(
                    proto,
                    Box::new(Prefixed::new(bytes, stream)),
                    client,
                )))
            }
        }
    });
    // Until the first request bytes arrive, shutdown simply drops the connection.
    let opened = tokio::select! {
        r = opening => r,
        () = stopping(&mut shutdown) => return,
    };
    let metrics = &gate.ops.metrics;
    match opened {
        Err(_elapsed) => {
            tracing::debug!(%addr, "connection closed: no request within header_read_timeout");
            metrics.connection_error(ConnError::HeaderTimeout);
        }
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "connection closed while opening");
            metrics.connection_error(opening_error(&e, tls_used));
        }
        Ok(Ok(None)) => {}
        Ok(Ok(Some(Opened::Plain(proto, io)))) => {
            serve_http(io, proto, peer, None, gate, limits, shutdown).await;
        }
        Ok(Ok(Some(Opened::Tls(proto, io, client)))) => {
            serve_http(io, proto, peer, client, gate, limits, shutdown).await;
        }
    }
}

/// Why a connection failed before its first request bytes.
fn opening_error(e: &std::io::Error, tls: bool) -> ConnError {
    if e.to_string() == ALPN_MISMATCH {
        ConnError::AlpnMismatch
    } else if tls {
        ConnError::TlsHandshake
    } else {
        ConnError::Io
    }
}

const ALPN_MISMATCH: &str = "protocol differs from ALPN";

/// Why a served connection ended with an error, if it is one to count. hyper's own
/// header-read timeout is a slow client while a head is under way (`mid_head`), and the
/// keep-alive idle limit otherwise; `TimedOut` from below is the write deadline; an HTTP/2
/// error that is not I/O is the peer breaking the protocol.
fn ended_error(e: &hyper::Error, proto: Protocol, mid_head: bool) -> Option<ConnError> {
    use std::error::Error as _;
    if e.is_timeout() {
        return mid_head.then_some(ConnError::HeaderTimeout);
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(match io.kind() {
                std::io::ErrorKind::TimedOut => ConnError::WriteTimeout,
                _ => ConnError::Io,
            });
        }
        source = s.source();
    }
    Some(match proto {
        Protocol::Http2 => ConnError::H2Protocol,
        Protocol::Http1 => ConnError::Io,
    })
}

enum Opened {
    Plain(Protocol, Prefixed<TcpStream>),
    Tls(
        Protocol,
        Box<Prefixed<tokio_rustls::server::TlsStream<TcpStream>>>,
        Option<ClientCert>,
    ),
}

async fn serve_http<I>(
    io: I,
    proto: Protocol,
    peer: Peer,
    client: Option<ClientCert>,
    gate: Arc<Gate>,
    limits: ConnLimits,
    shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let addr = peer.addr;
    let metrics = gate.ops.metrics.clone();
    let mid_head = Arc::new(AtomicBool::new(false));
    let slot = Slot::default();
    let hooks = GuardHooks {
        gate: gate.clone(),
        slot: slot.clone(),
        mid_head: mid_head.clone(),
    };
    let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let gate = gate.clone();
        // The verified client certificate reaches the request path as an extension: set
        // here, per connection, it is never something a request can carry in.
        if let Some(c) = &client {
            req.extensions_mut().insert(c.clone());
        }
        let peer = peer.clone();
        // The guard's stand-in for a head it refused (HTTP/1.1 only).
        let refused = slot.take(&req);
        async move {
            let resp = match refused {
                Some((why, head)) => proxy::refuse_unparsed(&gate, why, head),
                None => proxy::handle(&gate, peer, req).await,
            };
            Ok::<_, Infallible>(resp.map(Progress))
        }
    });
    let io = WriteDeadline::new(io, limits.response_write_timeout);
    let result = match proto {
        Protocol::Http1 => {
            // Every head is judged by the guard before hyper's parser sees it.
            let io = TokioIo::new(Guard::new(io, limits.backstop(), hooks));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                // Also bounds the idle time between keep-alive requests.
                .header_read_timeout(limits.header_read_timeout)
                .max_header_size(limits.backstop())
                .serve_connection(io, service);
            drive(conn, |c| c.graceful_shutdown(), shutdown).await
        }
        Protocol::Http2 => {
            let io = TokioIo::new(io);
            let exec = StallExecutor {
                timeout: limits.response_write_timeout,
                metrics: metrics.clone(),
            };
            let conn = http2::Builder::new(exec)
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(limits.backstop()).unwrap_or(u32::MAX))
                .max_concurrent_streams(limits.max_concurrent_streams)
                .keep_alive_interval(H2_KEEPALIVE)
                .keep_alive_timeout(H2_KEEPALIVE)
                .serve_connection(io, service);
            drive(conn, |c| c.graceful_shutdown(), shutdown).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%addr, error = %e, "connection ended with an error");
        if let Some(why) = ended_error(&e, proto, mid_head.load(Ordering::Relaxed)) {
            metrics.connection_error(why);
        }
    }
}

/// Runs a connection; when shutdown starts, asks it to finish in-flight requests and stop
/// taking new ones (HTTP/1.1: close after the current response; HTTP/2: GOAWAY).
async fn drive<C, G>(
    conn: C,
    graceful: G,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    C: Future<Output = Result<(), hyper::Error>>,
    G: FnOnce(Pin<&mut C>),
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        () = stopping(&mut shutdown) => {
            graceful(conn.as_mut());
            conn.await
        }
    }
}

/// Completes when shutdown starts (or the server is gone).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across the caller's awaits.
    let _ = shutdown.wait_for(|s| *s).await.map(|_| ());
}
