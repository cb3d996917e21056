//! The policy CLI's commands (`check`, `validate`, `test`), written for platform teams'
//! CI: readable output on stdout, every error at once on stderr, and documented exit codes.

mod approve;
mod check;
mod test;
mod validate;

pub use approve::{approve, mint_approval, mint_token, token, MintError, MintOptions, Minted};
pub use check::check;
pub use test::test;
pub use validate::validate;

/// Exit codes shared by the commands. Documented in the README.
pub mod exit {
    /// ALLOW (check), valid (validate), all passed (test).
    pub const OK: u8 = 0;
    /// A bundle test failed, or an I/O error.
    pub const FAILED: u8 = 1;
    /// Invalid input: a bundle that does not validate, a malformed payload, bad flags.
    pub const INVALID: u8 = 2;
    /// `check`: the verdict is DEFER.
    pub const DEFER: u8 = 3;
    /// `check`: the verdict is DENY.
    pub const DENY: u8 = 4;
}

use crate::bundle;
use crate::snapshot::Snapshot;
use std::path::Path;

/// Loads a bundle (and its tests) for a command, printing every error to stderr on failure.
fn load(dir: &Path) -> Result<(Snapshot, Vec<bundle::TestCase>), u8> {
    bundle::load_with_tests(dir, jiff::Timestamp::now()).map_err(|errors| {
        eprintln!("{errors}");
        eprintln!(
            "toolgate: bundle {} is invalid ({} error{})",
            dir.display(),
            errors.0.len(),
            if errors.0.len() == 1 { "" } else { "s" }
        );
        exit::INVALID
    })
}
