//! The last stage: send an ALLOWed request to the one upstream and hand back its response.
//! Keep-alive HTTP/1.1 connections from [`pool`]; connect and response-head timeouts from
//! the config; every failure typed as an [`Error`] (the proxy answers connect -> 502, timeout ->
//! 504, anything else before a response head -> 502, over the fan-out bound -> 503).
//!
//! Fan-out is bounded: each exchange holds one of `upstream.max_concurrent_requests` slots,
//! and one connection, from before it is sent until its response body ends (every HTTP/2
//! stream of a client takes its own HTTP/1.1 upstream connection, so without it one client
//! connection could open hundreds of upstream sockets). A request over the bound is refused
//! with 503 at once, never queued to be sent later; at most `upstream.max_idle_connections`
//! stay pooled. Upstream sockets are therefore never more than the two bounds together.
//!
//! Nothing is re-sent once it may have reached the upstream: a request is sent again (once,
//! on a new connection) only when hyper hands it back unsent because a pooled connection
//! closed before a single byte of it was written, which is not a retry of the operation.

pub mod pool;

use crate::body::{BoxError, ProxyBody};
use crate::config;
use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{header, HeaderValue, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use pool::{Conn, ConnectError, Pool};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why an ALLOWed request got no response head from the upstream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request target could not be rebuilt for the upstream.
    #[error("request target: {0}")]
    Target(String),
    /// The upstream refused or failed the connection.
    #[error("{0}")]
    Connect(String),
    /// The connection or the response head did not come in time (`"connect"`,
    /// `"response"`).
    #[error("upstream {0} timed out")]
    Timeout(&'static str),
    /// The upstream's answer was not valid HTTP.
    #[error("{0}")]
    BadResponse(String),
    /// `upstream.max_concurrent_requests` exchanges were under way: not sent.
    #[error("{limit} requests to the upstream are already under way")]
    Overloaded { limit: usize },
}

/// The upstream client, shared by every request.
pub struct Upstream {
    pool: Arc<Pool>,
    /// `Host` for a request that came without one (HTTP/1.0).
    host: HeaderValue,
    response_timeout: Duration,
    /// One permit per exchange under way.
    slots: Arc<Semaphore>,
    max_concurrent: usize,
}

impl Upstream {
    /// Builds the client for a validated upstream config; `open` counts its sockets.
    pub fn new(cfg: &config::Upstream, open: prometheus::IntGauge) -> anyhow::Result<Upstream> {
        let uri: Uri = cfg.url.parse()?;
        let Some(authority) = uri.authority().cloned() else {
            anyhow::bail!("upstream.url {:?} has no host", cfg.url);
        };
        let port = authority.port_u16().unwrap_or(80);
        let target = format!("{}:{port}", authority.host());
        Ok(Upstream {
            pool: Pool::new(
                target,
                cfg.connect_timeout.get(),
                cfg.max_idle_connections,
                open,
            ),
            host: HeaderValue::from_str(authority.as_str())?,
            response_timeout: cfg.response_timeout.get(),
            slots: Arc::new(Semaphore::new(cfg.max_concurrent_requests)),
            max_concurrent: cfg.max_concurrent_requests,
        })
    }

    /// Idle connections to the upstream right now.
    pub fn idle_connections(&self) -> usize {
        self.pool.idle()
    }

    /// The request target for a normalized path and the raw query, in origin form.
    /// `received` is the request's own path and query: when normalizing left it as it was
    /// (the common case), it is reused as is, neither copied nor parsed again.
    pub fn uri_for(
        &self,
        received: Option<&PathAndQuery>,
        path: &str,
        query: Option<&str>,
    ) -> Result<Uri, Error> {
        let same = received.filter(|pq| {
            let text = pq.as_str();
            match query {
                None => text == path,
                Some(q) => {
                    text.len() == path.len() + 1 + q.len()
                        && text.starts_with(path)
                        && text.as_bytes()[path.len()] == b'?'
                        && text.ends_with(q)
                }
            }
        });
        let pq = match (same, query) {
            (Some(pq), _) => Ok(pq.clone()),
            (None, Some(q)) => PathAndQuery::try_from(format!("{path}?{q}")),
            (None, None) => PathAndQuery::try_from(path),
        };
        let pq = pq.map_err(|e| Error::Target(e.to_string()))?;
        Ok(Uri::from(pq))
    }

    /// Takes a slot for one exchange, or refuses it: the bound is never waited on.
    pub fn slot(&self) -> Result<OwnedSemaphorePermit, Error> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Overloaded {
                limit: self.max_concurrent,
            })
    }

    /// Sends the request in the exchange `slot` holds; waits at most the response timeout
    /// for the response head (connecting included). The body then streams without a
    /// deadline of its own, and keeps the slot and the connection until it ends.
    pub async fn send(
        &self,
        mut req: Request<ProxyBody>,
        slot: OwnedSemaphorePermit,
    ) -> Result<Response<ProxyBody>, Error> {
        if !req.headers().contains_key(header::HOST) {
            req.headers_mut().insert(header::HOST, self.host.clone());
        }
        let slots = &self.slots;
        let exchange =
            async {
                let mut conn = self.pool.checkout(slot).await.map_err(connect_error)?;
                match conn.sender.try_send_request(req).await {
                    Ok(resp) => Ok((resp, conn)),
                    Err(mut e) => match e.take_message() {
                        // The pooled connection closed before a byte of the request was written:
                        // a fresh one, under a slot of its own (the closing one keeps its own).
                        Some(req) => {
                            drop(conn);
                            let slot = slots.clone().try_acquire_owned().map_err(|_| {
                                Error::Overloaded {
                                    limit: self.max_concurrent,
                                }
                            })?;
                            let mut fresh = self.pool.connect(slot).await.map_err(connect_error)?;
                            let resp = fresh
                                .sender
                                .try_send_request(req)
                                .await
                                .map_err(|e| Error::BadResponse(chain(e.error())))?;
                            Ok((resp, fresh))
                        }
                        None => Err(Error::BadResponse(chain(e.error()))),
                    },
                }
            };
        match tokio::time::timeout(self.response_timeout, exchange).await {
            Err(_elapsed) => Err(Error::Timeout("response")),
            Ok(Err(e)) => Err(e),
            Ok(Ok((resp, conn))) => Ok(resp.map(|body| {
                Exchange {
                    body,
                    conn: Some(conn),
                    pool: self.pool.clone(),
                }
                .boxed_unsync()
            })),
        }
    }
}

