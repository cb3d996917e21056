//! The `reload` section of the config: how bundle changes are picked up.

use crate::duration::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a bundle dir must be quiet after a change before it is reloaded, unless
/// configured.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(250);
/// Largest accepted `reload.debounce`: a longer one would hide changes for too long.
pub(super) const MAX_DEBOUNCE: Duration = Duration::from_secs(60);

/// Hot reload of the bundle directories.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Reload {
    /// How long a bundle dir must be quiet after a change before it is reloaded, so a burst
    /// of writes becomes one reload. Default `250ms`.
    #[serde(default = "default_debounce")]
    pub debounce: HumanDuration,
}

fn default_debounce() -> HumanDuration {
    HumanDuration(DEFAULT_DEBOUNCE)
}

impl Default for Reload {
    fn default() -> Self {
        Reload {
            debounce: default_debounce(),
        }
    }
}
