//! The `state` section of the config: where runtime state that must hold across replicas
//! and restarts lives (used approvals, counted limits), and how toolgate reaches it.

use crate::duration::HumanDuration;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The longest accepted `state.timeout`: a request waits at most this for its round trip.
const MAX_TIMEOUT: Duration = Duration::from_secs(5);

/// The state store.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `memory` (in process: one replica; the default), `redis://host:port/db`,
    /// `rediss://host:port/db` (TLS), or `redis+cluster://host:port,host:port` (Redis
    /// Cluster; `rediss+cluster://` with TLS). No password in the URL: see
    /// `password_file` and `password_env`. A `user@` is allowed (Redis ACL user).
    #[serde(default = "default_url")]
    pub url: String,
    /// The most one round trip may take; past it a request that needs state is refused
    /// with 503 `STATE_UNAVAILABLE`. Default `50ms`.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Prepended to every key, in braces (a Redis Cluster hash tag: one deployment's keys
    /// share a slot). Default `toolgate:`.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// PEM CA certificate(s) a `rediss://` server's certificate must chain to. Default: the
    /// system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A file holding the Redis password (a mounted Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the Redis password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// How long a run's call count (`max_calls_per_run`) is kept after its last call.
    /// Default `24h`.
    #[serde(default = "default_run_ttl")]
    pub run_ttl: HumanDuration,
    /// How long a review (a request held for human approval) is kept after its last
    /// activity: pending, then in the inbox's history. Default `168h` (a week).
    #[serde(default = "default_review_ttl")]
    pub review_ttl: HumanDuration,
}

fn default_url() -> String {
    "memory".into()
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_millis(50))
}
fn default_prefix() -> String {
    "toolgate:".into()
}
fn default_run_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(86_400))
}
fn default_review_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(7 * 86_400))
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            url: default_url(),
            timeout: default_timeout(),
            key_prefix: default_prefix(),
            ca_file: None,
            password_file: None,
            password_env: None,
            run_ttl: default_run_ttl(),
            review_ttl: default_review_ttl(),
        }
    }
}

/// Which store a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    Memory,
    Redis,
    RedisCluster,
}

impl StateConfig {
    /// The store `url` names, or why it names none.
    pub fn kind(&self) -> Result<StateKind, String> {
        let url = self.url.as_str();
        if url == "memory" {
            return Ok(StateKind::Memory);
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("must be memory, redis://, rediss://, redis+cluster:// or rediss+cluster://")?;
        let kind = match scheme {
            "redis" | "rediss" => StateKind::Redis,
            "redis+cluster" | "rediss+cluster" => StateKind::RedisCluster,
            _ => return Err(format!("unknown scheme {scheme:?}: must be memory, redis, rediss, redis+cluster or rediss+cluster")),
        };
        let authority = rest.split('/').next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.contains(':') {
                return Err("must not carry a password (it would show in process listings and logs): use state.password_file or state.password_env".into());
            }
        }
        let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if hosts.is_empty() || hosts.split(',').any(|h| h.trim().is_empty()) {
            return Err("names no host".into());
        }
        if kind == StateKind::Redis && hosts.contains(',') {
            return Err("names several hosts: use redis+cluster:// for a Redis Cluster".into());
        }
        Ok(kind)
    }

    /// Every problem, each with its path under `state`.
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let kind = self.kind();
        if let Err(m) = &kind {
            out.push(("state.url", m.clone()));
        }
        let t = self.timeout.get();
        if t == Duration::ZERO || t > MAX_TIMEOUT {
            out.push((
                "state.timeout",
                format!("must be more than 0 and at most {}s", MAX_TIMEOUT.as_secs()),
            ));
        }
        if self.run_ttl.get() < Duration::from_secs(1) {
            out.push(("state.run_ttl", "must be at least 1s".into()));
        }
        if self.review_ttl.get() < Duration::from_secs(60) {
            out.push(("state.review_ttl", "must be at least 1m".into()));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}']) {
            out.push((
                "state.key_prefix",
                "must be non-empty and without braces (it becomes the keys' hash tag)".into(),
            ));
        }
        if self.password_file.is_some() && self.password_env.is_some() {
            out.push((
                "state.password_env",
                "give the password once: password_file or password_env".into(),
            ));
        }
        if let Some(f) = &self.ca_file {
            if !f.is_file() {
                out.push((
                    "state.ca_file",
                    format!("{} is not a readable file", f.display()),
                ));
            }
        }
        if let Some(f) = &self.password_file {
            if !f.is_file() {
                out.push((
                    "state.password_file",
                    format!("{} is not a readable file", f.display()),
                ));
            }
        }
        if kind == Ok(StateKind::Memory) {
            for (path, set) in [
                ("state.ca_file", self.ca_file.is_some()),
                ("state.password_file", self.password_file.is_some()),
                ("state.password_env", self.password_env.is_some()),
            ] {
                if set {
                    out.push((path, "only used with a Redis url".into()));
                }
            }
        }
        out
    }

    /// The password, read now from its file (trailing newline dropped) or variable.
    pub fn password(&self) -> Result<Option<String>, String> {
        if let Some(f) = &self.password_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("state.password_file {}: {e}", f.display()))?;
            return Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()));
        }
        if let Some(name) = &self.password_env {
            return std::env::var(name)
                .map(Some)
                .map_err(|_| format!("state.password_env: {name} is not set"));
        }
        Ok(None)
    }
}
