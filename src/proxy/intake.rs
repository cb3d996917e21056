//! Intake, the request path's body stage: what of a request body toolgate reads. A route
//! whose context reads the body gets it buffered, bounded by `limits.max_body_bytes` and
//! `limits.body_read_timeout`, and the upstream receives exactly those bytes; so does a body
//! a signed approval binds, and one some framework reads as a form (the decision inspects
//! it); every other body streams through untouched. What the body may look like is
//! `crate::extract::media`'s to say; its header checks run here before a byte is polled, and
//! the size is checked against the declared length first, so a refused or oversized upload
//! never makes hyper send `100 Continue`.

use super::refusal::Refusal;
use crate::body::{full, BoxError, ProxyBody};
use crate::extract::media;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body;
use std::time::Duration;

/// A request body on its way to the upstream.
pub enum RequestBody<B> {
    /// Read in full because the route's context reads it; forwarded byte for byte.
    Buffered(Bytes),
    /// Not read by toolgate; streamed to the upstream as it arrives.
    Streaming(B),
}

impl<B> RequestBody<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Buffers `body` (bounded by `limit` bytes and `deadline`) when the route reads it
    /// (`read`: then it must be JSON, checked from `headers` before a byte is polled), when
    /// `keep` asks for its bytes (a signed approval binds them), or when some framework
    /// reads it as a form (the decision inspects it, `crate::extract::media`); else leaves
    /// it streaming.
    pub async fn take(
        body: B,
        read: bool,
        keep: bool,
        headers: &HeaderMap,
        limit: u64,
        deadline: Duration,
    ) -> Result<RequestBody<B>, Refusal> {
        // A request that declares no body (`Content-Length: 0`, or none at all over
        // HTTP/1) has nothing a framework could read a field from.
        let declared_empty = body.size_hint().upper() == Some(0);
        let form =
            media::before_reading(headers, read, declared_empty).map_err(Refusal::BadContext)?;
        if !read && !keep && !form {
            return Ok(RequestBody::Streaming(body));
        }
        // The declared length (Content-Length) is known before a byte of the body is read.
        if body.size_hint().lower() > limit {
            return Err(Refusal::BodyTooLarge { limit });
        }
        let cap = usize::try_from(limit).unwrap_or(usize::MAX);
        let collected = tokio::time::timeout(deadline, Limited::new(body, cap).collect()).await;
        // A trickled body would otherwise hold the request (and its slot) forever.
        let Ok(collected) = collected else {
            return Err(Refusal::BodyTimeout);
        };
        match collected {
            Ok(collected) => Ok(RequestBody::Buffered(collected.to_bytes())),
            Err(e) if e.is::<LengthLimitError>() => Err(Refusal::BodyTooLarge { limit }),
            Err(e) => Err(Refusal::BodyUnreadable(e.to_string())),
        }
    }

    /// The body of a request whose route refuses one (`Route::refuses_body`): empty, or
    /// refused. A declared length is refused at once; a chunked or HTTP/2 body is read
    /// (up to `deadline`) only to learn whether it ends before its first byte.
    pub async fn require_empty(
        body: B,
        method: &http::Method,
        deadline: Duration,
    ) -> Result<RequestBody<B>, Refusal> {
        let none = || Ok(RequestBody::Buffered(Bytes::new()));
        if body.is_end_stream() {
            return none();
        }
        if body.size_hint().lower() > 0 {
            return Err(Refusal::BodyNotAllowed(method.clone()));
        }
        match tokio::time::timeout(deadline, Limited::new(body, 0).collect()).await {
            Err(_elapsed) => Err(Refusal::BodyTimeout),
            Ok(Ok(_empty)) => none(),
            Ok(Err(e)) if e.is::<LengthLimitError>() => {
                Err(Refusal::BodyNotAllowed(method.clone()))
            }
            Ok(Err(e)) => Err(Refusal::BodyUnreadable(e.to_string())),
        }
    }

    /// Whether the body streams with no known length: hyper's client would send none on a
    /// GET or HEAD unless `Transfer-Encoding: chunked` is set explicitly.
    pub fn unknown_length(&self) -> bool {
        match self {
            RequestBody::Buffered(_) => false,
            RequestBody::Streaming(b) => !b.is_end_stream() && b.size_hint().exact().is_none(),
        }
    }

    /// The bytes toolgate read, for context extraction.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            RequestBody::Buffered(b) => Some(b),
            RequestBody::Streaming(_) => None,
        }
    }

    pub fn into_body(self) -> ProxyBody {
        match self {
            RequestBody::Buffered(b) => full(b),
            RequestBody::Streaming(s) => s.map_err(Into::into).boxed_unsync(),
        }
    }
}
