//! Validation of a parsed [`Config`]: every problem at once, each with the path of the key
//! it is about (`upstream.url: must be http://host:port`), so an operator fixes a file in
//! one pass instead of one error per restart.

use super::audit::MAX_AUDIT_RECORDS;
use super::reload::MAX_DEBOUNCE;
use super::{AuditSinkKind, Config, API_VERSION, KIND};
use std::fmt;
use std::time::Duration;

/// One problem: the key's path and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

/// Every problem found; `Display` writes one `path: message` per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn one(path: impl fmt::Display, message: impl Into<String>) -> ConfigErrors {
        ConfigErrors(vec![ConfigError {
            path: path.to_string(),
            message: message.into(),
        }])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {}", e.path, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Largest accepted `limits.max_header_bytes`: hyper's own buffer is sized from it.
const MAX_HEADER_BYTES_CAP: usize = 1 << 20;
/// Largest accepted `limits.max_body_bytes`: bodies that are read are held in memory.
const MAX_BODY_BYTES_CAP: u64 = 64 << 20;

impl Config {
    /// Checks every value; reports all problems, each with its path.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errs = Vec::new();
        let mut err = |path: &str, message: String| {
            errs.push(ConfigError {
                path: path.into(),
                message,
            })
        };
        if self.api_version != API_VERSION {
            err("apiVersion", format!("must be {API_VERSION}"));
        }
        if self.kind != KIND {
            err("kind", format!("must be {KIND}"));
        }
        if overlaps(self.listen, self.admin_listen) {
            err(
                "admin_listen",
                format!("must not share the proxy's address ({})", self.listen),
            );
        }
        if let Err(m) = check_upstream_url(&self.upstream.url) {
            err("upstream.url", m);
        }
        for (path, d) in [
            ("upstream.connect_timeout", self.upstream.connect_timeout),
            ("upstream.response_timeout", self.upstream.response_timeout),
            (
                "limits.header_read_timeout",
                self.limits.header_read_timeout,
            ),
            ("limits.body_read_timeout", self.limits.body_read_timeout),
            (
                "limits.response_write_timeout",
                self.limits.response_write_timeout,
            ),
        ] {
            if d.get() == Duration::ZERO {
                err(path, "must be more than 0".into());
            }
        }
        match &self.policies {
            None => err("policies", "required: the policy bundle directory".into()),
            Some(p) if !p.is_dir() => {
                err("policies", format!("{} is not a directory", p.display()))
            }
            Some(_) => {}
        }
        if let Some(tls) = &self.tls {
            let ca = tls.client_ca.as_ref().map(|ca| ("tls.client_ca", ca));
            for (path, file) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)]
                .into_iter()
                .chain(ca)
            {
                if !file.is_file() {
                    err(path, format!("{} is not a readable file", file.display()));
                }
            }
        }
        let l = &self.limits;
        if !(1024..=MAX_HEADER_BYTES_CAP).contains(&l.max_header_bytes) {
            err(
                "limits.max_header_bytes",
                format!("must be between 1024 and {MAX_HEADER_BYTES_CAP}"),
            );
        }
        if !(1..=MAX_BODY_BYTES_CAP).contains(&l.max_body_bytes) {
            err(
                "limits.max_body_bytes",
                format!("must be between 1 and {MAX_BODY_BYTES_CAP}"),
            );
        }
        if l.max_connections == 0 {
            err("limits.max_connections", "must be at least 1".into());
        }
        if l.max_concurrent_streams == 0 {
            err("limits.max_concurrent_streams", "must be at least 1".into());
        }
        if self.upstream.max_concurrent_requests == 0 {
            err(
                "upstream.max_concurrent_requests",
                "must be at least 1".into(),
            );
        }
        match &self.candidate_policies {
            Some(p) if !p.is_dir() => err(
                "candidate_policies",
                format!("{} is not a directory", p.display()),
            ),
            Some(p) if Some(p) == self.policies.as_ref() => err(
                "candidate_policies",
                "must differ from policies: a candidate is compared with the live bundle".into(),
            ),
            _ => {}
        }
        let a = &self.audit;
        match (a.sink, &a.path) {
            (AuditSinkKind::File, None) => {
                err("audit.path", "required with sink: file".into());
            }
            (AuditSinkKind::File, Some(p)) => {
                let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
                if parent.is_some_and(|d| !d.is_dir()) || p.is_dir() {
                    err(
                        "audit.path",
                        format!("{} is not a file in an existing directory", p.display()),
                    );
                }
            }
            (AuditSinkKind::Stdout, Some(_)) => {
                err("audit.path", "only used with sink: file".into());
            }
            (AuditSinkKind::Stdout, None) => {}
        }
        for (path, n) in [("audit.capacity", a.capacity), ("audit.recent", a.recent)] {
            if !(1..=MAX_AUDIT_RECORDS).contains(&n) {
                err(path, format!("must be between 1 and {MAX_AUDIT_RECORDS}"));
            }
        }
        for (path, m) in self
            .decision_api
            .problems(&[self.listen, self.admin_listen])
        {
            err(path, m);
        }
        for (path, m) in self.state.problems() {
            err(path, m);
        }
        for (path, m) in self.review.problems() {
            err(path, m);
        }
        let debounce = self.reload.debounce.get();
        if debounce == Duration::ZERO || debounce > MAX_DEBOUNCE {
            err(
                "reload.debounce",
                format!(
                    "must be more than 0 and at most {}s",
                    MAX_DEBOUNCE.as_secs()
                ),
            );
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errs))
        }
    }
}

/// Whether two listen addresses would collide: the same port on the same IP, or on any IP
/// when either is a wildcard (0.0.0.0 or ::) address. Port 0 (pick one) never collides.
pub(super) fn overlaps(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The upstream is one origin: `http://host[:port]`, nothing else, so no path prefix or
/// credentials can be smuggled in by configuration.
fn check_upstream_url(url: &str) -> Result<(), String> {
    let shape = "must be http://host:port";
    let uri: http::Uri = url.parse().map_err(|e| format!("{shape} ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "https:// upstreams are not supported: the upstream shares the pod, use http://"
                    .into(),
            )
        }
        _ => return Err(format!("{shape}: the scheme must be http://")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("{shape}: no host"));
    };
    if authority.as_str().contains('@') {
        return Err(format!("{shape}: no credentials"));
    }
    if authority.host().is_empty() {
        return Err(format!("{shape}: no host"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!("{shape}: no path or query"));
    }
    Ok(())
}

#[cfg(test)]
pub(super) fn check_upstream_url_for_test(url: &str) -> bool {
    check_upstream_url(url).is_ok()
}
