//! The request path: one orchestrator, [`handle`], that reads top to bottom through the
//! stages, each in its own module: classify (`crate::classify`: the head, then the route
//! table) -> intake (`intake`: what of the body is read) -> decide (`crate::decide`:
//! extract, verify, authorize) -> claim and count in the state store -> forward
//! (`crate::forward`). Every way out other than the upstream's response is a
//! [`refusal::Refusal`], rendered in one place. Only an ALLOW reaches `forward`. Each stage
//! reports what it learned to the request's `trail` (audit record and metrics).

pub mod intake;
pub mod refusal;
mod review;
mod rpc;
mod stage;
mod trail;
pub mod unparsed;

pub use unparsed::refuse_unparsed;

use crate::body::{self, BoxError, ProxyBody};
use crate::classify::target;
use crate::clock::Clock;
use crate::config::Config;
use crate::decide::{self, Head};
use crate::forward::Upstream;
use crate::headers::{self, Peer, RequestIds, Tags};
use crate::identity::ClientCert;
use crate::ops::Ops;
use crate::policy::Verdict;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use intake::RequestBody;
use jiff::Timestamp;
use refusal::{Refusal, RenderCx};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use trail::Trail;

/// Everything the request path shares: the hot snapshot, the upstream client, the clock,
/// and the operations (metrics, audit, the state store).
pub struct Gate {
    /// The loaded bundle; a reloader swaps it, each request loads it once.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub upstream: Upstream,
    pub clock: Clock,
    pub ids: RequestIds,
    /// `limits.max_header_bytes`.
    pub max_header_bytes: usize,
    /// `limits.max_body_bytes`.
    pub max_body_bytes: u64,
    /// `limits.body_read_timeout`.
    pub body_read_timeout: std::time::Duration,
    /// Metrics, the audit sink, the candidate bundle.
    pub ops: Arc<Ops>,
    /// The review inbox's base URL (`review.url`), for the links in 409s.
    pub review_url: Option<Arc<str>>,
}

impl Gate {
    /// A gate with detached operations (a private registry, no audit output).
    pub fn new(
        cfg: &Config,
        snapshot: Arc<ArcSwap<Snapshot>>,
        clock: Clock,
    ) -> anyhow::Result<Gate> {
        Gate::with_ops(cfg, snapshot, clock, Arc::new(Ops::detached()?))
    }

    pub fn with_ops(
        cfg: &Config,
        snapshot: Arc<ArcSwap<Snapshot>>,
        clock: Clock,
        ops: Arc<Ops>,
    ) -> anyhow::Result<Gate> {
        Ok(Gate {
            snapshot,
            upstream: Upstream::new(&cfg.upstream, ops.metrics.upstream_connections())?,
            clock,
            ids: RequestIds::default(),
            max_header_bytes: cfg.limits.max_header_bytes,
            max_body_bytes: cfg.limits.max_body_bytes,
            body_read_timeout: cfg.limits.body_read_timeout.get(),
            ops,
            review_url: cfg.review.url.as_deref().map(Arc::from),
        })
    }
}

