//! Hot reload of the policy bundle. The [`Reloader`] owns the `ArcSwap<Snapshot>` the
//! request path reads: it builds a whole new snapshot off the request path, validates it and
//! runs the bundle's own tests, and only then swaps it in. A bundle that fails to load keeps
//! the last good one serving; the failure is logged (with file and line), counted, and kept
//! for `GET /v1/bundle`.
//!
//! Triggers ([`watch`]): file-system events on the bundle dir (debounced), SIGHUP, and an
//! explicit [`Reloader::reload_now`] for `POST /v1/reload`. Reloads are serialized, so a
//! slower, older reload can never overwrite a newer one.

pub mod watch;

pub use watch::{on_sighup, DEFAULT_DEBOUNCE};

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Builds a snapshot from a bundle dir, or says why not (one `file:line:col: field: message`
/// per line). It runs on a blocking thread, so it may do file I/O.
pub type Loader = Arc<dyn Fn(&Path) -> Result<Snapshot, String> + Send + Sync>;

/// The production loader: [`bundle::load`](crate::bundle::load) stamped with the current
/// time, then the bundle's own tests, which must all pass. A bundle whose tests fail is
/// refused like a bundle that does not parse: its authors said what it must decide, and it
/// does not.
pub fn bundle_loader() -> Loader {
    Arc::new(|dir: &Path| {
        let snapshot =
            crate::bundle::load(dir, jiff::Timestamp::now()).map_err(|e| e.to_string())?;
        let failed: Vec<String> = crate::bundle::run_tests(&snapshot)
            .into_iter()
            .filter(|t| !t.passed)
            .map(|t| {
                format!(
                    "{}: test {:?} failed: {}",
                    t.location,
                    t.name,
                    t.failures.join("; ")
                )
            })
            .collect();
        if failed.is_empty() {
            Ok(snapshot)
        } else {
            Err(failed.join("\n"))
        }
    })
}

/// What asked for a reload; a log field, so an operator can tell SIGHUP from a file event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    Watch,
    Sighup,
    Api,
}

impl Trigger {
    pub const fn as_str(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Watch => "watch",
            Trigger::Sighup => "sighup",
            Trigger::Api => "api",
        }
    }
}

/// A successful reload: whether the serving snapshot changed, and from what to what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReloadOutcome {
    /// False when the bundle's digest equals the serving one: nothing was swapped.
    pub changed: bool,
    pub previous: Arc<str>,
    pub current: Arc<str>,
    pub digest: Arc<str>,
}

/// A failed reload; the message names file, line and field where the loader could.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadError(pub Arc<str>);

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReloadError {}

/// The serving bundle and the last reload error, for `GET /v1/bundle`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BundleStatus {
    pub name: Arc<str>,
    pub version: Arc<str>,
    pub policy_version: Arc<str>,
    pub digest: Arc<str>,
    pub dir: PathBuf,
    /// RFC 3339.
    pub loaded_at: String,
    pub routes: usize,
    /// Why the latest reload failed; `None` once a reload succeeds again.
    pub last_error: Option<String>,
}

