//! Hot reload against real files and real file-system events. A fake loader reads the
//! bundle's version from `bundle.txt` and builds a snapshot whose parts all derive from it,
//! so a reader can tell a whole snapshot from a torn one. Tests poll the swap with a bounded
//! deadline; no fixed sleep is ever the assertion.

use arc_swap::ArcSwap;
use prometheus::Registry;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolgate::classify::router::RouteTable;
use toolgate::metrics::Metrics;
use toolgate::policy::{Policy, PreparedAction};
use toolgate::reload::{on_sighup, Loader, Reloader};
use toolgate::snapshot::{BundleMeta, Mode, Route, Snapshot};

const QUIET: Duration = Duration::from_millis(50);
const DEADLINE: Duration = Duration::from_secs(20);

fn digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// Version `v` has `v % 4` routes and `fake@v` everywhere a version appears.
fn fake_snapshot(dir: &Path, v: u32, digest: String) -> Snapshot {
    let policy_version: Arc<str> = format!("fake@{v}").into();
    let routes = (0..v % 4)
        .map(|i| Route {
            name: format!("route-{i}").into(),
            method: http::Method::POST,
            path: format!("/r/{i}").into(),
            action: PreparedAction::default(),
            context: Default::default(),
            mode: Mode::Enforce,
            refuses_body: false,
            kind: Default::default(),
            review: Default::default(),
        })
        .collect();
    Snapshot {
        meta: BundleMeta {
            name: "fake".into(),
            version: v.to_string().into(),
            policy_version_header: toolgate::headers::tag_value(&policy_version),
            policy_version: policy_version.clone(),
            digest: digest.into(),
            dir: dir.to_path_buf(),
            loaded_at: jiff::Timestamp::now(),
        },
        policy: Policy {
            policy_version,
            ..Policy::default()
        },
        routes,
        table: RouteTable::default(),
        mcp: Vec::new(),
        amount_field: "amount".into(),
        route_metrics: Default::default(),
        trust: Default::default(),
    }
}

fn fake_loader() -> Loader {
    Arc::new(|dir: &Path| {
        let path = dir.join("bundle.txt");
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = text.trim();
        if text == "panic" {
            panic!("loader bug");
        }
        let v: u32 = text
            .parse()
            .map_err(|_| format!("{}:1:1: version: {text:?} is not a number", path.display()))?;
        Ok(fake_snapshot(dir, v, digest(text)))
    })
}

/// The version of a snapshot, after checking that all its parts agree on it.
fn check(s: &Snapshot) -> u32 {
    let v: u32 = s.meta.version.parse().expect("numeric version");
    assert_eq!(&*s.meta.policy_version, format!("fake@{v}"));
    assert_eq!(s.policy.policy_version, s.meta.policy_version);
    assert_eq!(&*s.meta.digest, digest(&v.to_string()));
    assert_eq!(s.routes.len() as u32, v % 4);
    v
}

async fn start(dir: &Path) -> (Reloader, Metrics) {
    let metrics = Metrics::new(&Registry::new(), "test").unwrap();
    let reloader = Reloader::load(dir.to_path_buf(), fake_loader(), metrics.clone())
        .await
        .unwrap();
    (reloader, metrics)
}

fn reloads(m: &Metrics, result: &str) -> u64 {
    let prefix = format!("toolgate_bundle_reloads_total{{result=\"{result}\"}} ");
    let text = m.encode();
    let line = text.lines().find_map(|l| l.strip_prefix(&prefix));
    line.expect("series present").parse().unwrap()
}

/// Polls until `cond` holds, failing the test after a generous deadline.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn serves(swap: &ArcSwap<Snapshot>, v: u32) {
    eventually(&format!("version {v}"), || check(&swap.load()) == v).await;
}

fn write_bundle(dir: &Path, text: &str) {
    fs::write(dir.join("bundle.txt"), text).unwrap();
}

#[tokio::test]
async fn a_file_write_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(tmp.path(), "1");
    let (reloader, metrics) = start(tmp.path()).await;
    let _watch = reloader.watch_with(QUIET).unwrap();

    write_bundle(tmp.path(), "2");
    serves(reloader.snapshot(), 2).await;
    assert_eq!(reloader.status().version.as_ref(), "2");
    assert!(reloads(&metrics, "success") >= 2, "startup and the reload");
}

#[tokio::test]
async fn a_rename_over_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(tmp.path(), "1");
    let (reloader, _) = start(tmp.path()).await;
    let _watch = reloader.watch_with(QUIET).unwrap();

    // What editors do: write a temp file beside the target, then rename it over.
    let tmp_file = tmp.path().join(".bundle.txt.swp");
    fs::write(&tmp_file, "3").unwrap();
    fs::rename(&tmp_file, tmp.path().join("bundle.txt")).unwrap();
    serves(reloader.snapshot(), 3).await;
}

