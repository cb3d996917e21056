//! Request and response bodies on the proxy path. A route whose context reads the body gets
//! it buffered, bounded by `limits.max_body_bytes`, and the upstream receives exactly those
//! bytes; every other route streams the body through untouched. The size is checked
//! against the declared length before the body is polled, so an oversized upload is
//! refused without hyper ever sending `100 Continue`.

use super::refusal::Refusal;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, LengthLimitError, Limited};
use hyper::body::Body;
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response toolgate sends and every request it forwards. Errors
/// propagate: a stream that fails mid-way aborts the other leg instead of ending it early.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

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
    /// Buffers `body` when `read` is set (bounded by `limit` bytes and `deadline`), else
    /// leaves it streaming.
    pub async fn take(
        body: B,
        read: bool,
        limit: u64,
        deadline: Duration,
    ) -> Result<RequestBody<B>, Refusal> {
        if !read {
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

pub fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}
