//! Signed approvals, bound to the request. A human approval travels as a compact JWS in
//! the `x-approval` header, signed by an approval service whose key the bundle names
//! (`spec.approval.source: signed`). Its claims:
//!
//! ```json
//! {"approved_by": "[email protected]", "iat": 1773653400, "exp": 1773654300,
//!  "jti": "5f0c...", "binding": {"route": "payouts-create", "method": "POST",
//!  "path": "/payments/v1/payouts", "body_sha256": "9f86...", "environment": "production",
//!  "run_id": null, "actor": "agent-7"}}
//! ```
//!
//! The sidecar checks the signature, the lifetime (`exp`, and `exp - iat <= max_ttl`), and
//! that the binding describes the request it is about to forward: the same route, method,
//! normalized path and query, the SHA-256 of the exact body bytes, the same environment,
//! and, when the binding names them, the same run and actor. The `jti` is then used once
//! (claimed in `crate::state`, shared across replicas when the store is Redis). What the request needs to be approved is the [`request::ApprovalRequest`]
//! a DEFER carries.

pub mod request;

pub use request::ApprovalRequest;

use crate::jose::claims::{is_clean, render, seconds, verify_claims};
use crate::jose::keys::KeySet;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The header a signed approval travels in. Never forwarded.
pub const X_APPROVAL: http::HeaderName = http::HeaderName::from_static("x-approval");

/// What an approval is for: the request as the sidecar forwards it. Unknown fields are
/// refused: a binding the sidecar cannot check must not pass as checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// The bundle's route name.
    pub route: String,
    pub method: String,
    /// The normalized path, and `?query` when there is one: exactly what is forwarded.
    pub path: String,
    /// Lower-case hex SHA-256 of the exact body bytes forwarded (of nothing, when empty).
    pub body_sha256: String,
    #[serde(default)]
    pub environment: Option<String>,
    /// When set, the approval holds only for this run.
    #[serde(default)]
    pub run_id: Option<String>,
    /// When set, the approval holds only for this requesting actor.
    #[serde(default)]
    pub actor: Option<String>,
    /// An MCP call's tool (or prompt, or resource URI): then `method` is the JSON-RPC
    /// method, `path` the endpoint, and `body_sha256` the digest of the call's arguments in
    /// RFC 8785 canonical form (not of the message: its `id` changes on every retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

impl Binding {
    /// Every way `self` (the approval's) fails to describe `actual` (the request's), one
    /// line each; empty when it does.
    pub fn mismatches(&self, actual: &Binding) -> Vec<String> {
        let mut out = Vec::new();
        let mut differ = |what: &str, approved: &str, got: &str| {
            out.push(format!(
                "approval binding: {what} is {approved:?}, the request's is {got:?}"
            ))
        };
        let none = "(none)";
        if self.route != actual.route {
            differ("route", &self.route, &actual.route);
        }
        if self.method != actual.method {
            differ("method", &self.method, &actual.method);
        }
        if self.path != actual.path {
            differ("path", &self.path, &actual.path);
        }
        if self.tool != actual.tool {
            differ(
                "tool",
                self.tool.as_deref().unwrap_or(none),
                actual.tool.as_deref().unwrap_or(none),
            );
        }
        if !self.body_sha256.eq_ignore_ascii_case(&actual.body_sha256) {
            differ("body_sha256", &self.body_sha256, &actual.body_sha256);
        }
        let env_same = match (&self.environment, &actual.environment) {
            (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
            (None, None) => true,
            _ => false,
        };
        if !env_same {
            differ(
                "environment",
                self.environment.as_deref().unwrap_or(none),
                actual.environment.as_deref().unwrap_or(none),
            );
        }
        if let Some(run) = &self.run_id {
            if actual.run_id.as_ref() != Some(run) {
                differ("run_id", run, actual.run_id.as_deref().unwrap_or(none));
            }
        }
        if let Some(actor) = &self.actor {
            if actual.actor.as_ref() != Some(actor) {
                differ("actor", actor, actual.actor.as_deref().unwrap_or(none));
            }
        }
        out
    }
}

/// A signed approval's claims, once its signature verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalClaims {
    pub approved_by: String,
    /// When the approval was given (`approved_at`), seconds since the epoch.
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub binding: Binding,
}

/// Why a signed approval does not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalError {
    /// No trusted key verifies it, or it is not a well-formed approval (DENY).
    SignatureInvalid(String),
    /// Genuine but past `exp`, or issued for longer than `max_ttl` (DEFER: re-approve).
    Expired(Box<ApprovalClaims>, String),
}

