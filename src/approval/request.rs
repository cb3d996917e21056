//! The human-in-the-loop contract. A DEFER for missing (or expired) approval, under a
//! bundle with signed approvals, carries an `approval_request`: the exact binding a
//! reviewer must approve, and enough context to show them. A review tool (or
//! `toolgate approve`) signs that binding into a token; the agent repeats the same request
//! with the token in `x-approval`.

use super::{ApprovalClaims, Binding};
use crate::jose::keys::SigningKey;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `approval_request` of a 409 body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// What the approval must be bound to; signed verbatim.
    pub binding: Binding,
    /// The route's goal, for the reviewer.
    #[serde(default)]
    pub goal: String,
    /// The deferred request's id, for the audit trail.
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub policy_version: String,
    /// The longest approval lifetime the bundle accepts (`approval.max_ttl`), in seconds.
    #[serde(default)]
    pub max_ttl_seconds: i64,
}

impl ApprovalRequest {
    /// Reads an `approval_request` object, a whole 409 body that holds one, or the JSON-RPC
    /// error an MCP client got (the decision is its `error.data`).
    pub fn from_json(bytes: &[u8]) -> Result<ApprovalRequest, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let inner = value
            .get("approval_request")
            .or_else(|| value.pointer("/error/data/approval_request"))
            .unwrap_or(&value);
        if inner.get("binding").is_none() {
            return Err(
                "no approval_request: expected an object with \"binding\", a 409 body holding \"approval_request\", or a JSON-RPC error whose data holds one"
                    .into(),
            );
        }
        serde_json::from_value(inner.clone()).map_err(|e| format!("approval_request: {e}"))
    }
}

/// Lower-case hex SHA-256 of a body: what `body_sha256` binds.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// A fresh `jti`: 128 random bits, hex.
pub fn new_jti() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness available for the jti".to_string())?;
    Ok(hex::encode(bytes))
}

/// Mints the approval token for `binding`: `approved_by`, `iat` = `now`, `exp` = `now + ttl`,
/// a fresh `jti`. `kid` names the key when the verifier holds a key set.
pub fn mint(
    key: &SigningKey,
    kid: Option<&str>,
    binding: &Binding,
    approved_by: &str,
    now: Timestamp,
    ttl: SignedDuration,
) -> Result<String, String> {
    mint_claims(key, kid, binding, approved_by, now, ttl).map(|(token, _)| token)
}

/// [`mint`], and the claims signed (the review inbox keeps the `jti` and `exp`).
pub fn mint_claims(
    key: &SigningKey,
    kid: Option<&str>,
    binding: &Binding,
    approved_by: &str,
    now: Timestamp,
    ttl: SignedDuration,
) -> Result<(String, ApprovalClaims), String> {
    if approved_by.trim().is_empty() {
        return Err("the approver must not be empty".into());
    }
    if ttl <= SignedDuration::ZERO {
        return Err("the ttl must be longer than zero".into());
    }
    let claims = ApprovalClaims {
        approved_by: approved_by.to_owned(),
        iat: now.as_second(),
        exp: now.as_second().saturating_add(ttl.as_secs()),
        jti: new_jti()?,
        binding: binding.clone(),
    };
    let token = key.sign(kid, &claims)?;
    Ok((token, claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_request_a_whole_deferred_body_or_a_json_rpc_error() {
        let b = Binding {
            route: "r".into(),
            method: "POST".into(),
            path: "/p".into(),
            body_sha256: body_sha256(b""),
            ..Binding::default()
        };
        let req = ApprovalRequest {
            binding: b,
            goal: "g".into(),
            request_id: "id".into(),
            policy_version: "x@1".into(),
            max_ttl_seconds: 3600,
        };
        let alone = serde_json::to_vec(&req).unwrap();
        assert_eq!(ApprovalRequest::from_json(&alone).unwrap(), req);
        let body = serde_json::json!({"verdict": "DEFER", "approval_request": req});
        let whole = serde_json::to_vec(&body).unwrap();
        assert_eq!(ApprovalRequest::from_json(&whole).unwrap(), req);
        let rpc = serde_json::json!({"jsonrpc": "2.0", "id": 3, "error": {"code": -31409, "message": "DEFER", "data": body}});
        let rpc = serde_json::to_vec(&rpc).unwrap();
        assert_eq!(ApprovalRequest::from_json(&rpc).unwrap(), req);
        assert!(ApprovalRequest::from_json(br#"{"verdict":"DEFER"}"#).is_err());
        assert_eq!(
            body_sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