#[tokio::test]
async fn a_configmap_data_swap_reloads() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let cm = tmp.path().join("bundle");
    let first = cm.join("..2026_11_22_10_00_00.123");
    fs::create_dir_all(&first).unwrap();
    fs::write(first.join("bundle.txt"), "1").unwrap();
    symlink("..2026_11_22_10_00_00.123", cm.join("..data")).unwrap();
    symlink("..data/bundle.txt", cm.join("bundle.txt")).unwrap();
    let (reloader, _) = start(&cm).await;
    let _watch = reloader.watch_with(QUIET).unwrap();

    // What the kubelet does: a new timestamped dir, a new `..data` symlink renamed
    // atomically over the old one, then the old dir removed.
    let second = cm.join("..2026_11_22_10_05_00.456");
    fs::create_dir(&second).unwrap();
    fs::write(second.join("bundle.txt"), "2").unwrap();
    symlink("..2026_11_22_10_05_00.456", cm.join("..data_tmp")).unwrap();
    fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
    fs::remove_dir_all(&first).unwrap();
    serves(reloader.snapshot(), 2).await;
}

#[tokio::test]
async fn the_watch_survives_replacing_the_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tools");
    fs::create_dir(&dir).unwrap();
    write_bundle(&dir, "1");
    let (reloader, _) = start(&dir).await;
    let _watch = reloader.watch_with(QUIET).unwrap();

    let new = tmp.path().join("tools.new");
    fs::create_dir(&new).unwrap();
    write_bundle(&new, "2");
    fs::rename(&dir, tmp.path().join("tools.old")).unwrap();
    fs::rename(&new, &dir).unwrap();
    serves(reloader.snapshot(), 2).await;

    // The new dir is watched: a plain write to it reloads.
    write_bundle(&dir, "3");
    serves(reloader.snapshot(), 3).await;
}

#[tokio::test]
async fn swapping_a_symlinked_dir_reloads() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    for v in ["1", "2", "3"] {
        let release = tmp.path().join(format!("release-{v}"));
        fs::create_dir(&release).unwrap();
        write_bundle(&release, v);
    }
    let current = tmp.path().join("current");
    symlink("release-1", &current).unwrap();
    let (reloader, _) = start(&current).await;
    let _watch = reloader.watch_with(QUIET).unwrap();

    // A deploy that flips `current` to a new release with an atomic rename.
    for v in [2, 3] {
        let next = tmp.path().join("current.next");
        symlink(format!("release-{v}"), &next).unwrap();
        fs::rename(&next, &current).unwrap();
        serves(reloader.snapshot(), v).await;
    }
    // The watch follows to the release now current.
    write_bundle(&tmp.path().join("release-3"), "4");
    serves(reloader.snapshot(), 4).await;
}

#[tokio::test]
async fn sighup_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(tmp.path(), "1");
    let (reloader, _) = start(tmp.path()).await;
    // The handler is installed when this returns, so the signal cannot kill the test.
    let _hup = on_sighup(reloader.clone()).unwrap();

    // No watch: only the signal can cause this reload.
    write_bundle(tmp.path(), "5");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    serves(reloader.snapshot(), 5).await;
}

#[tokio::test]
async fn a_broken_bundle_keeps_the_last_good_one_serving() {
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(tmp.path(), "1");
    let (reloader, metrics) = start(tmp.path()).await;
    let before = reloader.snapshot().load_full();

    write_bundle(tmp.path(), "one");
    let err = reloader.reload_now().await.unwrap_err();
    assert!(
        err.to_string().contains("bundle.txt:1:1: version:"),
        "{err}"
    );
    assert!(Arc::ptr_eq(&before, &reloader.snapshot().load_full()));
    assert_eq!(reloads(&metrics, "failure"), 1);
    let last = reloader.last_error().expect("kept for GET /v1/bundle");
    assert!(last.contains("bundle.txt:1:1"), "{last}");
    let status = reloader.status();
    assert_eq!(
        (status.version.as_ref(), status.last_error),
        ("1", Some(last))
    );

    // Through the watch too: the failure is counted and version 1 still serves.
    let _watch = reloader.watch_with(QUIET).unwrap();
    write_bundle(tmp.path(), "two");
    eventually("a second failure", || reloads(&metrics, "failure") >= 2).await;
    assert_eq!(check(&reloader.snapshot().load()), 1);

    // A loader that panics is a failed reload, not a crashed sidecar.
    write_bundle(tmp.path(), "panic");
    eventually("the loader's panic", || {
        reloader
            .last_error()
            .is_some_and(|e| e.contains("panicked"))
    })
    .await;
    assert_eq!(check(&reloader.snapshot().load()), 1);

    // A good bundle clears the error.
    write_bundle(tmp.path(), "2");
    serves(reloader.snapshot(), 2).await;
    eventually("the error to clear", || reloader.last_error().is_none()).await;
}

