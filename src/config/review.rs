//! The `review` section: the review inbox. A sidecar reads only `url` (where its 409s link
//! to) and `traces` (how many decision traces it shares for the inbox's trace pages);
//! `toolgate review` reads the rest: where it listens, the approval signing key it alone
//! holds, where a reviewer's identity comes from, and the webhook it notifies.

use crate::duration::HumanDuration;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The review inbox.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// The inbox's base URL as reviewers reach it, e.g. `https://review.example.com`: the
    /// `review.url` of a 409 and the webhook's link. Absent: 409s carry the review id only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Where `toolgate review` listens. Default `127.0.0.1:9400`: behind the authenticating
    /// proxy that sets the reviewer header, reachable by nothing else.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `toolgate review` only: the approval signing key (PEM private key: Ed25519, ES256 or
    /// RS256; or an HS256 secret file). A sidecar never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<PathBuf>,
    /// The `kid` put in approvals' headers, when the bundle's key set names keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The header naming the reviewer, set by the authenticating reverse proxy in front of
    /// the inbox (oauth2-proxy's convention). Default `x-forwarded-email`.
    #[serde(default = "default_reviewer_header")]
    pub reviewer_header: String,
    /// The header listing the reviewer's groups (comma-separated), for routes whose bundle
    /// requires reviewer roles. Default `x-forwarded-groups`.
    #[serde(default = "default_roles_header")]
    pub roles_header: String,
    /// Reviewers by client certificate instead: the inbox listens with TLS (the `tls`
    /// settings) and requires a certificate from this CA; the reviewer is its first email
    /// SAN, else its subject's common name. The headers are then ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// A webhook notified of each new pending review (Slack-compatible JSON). Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// How many recent decision traces the state store keeps for the inbox's trace pages
    /// (each about 1 KB); sidecars share them off the request path. 0: none. Default 10000.
    #[serde(default = "default_traces")]
    pub traces: usize,
}

/// Where a new pending review is announced.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://`; may hold a secret (a Slack webhook URL does): never logged.
    pub url: String,
    /// Per attempt. Default `5s`.
    #[serde(default = "default_webhook_timeout")]
    pub timeout: HumanDuration,
    /// Attempts in all, with a doubling backoff from 1s. Default 3.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9400))
}
fn default_reviewer_header() -> String {
    "x-forwarded-email".into()
}
fn default_roles_header() -> String {
    "x-forwarded-groups".into()
}
fn default_traces() -> usize {
    10_000
}
fn default_webhook_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_attempts() -> u32 {
    3
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            url: None,
            listen: default_listen(),
            signing_key: None,
            key_id: None,
            reviewer_header: default_reviewer_header(),
            roles_header: default_roles_header(),
            client_ca: None,
            webhook: None,
            traces: default_traces(),
        }
    }
}

/// The most traces the store is asked to keep.
const MAX_TRACES: usize = 1_000_000;

impl ReviewConfig {
    /// Every problem, each with its path.
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(url) = &self.url {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.parse::<http::Uri>().is_ok();
            if !ok {
                out.push((
                    "review.url",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
        }
        for (path, name) in [
            ("review.reviewer_header", &self.reviewer_header),
            ("review.roles_header", &self.roles_header),
        ] {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                out.push((path, format!("{name:?} is not a header name")));
            }
        }
        if let Some(w) = &self.webhook {
            let ok = (w.url.starts_with("http://") || w.url.starts_with("https://"))
                && w.url.parse::<http::Uri>().is_ok();
            if !ok {
                out.push((
                    "review.webhook.url",
                    "not an http:// or https:// URL".into(),
                ));
            }
            if !(1..=10).contains(&w.attempts) {
                out.push(("review.webhook.attempts", "must be between 1 and 10".into()));
            }
            if w.timeout.get() < Duration::from_millis(100) {
                out.push(("review.webhook.timeout", "must be at least 100ms".into()));
            }
        }
        if self.traces > MAX_TRACES {
            out.push(("review.traces", format!("must be at most {MAX_TRACES}")));
        }
        out
    }

    /// Problems only `toolgate review` has: it must be able to sign, and must not share an
    /// address with the sidecar's listeners.
    pub fn inbox_problems(&self, taken: &[SocketAddr]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match &self.signing_key {
            None => out.push((
                "review.signing_key",
                "required by toolgate review: approvals are signed with it".into(),
            )),
            Some(f) if !f.is_file() => out.push((
                "review.signing_key",
                format!("{} is not a readable file", f.display()),
            )),
            Some(_) => {}
        }
        if taken
            .iter()
            .any(|t| super::validate::overlaps(*t, self.listen))
        {
            out.push((
                "review.listen",
                format!(
                    "must not share the proxy's or the admin listener's address ({})",
                    self.listen
                ),
            ));
        }
        out
    }
}
