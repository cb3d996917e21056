//! The last stage: send an ALLOWed request to the one upstream and hand back its response.
//! One pooled keep-alive HTTP/1.1 client; connect and response-head timeouts from the
//! config; every failure typed as an [`Error`] (the proxy answers connect -> 502, timeout ->
//! 504, anything else before a response head -> 502, over the fan-out bound -> 503).
//!
//! Fan-out is bounded: each exchange holds one of `upstream.max_concurrent_requests` slots
//! from before it is sent until its response body ends (every HTTP/2 stream of a client
//! takes its own HTTP/1.1 upstream connection, so without it one client connection could
//! open hundreds of upstream sockets). A request over the bound is refused with 503 at once,
//! never queued to be sent later; at most `upstream.max_idle_connections` stay pooled.
//!
//! Nothing is re-sent once it may have reached the upstream. hyper's client re-queues a
//! request only when a pooled connection closed before a single byte of that request was
//! written (it hands the request back unsent), which is not a retry of the operation.

use crate::body::{BoxError, ProxyBody};
use crate::config;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::error::Error as _;
use std::sync::Arc;
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
    client: Client<HttpConnector, ProxyBody>,
    scheme: Scheme,
    authority: Authority,
    response_timeout: Duration,
    /// One permit per exchange under way.
    slots: Arc<Semaphore>,
    max_concurrent: usize,
}

impl Upstream {
    /// Builds the client for a validated upstream config.
    pub fn new(cfg: &config::Upstream) -> anyhow::Result<Upstream> {
        let uri: Uri = cfg.url.parse()?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            anyhow::bail!("upstream.url {:?} has no scheme or host", cfg.url);
        };
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(cfg.connect_timeout.get()));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            // Shorter than common upstream keep-alive timeouts, so a pooled connection is
            // rarely one the upstream is about to close.
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(cfg.max_idle_connections)
            .build(connector);
        Ok(Upstream {
            client,
            scheme,
            authority,
            response_timeout: cfg.response_timeout.get(),
            slots: Arc::new(Semaphore::new(cfg.max_concurrent_requests)),
            max_concurrent: cfg.max_concurrent_requests,
        })
    }

    /// The upstream URI for a normalized path and the raw query. `received` is the
    /// request's own path and query: when normalizing left it as it was (the common case),
    /// it is reused as is, neither copied nor parsed again.
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
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|e| Error::Target(e.to_string()))
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
    /// for the response head. The body then streams without a deadline of its own, and
    /// keeps the slot until it ends.
    pub async fn send(
        &self,
        req: Request<ProxyBody>,
        slot: OwnedSemaphorePermit,
    ) -> Result<Response<ProxyBody>, Error> {
        match tokio::time::timeout(self.response_timeout, self.client.request(req)).await {
            Err(_elapsed) => Err(Error::Timeout("response")),
            Ok(Ok(resp)) => Ok(resp.map(|body| response_body(body, slot))),
            Ok(Err(e)) if timed_out(&e) => Err(Error::Timeout("connect")),
            Ok(Err(e)) if e.is_connect() => Err(Error::Connect(chain(&e))),
            Ok(Err(e)) => Err(Error::BadResponse(chain(&e))),
        }
    }
}

/// Whether an I/O timeout (the connector's connect timeout) is behind the error.
fn timed_out(e: &hyper_util::client::legacy::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        source = s.source();
    }
    false
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

/// Maps an upstream response body into the proxy body type, keeping its errors and the
/// exchange's slot (released when the body is dropped).
fn response_body(body: Incoming, slot: OwnedSemaphorePermit) -> ProxyBody {
    use http_body_util::BodyExt;
    body.map_err(move |e| -> BoxError {
        let _held = &slot;
        Box::new(e)
    })
    .boxed_unsync()
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
        let up = Upstream::new(&cfg).unwrap();
        let pq = |s: &str| PathAndQuery::try_from(s).unwrap();
        let cases: [(&str, &str, Option<&str>, &str); 5] = [
            (
                "/a/b?x=1",
                "/a/b",
                Some("x=1"),
                "http://127.0.0.1:9/a/b?x=1",
            ),
            ("/a/b", "/a/b", None, "http://127.0.0.1:9/a/b"),
            ("/a/./b", "/a/b", None, "http://127.0.0.1:9/a/b"),
            ("/a//b?x", "/a/b", Some("x"), "http://127.0.0.1:9/a/b?x"),
            ("/a/b?", "/a/b", Some(""), "http://127.0.0.1:9/a/b?"),
        ];
        for (received, path, query, want) in cases {
            let got = up.uri_for(Some(&pq(received)), path, query).unwrap();
            assert_eq!(got.to_string(), want, "{received}");
            let fresh = up.uri_for(None, path, query).unwrap();
            assert_eq!(fresh, got, "{received}");
        }
    }
}
