//! Bearer-token identity: a JWT from the `Authorization` header, verified with the bundle's
//! keys (signature, algorithm, issuer, audience by `jsonwebtoken`; expiry and not-before by
//! toolgate, against the instant passed in, so tests control the clock), then mapped to an
//! actor and roles by the bundle's claim names.

use super::{IdentityError, Verified};
use crate::jose::claims::{clock_free_validation, is_clean, verify_claims};
use crate::jose::keys::KeySet;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

/// Where a claim is read: a top-level claim name, or (starting with `/`) a JSON pointer
/// into the claims, e.g. `/realm_access/roles`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPath(pub Box<str>);

impl ClaimPath {
    pub fn get<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        match self.0.strip_prefix('/') {
            None => claims.get(&*self.0),
            Some(_) => {
                let (first, rest) = match self.0[1..].split_once('/') {
                    Some((f, r)) => (f, Some(r)),
                    None => (&self.0[1..], None),
                };
                let top = claims.get(&unescape(first))?;
                match rest {
                    None => Some(top),
                    Some(r) => top.pointer(&format!("/{r}")),
                }
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// A compiled `identity.jwt` block.
#[derive(Clone, Debug)]
pub struct JwtVerifier {
    pub keys: KeySet,
    /// One validation per accepted algorithm: `jsonwebtoken` checks that the key family
    /// fits every algorithm a validation lists, so each lists exactly one.
    pub validations: Vec<(Algorithm, Validation)>,
    pub actor: ClaimPath,
    pub actor_role: ClaimPath,
    /// Allowed clock skew for `exp` and `nbf`, in seconds.
    pub leeway: i64,
}

impl JwtVerifier {
    pub fn new(
        keys: KeySet,
        algorithms: &[Algorithm],
        issuer: &str,
        audience: &str,
        actor: ClaimPath,
        actor_role: ClaimPath,
        leeway: i64,
    ) -> JwtVerifier {
        let validations = algorithms
            .iter()
            .map(|alg| {
                let mut v = clock_free_validation(*alg);
                v.set_issuer(&[issuer]);
                v.set_audience(&[audience]);
                v.set_required_spec_claims(&["exp", "iss", "aud"]);
                v.validate_aud = true;
                (*alg, v)
            })
            .collect();
        JwtVerifier {
            keys,
            validations,
            actor,
            actor_role,
            leeway,
        }
    }

    /// Verifies a compact JWS and maps its claims. Every failure is `Invalid` with a reason
    /// safe to return to the caller (it names the check, never key material).
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Verified, IdentityError> {
        let claims = verify_claims(token, &self.keys, &self.validations, now, self.leeway, true)
            .map_err(IdentityError::Invalid)?;
        let actor = match self.actor.get(&claims) {
            Some(Value::String(s)) if is_clean(s) => s.clone(),
            _ => {
                return Err(IdentityError::Invalid(format!(
                    "claim {} (the actor) is missing or not a non-empty string",
                    self.actor.0
                )))
            }
        };
        let roles = match self.actor_role.get(&claims) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) if is_clean(s) => vec![s.clone()],
            Some(Value::Array(items)) => {
                let mut roles = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) if is_clean(s) => roles.push(s.clone()),
                        _ => {
                            return Err(IdentityError::Invalid(format!(
                                "claim {} (the roles) holds something other than non-empty strings",
                                self.actor_role.0
                            )))
                        }
                    }
                }
                roles
            }
            Some(_) => {
                return Err(IdentityError::Invalid(format!(
                    "claim {} (the roles) is not a string or a list of strings",
                    self.actor_role.0
                )))
            }
        };
        Ok(Verified { actor, roles })
    }
}
