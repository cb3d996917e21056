//! The whole sidecar in-process, as `toolgate serve` runs it (hot reload, admin listener,
//! audit file, candidate bundle), on port 0, over a temp copy of the example bundle, with a
//! clock the test can move. Plus helpers to edit bundles the ways operators do, to scrape
//! the admin listener, and to read the audit file.

use super::{call, prom, Reply, TestClock};
use serde_json::Value;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use toolgate::app::{Listeners, Sidecar as Toolgate};
use toolgate::config::{AuditSinkKind, Config, HumanDuration};

/// How long any "eventually" waits before failing the test. Generous: CI machines are shared.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// The debounce the tests configure.
pub const DEBOUNCE: Duration = Duration::from_millis(40);

/// A payout the example bundle's `payouts-create` route reads (`/amount`).
pub fn payout(amount: u32) -> String {
    format!(r#"{{"amount": {amount}, "currency": "EUR", "destination": "acct-1"}}"#)
}

/// agent-7, a finance operator in production, with the request id `id` and an approval by
/// alice: what the example bundle needs to allow a payout within its limit.
pub fn approved_finance(id: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-request-id", id),
        ("x-actor", "agent-7"),
        ("x-actor-role", "finance_operator"),
        ("x-environment", "production"),
        ("x-approval-status", "approved"),
        ("x-approved-by", "[email protected]"),
        ("x-approved-at", "2026-03-16T09:30:00Z"),
    ]
}

/// A copy of `policies/tools` at `to` (created).
pub fn copy_bundle(to: &Path) {
    fs::create_dir_all(to).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools");
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Writes a file the way editors save: a temp file renamed over the old one.
pub fn write_by_rename(path: &Path, text: &str) {
    let name = path.file_name().unwrap().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&tmp, text).unwrap();
    fs::rename(tmp, path).unwrap();
}

/// `text` with `from` replaced by `to` once; `from` must be there.
pub fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "lacks {from:?}");
    text.replacen(from, to, 1)
}

/// Replaces `from` by `to` in `dir/file`, saved by rename.
pub fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap();
    write_by_rename(&path, &replaced(&text, from, to));
}

/// Polls `cond` until it holds, failing after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// toolgate, whole, on 127.0.0.1:0.
pub struct Sidecar {
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    /// Holds the bundle copies and the audit file.
    pub root: tempfile::TempDir,
    /// The live bundle dir (a copy of `policies/tools`).
    pub live: PathBuf,
    pub audit_file: PathBuf,
    pub clock: TestClock,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Sidecar {
    /// Starts the sidecar in front of `upstream`. Before it starts, `setup` may edit the live
    /// bundle (`root/live`), create other dirs under `root`, and adjust the config (which
    /// already points at the live bundle and an audit file `root/audit.jsonl`).
    pub async fn start(upstream: &str, setup: impl FnOnce(&Path, &mut Config)) -> Sidecar {
        let root = tempfile::tempdir().unwrap();
        let live = root.path().join("live");
        copy_bundle(&live);
        let audit_file = root.path().join("audit.jsonl");
        let mut cfg = Config::default();
        cfg.upstream.url = upstream.to_owned();
        cfg.policies = Some(live.clone());
        cfg.audit.sink = AuditSinkKind::File;
        cfg.audit.path = Some(audit_file.clone());
        cfg.reload.debounce = HumanDuration(DEBOUNCE);
        cfg.shutdown_grace = HumanDuration::secs(10);
        setup(root.path(), &mut cfg);
        cfg.validate().unwrap_or_else(|e| panic!("{e}"));
        let clock = TestClock::new();
        let gate = Toolgate::load(cfg, clock.clock())
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let listeners = Listeners {
            proxy: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            api: None,
        };
        let (proxy, admin) = (
            listeners.proxy.local_addr().unwrap(),
            listeners.admin.local_addr().unwrap(),
        );
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(gate.run(listeners, async move {
            let _ = rx.await;
        }));
        Sidecar {
            proxy,
            admin,
            root,
            live,
            audit_file,
            clock,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Starts shutdown (what SIGTERM does in `main`).
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits until `run` has returned (drained, audit flushed).
    pub async fn stop(&mut self) {
        self.shutdown();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        call(self.admin, "GET", path, &[], "").await
    }

    pub async fn post(&self, path: &str, body: &str) -> Reply {
        call(self.admin, "POST", path, &[], body).await
    }

    /// Scrapes `/metrics` and parses it strictly.
    pub async fn metrics(&self) -> prom::Exposition {
        let r = self.get("/metrics").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = String::from_utf8(r.body.to_vec()).unwrap();
        prom::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// The policy version the admin API says is serving.
    pub async fn serving(&self) -> String {
        let b = self.get("/v1/bundle").await.json();
        b["policy_version"].as_str().unwrap().to_owned()
    }

    /// Waits until `policy_version` is serving.
    pub async fn serves(&self, policy_version: &str) {
        eventually(policy_version, || async {
            self.serving().await == policy_version
        })
        .await;
    }

    /// The audit record of `request_id`, from `/v1/decisions/{id}` (polled: a record is
    /// written once its response has been sent).
    pub async fn decision(&self, request_id: &str) -> Value {
        let path = format!("/v1/decisions/{request_id}");
        let deadline = Instant::now() + DEADLINE;
        loop {
            let r = self.get(&path).await;
            if r.status == 200 {
                return r.json();
            }
            assert_eq!(r.status, 404, "{r:?}");
            assert!(Instant::now() < deadline, "no record for {request_id}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every line of the audit file, parsed (each must be one JSON object).
    pub fn audit_lines(&self) -> Vec<Value> {
        read_audit(&self.audit_file)
    }
}

/// Reads an audit file: every line must be a complete JSON object.
pub fn read_audit(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "partial line");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}
