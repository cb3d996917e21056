//! Stage 1 of the request path, before any route is looked up: is this request one toolgate
//! can reason about at all? The request head is bounded, the method and target form are
//! ones an upstream reads the same way toolgate does, nothing asks a later hop to
//! reinterpret the method or the path, and the target is normalized once. Everything
//! refused here is a 400 (or 431) and never reaches the upstream.

use crate::classify::normalize::{normalize, NormalizeError, Target};
use crate::headers;
use http::header::{self, HeaderName};
use http::{request::Parts, Method, Version};
use std::fmt;

/// Headers that ask an application framework to treat the request as another method or
/// path than the one toolgate routed: honouring them downstream would bypass the route.
/// Refused rather than stripped, so a client learns its request was not what it meant.
/// Matched with `_` read as `-` (CGI and WSGI stacks fold them: `X_HTTP_METHOD_OVERRIDE`
/// arrives as `HTTP_X_HTTP_METHOD_OVERRIDE` like the dashed spelling).
const REINTERPRETING: [&str; 6] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
];

/// Headers that frame the message or steer the connection. A request carrying one in a
/// `_` spelling (`Transfer_Encoding`) is refused: hyper ignores it, but a CGI or WSGI
/// upstream that folds `_` into `-` would frame or route by it.
const FRAMING: [&str; 11] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "host",
    "content-encoding",
];

/// Why a request was refused before routing.
#[derive(Debug)]
pub enum TargetError {
    /// `CONNECT` would turn the proxy into a tunnel.
    Connect,
    /// `OPTIONS *` addresses the server, not a resource of the tool API.
    Asterisk,
    /// Absolute-form (or HTTP/2 `:authority`) naming another host than `Host`, or a scheme
    /// other than http(s).
    ForeignAuthority(String),
    /// Zero or several `Host` headers where exactly one is needed.
    Host(&'static str),
    Normalize(NormalizeError),
    /// A method-override or URL-rewrite header.
    Reinterpreting(HeaderName),
    /// A `_method` query parameter (framework method override).
    MethodParam,
    /// `Connection` lists a header that must survive the hop.
    Connection(String),
    /// A framing header in a `_` spelling, which a CGI upstream would frame by.
    Framing(String),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Connect => f.write_str("CONNECT is not proxied"),
            TargetError::Asterisk => f.write_str("OPTIONS * is not proxied"),
            TargetError::ForeignAuthority(a) => {
                write!(f, "request target names {a:?}, which is not this host")
            }
            TargetError::Host(why) => f.write_str(why),
            TargetError::Normalize(e) => write!(f, "request target refused: {e}"),
            TargetError::Reinterpreting(h) => {
                write!(
                    f,
                    "header {h} would change the method or path after authorization"
                )
            }
            TargetError::MethodParam => {
                f.write_str("query parameter _method would change the method after authorization")
            }
            TargetError::Connection(why) => f.write_str(why),
            TargetError::Framing(why) => f.write_str(why),
        }
    }
}

/// Size of a request head as HTTP/1.1 would spell it (request line, `name: value\r\n`
/// per field), so the limit means the same over HTTP/1.1 and HTTP/2.
pub fn head_size(parts: &Parts) -> usize {
    let target = parts.uri.authority().map_or(0, |a| a.as_str().len() + 8)
        + parts.uri.path_and_query().map_or(1, |pq| pq.as_str().len());
    let line = parts.method.as_str().len() + target + 12;
    parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line
}

/// Checks the method, target form, `Host` and reinterpreting headers, then normalizes the
/// target. The result borrows the request's URI.
pub fn check(parts: &Parts) -> Result<Target<'_>, TargetError> {
    if parts.method == Method::CONNECT {
        return Err(TargetError::Connect);
    }
    let pq = parts.uri.path_and_query().map(|pq| pq.as_str());
    if parts.method == Method::OPTIONS && pq == Some("*") {
        return Err(TargetError::Asterisk);
    }
    check_authority(parts)?;
    check_framing(parts)?;
    if let Some(h) = parts
        .headers
        .keys()
        .find(|h| REINTERPRETING.contains(&&*headers::folded(h)))
    {
        return Err(TargetError::Reinterpreting(h.clone()));
    }
    let target = normalize(pq.unwrap_or("/")).map_err(TargetError::Normalize)?;
    if target.query.is_some_and(has_method_param) {
        return Err(TargetError::MethodParam);
    }
    Ok(target)
}

/// Exactly one `Host` for HTTP/1.1 (at most one otherwise); and when the target carries an authority (HTTP/1.1 absolute-form,
/// HTTP/2 `:authority`), it must be the same host the `Host` header names, so the
/// upstream, which sees `Host`, and toolgate agree on what is addressed.
fn check_authority(parts: &Parts) -> Result<(), TargetError> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(TargetError::Host("more than one Host header"));
    }
    let Some(authority) = parts.uri.authority() else {
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused (HTTP/1.0 may omit it).
        if host.is_none() && parts.version == Version::HTTP_11 {
            return Err(TargetError::Host("HTTP/1.1 request without a Host header"));
        }
        return Ok(());
    };
    if !matches!(parts.uri.scheme_str(), Some("http" | "https")) {
        return Err(TargetError::ForeignAuthority(authority.to_string()));
    }
    match host {
        Some(h)
            if h.as_bytes()
                .eq_ignore_ascii_case(authority.as_str().as_bytes()) =>
        {
            Ok(())
        }
        Some(_) => Err(TargetError::ForeignAuthority(authority.to_string())),
        // HTTP/2 may carry the host only in :authority; HTTP/1.1 must also send Host.
        None if parts.version == Version::HTTP_2 => Ok(()),
        None => Err(TargetError::Host(
            "absolute-form target without a Host header",
        )),
    }
}

