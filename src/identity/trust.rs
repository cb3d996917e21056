//! The verification step of the request path: the verified identity and the signed approval
//! become facts, and every failure becomes an engine issue with its reason in the decision's
//! `details`. Verification only: no state is read or written here (using an approval's `jti`
//! once is the request path's, after the decision), and nothing is evaluated.

use super::{ClientCert, IdentityError, IdentitySource};
use crate::approval::request::body_sha256;
use crate::approval::{ApprovalClaims, ApprovalError, ApprovalVerifier, Binding, X_APPROVAL};
use crate::policy::{Facts, IssueCode};
use http::{HeaderMap, HeaderName, Method};
use jiff::Timestamp;
use std::borrow::Cow;

/// A bundle's compiled trust settings: where identity comes from, how approvals are
/// verified, and which caller headers are stripped because a verified source replaces them.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    pub identity: IdentitySource,
    /// `Some` when `approval.source: signed`.
    pub approvals: Option<ApprovalVerifier>,
    /// Header names never forwarded (also in their `_` spelling), e.g. `x-actor-role`.
    pub strip: Vec<HeaderName>,
    /// Header name prefixes never forwarded, e.g. `x-approval-`.
    pub strip_prefixes: Vec<&'static str>,
}

/// What the trust step reads from a request.
pub struct TrustInput<'r> {
    pub headers: &'r HeaderMap,
    pub client_cert: Option<&'r ClientCert>,
    /// The matched route's name (an approval binds it).
    pub route: &'r str,
    pub method: &'r Method,
    /// The normalized path, as forwarded.
    pub path: &'r str,
    pub query: Option<&'r str>,
    /// The buffered body, when it was read.
    pub body: Option<&'r [u8]>,
    /// An MCP call: its JSON-RPC method and the tool (prompt, resource URI) it names. An
    /// approval then binds the call's arguments, not the message.
    pub mcp: Option<(&'r str, &'r str)>,
}

/// What the trust step found, for after evaluation.
#[derive(Debug, Default)]
pub struct Evidence {
    /// Reasons for identity and approval issues, for the decision's `details`.
    pub details: Vec<String>,
    /// A fully verified approval, to be used once when the request is forwarded.
    pub claim: Option<Claim>,
}

/// A verified approval's `jti`, and until when (Unix seconds) its use must be remembered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub jti: String,
    pub until: i64,
}

impl Trust {
    /// The headers the trust step verifies (the bearer token, the signed approval): like
    /// the headers a route reads, they must reach the upstream as they were verified, so a
    /// `Connection` header may not list them.
    pub fn verified_headers(&self) -> &'static [HeaderName] {
        static TOKEN: [HeaderName; 1] = [http::header::AUTHORIZATION];
        static APPROVAL: [HeaderName; 1] = [X_APPROVAL];
        static BOTH: [HeaderName; 2] = [http::header::AUTHORIZATION, X_APPROVAL];
        match (
            matches!(self.identity, IdentitySource::Jwt(_)),
            self.approvals.is_some(),
        ) {
            (true, true) => &BOTH,
            (true, false) => &TOKEN,
            (false, true) => &APPROVAL,
            (false, false) => &[],
        }
    }

    /// Whether this request's body must be buffered although its route reads none: it
    /// carries a signed approval, whose binding covers the body.
    pub fn buffers_body(&self, headers: &HeaderMap) -> bool {
        self.approvals.is_some() && headers.contains_key(X_APPROVAL)
    }

    /// Removes the identity and approval headers a verified source replaced, so the
    /// upstream never sees a caller's claim as if toolgate had vouched for it. Names are
    /// compared with `_` folded to `-`, as some upstream stacks read them.
    pub fn strip_headers(&self, headers: &mut HeaderMap) {
        if self.strip.is_empty() && self.strip_prefixes.is_empty() {
            return;
        }
        let doomed: Vec<HeaderName> = headers
            .keys()
            .filter(|name| {
                let folded = crate::headers::folded(name);
                self.strip.iter().any(|s| s.as_str() == folded)
                    || self.strip_prefixes.iter().any(|p| folded.starts_with(p))
            })
            .cloned()
            .collect();
        for name in doomed {
            headers.remove(name);
        }
    }

    /// Applies the verified identity and the signed approval to `facts`. With a verified
    /// source, the facts it owns hold only what it verified.
    pub fn verify(
        &self,
        input: &TrustInput<'_>,
        facts: &mut Facts<'_>,
        now: Timestamp,
    ) -> Evidence {
        let mut ev = Evidence::default();
        if let Some(result) = self.identity.verify(input.headers, input.client_cert, now) {
            let source = self.identity.name();
            facts.actor = None;
            facts.actor_role = None;
            facts.extra_roles.clear();
            match result {
                Ok(v) => {
                    tracing::debug!(actor = %v.actor, source, "identity verified");
                    let mut roles = v.roles.into_iter().map(Cow::Owned);
                    facts.actor = Some(Cow::Owned(v.actor));
                    facts.actor_role = roles.next();
                    facts.extra_roles = roles.collect();
                }
                Err(IdentityError::Missing(why)) => {
                    facts.issues.insert(IssueCode::ActorRoleMissing);
                    ev.details.push(format!("identity ({source}): {why}"));
                }
                Err(IdentityError::Invalid(why)) => {
                    facts.issues.insert(IssueCode::IdentityInvalid);
                    ev.details.push(format!("identity ({source}): {why}"));
                }
            }
        }
        if let Some(verifier) = &self.approvals {
            facts.approval_status = None;
            facts.approved_by = None;
            facts.approved_at = None;
            verify_approval(verifier, input, facts, now, &mut ev);
        }
        ev
    }
}

