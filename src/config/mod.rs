//! The sidecar's configuration (`config/toolgate.yaml`): plain serde data, Kubernetes-style
//! (`apiVersion: toolgate.dev/v1alpha1`, `kind: Config`), every key optional except
//! `policies`, unknown keys refused. Loading is parse -> resolve relative paths -> apply
//! command-line overrides -> [`validate`](Config::validate), which reports every problem
//! with its path. Nothing here opens a socket or reads the bundle.

mod api;
mod audit;
mod reload;
mod review;
mod state;
mod validate;

pub use crate::duration::HumanDuration;
pub use api::DecisionApi;
pub use audit::{Audit, AuditSinkKind, DEFAULT_RECENT};
pub use reload::{Reload, DEFAULT_DEBOUNCE};
pub use review::{ReviewConfig, Webhook};
pub use state::{StateConfig, StateKind};
pub use validate::{ConfigError, ConfigErrors};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The only `apiVersion` this build reads.
pub const API_VERSION: &str = "toolgate.dev/v1alpha1";
/// The only `kind` this build reads.
pub const KIND: &str = "Config";

/// The whole sidecar configuration.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Must be `toolgate.dev/v1alpha1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Must be `Config`.
    pub kind: String,
    /// Where the proxy listens. Default `0.0.0.0:8000`.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// Where the admin server (health, readiness, metrics) listens. Default `127.0.0.1:9901`.
    #[serde(default = "defaults::admin_listen")]
    pub admin_listen: SocketAddr,
    #[serde(default)]
    pub upstream: Upstream,
    /// The policy bundle directory. Required. A relative path resolves against the config
    /// file's directory (the shipped file says `../policies/tools`).
    #[serde(default)]
    pub policies: Option<PathBuf>,
    /// Terminate TLS on the proxy listener. Absent: plain text (HTTP/1.1 and h2c).
    #[serde(default)]
    pub tls: Option<Tls>,
    #[serde(default)]
    pub limits: Limits,
    /// How long in-flight requests may run after shutdown starts. Default `20s`.
    #[serde(default = "defaults::shutdown_grace")]
    pub shutdown_grace: HumanDuration,
    /// The audit trail. Default: JSON lines on stdout.
    #[serde(default)]
    pub audit: Audit,
    /// A candidate bundle directory, evaluated beside the live one for every request and
    /// never enforced; disagreements are counted and audited. Optional; relative paths
    /// resolve against the config file's dir.
    #[serde(default)]
    pub candidate_policies: Option<PathBuf>,
    #[serde(default)]
    pub reload: Reload,
    /// Where used approvals and counted limits live. Default: in process (`memory`).
    #[serde(default)]
    pub state: StateConfig,
    /// The self-hosted Stage0 decision API. Default: off.
    #[serde(default)]
    pub decision_api: DecisionApi,
    /// The review inbox: where 409s link to, and `toolgate review`'s own settings.
    #[serde(default)]
    pub review: ReviewConfig,
}

/// The one tool API this sidecar guards.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// `http://host:port` (an `https://` URL is refused for now: the upstream shares the
    /// pod's loopback). No path, query or credentials. Default `http://127.0.0.1:8080`.
    #[serde(default = "defaults::upstream_url")]
    pub url: String,
    /// TCP connect timeout; when it passes the client gets 504. Default `2s`.
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// Time from sending the request to receiving the upstream's response head; when it
    /// passes the client gets 504. Default `30s`.
    #[serde(default = "defaults::response_timeout")]
    pub response_timeout: HumanDuration,
    /// Requests under way to the upstream at once (each holds one upstream connection);
    /// an ALLOWed request over it is answered 503 and never sent. Default `256`.
    #[serde(default = "defaults::max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// Idle keep-alive connections kept open to the upstream. Default `128`: fewer than the
    /// requests usually in flight means a connect and a close per request over it.
    #[serde(default = "defaults::max_idle_connections")]
    pub max_idle_connections: usize,
}

/// PEM files for TLS termination. Relative paths resolve against the config file's dir.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificate(s) for client certificates. When set, the listener asks every
    /// client for a certificate and verifies any it presents against these; a bundle with
    /// `identity.source: mtls` maps the verified certificate to an actor. A client without
    /// one still connects (and is held as ACTOR_ROLE_MISSING by such a bundle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// Resource limits on the proxy listener.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// A connection that has not sent a complete request head (or the TLS handshake, or the
    /// HTTP/2 preface) within this time is closed. Default `10s`.
    #[serde(default = "defaults::header_read_timeout")]
    pub header_read_timeout: HumanDuration,
    /// Request line plus headers, in bytes; more is refused with 431. Default `65536`.
    #[serde(default = "defaults::max_header_bytes")]
    pub max_header_bytes: usize,
    /// Body bytes buffered for routes whose context reads the body; more is refused with
    /// 413. Default `1048576` (1 MiB).
    ///
    /// Routes that read no body stream it to the upstream unbuffered and unbounded here.
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: u64,
    /// Time to receive a body that toolgate buffers (the route reads it); a slower upload
    /// is refused with 408. Default `30s`.
    #[serde(default = "defaults::body_read_timeout")]
    pub body_read_timeout: HumanDuration,
    /// Open connections at once; at the cap the listener stops accepting until one closes.
    /// Default `10000`.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per client connection; more are refused (RST_STREAM
    /// REFUSED_STREAM). Default `100`.
    #[serde(default = "defaults::max_concurrent_streams")]
    pub max_concurrent_streams: u32,
    /// A response write to the client that makes no progress for this long closes the
    /// connection (a client that stops reading), releasing its upstream exchange. Default
    /// `30s`.
    #[serde(default = "defaults::response_write_timeout")]
    pub response_write_timeout: HumanDuration,
}

