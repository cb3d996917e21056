//! Header hygiene on both legs: request ids, hop-by-hop removal (RFC 9110 §7.6.1, plus the
//! names a `Connection` header lists), the forwarding headers toolgate owns
//! (`X-Forwarded-*`, `Forwarded`), and the three `x-toolgate`/`x-request-id` tags every
//! response and every forwarded request carries. Pure functions over `HeaderMap`s.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use smallvec::SmallVec;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_TOOLGATE_VERDICT: HeaderName = HeaderName::from_static("x-toolgate-verdict");
pub const X_TOOLGATE_POLICY_VERSION: HeaderName =
    HeaderName::from_static("x-toolgate-policy-version");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Hop-by-hop fields (RFC 9110 §7.6.1 and the legacy ones still seen in the wild). They
/// describe one connection, never the request, so neither leg forwards them.
/// `HTTP2-Settings` belongs to the HTTP/1.1 `Upgrade: h2c` handshake (RFC 7540 §3.2.1),
/// which is never forwarded either.
const HOP_BY_HOP: [HeaderName; 10] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRAILER,
    HeaderName::from_static("http2-settings"),
];

/// Mints request ids without a lock: a random per-process prefix and a counter.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        // RandomState is seeded from the OS once per process: enough to keep two replicas'
        // ids apart without a dependency on a random-number crate.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        RequestIds {
            prefix: h.finish(),
            next: AtomicU64::new(1),
        }
    }
}

impl RequestIds {
    /// The caller's `x-request-id` when it is one clean token, else a fresh id.
    pub fn take_or_mint(&self, headers: &HeaderMap) -> String {
        let mut given = headers.get_all(&X_REQUEST_ID).iter();
        match (given.next(), given.next()) {
            (Some(v), None) if is_valid_request_id(v.as_bytes()) => {
                // Checked above: ASCII only.
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            }
            _ => self.mint(),
        }
    }

    /// `tg-<prefix, 16 hex digits>-<counter in hex>`, written without `format!`.
    pub fn mint(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(3 + 16 + 1 + 16);
        id.push_str("tg-");
        push_hex(&mut id, self.prefix, 16);
        id.push('-');
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        push_hex(&mut id, n, digits as usize);
        id
    }
}

/// Appends the low `digits` hex digits of `v`, lower case.
fn push_hex(out: &mut String, v: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(char::from(HEX[((v >> (i * 4)) & 0xF) as usize]));
    }
}

/// 1-128 bytes of `[A-Za-z0-9._:-]`: safe to echo in headers, logs and JSON.
pub fn is_valid_request_id(v: &[u8]) -> bool {
    (1..=128).contains(&v.len())
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A header name as CGI, WSGI and some proxies read it: `_` and `-` are the same. Borrowed
/// (no allocation) unless the name has a `_`, which almost none do.
pub(crate) fn folded(name: &HeaderName) -> std::borrow::Cow<'_, str> {
    let n = name.as_str();
    if n.contains('_') {
        std::borrow::Cow::Owned(n.replace('_', "-"))
    } else {
        std::borrow::Cow::Borrowed(n)
    }
}

/// Whether toolgate itself sets this header on a forwarded request; a client's copy is
/// always replaced. Underscore spellings (`x_forwarded_for`) count: a CGI upstream reads
/// them as the dashed name.
pub fn is_owned_by_toolgate(name: &HeaderName) -> bool {
    let n = folded(name);
    n.starts_with("x-toolgate-")
        || n.starts_with("x-forwarded-")
        || n == X_REQUEST_ID.as_str()
        || n == header::FORWARDED.as_str()
}

/// Claims about who the client is or where it connects from that an upstream behind an
/// auth proxy may trust: identity assertions of common auth proxies and gateways, and
/// client-address headers. toolgate never sets them; a client's copy is dropped unless the
/// route reads it (then it was evaluated, and is forwarded as evaluated). `X-Forwarded-*`
/// and `Forwarded` are toolgate's own and always replaced.
///
/// Matched in any `_` spelling.
pub fn is_client_claim(name: &HeaderName) -> bool {
    // A `match` compiles to a switch on the length, then one comparison: this runs for
    // every header of every request.
    matches!(
        &*folded(name),
        // client address
        "x-real-ip"
            | "x-client-ip"
            | "true-client-ip"
            | "x-cluster-client-ip"
            | "cf-connecting-ip"
            | "fastly-client-ip"
            | "x-originating-ip"
            | "x-remote-ip"
            | "x-remote-addr"
            | "client-ip"
            | "x-proxyuser-ip"
            | "x-original-forwarded-for"
            // identity asserted by an auth proxy or gateway
            | "x-remote-user"
            | "remote-user"
            | "x-authenticated-user"
            | "x-authenticated-userid"
            | "x-auth-request-user"
            | "x-auth-request-email"
            | "x-auth-request-groups"
            | "x-auth-request-preferred-username"
            | "x-webauth-user"
            | "x-consumer-username"
            | "x-goog-authenticated-user-email"
            | "x-amzn-oidc-identity"
            | "x-amzn-oidc-data"
            | "cf-access-authenticated-user-email"
            | "x-ms-client-principal"
            | "x-ms-client-principal-name"
    )
}

/// Why the upstream never receives a client's copy of this header as sent: it describes
/// one connection (hop-by-hop), toolgate sets it itself, or toolgate rebuilds it. A route
/// must not read such a header as context: the value evaluated would not be the value
/// forwarded. `None` for a header forwarded as received.
pub fn replaced_upstream(name: &HeaderName) -> Option<&'static str> {
    if HOP_BY_HOP.contains(name) {
        Some("it is hop-by-hop and never forwarded")
    } else if is_owned_by_toolgate(name) {
        Some("toolgate sets it on every forwarded request")
    } else if *name == X_REAL_IP {
        Some("toolgate removes it from every forwarded request")
    } else if *name == header::CONTENT_LENGTH || *name == header::EXPECT {
        // HTTP/1 framing is rebuilt by the client from the body itself; `Expect:
        // 100-continue` was answered on the client's connection.
        Some("toolgate rebuilds it for the upstream")
    } else {
        None
    }
}