fn connect_error(e: ConnectError) -> Error {
    match e {
        ConnectError::TimedOut => Error::Timeout("connect"),
        ConnectError::Failed(why) => Error::Connect(why),
    }
}

/// The error and its causes on one line, for the 502 body and the log.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// An upstream response body, holding its exchange's connection (and through it the
/// exchange's slot): the connection goes back to the pool when the body has ended, and is
/// closed if it broke off or was abandoned.
struct Exchange {
    body: Incoming,
    conn: Option<Conn>,
    pool: Arc<Pool>,
}

impl Body for Exchange {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
            None => {
                if let Some(conn) = this.conn.take() {
                    this.pool.give_back(conn);
                }
                Poll::Ready(None)
            }
            Some(Err(e)) => {
                this.conn = None;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Some(Ok(frame)) => Poll::Ready(Some(Ok(frame))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        // hyper may drop a body it has read to its declared end without polling past it.
        if self.body.is_end_stream() {
            if let Some(conn) = self.conn.take() {
                self.pool.give_back(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_received_target_is_reused_only_when_it_is_what_was_matched() {
        let cfg = config::Upstream {
            url: "http://127.0.0.1:9".into(),
            ..config::Upstream::default()
        };
        let up = Upstream::new(&cfg, prometheus::IntGauge::new("t", "t").unwrap()).unwrap();
        let pq = |s: &str| PathAndQuery::try_from(s).unwrap();
        let cases: [(&str, &str, Option<&str>, &str); 5] = [
            ("/a/b?x=1", "/a/b", Some("x=1"), "/a/b?x=1"),
            ("/a/b", "/a/b", None, "/a/b"),
            ("/a/./b", "/a/b", None, "/a/b"),
            ("/a//b?x", "/a/b", Some("x"), "/a/b?x"),
            ("/a/b?", "/a/b", Some(""), "/a/b?"),
        ];
        for (received, path, query, want) in cases {
            let got = up.uri_for(Some(&pq(received)), path, query).unwrap();
            assert_eq!(got.to_string(), want, "{received}");
            let fresh = up.uri_for(None, path, query).unwrap();
            assert_eq!(fresh, got, "{received}");
        }
    }
}
