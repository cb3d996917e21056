//! Bearer-token identity: a JWT from the `Authorization` header, verified with the bundle's
//! keys (signature, algorithm, issuer, audience by `jsonwebtoken`; expiry and not-before by
//! toolgate, against the instant passed in, so tests control the clock), then mapped to an
//! actor and roles by the bundle's claim names.

use super::keys::{algorithm_name, KeySet};
use super::{IdentityError, Verified};
use jiff::Timestamp;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

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

/// A signature check for exactly `alg` (`jsonwebtoken` checks that the key family fits
/// every algorithm listed) that leaves time alone: `exp` and `nbf` are checked against
/// the injected clock by the caller, never the system's.
pub(crate) fn clock_free_validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.validate_exp = false;
    v.validate_nbf = false;
    v.leeway = 0;
    v
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

/// Text that can stand for an actor or a role: non-empty, no control characters.
pub(crate) fn is_clean(s: &str) -> bool {
    !s.trim().is_empty() && !s.chars().any(char::is_control) && s.len() <= 256
}

/// Verifies a compact JWS with `keys` and returns its claims: the algorithm must be one of
/// `validations`' (so `none` and unlisted ones never verify), the key is chosen by `kid`,
/// the signature and the registered claims `jsonwebtoken` checks must hold, and `exp`
/// (required) and `nbf` (when present, or required by `require_nbf`) are checked against
/// `now` with `leeway` seconds of skew. `expiry_is_error`: whether an expired token is an
/// error here (identity) or left to the caller (approvals report it as their own issue).
pub(crate) fn verify_claims(
    token: &str,
    keys: &KeySet,
    validations: &[(Algorithm, Validation)],
    now: Timestamp,
    leeway: i64,
    expiry_is_error: bool,
) -> Result<Map<String, Value>, String> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!("token is longer than {MAX_TOKEN_BYTES} bytes"));
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| "token is not a well-formed compact JWS".to_string())?;
    let Some((_, validation)) = validations.iter().find(|(a, _)| *a == header.alg) else {
        return Err(format!(
            "algorithm {:?} is not accepted (accepted: {})",
            header.alg,
            validations
                .iter()
                .map(|(a, _)| algorithm_name(*a))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let key = keys.find(header.kid.as_deref(), header.alg)?;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation).map_err(
        |e| match e.kind() {
            ErrorKind::InvalidSignature => "signature does not verify".to_string(),
            ErrorKind::InvalidIssuer => "issuer (iss) is not the trusted one".to_string(),
            ErrorKind::InvalidAudience => "audience (aud) is not this gate".to_string(),
            ErrorKind::MissingRequiredClaim(c) => format!("claim {c} is missing or malformed"),
            ErrorKind::InvalidAlgorithm => "algorithm does not fit the key".to_string(),
            _ => "token is not a well-formed compact JWS".to_string(),
        },
    )?;
    let claims = data.claims;
    let now_s = now.as_second();
    let exp = seconds(&claims, "exp")?.ok_or("claim exp is missing or malformed")?;
    // RFC 7519 §4.1.4: not accepted on or after `exp` (plus the leeway).
    if expiry_is_error && now_s >= exp.saturating_add(leeway) {
        return Err(format!("token expired at {}", render(exp)));
    }
    if let Some(nbf) = seconds(&claims, "nbf")? {
        if now_s.saturating_add(leeway) < nbf {
            return Err(format!("token is not valid before {}", render(nbf)));
        }
    }
    Ok(claims)
}

/// A NumericDate claim (RFC 7519 §2): seconds since the epoch; fractions are truncated.
pub(crate) fn seconds(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("claim {name} is not a NumericDate")),
        Some(_) => Err(format!("claim {name} is not a NumericDate")),
    }
}

pub(crate) fn render(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), |t| t.to_string())
}
