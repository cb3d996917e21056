//! The accept loop the proxy and admin listeners share: a cap on open connections, and a
//! backoff when `accept` fails, so running out of descriptors never becomes a busy loop.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long to wait after a failed `accept` (e.g. EMFILE) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until `shutdown` completes, handing each to `serve` with the slot it
/// holds (dropped when the connection is done). At the cap it stops accepting, and the
/// kernel's backlog holds new clients, until a connection frees its slot.
pub(crate) async fn accept_until<S>(
    listener: &TcpListener,
    slots: usize,
    mut shutdown: Pin<&mut S>,
    what: &'static str,
    mut serve: impl FnMut(TcpStream, SocketAddr, OwnedSemaphorePermit),
) -> anyhow::Result<()>
where
    S: Future<Output = ()> + ?Sized,
{
    let slots = Arc::new(Semaphore::new(slots));
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            p = slots.clone().acquire_owned() => p?,
        };
        let (stream, addr) = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(listener = what, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        serve(stream, addr, permit);
    }
}
