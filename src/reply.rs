//! Small replies of the operator and API listeners: JSON (or text) with `no-store`, the
//! `{error, message}` shape, and a payload read within a size and time bound.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use serde::Serialize;
use serde_json::json;
use std::time::Duration;

pub type Reply = Response<Full<Bytes>>;

pub fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn text(status: StatusCode, body: &'static str) -> Reply {
    reply(status, "text/plain; charset=utf-8", body)
}

pub fn json_reply<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => reply(status, "application/json", body),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a reply");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the reply\n",
            )
        }
    }
}

pub fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    json_reply(status, &json!({ "error": code, "message": message }))
}

/// Reads a JSON payload of at most `limit` bytes within `timeout`; the refusal is a reply
/// (413, 408 or 400) naming what went wrong.
pub async fn read_payload(body: Incoming, limit: u64, timeout: Duration) -> Result<Bytes, Reply> {
    let too_large = || {
        let message = format!("the payload is over the {limit}-byte limit");
        error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", &message)
    };
    if body.size_hint().lower() > limit {
        return Err(too_large());
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let read = Limited::new(body, cap).collect();
    match tokio::time::timeout(timeout, read).await {
        Err(_elapsed) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "BODY_TIMEOUT",
            "the payload did not arrive within body_read_timeout",
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            "BODY_UNREADABLE",
            &e.to_string(),
        )),
    }
}
