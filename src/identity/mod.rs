//! Who is asking, verified. A bundle chooses where `actor` and `actor_role` come from:
//!
//! - `trusted_headers`: the route's context map, as written (`x-actor`, `x-actor-role`).
//!   Safe only when the sole caller is a trusted orchestrator on the pod network.
//! - `jwt`: a bearer token in `Authorization`, verified with the bundle's keys ([`jwt`]).
//! - `mtls`: the client certificate rustls verified against `tls.client_ca` ([`mtls`]).
//!
//! With a verified source the caller's identity headers are ignored (the bundle compiler
//! drops them from every context map) and stripped before forwarding. The request-path
//! step that applies identity and signed approvals to a request's facts is [`trust`].

pub mod jwt;
pub mod mtls;
pub mod trust;

pub use mtls::ClientCert;
pub use trust::{binding_of, Claim, Evidence, Trust, TrustInput};

use http::{header, HeaderMap};
use jiff::Timestamp;

/// A verified identity: the actor, and every role it holds (a token may carry several; a
/// role requirement is met by any of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub actor: String,
    pub roles: Vec<String>,
}

/// Why no identity was established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// No credential at all: held (ACTOR_ROLE_MISSING, DEFER) until one is presented.
    Missing(&'static str),
    /// A credential that does not verify: refused (IDENTITY_INVALID, DENY), with the reason.
    Invalid(String),
}

/// A compiled `spec.identity`.
#[derive(Clone, Debug, Default)]
pub enum IdentitySource {
    #[default]
    TrustedHeaders,
    Jwt(Box<jwt::JwtVerifier>),
    Mtls(mtls::MtlsMap),
}

impl IdentitySource {
    /// True when the identity comes from a credential, not from caller-set headers.
    pub fn is_verified(&self) -> bool {
        !matches!(self, IdentitySource::TrustedHeaders)
    }

    pub fn name(&self) -> &'static str {
        match self {
            IdentitySource::TrustedHeaders => "trusted_headers",
            IdentitySource::Jwt(_) => "jwt",
            IdentitySource::Mtls(_) => "mtls",
        }
    }

    /// Verifies the request's credential. `None` for `trusted_headers`: the context map
    /// already read the actor and role.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        cert: Option<&ClientCert>,
        now: Timestamp,
    ) -> Option<Result<Verified, IdentityError>> {
        match self {
            IdentitySource::TrustedHeaders => None,
            IdentitySource::Jwt(v) => Some(bearer(headers).and_then(|t| v.verify(t, now))),
            IdentitySource::Mtls(m) => Some(m.verify(cert)),
        }
    }
}

/// The token of the one `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Result<&str, IdentityError> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = all.next() else {
        return Err(IdentityError::Missing("no Authorization header"));
    };
    if all.next().is_some() {
        return Err(IdentityError::Invalid(
            "Authorization header repeated".into(),
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| IdentityError::Invalid("Authorization header is not ASCII".into()))?;
    let (scheme, token) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| IdentityError::Invalid("Authorization is not a Bearer credential".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(IdentityError::Invalid(
            "Authorization is not a Bearer credential".into(),
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(IdentityError::Missing("the bearer token is empty"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_credentials() {
        let mut h = HeaderMap::new();
        assert!(matches!(bearer(&h), Err(IdentityError::Missing(_))));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(matches!(bearer(&h), Err(IdentityError::Invalid(_))));
        h.insert(header::AUTHORIZATION, "bearer  a.b.c ".parse().unwrap());
        assert_eq!(bearer(&h), Ok("a.b.c"));
        h.append(header::AUTHORIZATION, "Bearer x.y.z".parse().unwrap());
        assert!(matches!(bearer(&h), Err(IdentityError::Invalid(_))));
    }
}
