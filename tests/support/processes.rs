//! `toolgate serve` as real processes (replicas sharing one state store): a config file
//! per replica, the listeners' addresses read from the JSON logs, readiness polled on
//! `/readyz`, SIGTERM with a bounded wait. Plus the CLI that mints the signed bundle's
//! identity tokens and approvals (`toolgate token`, `toolgate approve`) with its example
//! keys, and a client call that can never hang a test.

use super::sidecar::{eventually, DEADLINE};
use super::{call, Reply};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The repository root (the CLI runs there).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The signed bundle's example keys (never for anything real).
fn example_key(name: &str) -> PathBuf {
    root()
        .join("policies/tools-signed/example-private-keys")
        .join(name)
}

/// A copy of the regular files of `policies/<name>` at `to` (created); subdirectories (the
/// signed bundle's example keys) are left behind, as the loader ignores them.
pub fn copy_shipped_bundle(name: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(root().join("policies").join(name)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Writes `root/<name>.yaml`: both listeners on 127.0.0.1:0, the bundle `policies`, the
/// audit trail to stdout, `state.timeout` as given. The upstream and the state URL are
/// passed on the command line ([`Serve::start`]).
pub fn write_config(root: &Path, name: &str, policies: &Path, state_timeout: &str) -> PathBuf {
    let path = root.join(format!("{name}.yaml"));
    let text = format!(
        "apiVersion: toolgate.dev/v1alpha1\nkind: Config\nlisten: 127.0.0.1:0\n\
         admin_listen: 127.0.0.1:0\npolicies: {}\naudit:\n  sink: stdout\n\
         shutdown_grace: 5s\nstate:\n  timeout: {state_timeout}\n",
        policies.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// One `toolgate serve` process; killed when dropped.
pub struct Serve {
    child: Child,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    /// Its JSON log lines (stderr), drained by a thread so the process never blocks on them.
    logs: mpsc::Receiver<Value>,
}

impl Serve {
    /// Starts `toolgate serve --config config --upstream upstream --state-url state_url`
    /// and returns once it has announced both listeners and `/readyz` answers 200.
    pub async fn start(config: &Path, upstream: &str, state_url: &str) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_toolgate"))
            .args(["serve", "--log-format", "json", "--config"])
            .arg(config)
            .args(["--upstream", upstream, "--state-url", state_url])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let (logs, found) = tokio::task::spawn_blocking(move || {
            let (mut proxy, mut admin, mut seen) = (None, None, Vec::new());
            let deadline = Instant::now() + DEADLINE;
            while proxy.is_none() || admin.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                let v = match logs.recv_timeout(left) {
                    Ok(v) => v,
                    Err(e) => return (logs, Err(format!("{e}; logs:\n{seen:#?}"))),
                };
                let addr = || v["fields"]["local"].as_str().unwrap().parse().unwrap();
                match v["fields"]["message"].as_str() {
                    Some("proxy listening") => proxy = Some(addr()),
                    Some("admin listening") => admin = Some(addr()),
                    _ => {}
                }
                seen.push(v);
            }
            (logs, Ok((proxy.unwrap(), admin.unwrap())))
        })
        .await
        .unwrap();
        let (proxy, admin) = found.unwrap_or_else(|why| {
            // Disconnected: it exited (say why); Timeout: it is still silent after DEADLINE.
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!("toolgate serve announced no listeners ({status}): {why}")
        });
        let serve = Serve {
            child,
            proxy,
            admin,
            logs,
        };
        eventually("/readyz 200", || async {
            serve.admin_get("/readyz").await.status == 200
        })
        .await;
        serve
    }

    pub async fn admin_get(&self, path: &str) -> Reply {
        send(self.admin, "GET", path, &[], "").await
    }

    /// Scrapes `/metrics` and parses it strictly.
    pub async fn metrics(&self) -> super::prom::Exposition {
        let r = self.admin_get("/metrics").await;
        assert_eq!(r.status, 200);
        let text = String::from_utf8(r.body.to_vec()).unwrap();
        super::prom::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// Sends SIGTERM and waits (at most [`DEADLINE`]) for the exit; returns its code.
    pub async fn terminate(mut self) -> i32 {
        // SAFETY: kill(2) has no memory-safety preconditions.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().expect("exited, not killed by a signal");
            }
            if Instant::now() >= deadline {
                let logs: Vec<Value> = self.logs.try_iter().collect();
                panic!("no exit within {DEADLINE:?} of SIGTERM; logs:\n{logs:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // A failed assertion must not leave the process behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection; panics when no whole response arrives
/// within [`DEADLINE`] (so no request can hang a test).
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    within(DEADLINE, call(addr, method, path, headers, body)).await
}

/// `fut`'s output, or a panic naming `limit` when it takes longer.
pub async fn within<T>(limit: Duration, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("no answer within {limit:?}"))
}

/// The `issues` of a refusal body, as strings.
pub fn issues(r: &Reply) -> Vec<String> {
    r.json()["issues"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Runs the built `toolgate` with `args` and `stdin`, killing it after [`DEADLINE`];
/// returns (exit code, stdout, stderr).
pub fn toolgate_cli(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(DEADLINE) else {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        panic!("toolgate {args:?} did not finish within {DEADLINE:?}");
    };
    let out = out.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// `--now` for the CLI: the given instant, or none (the wall clock, as `serve` uses).
fn now_args(now: Option<&str>) -> Vec<&str> {
    now.map(|n| vec!["--now", n]).unwrap_or_default()
}

/// A bearer identity token the signed bundle accepts (`toolgate token` with its example
/// key), valid for an hour from `now`.
pub fn bearer(sub: &str, roles: &[&str], now: Option<&str>) -> String {
    let claims = serde_json::json!({
        "iss": "https://idp.example.test", "aud": "toolgate", "sub": sub, "roles": roles,
    })
    .to_string();
    let key = example_key("idp.es256.key.pem");
    let mut args = vec!["token", "--key", key.to_str().unwrap()];
    args.extend([
        "--kid",
        "example-idp-2026-03",
        "--claims",
        &claims,
        "--ttl",
        "1h",
    ]);
    args.extend(now_args(now));
    let (code, token, err) = toolgate_cli(&args, b"");
    assert_eq!(code, 0, "toolgate token: {err}");
    format!("Bearer {}", token.trim())
}

/// Signs the approval request a 409 carries (its whole body) as `bob.sre-lead`
/// (`toolgate approve --request - --ttl 15m` with the example key); returns the token.
pub fn approve(deferred_body: &[u8], now: Option<&str>) -> String {
    let key = example_key("approvals.ed25519.key.pem");
    let mut args = vec!["approve", "--key", key.to_str().unwrap(), "--request", "-"];
    args.extend(["--approver", "bob.sre-lead", "--ttl", "15m"]);
    args.extend(now_args(now));
    let (code, token, err) = toolgate_cli(&args, deferred_body);
    assert_eq!(code, 0, "toolgate approve: {err}");
    token.trim().to_owned()
}