/// Owns the serving snapshot and everything needed to replace it. Cloning is cheap and
/// shares the same state (the watcher, the SIGHUP task and the API each hold one).
#[derive(Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    current: Arc<ArcSwap<Snapshot>>,
    loader: Loader,
    metrics: Metrics,
    last_error: ArcSwapOption<String>,
    /// Serializes reloads: load + compare + store is one critical section.
    serial: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// Loads the bundle once (off the async workers) and starts serving it. Fails if the
    /// first bundle does not load: there is no last good one to fall back to.
    pub async fn load(
        dir: PathBuf,
        loader: Loader,
        metrics: Metrics,
    ) -> Result<Reloader, ReloadError> {
        let snapshot = build(&loader, &dir).await.map_err(|e| {
            metrics.reload_failed();
            tracing::error!(dir = %dir.display(), error = %e, "initial bundle load failed");
            e
        })?;
        snapshot.route_metrics(&metrics);
        metrics.bundle_activated(&snapshot.meta);
        tracing::info!(
            trigger = Trigger::Startup.as_str(),
            policy_version = %snapshot.meta.policy_version,
            digest = %snapshot.meta.digest,
            routes = snapshot.routes.len(),
            "bundle loaded"
        );
        let current = Arc::new(ArcSwap::from_pointee(snapshot));
        Ok(Reloader::new(dir, current, loader, metrics))
    }

    /// Takes over a snapshot that is already serving (and already reported to `metrics`).
    pub fn new(
        dir: PathBuf,
        current: Arc<ArcSwap<Snapshot>>,
        loader: Loader,
        metrics: Metrics,
    ) -> Reloader {
        Reloader {
            inner: Arc::new(Inner {
                dir,
                current,
                loader,
                metrics,
                last_error: ArcSwapOption::empty(),
                serial: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The swap the request path loads its snapshot from.
    pub fn snapshot(&self) -> &Arc<ArcSwap<Snapshot>> {
        &self.inner.current
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Why the latest reload failed, if it did (cleared by the next success).
    pub fn last_error(&self) -> Option<String> {
        self.inner.last_error.load_full().map(|e| (*e).clone())
    }

    pub fn status(&self) -> BundleStatus {
        let snap = self.inner.current.load();
        let m = &snap.meta;
        BundleStatus {
            name: m.name.clone(),
            version: m.version.clone(),
            policy_version: m.policy_version.clone(),
            digest: m.digest.clone(),
            dir: m.dir.clone(),
            loaded_at: m.loaded_at.to_string(),
            routes: snap.routes.len(),
            last_error: self.last_error(),
        }
    }

    /// Reloads now, for `POST /v1/reload`.
    pub async fn reload_now(&self) -> Result<ReloadOutcome, ReloadError> {
        self.reload(Trigger::Api).await
    }

    /// Builds, validates and tests the bundle off the request path, then swaps it in. On
    /// failure the serving snapshot is untouched.
    pub async fn reload(&self, trigger: Trigger) -> Result<ReloadOutcome, ReloadError> {
        let inner = &*self.inner;
        let _serial = inner.serial.lock().await;
        let previous = inner.current.load_full();
        let from = previous.meta.policy_version.clone();
        let next = match build(&inner.loader, &inner.dir).await {
            Ok(next) => next,
            Err(e) => {
                inner.metrics.reload_failed();
                inner.last_error.store(Some(Arc::new(e.0.to_string())));
                tracing::error!(
                    trigger = trigger.as_str(),
                    dir = %inner.dir.display(),
                    serving = %from,
                    error = %e,
                    "bundle reload failed; the last good bundle keeps serving"
                );
                return Err(e);
            }
        };
        inner.last_error.store(None);
        let m = &next.meta;
        let outcome = ReloadOutcome {
            changed: m.digest != previous.meta.digest,
            previous: from,
            current: m.policy_version.clone(),
            digest: m.digest.clone(),
        };
        if outcome.changed {
            // Resolved before the swap: the first request on it only does atomic adds.
            next.route_metrics(&inner.metrics);
            inner.metrics.bundle_activated(m);
            tracing::info!(
                trigger = trigger.as_str(),
                from = %outcome.previous,
                to = %outcome.current,
                digest = %outcome.digest,
                routes = next.routes.len(),
                swapped = true,
                "bundle reloaded"
            );
            inner.current.store(Arc::new(next));
        } else {
            inner.metrics.reload_unchanged(m.loaded_at);
            tracing::info!(
                trigger = trigger.as_str(),
                policy_version = %outcome.current,
                digest = %outcome.digest,
                swapped = false,
                "bundle unchanged (same digest); nothing swapped"
            );
        }
        Ok(outcome)
    }
}

/// Runs the loader on a blocking thread; a panicking loader is a failed reload, not a crash.
async fn build(loader: &Loader, dir: &Path) -> Result<Snapshot, ReloadError> {
    let (loader, dir) = (loader.clone(), dir.to_path_buf());
    match tokio::task::spawn_blocking(move || loader(&dir)).await {
        Ok(Ok(snapshot)) => Ok(snapshot),
        Ok(Err(message)) => Err(ReloadError(message.into())),
        Err(e) => Err(ReloadError(format!("bundle loader panicked: {e}").into())),
    }
}
