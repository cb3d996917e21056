//! The response write deadline for HTTP/2 streams. A client that keeps reading its
//! connection but grants a stream no flow-control window stalls that stream without ever
//! blocking a socket write, so the connection-level deadline ([`super::deadline`]) cannot
//! see it. hyper runs each stream as a task spawned through the executor it is given; this
//! executor wraps each such task, and the response body wrapper ([`Progress`]) tells it,
//! through a task-local, whether the stream waits on the client (a chunk handed over, the
//! next not yet asked for) or on the upstream. A stream that waits on the client for
//! `limits.response_write_timeout` is dropped: hyper resets it and the upstream exchange it
//! held is released. A stream waiting on a slow upstream is never timed here.

use crate::metrics::{ConnError, Metrics};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

tokio::task_local! {
    /// The stream task being polled: its response body's polls so far (shifted left one)
    /// and, in the low bit, whether the last one handed over a frame (so the stream now
    /// waits on the client to take it).
    static STREAM: Arc<AtomicU64>;
}

/// Spawns hyper's HTTP/2 stream tasks with the stall deadline.
#[derive(Clone)]
pub struct StallExecutor {
    pub timeout: Duration,
    pub metrics: Metrics,
}

impl<F> hyper::rt::Executor<F> for StallExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(Watched {
            fut: Box::pin(fut),
            timeout: self.timeout,
            state: Arc::new(AtomicU64::new(0)),
            polls: 0,
            stalled: None,
            metrics: self.metrics.clone(),
        });
    }
}

/// A stream task that is dropped once it has waited on the client too long.
struct Watched<F> {
    fut: Pin<Box<F>>,
    timeout: Duration,
    state: Arc<AtomicU64>,
    /// The body polls seen at the last check: a new one is progress.
    polls: u64,
    /// Armed while the stream waits on the client; disarmed by progress.
    stalled: Option<Pin<Box<Sleep>>>,
    metrics: Metrics,
}

impl<F: Future> Future for Watched<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let state = this.state.clone();
        if STREAM
            .sync_scope(state, || this.fut.as_mut().poll(cx))
            .is_ready()
        {
            return Poll::Ready(());
        }
        let now = this.state.load(Ordering::Relaxed);
        if now >> 1 != this.polls {
            this.polls = now >> 1;
            this.stalled = None;
        }
        if now & 1 == 0 {
            // Waiting on the upstream (or not answering yet): not the client's doing.
            this.stalled = None;
            return Poll::Pending;
        }
        let timeout = this.timeout;
        let sleep = this
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                this.metrics.connection_error(ConnError::WriteTimeout);
                tracing::debug!("HTTP/2 stream made no progress within response_write_timeout");
                // Dropping the task resets the stream and releases its upstream exchange.
                Poll::Ready(())
            }
        }
    }
}

/// A response body that reports its polls to [`StallExecutor`]. Outside a stream task
/// (HTTP/1.1, where the socket write itself is timed) it only passes frames through.
pub struct Progress<B>(pub B);

impl<B: Body<Data = Bytes> + Unpin> Body for Progress<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.0).poll_frame(cx);
        let handed = u64::from(matches!(&polled, Poll::Ready(Some(Ok(_)))));
        let _ = STREAM.try_with(|s| {
            let polls = (s.load(Ordering::Relaxed) >> 1) + 1;
            s.store(polls << 1 | handed, Ordering::Relaxed);
        });
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}