#[tokio::test]
async fn an_identical_bundle_is_a_no_op_success() {
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(tmp.path(), "7");
    let (reloader, metrics) = start(tmp.path()).await;
    let before = reloader.snapshot().load_full();
    let outcome = reloader.reload_now().await.unwrap();
    assert!(!outcome.changed);
    assert_eq!(outcome.current.as_ref(), "fake@7");
    assert!(
        Arc::ptr_eq(&before, &reloader.snapshot().load_full()),
        "not swapped"
    );
    assert_eq!(reloads(&metrics, "success"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_only_ever_see_whole_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(tmp.path(), "1");
    let (reloader, _) = start(tmp.path()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let loads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (swap, stop, loads) = (reloader.snapshot().clone(), stop.clone(), loads.clone());
            tokio::spawn(async move {
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    let v = check(&swap.load());
                    assert!(v >= last, "went back from {last} to {v}");
                    last = v;
                    loads.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
                last
            })
        })
        .collect();

    for v in 2..=51 {
        write_bundle(tmp.path(), &v.to_string());
        let outcome = reloader.reload_now().await.unwrap();
        assert!(outcome.changed);
        assert_eq!(&*outcome.current, format!("fake@{v}"));
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() <= 51);
    }
    assert_eq!(check(&reloader.snapshot().load()), 51);
    assert!(loads.load(Ordering::Relaxed) > 0);
}

// ---------------------------------------------------------------- the real loader

/// A copy of the example bundle in a tempdir, to edit freely.
fn example_bundle() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tools");
    fs::create_dir(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools");
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    (tmp, dir)
}

/// Replaces `from` by `to` in one file, the way an editor saves: temp file, rename over.
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let text = fs::read_to_string(dir.join(file)).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}");
    let tmp = dir.join(format!(".{file}.tmp"));
    fs::write(&tmp, text.replacen(from, to, 1)).unwrap();
    fs::rename(tmp, dir.join(file)).unwrap();
}

async fn start_real(dir: &Path) -> (Reloader, Metrics) {
    let metrics = Metrics::new(&Registry::new(), "test").unwrap();
    let loader = toolgate::reload::bundle_loader();
    let reloader = Reloader::load(dir.to_path_buf(), loader, metrics.clone())
        .await
        .unwrap();
    (reloader, metrics)
}

#[tokio::test]
async fn a_real_bundle_reloads_when_its_version_is_edited() {
    let (_tmp, dir) = example_bundle();
    let (reloader, metrics) = start_real(&dir).await;
    let first = reloader.status();
    assert_eq!(first.policy_version.as_ref(), "tools@1.0.0");
    assert!(first.routes > 0);
    let _watch = reloader.watch_with(QUIET).unwrap();

    edit(&dir, "bundle.yaml", "version: 1.0.0", "version: 1.0.1");
    let swap = reloader.snapshot();
    eventually("tools@1.0.1", || {
        &*swap.load().meta.policy_version == "tools@1.0.1"
    })
    .await;
    let now = reloader.status();
    assert_ne!(now.digest, first.digest);
    assert_eq!((now.routes, now.last_error), (first.routes, None));
    let text = metrics.encode();
    let info: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("toolgate_bundle_info{"))
        .collect();
    assert_eq!(info.len(), 1, "{info:?}");
    assert!(info[0].contains("version=\"1.0.1\""), "{}", info[0]);
}

#[tokio::test]
async fn a_real_bundle_error_is_reported_with_file_and_line() {
    let (_tmp, dir) = example_bundle();
    let (reloader, metrics) = start_real(&dir).await;
    edit(&dir, "bundle.yaml", "risk: 40", "risk: lots");
    let err = reloader.reload_now().await.unwrap_err().to_string();
    let bundle_yaml = dir.join("bundle.yaml").display().to_string();
    assert!(err.starts_with(&format!("{bundle_yaml}:")), "{err}");
    assert!(err.contains("risk"), "{err}");
    assert_eq!(reloader.last_error(), Some(err));
    assert_eq!(reloader.status().policy_version.as_ref(), "tools@1.0.0");
    assert_eq!(reloads(&metrics, "failure"), 1);
}

#[tokio::test]
async fn a_bundle_whose_own_tests_fail_is_refused() {
    let (_tmp, dir) = example_bundle();
    let (reloader, _) = start_real(&dir).await;
    let before = reloader.snapshot().load_full();
    edit(&dir, "tests.yaml", "verdict: ALLOW", "verdict: DENY");
    let err = reloader.reload_now().await.unwrap_err().to_string();
    let tests_yaml = dir.join("tests.yaml").display().to_string();
    assert!(err.starts_with(&format!("{tests_yaml}:")), "{err}");
    assert!(err.contains("failed: verdict"), "{err}");
    assert!(Arc::ptr_eq(&before, &reloader.snapshot().load_full()));
}
