//! The `audit` section of the config: where the audit trail goes. Plain serde data with
//! documented defaults, like the rest of the config; checked in `validate`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Records kept in memory for `GET /v1/decisions/{request_id}` unless configured.
pub const DEFAULT_RECENT: usize = 4096;
/// Largest accepted `audit.capacity` and `audit.recent`: both are held in memory.
pub(super) const MAX_AUDIT_RECORDS: usize = 1 << 20;

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
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// Recent records kept in memory for `GET /v1/decisions/{request_id}`. Default `4096`.
    #[serde(default = "default_recent")]
    pub recent: usize,
}

fn default_capacity() -> usize {
    8192
}

fn default_recent() -> usize {
    DEFAULT_RECENT
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            sink: AuditSinkKind::default(),
            path: None,
            capacity: default_capacity(),
            recent: default_recent(),
        }
    }
}
