//! The decision API: the self-hosted form of Stage0's `POST /check`, on a listener of its
//! own (`decision_api.listen`, TLS with the `tls` settings), so existing Stage0 clients
//! work against toolgate with only a base URL and a key. `POST /v1/check` answers in
//! toolgate's own decision JSON. Every call needs a key from the keys file (hashed at
//! rest, hot-reloaded) and is one audit record (`final_runtime_action: decision_only`).
//! It decides through `crate::decide::check`, like the admin `/v1/check` and bundle tests.

pub mod keys;
mod routes;
pub mod stage0;

use crate::clock::Clock;
use crate::headers::RequestIds;
use crate::ops::Ops;
use crate::server::service::Endpoint;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use keys::KeySet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Callers at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 1024;
/// How often the keys file is looked at for a change.
const KEYS_EVERY: Duration = Duration::from_secs(1);

/// What the decision API reads: the live bundle, the keys, operations, the clock.
pub struct DecisionApi {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub keys: Arc<ArcSwap<KeySet>>,
    pub ops: Arc<Ops>,
    pub clock: Clock,
    pub ids: RequestIds,
    /// `limits.max_body_bytes`, for payloads.
    pub max_body_bytes: u64,
    /// `limits.body_read_timeout`, for payloads.
    pub body_read_timeout: Duration,
    /// `limits.header_read_timeout`: a slow client is cut off as on the proxy listener.
    pub header_read_timeout: Duration,
}

impl DecisionApi {
    /// Serves until `shutdown` completes, then lets open calls finish (for a short grace).
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let endpoint = Endpoint {
            name: "decision API",
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: self.header_read_timeout,
        };
        let handle = move |req, _cert| {
            let api = self.clone();
            async move { routes::route(&api, req).await }
        };
        crate::server::service::serve(endpoint, listener, tls, shutdown, handle).await
    }
}

/// Loads the keys file and keeps `keys` in step with it: a change is picked up within a
/// second; a file that no longer parses keeps the last good keys (and says why).
pub fn load_keys(
    path: &Path,
) -> anyhow::Result<(Arc<ArcSwap<KeySet>>, tokio::task::JoinHandle<()>)> {
    // Read once: what is served and what later reads are compared with are the same bytes.
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let set = KeySet::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| {
        let lines: Vec<String> = e
            .lines()
            .map(|l| format!("{}: {l}", path.display()))
            .collect();
        anyhow::anyhow!(lines.join("\n"))
    })?;
    tracing::info!(keys = set.len(), file = %path.display(), "decision API keys loaded");
    let keys = Arc::new(ArcSwap::from_pointee(set));
    let (watched, path) = (keys.clone(), PathBuf::from(path));
    let task = tokio::spawn(async move {
        let mut seen = Some(bytes);
        loop {
            tokio::time::sleep(KEYS_EVERY).await;
            let now = tokio::fs::read(&path).await.ok();
            if now == seen {
                continue;
            }
            match now
                .as_deref()
                .map(|b| KeySet::parse(&String::from_utf8_lossy(b)))
            {
                Some(Ok(set)) => {
                    tracing::info!(keys = set.len(), file = %path.display(), "decision API keys reloaded");
                    watched.store(Arc::new(set));
                }
                Some(Err(e)) => {
                    tracing::error!(file = %path.display(), error = %e, "keys file invalid; the last good keys stay")
                }
                None => {
                    tracing::error!(file = %path.display(), "keys file unreadable; the last good keys stay")
                }
            }
            seen = now;
        }
    });
    Ok((keys, task))
}
