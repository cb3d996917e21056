//! `toolgate serve` as a real process, driven by real signals: an invalid bundle refuses to
//! start (exit 2); SIGHUP reloads; SIGTERM drains in-flight requests and flushes every audit
//! record before a clean exit. The listeners bind port 0; their addresses are read from the
//! JSON logs on stderr.

mod support;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::sidecar::*;
use support::*;

const VIEWER: &[(&str, &str)] = &[("x-actor-role", "viewer"), ("x-environment", "production")];

fn config(root: &Path, upstream: &str) -> std::path::PathBuf {
    let path = root.join("toolgate.yaml");
    let text = format!(
        "apiVersion: toolgate.dev/v1alpha1\nkind: Config\nlisten: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n\
         upstream:\n  url: {upstream}\npolicies: live\naudit:\n  sink: file\n  path: audit.jsonl\n\
         reload:\n  debounce: 40ms\nshutdown_grace: 10s\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn toolgate(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(["serve", "--log-format", "json", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Reads the child's JSON logs until both listeners have announced their addresses; the
/// rest of the log keeps draining into the returned channel.
fn addresses(child: &mut Child) -> (SocketAddr, SocketAddr, mpsc::Receiver<Value>) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    let (mut proxy, mut admin) = (None, None);
    while proxy.is_none() || admin.is_none() {
        let v = rx.recv_timeout(DEADLINE).expect("the listeners' log lines");
        let addr = || v["fields"]["local"].as_str().unwrap().parse().unwrap();
        match v["fields"]["message"].as_str() {
            Some("proxy listening") => proxy = Some(addr()),
            Some("admin listening") => admin = Some(addr()),
            _ => {}
        }
    }
    (proxy.unwrap(), admin.unwrap(), rx)
}

async fn exit_code(mut child: Child) -> i32 {
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    status.code().expect("exited, not killed")
}

#[tokio::test]
async fn an_invalid_bundle_refuses_to_start_with_exit_2() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    copy_bundle(&live);
    edit(&live, "bundle.yaml", "risk: 40", "risk: lots");
    let cfg = config(root.path(), "http://127.0.0.1:9");
    let out = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let bundle_yaml = live.join("bundle.yaml").display().to_string();
    assert!(
        err.contains(&format!("{bundle_yaml}:")),
        "names file and line: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_sigterm_drains_and_flushes_the_audit_trail() {
    let up = Upstream::start().await;
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    copy_bundle(&live);
    // `bundle.yaml` lives elsewhere, so editing it makes no event the watcher sees.
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::rename(live.join("bundle.yaml"), elsewhere.join("bundle.yaml")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("bundle.yaml"), live.join("bundle.yaml")).unwrap();
    let mut child = toolgate(&config(root.path(), &up.url()));
    let (proxy, admin, _logs) = addresses(&mut child);

    let version = |r: &Reply| r.header("x-toolgate-policy-version").unwrap().to_owned();
    let r = call(proxy, "GET", "/db/v1/tenants/t-1", VIEWER, "").await;
    assert_eq!((r.status, version(&r)), (200, "tools@1.0.0".to_owned()));

    // SIGHUP: reload now.
    edit(
        &elsewhere,
        "bundle.yaml",
        "version: 1.0.0",
        "version: 1.0.9",
    );
    signal(&child, "-HUP");
    eventually("tools@1.0.9", || async {
        let b = call(admin, "GET", "/v1/bundle", &[], "").await.json();
        b["policy_version"] == "tools@1.0.9"
    })
    .await;

    // Requests of every kind, then one that is still in flight when SIGTERM arrives.
    let mut ids = Vec::new();
    for (i, (method, path)) in [
        ("GET", "/db/v1/tenants/t-1"),
        ("DELETE", "/db/v1/tenants/t-1"),
        ("GET", "/nowhere"),
    ]
    .iter()
    .cycle()
    .take(30)
    .enumerate()
    {
        let id = format!("sig-{i}");
        let mut h = VIEWER.to_vec();
        h.push(("x-request-id", &id));
        let r = call(proxy, method, path, &h, "").await;
        assert_eq!(version(&r), "tools@1.0.9");
        ids.push(id);
    }
    up.set(Behavior::Slow(Duration::from_millis(500)));
    let before = up.seen().len();
    let slow = tokio::spawn(async move {
        let h = [VIEWER, &[("x-request-id", "sig-slow")]].concat();
        call(proxy, "GET", "/db/v1/tenants/t-2", &h, "").await
    });
    eventually("the slow request upstream", || async {
        up.seen().len() > before
    })
    .await;
    signal(&child, "-TERM");
    let r = slow.await.unwrap();
    assert_eq!(r.status, 200, "drained, not cut off");
    assert_eq!(exit_code(child).await, 0);
    ids.push("sig-slow".into());

    let lines = read_audit(&root.path().join("audit.jsonl"));
    let mut got: Vec<&str> = lines
        .iter()
        .map(|l| l["request_id"].as_str().unwrap())
        .filter(|id| id.starts_with("sig-"))
        .collect();
    got.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want, "every record, once");
    let slow = lines
        .iter()
        .find(|l| l["request_id"] == "sig-slow")
        .unwrap();
    assert_eq!(slow["final_runtime_action"], "forwarded");
    assert_eq!(slow["policy_version"], "tools@1.0.9");
}
