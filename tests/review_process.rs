//! `toolgate review` as a real process: it refuses to start without a signing key, or with
//! one the bundle would not accept; it serves the inbox only to a verified reviewer, its
//! health and metrics to anyone, and stops cleanly on SIGTERM. And the shipped
//! `config/review.yaml` is a config `toolgate review` accepts.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::call;
use support::processes::toolgate_cli;
use toolgate::config::{Config, Overrides};

const KEYS: &str = "policies/tools-signed/example-private-keys";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A config for `toolgate review` in `dir`, signing with `key`.
fn write(dir: &Path, key: Option<&str>, listen: &str) -> String {
    let key = key
        .map(|k| format!("  signing_key: {}\n", root().join(KEYS).join(k).display()))
        .unwrap_or_default();
    let text = format!(
        "apiVersion: toolgate.dev/v1alpha1\nkind: Config\npolicies: {}\nadmin_listen: 127.0.0.1:0\nreview:\n  listen: {listen}\n{key}",
        root().join("policies/tools-signed").display()
    );
    let path = dir.join("review.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn it_refuses_to_start_without_a_key_the_bundle_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (None, "review.signing_key: required by toolgate review"),
        (
            Some("idp.es256.key.pem"),
            "does not accept approvals signed with it",
        ),
    ];
    for (key, said) in cases {
        let config = write(dir.path(), key, &free_port());
        let (code, _, stderr) = toolgate_cli(&["review", "--config", &config], b"");
        assert_eq!(code, 2, "{key:?}: {stderr}");
        assert!(stderr.contains(said), "{key:?}: {stderr}");
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn it_serves_reviewers_only_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let config = write(dir.path(), Some("approvals.ed25519.key.pem"), &listen);
    let child = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(["review", "--config", &config])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let addr = listen.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "toolgate review did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = call(addr, "GET", "/healthz", &[], "").await;
    assert_eq!((health.status, &health.body[..]), (200, &b"ok\n"[..]));
    let metrics = call(addr, "GET", "/metrics", &[], "").await;
    assert!(String::from_utf8_lossy(&metrics.body).contains("toolgate_state_up"));
    let anonymous = call(addr, "GET", "/", &[], "").await;
    assert_eq!(anonymous.status, 401);
    let spoofed = call(addr, "GET", "/", &[("x-reviewer", "mallory")], "").await;
    assert_eq!(spoofed.status, 401);
    let lead = call(
        addr,
        "GET",
        "/",
        &[("x-forwarded-email", "lead@example.com")],
        "",
    )
    .await;
    assert_eq!(lead.status, 200);
    let page = String::from_utf8_lossy(&lead.body);
    assert!(page.contains("id=\"pending-empty\""), "{page}");
    assert!(page.contains("lead@example.com"), "{page}");
    // SAFETY: kill(2) has no memory-safety preconditions.
    let sent = unsafe { libc::kill(running.0.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = running.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_shipped_review_config_is_one_toolgate_review_accepts() {
    let path = root().join("config/review.yaml");
    let cfg = Config::load(&path, Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    let problems = cfg.review.inbox_problems(&[cfg.listen, cfg.admin_listen]);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(
        cfg.state.url.starts_with("redis://"),
        "an inbox shares the sidecars' store"
    );
    assert_eq!(cfg.review.url.as_deref(), Some("http://127.0.0.1:9400"));
    let key = cfg.review.signing_key.as_deref().unwrap();
    assert!(
        key.ends_with("approvals.ed25519.key.pem"),
        "{}",
        key.display()
    );
}
