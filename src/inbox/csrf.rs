//! Cross-site request forgery defences of the inbox's forms: stateless tokens bound to
//! the reviewer (an HMAC any replica holding the same secret can check, so no session
//! store), the `Sec-Fetch-Site` / `Origin` check a browser's own headers allow, and the
//! form body parser the approve and reject handlers read the token from.

use ring::hmac;

/// How long a token is accepted: a working day, so a page left open still submits.
const LIFETIME_S: i64 = 12 * 3600;

/// Separates this key from any other use of the same secret.
const LABEL: &[u8] = b"toolgate-review-csrf";

/// A token longer than any this module mints is not worth parsing.
const MAX_TOKEN_LEN: usize = 128;

/// CSRF tokens bound to the reviewer: `EXPIRY.HEX(HMAC-SHA256(key, reviewer \n EXPIRY))`,
/// valid for 12 h, so every inbox replica that holds the same secret accepts the others'
/// tokens.
pub struct Csrf {
    key: hmac::Key,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CsrfError {
    #[error("no CSRF token")]
    Missing,
    #[error("the CSRF token is not one this inbox mints")]
    Malformed,
    #[error("the CSRF token has expired; reload the page")]
    Expired,
    #[error("the CSRF token is not valid for this reviewer")]
    Invalid,
}

impl Csrf {
    /// The key is HMAC-SHA256(secret, label), so the configured secret itself never keys
    /// a MAC an attacker sees the output of.
    pub fn new(secret: &[u8]) -> Csrf {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), LABEL);
        Csrf {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    pub fn token(&self, reviewer: &str, now_s: i64) -> String {
        let expiry = now_s.saturating_add(LIFETIME_S);
        let tag = hmac::sign(&self.key, &message(reviewer, expiry));
        format!("{expiry}.{}", hex::encode(tag.as_ref()))
    }

    /// The MAC is checked (in constant time) before the expiry, so a forged token learns
    /// nothing from which error it gets.
    pub fn check(&self, token: &str, reviewer: &str, now_s: i64) -> Result<(), CsrfError> {
        if token.is_empty() {
            return Err(CsrfError::Missing);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(CsrfError::Malformed);
        }
        let (expiry, tag) = token.split_once('.').ok_or(CsrfError::Malformed)?;
        // Digits only: `i64::from_str` would also take a sign, giving one token two spellings.
        if expiry.is_empty() || expiry.len() > 18 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CsrfError::Malformed);
        }
        let expiry: i64 = expiry.parse().map_err(|_| CsrfError::Malformed)?;
        let tag = hex::decode(tag).map_err(|_| CsrfError::Malformed)?;
        if tag.len() != hmac::HMAC_SHA256.digest_algorithm().output_len() {
            return Err(CsrfError::Malformed);
        }
        hmac::verify(&self.key, &message(reviewer, expiry), &tag)
            .map_err(|_| CsrfError::Invalid)?;
        if now_s >= expiry {
            return Err(CsrfError::Expired);
        }
        Ok(())
    }
}

/// What is signed. The expiry is digits and comes last, so no reviewer name (even one
/// with a newline) can make two (reviewer, expiry) pairs sign the same bytes.
fn message(reviewer: &str, expiry: i64) -> Vec<u8> {
    format!("{reviewer}\n{expiry}").into_bytes()
}

/// Whether a state-changing request comes from the inbox's own pages: refused when
/// `Sec-Fetch-Site` is present and not `same-origin` (or `none`), or when `Origin` names
/// another host[:port] than the `Host` header (`Origin: null` passes only beside
/// `Sec-Fetch-Site: same-origin`). Absent headers pass (non-browser clients: the token
/// still must match).
pub fn same_origin(headers: &http::HeaderMap) -> bool {
    // The browser said `same-origin`: no page can make it say so.
    let mut vouched = false;
    let mut site = headers.get_all("sec-fetch-site").iter();
    match (site.next(), site.next()) {
        (None, _) => {}
        (Some(v), None) => {
            let s = v.to_str().map(str::trim).unwrap_or("");
            if s.eq_ignore_ascii_case("same-origin") {
                vouched = true;
            } else if !s.eq_ignore_ascii_case("none") {
                return false;
            }
        }
        // Browsers send one; more is not a browser, and not a request to guess about.
        (Some(_), Some(_)) => return false,
    }

    let mut origin = headers.get_all(http::header::ORIGIN).iter();
    let origin = match (origin.next(), origin.next()) {
        (None, _) => return true,
        (Some(v), None) => v,
        (Some(_), Some(_)) => return false,
    };
    // A page whose referrer policy withholds its origin sends `null`, even to itself; the
    // browser's own word then decides. A named origin must still be this one.
    if vouched && origin.as_bytes().trim_ascii() == b"null" {
        return true;
    }
    let (Ok(origin), Some(Ok(host))) = (
        origin.to_str(),
        headers.get(http::header::HOST).map(|h| h.to_str()),
    ) else {
        // An opaque origin ("null" aside, which fails below too) or no Host to compare
        // with: nothing shows the request came from our own page.
        return false;
    };
    let Some((scheme, authority)) = origin.trim().split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    match (
        host_port(authority, default_port),
        host_port(host.trim(), default_port),
    ) {
        (Some((oh, op)), Some((hh, hp))) => oh.eq_ignore_ascii_case(hh) && op == hp,
        _ => false,
    }
}

