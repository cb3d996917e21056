//! The request-path step between extraction and authorization: the verified identity and
//! the signed approval become facts, and every failure becomes an engine issue with its
//! reason in the decision's `details`. The proxy and the bundle test runner both call
//! [`Trust::gather`], so a bundle's tests decide requests exactly as the proxy does.
//!
//! After evaluation, [`authorize_with`] uses the approval's `jti` (only when the request is
//! about to be forwarded) and turns an approval DEFER into a 409 that carries the
//! [`ApprovalRequest`].

use super::{ClientCert, IdentityError, IdentitySource};
use crate::approval::request::body_sha256;
use crate::approval::{
    ApprovalClaims, ApprovalError, ApprovalRequest, ApprovalVerifier, Binding, ReplayCache,
    X_APPROVAL,
};
use crate::authorize::authorize;
use crate::policy::{Facts, IssueCode, Outcome, Verdict};
use crate::proxy::refusal::Refusal;
use crate::snapshot::{Route, Snapshot};
use http::{HeaderMap, HeaderName, Method};
use jiff::Timestamp;
use std::borrow::Cow;

/// The issues a signed approval can resolve: a DEFER with one of them asks for approval.
pub const APPROVAL_ISSUES: [IssueCode; 5] = [
    IssueCode::ApprovalRequired,
    IssueCode::ApproverMissing,
    IssueCode::ApprovalTimestampMissing,
    IssueCode::ApprovalExpired,
    IssueCode::DestructiveActionRequiresApproval,
];

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
    pub route: &'r Route,
    pub method: &'r Method,
    /// The normalized path, as forwarded.
    pub path: &'r str,
    pub query: Option<&'r str>,
    /// The buffered body, when it was read.
    pub body: Option<&'r [u8]>,
}

/// What the trust step found, for after evaluation.
#[derive(Debug, Default)]
pub struct Evidence {
    /// Reasons for identity and approval issues, for the decision's `details`.
    pub details: Vec<String>,
    /// A fully verified approval's `jti`, and until when (seconds) to remember it.
    pub claim: Option<(String, i64)>,
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
    pub fn gather(
        &self,
        input: &TrustInput<'_>,
        facts: &mut Facts<'_>,
        replay: &ReplayCache,
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
            self.gather_approval(verifier, input, facts, replay, now, &mut ev);
        }
        ev
    }

    fn gather_approval(
        &self,
        verifier: &ApprovalVerifier,
        input: &TrustInput<'_>,
        facts: &mut Facts<'_>,
        replay: &ReplayCache,
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
        } else if replay.seen(&claims.jti, now.as_second()) {
            facts.issues.insert(IssueCode::ApprovalReplayed);
            ev.details.push(replayed(&claims.jti));
        } else {
            let until = claims.exp.saturating_add(verifier.leeway);
            ev.claim = Some((claims.jti, until));
        }
    }

    /// The approval a reviewer must give for this request, when approvals are signed and
    /// the body was read (routes that may need approval always read it). None while a
    /// verified identity is missing: an approval for "whoever asks" is not asked for.
    pub fn approval_request(
        &self,
        input: &TrustInput<'_>,
        facts: &Facts<'_>,
        request_id: &str,
        policy_version: &str,
    ) -> Option<ApprovalRequest> {
        let verifier = self.approvals.as_ref()?;
        if self.identity.is_verified() && facts.actor.is_none() {
            return None;
        }
        Some(ApprovalRequest {
            binding: binding_of(input, facts)?,
            goal: input.route.action.goal.to_string(),
            request_id: request_id.to_owned(),
            policy_version: policy_version.to_owned(),
            max_ttl_seconds: verifier.max_ttl,
        })
    }
}

fn replayed(jti: &str) -> String {
    format!("approval: jti {jti:?} was already used; an approval is good for one request")
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
    Some(Binding {
        route: input.route.name.to_string(),
        method: input.method.as_str().to_owned(),
        path,
        body_sha256: body_sha256(body),
        environment: facts.environment.as_deref().map(str::to_owned),
        run_id: facts.run_id.as_deref().map(str::to_owned),
        actor: facts.actor.as_deref().map(str::to_owned),
    })
}

/// [`authorize`] (the outcome, and what to do), with the evidence applied: a verified approval's `jti` is used only when
/// the request is about to be forwarded (losing that race, or replaying, is
/// APPROVAL_REPLAYED); reasons join the decision's `details`; and an approval DEFER under
/// signed approvals carries the approval request.
pub fn authorize_with(
    snapshot: &Snapshot,
    input: &TrustInput<'_>,
    facts: &mut Facts<'_>,
    evidence: Evidence,
    replay: &ReplayCache,
    now: Timestamp,
    request_id: &str,
) -> (Outcome, Result<Verdict, Refusal>) {
    let route = input.route;
    let Evidence { mut details, claim } = evidence;
    let (mut outcome, mut result) = authorize(snapshot, route, facts, now, request_id);
    if let (Ok(_), Some((jti, until))) = (&result, &claim) {
        if replay.claim(jti, *until, now.as_second()) {
            tracing::info!(request_id, jti, approved_by = ?facts.approved_by, "signed approval used");
        } else {
            facts.issues.insert(IssueCode::ApprovalReplayed);
            details.push(replayed(jti));
            (outcome, result) = authorize(snapshot, route, facts, now, request_id);
        }
    }
    let result = match result {
        Err(Refusal::Denied(mut d)) => {
            d.details.extend(details);
            Err(Refusal::Denied(d))
        }
        Err(Refusal::Deferred(mut d)) => {
            d.details.extend(details);
            let wants = d.issues.iter().any(|c| APPROVAL_ISSUES.contains(&c));
            let policy_version = &snapshot.meta.policy_version;
            match wants
                .then(|| {
                    snapshot
                        .trust
                        .approval_request(input, facts, request_id, policy_version)
                })
                .flatten()
            {
                Some(req) => Err(Refusal::AwaitingApproval(d, Box::new(req))),
                None => Err(Refusal::Deferred(d)),
            }
        }
        other => other,
    };
    (outcome, result)
}
