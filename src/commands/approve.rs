//! `toolgate approve`: mints the signed approval for an `approval_request` (from a 409 body),
//! the reviewer's side of the loop, for operators, tests and demos. And `toolgate token`:
//! mints a bearer identity token, for tests and demos only (production tokens come from
//! your identity provider). Both sign with the key formats the bundle verifies: a PEM
//! private key (RS256, ES256, EdDSA) or a raw HMAC secret file (HS256). The token goes to
//! stdout, alone on a line; diagnostics go to stderr.

use super::exit;
use crate::approval::request::{mint, ApprovalRequest};
use crate::identity::keys::{parse_algorithm, SigningKey};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};
use std::path::Path;

/// What both commands are given besides their payload.
pub struct MintOptions<'a> {
    pub key: &'a Path,
    /// `RS256`, `ES256`, `EdDSA` or `HS256`; default: the key's.
    pub alg: Option<&'a str>,
    pub kid: Option<&'a str>,
    pub ttl: SignedDuration,
    /// Mint as of this instant (default: now).
    pub now: Option<Timestamp>,
}

fn signing_key(o: &MintOptions<'_>) -> Result<SigningKey, u8> {
    let alg = match o.alg {
        None => None,
        Some(name) => Some(parse_algorithm(name).ok_or_else(|| {
            eprintln!(
                "toolgate: unsupported algorithm {name:?}: expected RS256, ES256, EdDSA or HS256"
            );
            exit::INVALID
        })?),
    };
    let bytes = std::fs::read(o.key).map_err(|e| {
        eprintln!("toolgate: cannot read {}: {e}", o.key.display());
        exit::FAILED
    })?;
    SigningKey::parse(&bytes, alg).map_err(|e| {
        eprintln!("toolgate: {}: {e}", o.key.display());
        exit::INVALID
    })
}

/// Mints an approval for the `approval_request` in `request` (a request object, or a whole
/// 409 body), approved by `approver`. Exit 0 with the token on stdout; 2 on invalid input.
pub fn approve(request: &[u8], approver: &str, o: &MintOptions<'_>) -> u8 {
    let req = match ApprovalRequest::from_json(request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("toolgate: {e}");
            return exit::INVALID;
        }
    };
    let key = match signing_key(o) {
        Ok(k) => k,
        Err(code) => return code,
    };
    if req.max_ttl_seconds > 0 && o.ttl.as_secs() > req.max_ttl_seconds {
        eprintln!(
            "toolgate: warning: ttl {}s is longer than the bundle's max_ttl {}s; the gate will not accept it",
            o.ttl.as_secs(),
            req.max_ttl_seconds
        );
    }
    if req.binding.actor.as_deref() == Some(approver) {
        eprintln!(
            "toolgate: warning: {approver} is the requesting actor; the gate refuses self-approval"
        );
    }
    let now = o.now.unwrap_or_else(Timestamp::now);
    match mint(&key, o.kid, &req.binding, approver, now, o.ttl) {
        Ok(token) => {
            println!("{token}");
            exit::OK
        }
        Err(e) => {
            eprintln!("toolgate: {e}");
            exit::INVALID
        }
    }
}

/// Mints an identity token with the given claims (a JSON object: `sub`, `roles`, `iss`,
/// `aud`, ...); `iat` and `exp` are set from `now` and the ttl unless given.
pub fn token(claims: &[u8], o: &MintOptions<'_>) -> u8 {
    let mut claims: Map<String, Value> = match serde_json::from_slice(claims) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("toolgate: claims: expected a JSON object: {e}");
            return exit::INVALID;
        }
    };
    let key = match signing_key(o) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let now = o.now.unwrap_or_else(Timestamp::now).as_second();
    claims.entry("iat").or_insert(now.into());
    claims
        .entry("exp")
        .or_insert(now.saturating_add(o.ttl.as_secs()).into());
    match key.sign(o.kid, &claims) {
        Ok(token) => {
            println!("{token}");
            exit::OK
        }
        Err(e) => {
            eprintln!("toolgate: {e}");
            exit::INVALID
        }
    }
}
