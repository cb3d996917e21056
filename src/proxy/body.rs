//! Request and response bodies on the proxy path. A route whose context reads the body gets
//! it buffered, bounded by `limits.max_body_bytes`, and the upstream receives exactly those
//! bytes; every other route streams the body through untouched. The size is checked
//! against the declared length before the body is polled, so an oversized upload is
//! refused without hyper ever sending `100 Continue`.
//!
//! A body the route reads must be one the upstream reads the same way: a JSON media type
//! (or none), UTF-8, and no content coding; otherwise the fields toolgate compared are not
//! the fields the upstream sees (a form body, a compressed or UTF-16 one). A form or
//! multipart body is buffered (bounded the same way) on every route and refused when it
//! carries a `_method` field, which Rails, Laravel, Symfony and others read as the method.

use super::refusal::Refusal;
use crate::extract::ExtractError;
use bytes::Bytes;
use http::{header, HeaderMap};
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
    /// Buffers `body` (bounded by `limit` bytes and `deadline`) when the route reads it
    /// (`read`: then it must be JSON, checked from `headers` before a byte is polled), when
    /// `keep` asks for its bytes (a signed approval binds them), or when it is a form; else
    /// leaves it streaming.
    pub async fn take(
        body: B,
        read: bool,
        keep: bool,
        headers: &HeaderMap,
        limit: u64,
        deadline: Duration,
    ) -> Result<RequestBody<B>, Refusal> {
        let form = form_kind(headers);
        if !read && !keep && form.is_none() {
            return Ok(RequestBody::Streaming(body));
        }
        if read {
            check_readable(headers).map_err(Refusal::BadContext)?;
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
        let bytes = match collected {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => return Err(Refusal::BodyTooLarge { limit }),
            Err(e) => return Err(Refusal::BodyUnreadable(e.to_string())),
        };
        if let Some(kind) = form {
            if has_method_field(kind, &bytes) {
                return Err(Refusal::BadContext(ExtractError::BodyMethodOverride));
            }
        }
        Ok(RequestBody::Buffered(bytes))
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

/// A media type: `type/subtype` lower-cased, and its parameters (names lower-cased).
type MediaType = (String, Vec<(String, String)>);

/// The media type of a request; `Err` when `Content-Type` is repeated or not text.
fn media_type(headers: &HeaderMap) -> Result<Option<MediaType>, ()> {
    let mut all = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return if headers.contains_key(header::CONTENT_TYPE) {
            Err(())
        } else {
            Ok(None)
        };
    };
    let text = v.to_str().map_err(|_| ())?;
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect();
    Ok(Some((essence, params)))
}

/// A body the route reads must be JSON as the upstream will read it: `Content-Type` absent
/// or one JSON media type (`application/json`, `application/*+json`) whose charset, if
/// given, is UTF-8; no `Content-Encoding` but `identity`.
fn check_readable(headers: &HeaderMap) -> Result<(), ExtractError> {
    let refuse = |why: String| Err(ExtractError::BodyMediaType(why.into()));
    match media_type(headers) {
        Err(()) => return refuse("Content-Type is repeated or not text".into()),
        Ok(None) => {}
        Ok(Some((essence, params))) => {
            let json = essence == "application/json"
                || essence
                    .strip_prefix("application/")
                    .is_some_and(|s| s.ends_with("+json") && !s.contains('/'));
            if !json {
                return refuse(format!("Content-Type {essence:?} is not JSON"));
            }
            for (k, v) in params {
                if k == "charset" && !v.eq_ignore_ascii_case("utf-8") {
                    return refuse(format!("charset {v:?} is not UTF-8"));
                }
            }
        }
    }
    for v in headers.get_all(header::CONTENT_ENCODING) {
        let codings = v.to_str().unwrap_or("?");
        if codings
            .split(',')
            .map(str::trim)
            .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        {
            return refuse(format!("Content-Encoding {codings:?}"));
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    UrlEncoded,
    Multipart,
}

/// Whether the body is a form some framework would read `_method` from.
fn form_kind(headers: &HeaderMap) -> Option<Form> {
    match media_type(headers) {
        Ok(Some((essence, _))) if essence == "application/x-www-form-urlencoded" => {
            Some(Form::UrlEncoded)
        }
        Ok(Some((essence, _))) if essence.starts_with("multipart/") => Some(Form::Multipart),
        _ => None,
    }
}

/// Whether a form body has a field some framework reads as `_method`. Multipart bodies are
/// searched line by line for a `Content-Disposition` naming it, whatever the boundary.
fn has_method_field(kind: Form, body: &[u8]) -> bool {
    use super::target::is_method_key;
    match kind {
        Form::UrlEncoded => body
            .split(|b| *b == b'&' || *b == b';')
            .map(|pair| pair.split(|b| *b == b'=').next().unwrap_or(b""))
            .any(|key| is_method_key(&String::from_utf8_lossy(key))),
        Form::Multipart => body
            .split(|b| *b == b'\n')
            .map(|line| String::from_utf8_lossy(line).to_ascii_lowercase())
            .filter(|line| line.trim_start().starts_with("content-disposition"))
            .any(|line| {
                line.split(';').skip(1).any(|param| {
                    let (k, v) = param.split_once('=').unwrap_or((param, ""));
                    let k = k.trim();
                    (k == "name" || k == "name*")
                        && is_method_key(v.trim().trim_end_matches('\r').trim().trim_matches('"'))
                })
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_json_bodies_are_readable() {
        let ok: &[&[(&str, &str)]] = &[
            &[],
            &[("content-type", "application/json")],
            &[("content-type", "Application/JSON; charset=UTF-8")],
            &[("content-type", "application/merge-patch+json")],
            &[
                ("content-type", "application/json"),
                ("content-encoding", "identity"),
            ],
        ];
        for h in ok {
            assert!(check_readable(&headers(h)).is_ok(), "{h:?}");
        }
        let refused: &[&[(&str, &str)]] = &[
            &[("content-type", "application/x-www-form-urlencoded")],
            &[("content-type", "text/plain")],
            &[("content-type", "multipart/form-data; boundary=x")],
            &[("content-type", "application/json; charset=utf-16")],
            &[
                ("content-type", "application/json"),
                ("content-type", "application/json"),
            ],
            &[("content-type", "application/json+xml")],
            &[("content-encoding", "gzip")],
            &[("content-encoding", "identity, br")],
        ];
        for h in refused {
            assert!(check_readable(&headers(h)).is_err(), "{h:?}");
        }
    }

    #[test]
    fn method_fields_are_found_in_forms() {
        let url = |b: &str| has_method_field(Form::UrlEncoded, b.as_bytes());
        assert!(url("_method=DELETE"));
        assert!(url("a=1&_METHOD=put"));
        assert!(url("a=1;%5Fmethod=x"));
        assert!(url(".method=x"));
        assert!(url("_method[]=x"));
        assert!(!url("method=DELETE&a__method=1"));
        let mp = |b: &str| has_method_field(Form::Multipart, b.as_bytes());
        assert!(mp(
            "--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--b--"
        ));
        assert!(mp("--b\nCONTENT-DISPOSITION: form-data;name=_method\n\nx"));
        assert!(!mp("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"_method\"\r\n\r\n_method=1"));
    }
}
