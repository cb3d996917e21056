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

pub use watch::on_sighup;

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Builds a snapshot from a bundle dir, or says why not (one `file:line:col: field: message`
/// per line). It runs on a thread of its own, so it may do file I/O.
pub type Loader = Arc<dyn Fn(&Path) -> Result<Snapshot, String> + Send + Sync>;

/// The production loader: [`bundle::load`](crate::bundle::load) stamped with the current
/// time, then the bundle's own tests, which must all pass. A bundle whose tests fail is
/// refused like a bundle that does not parse: its authors said what it must decide, and it
/// does not.
pub fn bundle_loader() -> Loader {
    Arc::new(|dir: &Path| {
        let (snapshot, tests) = crate::bundle::load_with_tests(dir, jiff::Timestamp::now())
            .map_err(|e| e.to_string())?;
        let failed: Vec<String> = crate::bundle::run_tests(&snapshot, &tests)
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
        let m = &snapshot.meta;
        metrics.bundle_activated(&m.name, &m.version, &m.digest, m.loaded_at);
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
            inner
                .metrics
                .bundle_activated(&m.name, &m.version, &m.digest, m.loaded_at);
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

/// Runs the loader on a thread of its own at idle priority; a panicking loader is a failed
/// reload, not a crash.
///
/// A build takes milliseconds of CPU (parse, compile, run the bundle's tests). A sidecar is
/// usually given one or two cores, so at normal priority the build would take turns with
/// the request path and every request in flight would wait for it: the latency spike a
/// reload must not cause. At idle priority the request path always runs first.
async fn build(loader: &Loader, dir: &Path) -> Result<Snapshot, ReloadError> {
    let (loader, dir) = (loader.clone(), dir.to_path_buf());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("toolgate-reload".into())
        .spawn(move || {
            background_priority();
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loader(&dir)));
            let _ = tx.send(built);
        });
    if let Err(e) = spawned {
        return Err(ReloadError(
            format!("cannot start the bundle loader: {e}").into(),
        ));
    }
    match rx.await {
        Ok(Ok(Ok(snapshot))) => Ok(snapshot),
        Ok(Ok(Err(message))) => Err(ReloadError(message.into())),
        Ok(Err(_)) | Err(_) => Err(ReloadError("bundle loader panicked".into())),
    }
}

/// Puts the calling thread in `SCHED_IDLE` (Linux schedules threads one by one): it runs
/// only when nothing else on its core wants to. Best effort: where it is refused or not
/// supported, the build simply runs at normal priority.
fn background_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        #[allow(unsafe_code)] // the one libc call that sets a thread's scheduling class
        // SAFETY: `param` is a valid `sched_param` for the call's duration; pid 0 names the
        // calling thread; no memory is shared with the kernel beyond the call.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if rc != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "bundle loader keeps normal priority");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code)] // reads the scheduling class back through libc
mod tests {
    #[test]
    fn the_loader_thread_yields_to_the_request_path() {
        let policy = std::thread::spawn(|| {
            super::background_priority();
            // SAFETY: reads the calling thread's policy; no pointers.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .expect("thread");
        assert_eq!(policy, libc::SCHED_IDLE);
        // SAFETY: as above; this test's own thread was never changed.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
}
