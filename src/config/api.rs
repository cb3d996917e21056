//! The `decision_api` section: the self-hosted Stage0 decision API (`POST /check`), on a
//! listener of its own, off unless `listen` is set, and only for callers with a key.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DecisionApi {
    /// Where the decision API listens (TLS with the `tls` settings when they are set).
    /// Absent: no decision API (the default). `toolgate api` requires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// The keys file: `NAME sha256:HEX [per_minute=N] [per_month=N]` lines
    /// (`toolgate keys new NAME` prints one). Required with `listen`; hot-reloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_file: Option<PathBuf>,
}

impl DecisionApi {
    /// Every problem, each with its path; `taken` are the addresses already in use.
    pub(super) fn problems(&self, taken: &[SocketAddr]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let Some(listen) = self.listen else {
            if self.keys_file.is_some() {
                out.push((
                    "decision_api.keys_file",
                    "only used with decision_api.listen".into(),
                ));
            }
            return out;
        };
        if taken.iter().any(|t| super::validate::overlaps(*t, listen)) {
            out.push((
                "decision_api.listen",
                format!("must not share the proxy's or the admin listener's address ({listen})"),
            ));
        }
        match &self.keys_file {
            None => out.push((
                "decision_api.keys_file",
                "required with decision_api.listen: every caller needs a key".into(),
            )),
            Some(f) if !f.is_file() => out.push((
                "decision_api.keys_file",
                format!("{} is not a readable file", f.display()),
            )),
            Some(_) => {}
        }
        out
    }
}