/// Handles one request from a client at `peer`; never fails: every outcome is a response
/// tagged with `x-request-id`, `x-toolgate-verdict` and `x-toolgate-policy-version`, and
/// one audit record.
pub async fn handle<B>(gate: &Gate, peer: Peer, req: Request<B>) -> Response<ProxyBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let request_id = gate.ids.take_or_mint(req.headers());
    // The one snapshot load: every stage of this request sees the same bundle version.
    let snapshot = gate.snapshot.load_full();
    // The tag values, built once: the forwarded request and the response share them.
    let tags = Tags::new(&request_id, &snapshot.meta.policy_version_header);
    let now = (gate.clock)();
    let method = req.method().clone();
    // Shares the request's bytes (no copy): for the record and the debug log.
    let uri = req.uri().clone();
    let mut trail = Trail::start(
        &gate.ops,
        &snapshot,
        now,
        &request_id,
        &method,
        req.headers(),
        uri.path(),
    );
    // A panic is a bug; it must still end as a refusal, not a dropped connection.
    // Boxed: the stages' future embeds the upstream client's (large), which would
    // otherwise be copied with every move of the service future.
    let run = run(
        gate,
        &snapshot,
        peer,
        (&request_id, &tags),
        now,
        &mut trail,
        req,
    );
    let outcome = CatchUnwind(Box::pin(run))
        .await
        .unwrap_or(Err(Refusal::Internal));
    let (mut resp, verdict) = match outcome {
        Ok(forwarded) => forwarded,
        Err(refusal) => {
            let malformed = if let Refusal::McpMalformed(m) = &refusal {
                Some(m.clone())
            } else {
                None
            };
            let cx = RenderCx {
                request_id: &request_id,
                policy_version: &snapshot.meta.policy_version,
                policy_digest: &snapshot.meta.digest,
                route: trail.route_label(),
                now,
            };
            let r = rpc::answer(refusal.render(&cx), trail.rpc(), malformed.as_ref());
            trail.refused(&r);
            let retry_after = r.retry_after;
            let mut resp = Response::new(body::full(r.body));
            *resp.status_mut() = r.status;
            if let Some(secs) = retry_after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            (resp, r.verdict)
        }
    };
    headers::tag(resp.headers_mut(), &tags, verdict.as_str());
    // The audit trail is the record of every request; this line is for debugging.
    tracing::debug!(
        request_id,
        %method,
        path = uri.path(),
        route = trail.route_label().as_deref().unwrap_or("-"),
        verdict = verdict.as_str(),
        status = resp.status().as_u16(),
        "request"
    );
    // The record is written when the response body ends (at once for a refusal's).
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, trail.follow(body))
}

