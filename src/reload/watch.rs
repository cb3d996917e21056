//! Reload triggers: a debounced file-system watch on the bundle dir, and SIGHUP.
//!
//! The watch is deliberately coarse: ANY event in the bundle dir (non-recursive) is a
//! trigger, and the whole bundle is reloaded. That covers plain writes, editors that write
//! a temp file and rename it over, and Kubernetes ConfigMap volumes, where an update swaps
//! the `..data` symlink (a rename in the watched dir) while the files themselves are
//! symlinks through it. The parent dir is watched too, for events naming the bundle dir, so
//! that replacing the bundle dir itself re-establishes the watch on the new one.

use super::{Reloader, Trigger};
use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

impl Reloader {
    /// Watches the bundle dir and reloads after each burst of changes, once no event has
    /// come for `quiet` (`reload.debounce`, [`crate::config::DEFAULT_DEBOUNCE`] unless configured). The
    /// watch is established before this returns, so changes made afterwards are seen.
    pub fn watch_with(&self, quiet: Duration) -> notify::Result<JoinHandle<()>> {
        let dir = std::path::absolute(self.dir()).map_err(notify::Error::io)?;
        // One pending trigger is enough: a reload reads the whole dir, so events that
        // arrive while one is pending add nothing.
        let (tx, rx) = mpsc::channel(1);
        let filter_dir = dir.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let relevant = match res {
                    Ok(event) => is_relevant(&event, &filter_dir),
                    Err(e) => {
                        // Lost events (e.g. queue overflow): reloading is the safe answer.
                        tracing::warn!(error = %e, "bundle watch error; reloading to resync");
                        true
                    }
                };
                if relevant {
                    let _ = tx.try_send(());
                }
            })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        if let Some(parent) = dir.parent() {
            if let Err(e) = watcher.watch(parent, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %parent.display(), error = %e, "cannot watch the bundle dir's parent; replacing the dir itself will not be noticed");
            }
        }
        let watched = DirWatch {
            identity: identity(&dir),
            dir,
            watcher,
        };
        tracing::info!(dir = %watched.dir.display(), quiet_ms = quiet.as_millis() as u64, "watching bundle dir");
        Ok(tokio::spawn(watch_loop(self.clone(), watched, rx, quiet)))
    }
}

struct DirWatch {
    dir: PathBuf,
    /// (device, inode) of the dir when its watch was set: inotify watches an inode, so a
    /// dir replaced at the same path needs a new watch.
    identity: Option<(u64, u64)>,
    watcher: RecommendedWatcher,
}

impl DirWatch {
    fn rewatch_if_replaced(&mut self) {
        let now = identity(&self.dir);
        if now == self.identity || now.is_none() {
            return;
        }
        // The old watch may already be gone (the dir was deleted); that is fine.
        let _ = self.watcher.unwatch(&self.dir);
        match self.watcher.watch(&self.dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                tracing::info!(dir = %self.dir.display(), "bundle dir was replaced; watch re-established");
                self.identity = now;
            }
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot re-establish the bundle dir watch")
            }
        }
    }
}

async fn watch_loop(
    reloader: Reloader,
    mut watched: DirWatch,
    mut rx: mpsc::Receiver<()>,
    quiet: Duration,
) {
    while rx.recv().await.is_some() {
        if !quiet_period(&mut rx, quiet).await {
            break;
        }
        // Re-watch before reloading: a change made after this point triggers again, and
        // one made before it is read by this reload. Off the runtime: `stat` and notify's
        // (un)watch block, and a sidecar's runtime may be a single thread serving requests.
        watched = match tokio::task::spawn_blocking(move || {
            watched.rewatch_if_replaced();
            watched
        })
        .await
        {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "bundle dir watch lost; reload with SIGHUP or POST /v1/reload");
                break;
            }
        };
        let _ = reloader.reload(Trigger::Watch).await;
    }
}

/// Waits until no trigger has arrived for `quiet`. False if the sender is gone.
pub(crate) async fn quiet_period(rx: &mut mpsc::Receiver<()>, quiet: Duration) -> bool {
    loop {
        match tokio::time::timeout(quiet, rx.recv()).await {
            Err(_elapsed) => return true,
            Ok(Some(())) => continue,
            Ok(None) => return false,
        }
    }
}

/// Whether an event is about the bundle dir or something in it. Opens and reads are not:
/// the loader's own reads would otherwise trigger reloads forever.
fn is_relevant(event: &notify::Event, dir: &Path) -> bool {
    let is_read =
        matches!(event.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write));
    !is_read
        && event
            .paths
            .iter()
            .any(|p| p == dir || p.parent() == Some(dir))
}

fn identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// Reloads on every SIGHUP. The handler is installed before this returns, so a SIGHUP sent
/// afterwards reloads rather than killing the process. Must be called inside a runtime.
pub fn on_sighup(reloader: Reloader) -> io::Result<JoinHandle<()>> {
    let mut hup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let _ = reloader.reload(Trigger::Sighup).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_burst_becomes_one_trigger_after_the_quiet_period() {
        let (tx, mut rx) = mpsc::channel(8);
        let start = Instant::now();
        tokio::spawn(async move {
            for gap in [0, 100, 100, 200] {
                tokio::time::sleep(Duration::from_millis(gap)).await;
                tx.send(()).await.unwrap();
            }
            // Keep the sender alive past the quiet period.
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        assert_eq!(rx.recv().await, Some(()));
        assert!(quiet_period(&mut rx, Duration::from_millis(250)).await);
        // The last event came at 400 ms; the quiet period ends 250 ms later.
        assert_eq!(start.elapsed(), Duration::from_millis(650));
    }

    #[tokio::test(start_paused = true)]
    async fn the_quiet_period_ends_when_the_watcher_is_gone() {
        let (tx, mut rx) = mpsc::channel::<()>(1);
        drop(tx);
        assert!(!quiet_period(&mut rx, Duration::from_millis(250)).await);
    }

    #[test]
    fn reads_are_not_changes() {
        let dir = Path::new("/b");
        let ev = |kind, p: &str| notify::Event::new(kind).add_path(p.into());
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let closed = EventKind::Access(AccessKind::Close(AccessMode::Write));
        let create = EventKind::Create(notify::event::CreateKind::File);
        assert!(!is_relevant(&ev(open, "/b/x.yaml"), dir));
        assert!(is_relevant(&ev(closed, "/b/x.yaml"), dir));
        assert!(is_relevant(&ev(create, "/b/..data"), dir));
        assert!(
            is_relevant(&ev(create, "/b"), dir),
            "the dir itself, seen from its parent"
        );
        assert!(!is_relevant(&ev(create, "/c"), dir), "a sibling of the dir");
        assert!(!is_relevant(&ev(create, "/b/sub/x"), dir), "non-recursive");
    }
}
