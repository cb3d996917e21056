//! `toolgate check`: evaluate one Stage0 `/check` payload against a bundle and print the
//! decision JSON. The exit code carries the verdict, so scripts can branch on it.

use super::{exit, load};
use crate::policy::{CheckRequest, Verdict};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Evaluates `payload` at `now` (the real clock when `None`).
pub fn check(dir: &Path, payload: &[u8], now: Option<Timestamp>, request_id: Option<String>) -> u8 {
    let snapshot = match load(dir) {
        Ok((s, _tests)) => s,
        Err(code) => return code,
    };
    let request = match CheckRequest::from_json(payload) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("toolgate: invalid /check payload: {e}");
            return exit::INVALID;
        }
    };
    // Same payload, same id: a CLI run is reproducible.
    let request_id = request_id.unwrap_or_else(|| {
        let hash = Sha256::digest(payload);
        format!("chk_{}", &hex::encode(hash)[..16])
    });
    let now = now.unwrap_or_else(Timestamp::now);
    let decision = match crate::decide::check(&snapshot, &request, request_id, now) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("toolgate: invalid /check payload: {e}");
            return exit::INVALID;
        }
    };
    match serde_json::to_string_pretty(&decision) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("toolgate: cannot render the decision: {e}");
            return exit::FAILED;
        }
    }
    match decision.verdict {
        Verdict::Allow => exit::OK,
        Verdict::Defer => exit::DEFER,
        Verdict::Deny => exit::DENY,
    }
}