/// The header names to drop on the way upstream beyond the hop-by-hop ones: those a
/// `Connection` header lists, and client claims ([`is_client_claim`]) the route does not
/// read. `Err(name)` when a listed name is one that must survive the hop: a header the
/// route's context reads, one the trust step verified (`verified`), `Host`, or one toolgate
/// owns. Such a request is refused rather than half-honoured: removing the header would
/// forward a request other than the one evaluated.
pub fn connection_listed(
    headers: &HeaderMap,
    route_reads: &[HeaderName],
    verified: &[HeaderName],
) -> Result<Vec<HeaderName>, String> {
    let mut listed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_client_claim(n) && !route_reads.contains(n))
        .cloned()
        .collect();
    if !headers.contains_key(header::CONNECTION) {
        return Ok(listed);
    }
    for value in headers.get_all(header::CONNECTION) {
        let text = value
            .to_str()
            .map_err(|_| "Connection header is not ASCII".to_string())?;
        for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let name = HeaderName::from_bytes(token.as_bytes())
                .map_err(|_| format!("Connection lists {token:?}, which is not a header name"))?;
            if name == header::HOST
                || is_owned_by_toolgate(&name)
                || route_reads.contains(&name)
                || verified.contains(&name)
            {
                return Err(format!(
                    "Connection lists {name}, which toolgate must forward or set"
                ));
            }
            if !HOP_BY_HOP.contains(&name) && !listed.contains(&name) {
                listed.push(name);
            }
        }
    }
    Ok(listed)
}

/// The request's identity every forwarded request and every response is tagged with (the
/// verdict is the third tag), as header values: built once per request (the policy version
/// once per bundle), then cloned by reference count onto both legs.
#[derive(Clone, Debug)]
pub struct Tags {
    pub request_id: HeaderValue,
    /// `BundleMeta::policy_version_header`.
    pub policy_version: HeaderValue,
}

impl Tags {
    /// Tags for a request id given as text and a bundle's policy version value.
    pub fn new(request_id: &str, policy_version: &HeaderValue) -> Tags {
        Tags {
            request_id: tag_value(request_id),
            policy_version: policy_version.clone(),
        }
    }
}

/// A tag's text (a request id, a policy version) as a header value. Ids are validated or
/// minted by us and versions come from the bundle loader; an unexpected byte still must not
/// panic the request path.
pub fn tag_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("invalid"))
}

/// Sets the three tags, replacing any existing copies.
pub fn tag(headers: &mut HeaderMap, tags: &Tags, verdict: &'static str) {
    headers.insert(X_REQUEST_ID, tags.request_id.clone());
    headers.insert(X_TOOLGATE_VERDICT, HeaderValue::from_static(verdict));
    headers.insert(X_TOOLGATE_POLICY_VERSION, tags.policy_version.clone());
}

/// Where a request really came from: the socket peer and whether it arrived over TLS, with
/// the forwarding headers that say so, rendered once per connection (not per request).
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tls: bool,
    /// `X-Forwarded-For`: the peer's address.
    forwarded_for: HeaderValue,
    /// `Forwarded` (RFC 7239): `for=` the address, `proto=` the scheme.
    forwarded: HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr, tls: bool) -> Peer {
        let ip = addr.ip();
        let proto = if tls { "https" } else { "http" };
        let forwarded = match ip {
            std::net::IpAddr::V4(v4) => format!("for={v4};proto={proto}"),
            std::net::IpAddr::V6(v6) => format!("for=\"[{v6}]\";proto={proto}"),
        };
        let ascii = |s: String| HeaderValue::from_str(&s).expect("formatted from an IP address");
        Peer {
            addr,
            tls,
            forwarded_for: ascii(ip.to_string()),
            forwarded: ascii(forwarded),
        }
    }
}

/// Rewrites an ALLOWed request's headers for the upstream: every header
/// [`replaced_upstream`] names and those in `listed` (see [`connection_listed`]) go;
/// toolgate's own forwarding headers, taken from the socket, replace the client's; then
/// the tags. `Host` is kept as the client sent it (for HTTP/2, from `:authority`): the
/// upstream shares the pod and sees the name the client used.
pub fn for_upstream(
    headers: &mut HeaderMap,
    listed: &[HeaderName],
    authority: Option<&http::uri::Authority>,
    peer: &Peer,
    tags: &Tags,
    verdict: &'static str,
) {
    // One look at each header decides what goes. Almost every request loses nothing, and a
    // hashed `remove` per candidate name would cost more than the whole pass.
    let doomed: SmallVec<[HeaderName; 4]> = headers
        .keys()
        .filter(|name| replaced_upstream(name).is_some() || listed.contains(name))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
    if !headers.contains_key(header::HOST) {
        if let Some(v) = authority.and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
            headers.insert(header::HOST, v);
        }
    }
    let proto = if peer.tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_FOR, peer.forwarded_for.clone());
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    headers.insert(header::FORWARDED, peer.forwarded.clone());
    tag(headers, tags, verdict);
}

/// Removes hop-by-hop fields (and those its `Connection` lists) from an upstream response.
pub fn strip_response(headers: &mut HeaderMap) {
    // One pass over the (few) response headers; most responses carry none of these.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&listed) {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests;
