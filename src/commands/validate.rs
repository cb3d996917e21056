//! `toolgate validate`: load and compile a bundle, report every error, change nothing.

use super::{exit, load};
use std::path::Path;

pub fn validate(dir: &Path) -> u8 {
    match load(dir) {
        Ok((s, tests)) => {
            println!(
                "{} is valid: {} ({}), {} routes, {} rules, {} tests",
                dir.display(),
                s.meta.policy_version,
                s.meta.digest,
                s.routes.len(),
                s.policy.rules.len(),
                tests.len()
            );
            exit::OK
        }
        Err(code) => code,
    }
}