/// The stages, in order. Returns the upstream's response and the verdict that let it
/// through, or the refusal that stopped the request.
async fn run<B>(
    gate: &Gate,
    snapshot: &Snapshot,
    peer: Peer,
    (request_id, tags): (&str, &Tags),
    now: Timestamp,
    trail: &mut Trail,
    req: Request<B>,
) -> Result<(Response<ProxyBody>, Verdict), Refusal>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    let classify = Instant::now();

    // 1. Classify: a bounded head, a target toolgate and the upstream read alike, a route.
    let size = target::head_size(&parts);
    if size > gate.max_header_bytes {
        return Err(Refusal::HeadersTooLarge {
            size,
            limit: gate.max_header_bytes,
        });
    }
    let target = target::check(&parts).map_err(Refusal::BadTarget)?;
    trail.target(&parts, &target.path, target.query, now);
    let Some(found) = snapshot.table.find(&parts.method, &target.path) else {
        trail.unmatched();
        trail.add_decision_time(classify.elapsed());
        return Err(Refusal::RouteNotMapped);
    };
    let route = snapshot.routes.get(found.index).ok_or(Refusal::Internal)?;
    trail.routed(found.index, route);
    let head = Head {
        method: &parts.method,
        path: &target.path,
        query: target.query,
        headers: &parts.headers,
        // Set per connection by the server after rustls verified it; never from the wire.
        client_cert: parts.extensions.get::<ClientCert>(),
    };
    let admitted =
        decide::admit(snapshot, &head, Some(found)).map_err(|e| stage::unjudged(e, head.method))?;
    // Exactly what was matched is what the upstream receives.
    let upstream_uri =
        gate.upstream
            .uri_for(parts.uri.path_and_query(), &target.path, target.query)?;
    trail.add_decision_time(classify.elapsed());

    // 2. Intake: the body is read only if the context needs it (or a signed approval,
    // which binds the body, comes with it). A method without body semantics carries none
    // past toolgate unless the route reads or allows it: an upstream that ignores such a
    // body would run what hides in it.
    let body = if route.refuses_body {
        RequestBody::require_empty(body, &parts.method, gate.body_read_timeout).await?
    } else {
        RequestBody::take(
            body,
            route.context.reads_body,
            snapshot.trust.buffers_body(&parts.headers),
            &parts.headers,
            gate.max_body_bytes,
            gate.body_read_timeout,
        )
        .await?
    };
    if let RequestBody::Buffered(bytes) = &body {
        trail.body(bytes);
    }

    // 3. Decide (extract, verify, authorize: `crate::decide`), then use a verified
    // approval once: only ALLOW (or a shadow route's recorded verdict) goes on.
    let passed = stage::decide(
        gate,
        snapshot,
        &head,
        admitted,
        body.bytes(),
        request_id,
        now,
        trail,
    )
    .await?;
    // Given back if the request certainly never reaches the tool.
    let applied = passed.applied;
    let released_by = passed.review;
    let (listed, verdict) = (passed.listed, passed.verdict);
    // A `tools/list` answer shows only what this caller may call.
    let listing = passed
        .mcp
        .as_ref()
        .filter(|call| call.method.as_deref() == Some("tools/list"))
        .map(|call| decide::visible_tools(snapshot, &head, call.endpoint, now));

    // 4. Forward: the same head, cleaned of hop-by-hop and forwarding claims and of the
    // identity and approval headers a verified source replaced, re-tagged.
    snapshot.trust.strip_headers(&mut parts.headers);
    let client_authority = parts.uri.authority().cloned();
    parts.uri = upstream_uri;
    parts.version = Version::HTTP_11;
    parts.extensions.clear();
    headers::for_upstream(
        &mut parts.headers,
        &listed,
        client_authority.as_ref(),
        &peer,
        tags,
        verdict.as_str(),
    );
    if body.unknown_length() {
        // hyper's client drops a GET's or HEAD's body of unknown length unless told.
        parts.headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    let sent = match gate.upstream.slot() {
        Ok(slot) => {
            trail.sending();
            gate.upstream
                .send(Request::from_parts(parts, body.into_body()), slot)
                .await
        }
        Err(e) => Err(e),
    };
    let resp = match sent {
        Ok(resp) => resp,
        Err(e) => {
            let refusal = Refusal::from(e);
            let text = if matches!(refusal, Refusal::UpstreamConnect(_)) {
                "not sent: the tool could not be reached"
            } else if matches!(refusal, Refusal::UpstreamOverloaded { .. }) {
                "not sent: the upstream was overloaded"
            } else {
                "sent: the tool gave no usable answer"
            };
            review::outcome(gate, released_by, || text.into(), now);
            // Not sent, or no connection to send it on: the tool cannot have acted. A
            // timeout or a broken answer may follow an action, so those keep their count.
            if matches!(
                refusal,
                Refusal::UpstreamConnect(_) | Refusal::UpstreamOverloaded { .. }
            ) {
                if let Some(plan) = applied {
                    gate.ops.state.refund(plan).await;
                }
            }
            return Err(refusal);
        }
    };
    trail.answered(resp.status());
    let status = resp.status().as_u16();
    let text = || format!("forwarded, the tool answered {status}");
    review::outcome(gate, released_by, text, now);
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        // Upgrades were never forwarded; a 101 cannot be a valid answer.
        return Err(Refusal::UpstreamBadResponse(
            "unexpected 101 Switching Protocols".into(),
        ));
    }
    let (mut resp_parts, mut resp_body) = resp.into_parts();
    headers::strip_response(&mut resp_parts.headers);
    if let Some(visible) = listing {
        resp_body = stage::filter_listing(&mut resp_parts, resp_body, visible);
    }
    Ok((Response::from_parts(resp_parts, resp_body), verdict))
}

/// Polls a future, turning a panic into `Err` so the caller can still answer.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_not_an_unwind() {
        let ok = CatchUnwind(Box::pin(async { 7 })).await;
        assert_eq!(ok.ok(), Some(7));
        let panicked = CatchUnwind(Box::pin(async {
            tokio::task::yield_now().await;
            panic!("bug on the request path");
        }))
        .await;
        assert!(panicked.is_err());
    }
}