/// Values given on the command line; each replaces the file's value when set.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    /// Upstream URL.
    pub upstream: Option<String>,
    /// Bundle directory (relative to the working directory, as usual on a command line).
    pub policies: Option<PathBuf>,
    /// `state.url`.
    pub state_url: Option<String>,
}

mod defaults {
    use super::HumanDuration;
    use std::net::SocketAddr;

    pub fn listen() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], 8000))
    }
    pub fn admin_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9901))
    }
    pub fn upstream_url() -> String {
        "http://127.0.0.1:8080".into()
    }
    pub fn connect_timeout() -> HumanDuration {
        HumanDuration::secs(2)
    }
    pub fn response_timeout() -> HumanDuration {
        HumanDuration::secs(30)
    }
    pub fn shutdown_grace() -> HumanDuration {
        HumanDuration::secs(20)
    }
    pub fn header_read_timeout() -> HumanDuration {
        HumanDuration::secs(10)
    }
    pub fn max_header_bytes() -> usize {
        65_536
    }
    pub fn max_body_bytes() -> u64 {
        1_048_576
    }
    pub fn body_read_timeout() -> HumanDuration {
        HumanDuration::secs(30)
    }
    pub fn max_connections() -> usize {
        10_000
    }
    pub fn max_concurrent_streams() -> u32 {
        100
    }
    pub fn response_write_timeout() -> HumanDuration {
        HumanDuration::secs(30)
    }
    pub fn max_concurrent_requests() -> usize {
        256
    }
    pub fn max_idle_connections() -> usize {
        128
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream {
            url: defaults::upstream_url(),
            connect_timeout: defaults::connect_timeout(),
            response_timeout: defaults::response_timeout(),
            max_concurrent_requests: defaults::max_concurrent_requests(),
            max_idle_connections: defaults::max_idle_connections(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: defaults::header_read_timeout(),
            max_header_bytes: defaults::max_header_bytes(),
            max_body_bytes: defaults::max_body_bytes(),
            body_read_timeout: defaults::body_read_timeout(),
            max_connections: defaults::max_connections(),
            max_concurrent_streams: defaults::max_concurrent_streams(),
            response_write_timeout: defaults::response_write_timeout(),
        }
    }
}

impl Default for Config {
    /// Every default, and no bundle directory (so it does not validate until one is set).
    fn default() -> Self {
        Config {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            listen: defaults::listen(),
            admin_listen: defaults::admin_listen(),
            upstream: Upstream::default(),
            policies: None,
            tls: None,
            limits: Limits::default(),
            shutdown_grace: defaults::shutdown_grace(),
            audit: Audit::default(),
            candidate_policies: None,
            reload: Reload::default(),
            state: StateConfig::default(),
            decision_api: DecisionApi::default(),
            review: ReviewConfig::default(),
        }
    }
}

impl Config {
    /// Reads, overrides and validates a config file: the one entry point the CLI needs.
    pub fn load(path: &Path, overrides: Overrides) -> Result<Config, ConfigErrors> {
        let mut cfg = Config::from_file(path)?;
        cfg.apply(overrides);
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses a config file and resolves its relative paths against the file's directory.
    /// Not validated.
    pub fn from_file(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::one(path.display().to_string(), format!("cannot read: {e}"))
        })?;
        let mut cfg = Config::parse(&text).map_err(|e| ConfigErrors::one(path.display(), e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_relative_to(base);
        Ok(cfg)
    }

    /// Parses YAML text; the error carries the line and column serde-saphyr reports.
    pub fn parse(text: &str) -> Result<Config, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// Makes relative file paths (bundles, TLS files, audit file) relative to `base` instead.
    pub fn resolve_relative_to(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [
            &mut self.policies,
            &mut self.candidate_policies,
            &mut self.audit.path,
            &mut self.state.ca_file,
            &mut self.state.password_file,
            &mut self.decision_api.keys_file,
            &mut self.review.signing_key,
            &mut self.review.client_ca,
        ]
        .into_iter()
        .flatten()
        {
            resolve(p);
        }
        if let Some(tls) = &mut self.tls {
            resolve(&mut tls.cert);
            resolve(&mut tls.key);
            if let Some(ca) = &mut tls.client_ca {
                resolve(ca);
            }
        }
    }

    /// Replaces file values with the command line's.
    pub fn apply(&mut self, o: Overrides) {
        if let Some(v) = o.listen {
            self.listen = v;
        }
        if let Some(v) = o.admin_listen {
            self.admin_listen = v;
        }
        if let Some(v) = o.upstream {
            self.upstream.url = v;
        }
        if let Some(v) = o.policies {
            self.policies = Some(v);
        }
        if let Some(v) = o.state_url {
            self.state.url = v;
        }
    }
}

#[cfg(test)]
mod tests;