/// Refuses `_` spellings of framing headers ([`FRAMING`]). (A request with both
/// `Transfer-Encoding` and `Content-Length` never gets here in two minds: hyper frames it
/// by `Transfer-Encoding`, drops `Content-Length` and closes the connection after the
/// response, as RFC 9112 §6.3 asks of an intermediary; toolgate re-frames what it forwards.)
fn check_framing(parts: &Parts) -> Result<(), TargetError> {
    if let Some(alias) = parts
        .headers
        .keys()
        .map(HeaderName::as_str)
        .find(|n| n.contains('_') && FRAMING.contains(&n.replace('_', "-").as_str()))
    {
        return Err(TargetError::Framing(format!(
            "header {alias} is a framing header in another spelling"
        )));
    }
    Ok(())
}

/// Whether a raw query has a key some framework reads as `_method`: in any case or
/// percent-encoding, `+` for a space, with `&` or the legacy `;` as separator, and spelled
/// as PHP reads names (cut at NUL or `[`, so `_method[]`; leading blanks dropped; `.` and
/// space as `_`, so `.method`).
pub(crate) fn has_method_param(query: &str) -> bool {
    query
        .split(['&', ';'])
        .any(|pair| is_method_key(pair.split('=').next().unwrap_or("")))
}

/// Whether a form-encoded key (raw) names `_method` to some framework; see
/// [`has_method_param`].
pub(crate) fn is_method_key(raw: &str) -> bool {
    form_key_name(raw).eq_ignore_ascii_case("_method")
}

/// A form-encoded key (raw) as PHP names it: `+` and percent escapes decoded, cut at NUL
/// or `[`, blanks trimmed, `.` and space read as `_`.
pub(crate) fn form_key_name(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    let key = percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy();
    let key = key.split(['\0', '[']).next().unwrap_or("").trim();
    key.replace(['.', ' '], "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    /// `Host: t` is added unless the case names a host; `("host", "")` means none at all.
    fn parts(method: &str, uri: &str, headers: &[(&str, &str)], v: Version) -> Parts {
        let mut b = Request::builder().method(method).uri(uri).version(v);
        if !headers.iter().any(|(k, _)| *k == "host") {
            b = b.header("host", "t");
        }
        for (k, val) in headers.iter().filter(|(_, v)| !v.is_empty()) {
            b = b.header(*k, *val);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn refuses_what_an_upstream_could_read_differently() {
        let h1 = Version::HTTP_11;
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Version, bool);
        let cases: &[Case] = &[
            ("GET", "/a/b?x=1", &[("host", "t")], h1, true),
            ("GET", "http://t/a", &[("host", "T")], h1, true),
            ("GET", "http://other/a", &[("host", "t")], h1, false),
            ("GET", "http://t/a", &[("host", "")], h1, false),
            ("GET", "/a", &[("host", "")], h1, false),
            ("GET", "/a", &[("host", "")], Version::HTTP_10, true),
            ("GET", "ftp://t/a", &[("host", "t")], h1, false),
            ("GET", "https://t/a", &[("host", "")], Version::HTTP_2, true),
            (
                "GET",
                "https://t/a",
                &[("host", "u")],
                Version::HTTP_2,
                false,
            ),
            ("GET", "/a", &[("host", "t"), ("host", "u")], h1, false),
            ("CONNECT", "t:443", &[("host", "t")], h1, false),
            ("OPTIONS", "*", &[("host", "t")], h1, false),
            (
                "POST",
                "/a",
                &[("x-http-method-override", "DELETE")],
                h1,
                false,
            ),
            ("POST", "/a", &[("X-Method-Override", "DELETE")], h1, false),
            ("POST", "/a", &[("x-http-method", "DELETE")], h1, false),
            ("GET", "/a", &[("x-original-url", "/admin")], h1, false),
            ("GET", "/a", &[("x-rewrite-url", "/admin")], h1, false),
            ("POST", "/a?_method=DELETE", &[], h1, false),
            ("POST", "/a?x=1&%5FMETHOD=DELETE", &[], h1, false),
            ("POST", "/a?x=1;_method=DELETE", &[], h1, false),
            ("POST", "/a?method=DELETE", &[], h1, true),
            ("POST", "/a?_method[]=DELETE", &[], h1, false),
            ("POST", "/a?.method=DELETE", &[], h1, false),
            ("POST", "/a?+_method=DELETE", &[], h1, false),
            ("POST", "/a?_method%00=DELETE", &[], h1, false),
            ("POST", "/a?x_method=DELETE&_methods=1", &[], h1, true),
            (
                "POST",
                "/a",
                &[("x_http_method_override", "DELETE")],
                h1,
                false,
            ),
            ("POST", "/a", &[("X_Method_Override", "DELETE")], h1, false),
            ("GET", "/a", &[("x_original_url", "/admin")], h1, false),
            ("GET", "/a", &[("x-original-uri", "/admin")], h1, false),
            ("POST", "/a", &[("transfer_encoding", "chunked")], h1, false),
            ("POST", "/a", &[("Content_Length", "3")], h1, false),
            ("POST", "/a", &[("x_forwarded_for", "1")], h1, true),
        ];
        for (m, uri, hs, v, ok) in cases {
            let p = parts(m, uri, hs, *v);
            assert_eq!(check(&p).is_ok(), *ok, "{m} {uri} {hs:?}");
        }
    }

    #[test]
    fn head_size_counts_line_and_fields() {
        let p = parts("GET", "/abc", &[("x-a", "12345")], Version::HTTP_11);
        assert_eq!(head_size(&p), 3 + 4 + 12 + (3 + 5 + 4) + (4 + 1 + 4));
    }
}