/// A compiled `spec.approval` with `source: signed`.
#[derive(Clone, Debug)]
pub struct ApprovalVerifier {
    pub keys: KeySet,
    pub validations: Vec<(Algorithm, Validation)>,
    /// The longest `exp - iat` accepted, in seconds.
    pub max_ttl: i64,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (the bundle's `approval.clock_skew`).
    pub leeway: i64,
}

/// Longest `jti` accepted: it is kept in memory until the approval expires.
const MAX_JTI_BYTES: usize = 128;

impl ApprovalVerifier {
    pub fn new(keys: KeySet, algorithm: Algorithm, max_ttl: i64, leeway: i64) -> Self {
        let mut v = crate::jose::claims::clock_free_validation(algorithm);
        v.set_required_spec_claims(&["exp"]);
        // The binding, not an audience, says what the approval is for.
        v.validate_aud = false;
        ApprovalVerifier {
            keys,
            validations: vec![(algorithm, v)],
            max_ttl,
            leeway,
        }
    }

    /// Verifies the signature and reads the claims; then the lifetime, at `now`. The
    /// binding and the single use are the caller's: they need the request.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<ApprovalClaims, ApprovalError> {
        let invalid = ApprovalError::SignatureInvalid;
        let claims = verify_claims(
            token,
            &self.keys,
            &self.validations,
            now,
            self.leeway,
            false,
        )
        .map_err(|e| invalid(format!("approval: {e}")))?;
        let claims = parse_claims(&claims).map_err(|e| invalid(format!("approval: {e}")))?;
        // RFC 7519 §4.1.4: not accepted on or after `exp` (plus the leeway).
        if now.as_second() >= claims.exp.saturating_add(self.leeway) {
            let why = format!("approval expired at {}", render(claims.exp));
            return Err(ApprovalError::Expired(Box::new(claims), why));
        }
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if lifetime > self.max_ttl {
            let why = format!(
                "approval lifetime is {}s; the bundle accepts at most {}s (approval.max_ttl)",
                lifetime, self.max_ttl
            );
            return Err(ApprovalError::Expired(Box::new(claims), why));
        }
        Ok(claims)
    }
}

fn parse_claims(claims: &Map<String, Value>) -> Result<ApprovalClaims, String> {
    let text = |name: &str| match claims.get(name) {
        Some(Value::String(s)) if is_clean(s) => Ok(s.clone()),
        _ => Err(format!("claim {name} is missing or not a non-empty string")),
    };
    let approved_by = text("approved_by")?;
    let jti = text("jti")?;
    if jti.len() > MAX_JTI_BYTES {
        return Err(format!("claim jti is longer than {MAX_JTI_BYTES} bytes"));
    }
    let iat = seconds(claims, "iat")?.ok_or("claim iat (approved_at) is missing")?;
    let exp = seconds(claims, "exp")?.ok_or("claim exp is missing")?;
    if exp <= iat {
        return Err("claim exp is not after iat".into());
    }
    let binding = claims.get("binding").ok_or("claim binding is missing")?;
    let binding: Binding = serde_json::from_value(binding.clone())
        .map_err(|e| format!("claim binding is malformed: {e}"))?;
    Ok(ApprovalClaims {
        approved_by,
        iat,
        exp,
        jti,
        binding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding {
        Binding {
            route: "payouts-create".into(),
            method: "POST".into(),
            path: "/payments/v1/payouts".into(),
            body_sha256: "ab".into(),
            environment: Some("production".into()),
            run_id: None,
            actor: Some("agent-7".into()),
            tool: None,
        }
    }

    #[test]
    fn bindings_compare_field_by_field() {
        let approved = binding();
        assert!(approved.mismatches(&binding()).is_empty());
        let mut actual = binding();
        actual.environment = Some("PRODUCTION".into());
        actual.body_sha256 = "AB".into();
        actual.run_id = Some("run-1".into());
        assert!(approved.mismatches(&actual).is_empty(), "run_id unbound");
        actual.environment = Some("staging".into());
        actual.path = "/payments/v1/payouts?x=1".into();
        let m = approved.mismatches(&actual);
        assert_eq!(m.len(), 2, "{m:?}");
        let mut bound = binding();
        bound.run_id = Some("run-1".into());
        assert_eq!(bound.mismatches(&binding()).len(), 1);
        assert!(serde_json::from_str::<Binding>(
            r#"{"route":"r","method":"GET","path":"/","body_sha256":"x","amount":5}"#
        )
        .is_err());
    }
}
