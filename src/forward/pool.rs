//! The upstream's keep-alive connections: HTTP/1.1 connections made with hyper's
//! connection-level client, each driven by a task of its own, and reused one exchange at a
//! time. An exchange checks a ready connection out of the idle list (or opens one), holds it
//! until its response body ends, then gives it back; at most `upstream.max_idle_connections`
//! wait idle, each for at most [`IDLE_TIMEOUT`].
//!
//! Every connection carries a ticket: the permit that accounts for it, an exchange slot
//! while it is in use, an idle permit while it waits. The connection's task keeps its ticket
//! until the socket is closed, so a connection being closed still counts against the bound
//! it was taken under: the sockets open toward the upstream are never more than
//! `upstream.max_concurrent_requests + upstream.max_idle_connections`.

use crate::body::ProxyBody;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use prometheus::IntGauge;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shorter than common upstream keep-alive timeouts, so a pooled connection is rarely one
/// the upstream is about to close.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why no connection could be had.
#[derive(Debug)]
pub enum ConnectError {
    /// Refused, unreachable, or the handshake failed.
    Failed(String),
    /// Not connected within `upstream.connect_timeout`.
    TimedOut,
}

/// The permit a connection is accounted under; held by its task until the socket closes.
type Ticket = Arc<Mutex<Option<OwnedSemaphorePermit>>>;

/// One connection to the upstream, ready for (or busy with) one exchange.
pub struct Conn {
    pub sender: SendRequest<ProxyBody>,
    ticket: Ticket,
}

/// The idle connections to one upstream address.
pub struct Pool {
    authority: String,
    connect_timeout: Duration,
    idle_permits: Arc<Semaphore>,
    idle: Mutex<Vec<(Conn, Instant)>>,
    /// `toolgate_upstream_connections`: sockets open now.
    open: IntGauge,
}

impl Pool {
    pub fn new(
        authority: String,
        connect_timeout: Duration,
        max_idle: usize,
        open: IntGauge,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            authority,
            connect_timeout,
            idle_permits: Arc::new(Semaphore::new(max_idle)),
            idle: Mutex::new(Vec::with_capacity(max_idle)),
            open,
        })
    }

    /// A connection ready for one request, accounted under `slot`: the most recently used
    /// idle one that is still open and fresh, else a new one.
    pub async fn checkout(&self, slot: OwnedSemaphorePermit) -> Result<Conn, ConnectError> {
        loop {
            let popped = self.lock().pop();
            let Some((mut conn, since)) = popped else {
                break;
            };
            if conn.sender.is_closed() || since.elapsed() > IDLE_TIMEOUT {
                continue;
            }
            // Given back as soon as the body ended: the connection task may still be
            // finishing the message. A healthy connection is ready at once.
            if conn.sender.ready().await.is_ok() {
                // From idle to in use: the slot accounts for it now.
                *lock(&conn.ticket) = Some(slot);
                return Ok(conn);
            }
        }
        self.connect(slot).await
    }

    /// A new connection accounted under `slot`, its task spawned.
    pub async fn connect(&self, slot: OwnedSemaphorePermit) -> Result<Conn, ConnectError> {
        let open = async {
            let tcp = TcpStream::connect(&self.authority).await?;
            let _ = tcp.set_nodelay(true);
            Ok::<_, std::io::Error>(tcp)
        };
        let tcp = match tokio::time::timeout(self.connect_timeout, open).await {
            Err(_elapsed) => return Err(ConnectError::TimedOut),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(ConnectError::TimedOut)
            }
            Ok(Err(e)) => {
                return Err(ConnectError::Failed(format!(
                    "connect to {}: {e}",
                    self.authority
                )))
            }
            Ok(Ok(tcp)) => tcp,
        };
        let ticket: Ticket = Arc::new(Mutex::new(Some(slot)));
        let held = ticket.clone();
        let open = self.open.clone();
        open.inc();
        let (sender, conn) = match http1::Builder::new().handshake(TokioIo::new(tcp)).await {
            Ok(pair) => pair,
            Err(e) => {
                open.dec();
                return Err(ConnectError::Failed(format!("handshake: {e}")));
            }
        };
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
            // The socket is closed: its permit may go.
            open.dec();
            drop(held);
        });
        Ok(Conn { sender, ticket })
    }

    /// Takes a connection back after a complete exchange, under an idle permit; closed
    /// (its slot held until it is) when the idle list is full or it is not reusable.
    pub fn give_back(&self, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let Ok(idle) = self.idle_permits.clone().try_acquire_owned() else {
            return;
        };
        *lock(&conn.ticket) = Some(idle);
        self.lock().push((conn, Instant::now()));
    }

    /// Idle connections right now.
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Conn, Instant)>> {
        lock(&self.idle)
    }
}

/// The critical sections only move values in and out: a panic inside one cannot leave the
/// data inconsistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
