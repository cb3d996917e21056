//! `toolgate approve`: mints the signed approval for an `approval_request` (from a 409 body),
//! the reviewer's side of the loop, for operators, tests and demos. And `toolgate token`:
//! mints a bearer identity token, for tests and demos only (production tokens come from
//! your identity provider). Both sign with the key formats the bundle verifies: a PEM
//! private key (RS256, ES256, EdDSA) or a raw HMAC secret file (HS256). The token goes to
//! stdout, alone on a line; diagnostics go to stderr.

use super::exit;
use crate::approval::request::{mint, ApprovalRequest};
use crate::jose::keys::{parse_algorithm, SigningKey};
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

/// Why a token was not minted: the command's exit code and the message for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintError {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for MintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MintError {}

fn invalid(message: impl Into<String>) -> MintError {
    MintError {
        code: exit::INVALID,
        message: message.into(),
    }
}

/// A minted token, and what the gate will make of it if that is not what was meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    /// E.g. a ttl past the bundle's `max_ttl`, or self-approval: minted, but the gate refuses it.
    pub warnings: Vec<String>,
}

fn signing_key(o: &MintOptions<'_>) -> Result<SigningKey, MintError> {
    let alg = match o.alg {
        None => None,
        Some(name) => Some(parse_algorithm(name).ok_or_else(|| {
            invalid(format!(
                "unsupported algorithm {name:?}: expected RS256, ES256, EdDSA or HS256"
            ))
        })?),
    };
    let bytes = std::fs::read(o.key).map_err(|e| MintError {
        code: exit::FAILED,
        message: format!("cannot read {}: {e}", o.key.display()),
    })?;
    SigningKey::parse(&bytes, alg).map_err(|e| invalid(format!("{}: {e}", o.key.display())))
}

/// Mints the approval for the `approval_request` in `request` (a request object, or a whole
/// 409 body), approved by `approver`: what `toolgate approve` prints, for any caller.
pub fn mint_approval(
    request: &[u8],
    approver: &str,
    o: &MintOptions<'_>,
) -> Result<Minted, MintError> {
    let req = ApprovalRequest::from_json(request).map_err(invalid)?;
    let key = signing_key(o)?;
    let mut warnings = Vec::new();
    if req.max_ttl_seconds > 0 && o.ttl.as_secs() > req.max_ttl_seconds {
        warnings.push(format!(
            "ttl {}s is longer than the bundle's max_ttl {}s; the gate will not accept it",
            o.ttl.as_secs(),
            req.max_ttl_seconds
        ));
    }
    if req.binding.actor.as_deref() == Some(approver) {
        warnings.push(format!(
            "{approver} is the requesting actor; the gate refuses self-approval"
        ));
    }
    let now = o.now.unwrap_or_else(Timestamp::now);
    let token = mint(&key, o.kid, &req.binding, approver, now, o.ttl).map_err(invalid)?;
    Ok(Minted { token, warnings })
}

/// Mints an identity token with the given claims (a JSON object: `sub`, `roles`, `iss`,
/// `aud`, ...); `iat` and `exp` are set from `now` and the ttl unless given. What
/// `toolgate token` prints, for any caller.
pub fn mint_token(claims: &[u8], o: &MintOptions<'_>) -> Result<String, MintError> {
    let mut claims: Map<String, Value> = serde_json::from_slice(claims)
        .map_err(|e| invalid(format!("claims: expected a JSON object: {e}")))?;
    let key = signing_key(o)?;
    let now = o.now.unwrap_or_else(Timestamp::now).as_second();
    claims.entry("iat").or_insert(now.into());
    claims
        .entry("exp")
        .or_insert(now.saturating_add(o.ttl.as_secs()).into());
    key.sign(o.kid, &claims).map_err(invalid)
}

/// Prints a minted token to stdout (warnings to stderr) and returns the exit code.
fn print(minted: Result<Minted, MintError>) -> u8 {
    match minted {
        Ok(m) => {
            for w in &m.warnings {
                eprintln!("toolgate: warning: {w}");
            }
            println!("{}", m.token);
            exit::OK
        }
        Err(e) => {
            eprintln!("toolgate: {e}");
            e.code
        }
    }
}

/// `toolgate approve`: [`mint_approval`], printed. Exit 0 with the token on stdout; 2 on
/// invalid input, 1 on an unreadable key.
pub fn approve(request: &[u8], approver: &str, o: &MintOptions<'_>) -> u8 {
    print(mint_approval(request, approver, o))
}

/// `toolgate token`: [`mint_token`], printed.
pub fn token(claims: &[u8], o: &MintOptions<'_>) -> u8 {
    print(mint_token(claims, o).map(|token| Minted {
        token,
        warnings: Vec::new(),
    }))
}
