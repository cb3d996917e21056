//! The operational sections of the config: where the audit trail goes (`audit`) and how
//! bundle changes are picked up (`reload`). Plain serde data with documented defaults, like
//! the rest of the config; checked in `validate`.

use super::HumanDuration;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Where audit records are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuditSinkKind {
    /// Standard output, one JSON line per request (the Kubernetes convention: the node's log
    /// agent collects it). Application logs go to stderr, so the two never mix.
    #[default]
    Stdout,
    /// Appended to `audit.path`.
    File,
}

/// The audit trail: one JSON line per request.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// `stdout` or `file`. Default `stdout`.
    #[serde(default)]
    pub sink: AuditSinkKind,
    /// The file for `sink: file` (appended to, created if missing). Relative paths resolve
    /// against the config file's dir.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Records queued between the request path and the writer; when the writer falls this
    /// far behind, records are dropped and counted (`toolgate_audit_records_dropped_total`),
    /// never waited for. Default `8192`.
    #[serde(default = "defaults::capacity")]
    pub capacity: usize,
    /// Recent records kept in memory for `GET /v1/decisions/{request_id}`. Default `4096`.
    #[serde(default = "defaults::recent")]
    pub recent: usize,
}

/// Hot reload of the bundle directories.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Reload {
    /// How long a bundle dir must be quiet after a change before it is reloaded, so a burst
    /// of writes becomes one reload. Default `250ms`.
    #[serde(default = "defaults::debounce")]
    pub debounce: HumanDuration,
}

/// Largest accepted `reload.debounce`: a longer one would hide changes for too long.
pub(super) const MAX_DEBOUNCE: Duration = Duration::from_secs(60);
/// Largest accepted `audit.capacity` and `audit.recent`: both are held in memory.
pub(super) const MAX_AUDIT_RECORDS: usize = 1 << 20;

mod defaults {
    use super::HumanDuration;

    pub fn capacity() -> usize {
        8192
    }
    pub fn recent() -> usize {
        crate::audit::DEFAULT_RING_CAPACITY
    }
    pub fn debounce() -> HumanDuration {
        HumanDuration(crate::reload::DEFAULT_DEBOUNCE)
    }
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            sink: AuditSinkKind::default(),
            path: None,
            capacity: defaults::capacity(),
            recent: defaults::recent(),
        }
    }
}

impl Default for Reload {
    fn default() -> Self {
        Reload {
            debounce: defaults::debounce(),
        }
    }
}
