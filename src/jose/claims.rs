//! Compact JWS verification shared by bearer-token identity and signed approvals: the
//! algorithm allow-list, the key chosen by `kid`, and the time claims checked against the
//! instant passed in (never the system clock).

use super::keys::{algorithm_name, KeySet};
use jiff::Timestamp;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A signature check for exactly `alg` (`jsonwebtoken` checks that the key family fits
/// every algorithm listed) that leaves time alone: `exp` and `nbf` are checked against
/// the injected clock by the caller, never the system's.
pub fn clock_free_validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.validate_exp = false;
    v.validate_nbf = false;
    v.leeway = 0;
    v
}

/// Text that can stand for an actor or a role: non-empty, no control characters.
pub fn is_clean(s: &str) -> bool {
    !s.trim().is_empty() && !s.chars().any(char::is_control) && s.len() <= 256
}

/// Verifies a compact JWS with `keys` and returns its claims: the algorithm must be one of
/// `validations`' (so `none` and unlisted ones never verify), the key is chosen by `kid`,
/// the signature and the registered claims `jsonwebtoken` checks must hold, and `exp`
/// (required) and `nbf` (when present, or required by `require_nbf`) are checked against
/// `now` with `leeway` seconds of skew. `expiry_is_error`: whether an expired token is an
/// error here (identity) or left to the caller (approvals report it as their own issue).
pub fn verify_claims(
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
pub fn seconds(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
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

pub fn render(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), |t| t.to_string())
}
