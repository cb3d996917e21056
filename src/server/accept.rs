//! The accept loop the proxy and admin listeners share: a cap on open connections, and what
//! happens at the process's file-descriptor limit. Each listener keeps one descriptor in
//! reserve (`/dev/null`, opened at start): when `accept` fails with EMFILE or ENFILE it
//! frees the reserve, accepts the waiting client on it, and answers it (the proxy: a 503 and
//! close; the admin listener: served, so probes and scrapes still answer), then takes the
//! reserve back. Without a reserve to spend it backs off, so running out of descriptors is
//! never a busy loop and never a client left hanging in the backlog unanswered.

use crate::metrics::{ConnError, Metrics};
use std::fs::File;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long to wait after a failed `accept` (e.g. EMFILE with no reserve) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a listener does with a client accepted on its reserve descriptor.
pub(crate) enum AtFdLimit<'a> {
    /// Answer with `reply` (plain HTTP/1.1) and close; counted as `fd_exhausted`.
    Refuse {
        reply: &'static [u8],
        metrics: &'a Metrics,
    },
    /// Serve it as any other (it holds the reserve's descriptor until it closes).
    Serve,
}

/// The proxy's answer at the descriptor limit: the request is not read.
pub(crate) const FD_EXHAUSTED_REPLY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 115\r\n\r\n\
{\"error\":\"FD_EXHAUSTED\",\"message\":\"toolgate is out of file descriptors; the request was not read\",\"verdict\":\"DENY\"}";

/// Accepts connections until `shutdown` completes, handing each to `serve` with the slot it
/// holds (dropped when the connection is done). At the cap it stops accepting, and the
/// kernel's backlog holds new clients, until a connection frees its slot.
pub(crate) async fn accept_until<S>(
    listener: &TcpListener,
    slots: usize,
    mut shutdown: Pin<&mut S>,
    what: &'static str,
    at_limit: AtFdLimit<'_>,
    mut serve: impl FnMut(TcpStream, SocketAddr, OwnedSemaphorePermit),
) -> anyhow::Result<()>
where
    S: Future<Output = ()> + ?Sized,
{
    let slots = Arc::new(Semaphore::new(slots));
    let mut reserve = take_reserve();
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            p = slots.clone().acquire_owned() => p?,
        };
        if reserve.is_none() {
            reserve = take_reserve();
        }
        let (stream, addr) = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_fd_limit(&e) && reserve.is_some() => {
                    tracing::warn!(listener = what, error = %e, "out of file descriptors: answering from the reserve");
                    drop(reserve.take());
                    let Ok(Ok((stream, addr))) =
                        tokio::time::timeout(ACCEPT_BACKOFF, listener.accept()).await
                    else {
                        continue;
                    };
                    match &at_limit {
                        AtFdLimit::Refuse { reply, metrics } => {
                            metrics.connection_error(ConnError::FdExhausted);
                            // A fresh socket's send buffer takes the whole reply at once.
                            let _ = stream.try_write(reply);
                            drop(stream);
                            reserve = take_reserve();
                            continue;
                        }
                        AtFdLimit::Serve => (stream, addr),
                    }
                }
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

fn take_reserve() -> Option<File> {
    File::open("/dev/null").ok()
}

fn is_fd_limit(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Raises the soft limit on open files to the hard limit (as Go's runtime and nginx's
/// `worker_rlimit_nofile` do): every proxied request may hold a client and an upstream
/// socket. Returns the soft limit in force afterwards.
pub fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by reference.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    Some(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reply_is_one_whole_response() {
        let text = std::str::from_utf8(super::FD_EXHAUSTED_REPLY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), len);
        let _: serde_json::Value = serde_json::from_str(body).unwrap();
    }
}
