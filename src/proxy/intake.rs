//! Request and response bodies on the proxy path. A route whose context reads the body gets
//! it buffered, bounded by `limits.max_body_bytes`, and the upstream receives exactly those
//! bytes; every other route streams the body through untouched. The size is checked
//! against the declared length before the body is polled, so an oversized upload is
//! refused without hyper ever sending `100 Continue`.
//!
//! A body the route reads must be one the upstream reads the same way: a JSON media type,
//! UTF-8, and no content coding; otherwise the fields toolgate compared are not the fields
//! the upstream sees (a form body, a compressed or UTF-16 one). A body some framework may
//! read as a form is buffered (bounded the same way) on every route and refused when it
//! carries a `_method` field, which Rails, Laravel, Symfony and others read as the method.
//!
//! `Content-Type` is read as those frameworks read it, not more strictly: the media type
//! ends at the first `;`, `,` or blank (PHP and Rack cut there), a body the route reads
//! must have one (Rack reads an untyped body as a form), and a repeated or non-text one is
//! refused, since stacks disagree on it.

use super::refusal::Refusal;
use crate::body::{full, BoxError, ProxyBody};
use crate::classify::target::{form_key_name, is_method_key};
use crate::extract::{ContextMap, ExtractError};
use bytes::Bytes;
use http::{header, HeaderMap};
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
    /// (`read`, the route's context: then it must be JSON, checked from `headers` before a
    /// byte is polled), when `keep` asks for its bytes (a signed approval binds them), or
    /// when it is a form; else leaves it streaming.
    pub async fn take(
        body: B,
        read: Option<&ContextMap>,
        keep: bool,
        headers: &HeaderMap,
        limit: u64,
        deadline: Duration,
    ) -> Result<RequestBody<B>, Refusal> {
        let media = media_type(headers);
        // A request that declares no body (`Content-Length: 0`, or none at all over
        // HTTP/1) has nothing a framework could read a field from.
        let form = if body.size_hint().upper() == Some(0) {
            None
        } else {
            form_kind(&media).map_err(Refusal::BadContext)?
        };
        if read.is_some() {
            check_readable(&media, headers).map_err(Refusal::BadContext)?;
        }
        if read.is_none() && !keep && form.is_none() {
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
        if let (Some(map), Ok(None)) = (read, &media) {
            // Rack reads an untyped body as a form: toolgate read JSON, so no form reading
            // of the same bytes may name `_method` or a member the route evaluated.
            let form_reads = form_keys(&bytes).any(|key| {
                let name = form_key_name(&key);
                name.eq_ignore_ascii_case("_method") || map.reads_body_key(&name)
            });
            if form_reads {
                return Err(Refusal::BadContext(ExtractError::BodyMediaType(
                    "an untyped body that also reads as a form naming an evaluated field".into(),
                )));
            }
        }
        Ok(RequestBody::Buffered(bytes))
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
    let text = v.to_str().map_err(|_| ())?.trim_start();
    // The essence ends where PHP and Rack end it; whatever follows a `,` or a blank is not
    // a parameter they read.
    let end = text
        .find(|c: char| c == ';' || c == ',' || c.is_ascii_whitespace())
        .unwrap_or(text.len());
    let essence = text[..end].to_ascii_lowercase();
    let params = text
        .split(';')
        .skip(1)
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
/// given, is UTF-8; no `Content-Encoding` but `identity`. (An untyped body is also checked
/// as a form once read, in `take`.)
fn check_readable(
    media: &Result<Option<MediaType>, ()>,
    headers: &HeaderMap,
) -> Result<(), ExtractError> {
    let refuse = |why: String| Err(ExtractError::BodyMediaType(why.into()));
    match media {
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

/// Whether the body is one some framework would read `_method` from, and as what. A
/// repeated or non-text `Content-Type` is refused, since stacks disagree on which one
/// counts. (An untyped body on a route that does not read it streams: see SECURITY.md.)
fn form_kind(media: &Result<Option<MediaType>, ()>) -> Result<Option<Form>, ExtractError> {
    Ok(match media {
        Err(()) => {
            return Err(ExtractError::BodyMediaType(
                "Content-Type is repeated or not text".into(),
            ))
        }
        Ok(None) => None,
        Ok(Some((essence, _))) if essence == "application/x-www-form-urlencoded" => {
            Some(Form::UrlEncoded)
        }
        Ok(Some((essence, _))) if essence.starts_with("multipart/") => Some(Form::Multipart),
        Ok(Some(_)) => None,
    })
}

/// The raw keys of a url-encoded body (`&` or the legacy `;` between pairs).
fn form_keys(body: &[u8]) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    body.split(|b| *b == b'&' || *b == b';')
        .map(|pair| pair.split(|b| *b == b'=').next().unwrap_or(b""))
        .map(String::from_utf8_lossy)
}

/// Whether a form body has a field some framework reads as `_method`. Multipart bodies are
/// searched line by line for a `Content-Disposition` naming it, whatever the boundary.
fn has_method_field(kind: Form, body: &[u8]) -> bool {
    match kind {
        Form::UrlEncoded => form_keys(body).any(|key| is_method_key(&key)),
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
        let readable = |h: &HeaderMap| check_readable(&media_type(h), h);
        for h in ok {
            assert!(readable(&headers(h)).is_ok(), "{h:?}");
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
            // PHP and Rack end the media type at `,` or a blank.
            &[("content-type", "application/x-www-form-urlencoded,x+json")],
            &[("content-type", "application/x-www-form-urlencoded x+json")],
        ];
        for h in refused {
            assert!(readable(&headers(h)).is_err(), "{h:?}");
        }
    }

    #[test]
    fn what_a_framework_reads_as_a_form() {
        let kind = |h: &[(&str, &str)]| form_kind(&media_type(&headers(h)));
        assert_eq!(kind(&[]).unwrap(), None);
        for ct in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded; charset=utf-8",
            "application/x-www-form-urlencoded,x+json",
            "application/x-www-form-urlencoded x+json",
            " application/x-www-form-urlencoded",
        ] {
            assert_eq!(
                kind(&[("content-type", ct)]).unwrap(),
                Some(Form::UrlEncoded),
                "{ct}"
            );
        }
        assert_eq!(
            kind(&[("content-type", "multipart/form-data; boundary=b")]).unwrap(),
            Some(Form::Multipart)
        );
        assert_eq!(kind(&[("content-type", "application/json")]).unwrap(), None);
        assert!(kind(&[
            ("content-type", "text/plain"),
            ("content-type", "text/plain")
        ])
        .is_err());
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