impl Trust {
    /// Verifies the approval a reviewer gave this request's binding in the review inbox,
    /// exactly as an `x-approval` header would be (for a request that carried none).
    pub fn verify_stored_approval(
        &self,
        token: &str,
        input: &TrustInput<'_>,
        facts: &mut Facts<'_>,
        now: Timestamp,
    ) -> Evidence {
        let mut ev = Evidence::default();
        if let Some(verifier) = &self.approvals {
            verify_token(verifier, token, input, facts, now, &mut ev);
        }
        ev
    }
}

fn verify_approval(
    verifier: &ApprovalVerifier,
    input: &TrustInput<'_>,
    facts: &mut Facts<'_>,
    now: Timestamp,
    ev: &mut Evidence,
) {
    let mut all = input.headers.get_all(X_APPROVAL).iter();
    let Some(value) = all.next() else { return };
    let token = match (all.next(), value.to_str()) {
        (None, Ok(t)) => t.trim(),
        _ => {
            facts.issues.insert(IssueCode::ApprovalSignatureInvalid);
            ev.details
                .push("approval: x-approval must be one ASCII header".into());
            return;
        }
    };
    verify_token(verifier, token, input, facts, now, ev);
}

fn verify_token(
    verifier: &ApprovalVerifier,
    token: &str,
    input: &TrustInput<'_>,
    facts: &mut Facts<'_>,
    now: Timestamp,
    ev: &mut Evidence,
) {
    let claims = match verifier.verify(token, now) {
        Ok(claims) => claims,
        Err(ApprovalError::SignatureInvalid(why)) => {
            facts.issues.insert(IssueCode::ApprovalSignatureInvalid);
            ev.details.push(why);
            return;
        }
        Err(ApprovalError::Expired(claims, why)) => {
            approve(facts, &claims);
            facts.issues.insert(IssueCode::ApprovalExpired);
            ev.details.push(why);
            return;
        }
    };
    approve(facts, &claims);
    let mismatches = match binding_of(input, facts) {
        Some(actual) => claims.binding.mismatches(&actual),
        None => vec!["approval binding: the request body was not read".into()],
    };
    if !mismatches.is_empty() {
        facts.issues.insert(IssueCode::ApprovalScopeMismatch);
        ev.details.extend(mismatches);
    } else {
        let until = claims.exp.saturating_add(verifier.leeway);
        ev.claim = Some(Claim {
            jti: claims.jti,
            until,
        });
    }
}

/// A genuine approval's facts: the engine then applies its own checks (approval age,
/// four eyes).
fn approve(facts: &mut Facts<'_>, claims: &ApprovalClaims) {
    facts.approval_status = Some(Cow::Borrowed("approved"));
    facts.approved_by = Some(Cow::Owned(claims.approved_by.clone()));
    facts.approved_at = Timestamp::from_second(claims.iat).ok();
}

/// The request's binding: `None` when its body was not read (it cannot be digested).
pub fn binding_of(input: &TrustInput<'_>, facts: &Facts<'_>) -> Option<Binding> {
    let body = input.body?;
    let path = match input.query {
        Some(q) => format!("{}?{q}", input.path),
        None => input.path.to_owned(),
    };
    let (method, body_sha256, tool) = match input.mcp {
        None => (input.method.as_str().to_owned(), body_sha256(body), None),
        Some((method, tool)) => (
            method.to_owned(),
            body_sha256(&crate::mcp::message::canonical_arguments(body)?),
            Some(tool.to_owned()),
        ),
    };
    Some(Binding {
        route: input.route.to_owned(),
        method,
        path,
        body_sha256,
        tool,
        environment: facts.environment.as_deref().map(str::to_owned),
        run_id: facts.run_id.as_deref().map(str::to_owned),
        actor: facts.actor.as_deref().map(str::to_owned),
    })
}