/// `host[:port]` split, the port defaulted by the origin's scheme (a browser leaves a
/// default port out of both headers, but a client may spell it in one). `None` for
/// anything with userinfo, a path, or a port that is not a number.
fn host_port<'a>(authority: &'a str, default_port: &'a str) -> Option<(&'a str, &'a str)> {
    if authority.is_empty() || authority.contains(['/', '@', '?', '#', ' ']) {
        return None;
    }
    // An IPv6 literal keeps its colons inside brackets; only a colon after `]` is a port.
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') && (!h.contains('[') || h.ends_with(']')) => (h, p),
        _ => (authority, default_port),
    };
    if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = port.trim_start_matches('0');
    Some((host, if port.is_empty() { "0" } else { port }))
}

/// An application/x-www-form-urlencoded body as (name, value) pairs.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    const NOW: i64 = 1_796_428_812;

    #[test]
    fn a_token_checks_for_its_reviewer_until_it_expires() {
        let c = Csrf::new(b"secret");
        let t = c.token("alice@example.com", NOW);
        assert_eq!(c.check(&t, "alice@example.com", NOW), Ok(()));
        assert_eq!(
            c.check(&t, "alice@example.com", NOW + LIFETIME_S - 1),
            Ok(())
        );
        assert_eq!(
            c.check(&t, "alice@example.com", NOW + LIFETIME_S),
            Err(CsrfError::Expired)
        );
        assert_eq!(
            c.check(&t, "mallory@example.com", NOW),
            Err(CsrfError::Invalid)
        );
    }

    #[test]
    fn replicas_with_one_secret_accept_each_others_tokens() {
        let t = Csrf::new(b"shared").token("alice", NOW);
        assert_eq!(Csrf::new(b"shared").check(&t, "alice", NOW + 60), Ok(()));
        assert_eq!(
            Csrf::new(b"other").check(&t, "alice", NOW + 60),
            Err(CsrfError::Invalid)
        );
    }

    #[test]
    fn tampered_missing_and_garbage_tokens_are_refused() {
        let c = Csrf::new(b"secret");
        let t = c.token("alice", NOW);
        let (exp, tag) = t.split_once('.').unwrap();
        let later = format!("{}.{tag}", exp.parse::<i64>().unwrap() + 3600);
        let mut flipped = tag.to_string().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = format!("{exp}.{}", String::from_utf8(flipped).unwrap());
        let cases: &[(&str, CsrfError)] = &[
            (&later, CsrfError::Invalid),
            (&flipped, CsrfError::Invalid),
            ("", CsrfError::Missing),
            ("garbage", CsrfError::Malformed),
            ("123.zz", CsrfError::Malformed),
            ("123.abcd", CsrfError::Malformed),
            (&format!("+{exp}.{tag}"), CsrfError::Malformed),
            (&format!("-1.{tag}"), CsrfError::Malformed),
            (&format!(".{tag}"), CsrfError::Malformed),
            (&format!("{t}{}", "0".repeat(200)), CsrfError::Malformed),
        ];
        for (token, want) in cases {
            assert_eq!(c.check(token, "alice", NOW).as_ref(), Err(want), "{token}");
        }
    }

    #[test]
    fn a_newline_in_the_reviewer_cannot_forge_another_binding() {
        let c = Csrf::new(b"secret");
        let t = c.token("alice", NOW);
        let (exp, _) = t.split_once('.').unwrap();
        assert_eq!(
            c.check(&t, &format!("alice\n{exp}"), NOW),
            Err(CsrfError::Invalid)
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_table() {
        let host = ("host", "127.0.0.1:9400");
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("sec-fetch-site", "cross-site"), host], false),
            (&[("sec-fetch-site", "same-site"), host], false),
            (&[("sec-fetch-site", "same-origin"), host], true),
            (&[("sec-fetch-site", "none"), host], true),
            (&[("origin", "http://evil.example"), host], false),
            (&[("origin", "http://127.0.0.1:9400"), host], true),
            (&[host], true),
            (&[], true),
            (&[("origin", "http://127.0.0.1:9401"), host], false),
            (&[("origin", "https://127.0.0.1:9400"), host], true),
            (&[("origin", "null"), host], false),
            // A form on a page with a strict referrer policy: Chromium sends these.
            (
                &[("sec-fetch-site", "same-origin"), ("origin", "null"), host],
                true,
            ),
            (
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "http://127.0.0.1:9400"),
                    host,
                ],
                false,
            ),
            (&[("origin", "http://127.0.0.1:9400")], false),
            (&[("origin", "http://user@127.0.0.1:9400"), host], false),
            (
                &[("origin", "http://127.0.0.1"), ("host", "127.0.0.1:80")],
                true,
            ),
            (
                &[
                    ("origin", "https://inbox.example"),
                    ("host", "INBOX.example"),
                ],
                true,
            ),
            (
                &[("origin", "http://[::1]:9400"), ("host", "[::1]:9400")],
                true,
            ),
            (&[("origin", "http://[::1]:9400"), ("host", "[::1]")], false),
            (
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "http://evil.example"),
                    host,
                ],
                false,
            ),
            (
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("sec-fetch-site", "cross-site"),
                    host,
                ],
                false,
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(same_origin(&headers(pairs)), *want, "{pairs:?}");
        }
    }

    #[test]
    fn form_bodies_decode() {
        assert_eq!(
            form(b"csrf=1.ab&reason=not+now%21&ttl=300&empty="),
            vec![
                ("csrf".to_string(), "1.ab".to_string()),
                ("reason".to_string(), "not now!".to_string()),
                ("ttl".to_string(), "300".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
        assert!(form(b"").is_empty());
    }
}
