//! Who is reviewing: a verified identity, never a form field. Either a trusted header set
//! by the authenticating reverse proxy in front of the inbox (oauth2-proxy's
//! `X-Forwarded-Email` and `X-Forwarded-Groups` by default), or the client certificate
//! rustls verified against `review.client_ca`. Without one, nothing in the inbox works.

use crate::identity::ClientCert;
use http::{HeaderMap, HeaderName};

/// The longest reviewer name accepted.
const MAX_NAME: usize = 256;

/// A verified reviewer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reviewer {
    pub name: String,
    /// Groups or roles, for routes whose bundle requires reviewer roles.
    pub roles: Vec<String>,
}

/// Where the reviewer's identity comes from.
#[derive(Clone, Debug)]
pub enum ReviewerSource {
    /// Headers an authenticating proxy sets (and strips from what clients send).
    Header { name: HeaderName, roles: HeaderName },
    /// A client certificate: its first URI SAN (e.g. `mailto:` or a SPIFFE id), else its
    /// first DNS SAN.
    ClientCert,
}

impl ReviewerSource {
    /// The reviewer of a request, or `None`: then the inbox answers 401.
    pub fn reviewer(&self, headers: &HeaderMap, cert: Option<&ClientCert>) -> Option<Reviewer> {
        match self {
            ReviewerSource::Header { name, roles } => {
                let mut values = headers.get_all(name).iter();
                let value = values.next()?;
                // Two values: a client's header got past the proxy beside its own.
                if values.next().is_some() {
                    return None;
                }
                let name = clean(value.to_str().ok()?)?;
                // One value, as for the name: a second is a client's that got past the
                // proxy beside its own, and could add roles.
                let mut given = headers.get_all(roles).iter();
                let roles = match (given.next(), given.next()) {
                    (None, _) => Vec::new(),
                    (Some(v), None) => v.to_str().ok()?.split(',').filter_map(clean).collect(),
                    (Some(_), Some(_)) => return None,
                };
                Some(Reviewer { name, roles })
            }
            ReviewerSource::ClientCert => {
                let cert = cert?;
                let name = cert.uris.first().or(cert.dns.first())?;
                let name = name.strip_prefix("mailto:").unwrap_or(name);
                Some(Reviewer {
                    name: clean(name)?,
                    roles: Vec::new(),
                })
            }
        }
    }
}

fn clean(s: &str) -> Option<String> {
    let s = s.trim();
    let ok = !s.is_empty() && s.len() <= MAX_NAME && !s.chars().any(char::is_control);
    ok.then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reviewer_comes_only_from_the_trusted_header() {
        let source = ReviewerSource::Header {
            name: HeaderName::from_static("x-forwarded-email"),
            roles: HeaderName::from_static("x-forwarded-groups"),
        };
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<(&'a str, &'a [&'a str])>);
        let cases: &[Case<'_>] = &[
            (&[], None),
            (&[("x-forwarded-email", "")], None),
            (&[("x-forwarded-email", "  ")], None),
            (&[("x-reviewer", "mallory")], None),
            (
                &[("x-forwarded-email", "a@x"), ("x-forwarded-email", "b@x")],
                None,
            ),
            (
                &[("x-forwarded-email", "ana@example.com")],
                Some(("ana@example.com", &[])),
            ),
            (
                &[
                    ("x-forwarded-email", "ana@example.com"),
                    ("x-forwarded-groups", "payments-lead, sre,,"),
                ],
                Some(("ana@example.com", &["payments-lead", "sre"])),
            ),
            (
                &[
                    ("x-forwarded-email", "ana@example.com"),
                    ("x-forwarded-groups", "sre"),
                    ("x-forwarded-groups", "payments-lead"),
                ],
                None,
            ),
        ];
        for (headers, want) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in *headers {
                map.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            let got = source.reviewer(&map, None);
            let want = want.map(|(n, r)| Reviewer {
                name: n.into(),
                roles: r.iter().map(|s| s.to_string()).collect(),
            });
            assert_eq!(got, want, "{headers:?}");
        }
        let cert = ClientCert {
            uris: std::sync::Arc::from([Box::from("mailto:ana@example.com")]),
            dns: std::sync::Arc::from([]),
        };
        let by_cert = ReviewerSource::ClientCert.reviewer(&HeaderMap::new(), Some(&cert));
        assert_eq!(by_cert.map(|r| r.name), Some("ana@example.com".into()));
        assert_eq!(
            ReviewerSource::ClientCert.reviewer(&HeaderMap::new(), None),
            None
        );
    }
}
