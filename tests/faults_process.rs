//! The real binary: `toolgate serve` refuses to start without a valid bundle (exit 2, the
//! file and line named, nothing listening, so nothing can be forwarded), and on SIGTERM
//! under load it stops accepting, lets every in-flight request finish, and exits 0.

mod support;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;
use tokio::net::TcpStream;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port nothing listens on right now.
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn write_config(dir: &Path, listen: SocketAddr, upstream: &str, policies: &Path) -> PathBuf {
    write_config_admin(dir, listen, free_port(), upstream, policies)
}

fn write_config_admin(
    dir: &Path,
    listen: SocketAddr,
    admin: SocketAddr,
    upstream: &str,
    policies: &Path,
) -> PathBuf {
    let path = dir.join("toolgate.yaml");
    let text = format!(
        "apiVersion: toolgate.dev/v1alpha1\nkind: Config\nlisten: {listen}\nadmin_listen: {admin}\nupstream:\n  url: {upstream}\npolicies: {policies}\nshutdown_grace: 10s\naudit:\n  sink: stdout\nlimits:\n  header_read_timeout: 60s\n",
        policies = policies.display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `serve` with soft and hard open-file limits of `nofile` (so it cannot raise them).
fn spawn_limited(config: &Path, nofile: u32) -> Child {
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n {nofile} && exec \"$0\" serve --config \"$1\""
        ))
        .arg(env!("CARGO_BIN_EXE_toolgate"))
        .arg(config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the process to exit (up to `within`); its exit code and stderr.
async fn exited(child: &mut Child, within: Duration) -> Option<(i32, String)> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return Some((status.code().unwrap_or(-1), err));
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `addr` accepts connections (the server is up).
async fn listening(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn without_a_valid_bundle_serve_does_not_start() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A copy of the example bundle with one broken route.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for f in ["bundle.yaml", "routes.yaml", "rules.yaml", "tests.yaml"] {
        std::fs::copy(root().join("policies/tools").join(f), broken.join(f)).unwrap();
    }
    let routes = std::fs::read_to_string(broken.join("routes.yaml")).unwrap();
    let line = routes
        .lines()
        .position(|l| l.contains("method: GET"))
        .unwrap()
        + 1;
    let routes = routes.replacen("method: GET", "method: \"G E T\"", 1);
    std::fs::write(broken.join("routes.yaml"), routes).unwrap();
    let cases = [
        (dir.path().join("missing"), "missing".to_owned()),
        (broken.clone(), format!("routes.yaml:{line}")),
    ];
    for (policies, named) in cases {
        let listen = free_port();
        let config = write_config(dir.path(), listen, &up.url(), &policies);
        let mut child = spawn(&config);
        let (code, err) = exited(&mut child, Duration::from_secs(20))
            .await
            .expect("serve exits without a valid bundle");
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&named), "names {named}: {err}");
        assert!(TcpStream::connect(listen).await.is_err(), "nothing listens");
    }
    assert!(up.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_then_exits_zero() {
    let up = Upstream::start().await;
    up.set(Behavior::Slow(Duration::from_millis(700)));
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let config = write_config(
        dir.path(),
        listen,
        &up.url(),
        &root().join("policies/tools"),
    );
    let mut child = spawn(&config);
    listening(listen).await;

    const N: usize = 16;
    let in_flight: Vec<_> = (0..N)
        .map(|i| {
            tokio::spawn(async move {
                let path = format!("/db/v1/tenants/t-{i}");
                send_h1(listen, request("GET", listen, &path, &[], "")).await
            })
        })
        .collect();
    // Every request has reached the upstream (which holds each for a while)...
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while up.seen().len() < N {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {N} arrived",
            up.seen().len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...when SIGTERM comes.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // New connections are refused from now on (the listener is closed at once).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(listen).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still accepting");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every in-flight request completes with the upstream's answer.
    for r in in_flight {
        let r = r.await.unwrap().expect("in-flight request completed");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-toolgate-verdict"), Some("ALLOW"));
    }
    let (code, err) = exited(&mut child, Duration::from_secs(15))
        .await
        .expect("exits after draining");
    assert_eq!(code, 0, "{err}");
    assert_eq!(up.seen().len(), N, "nothing sent twice");
}

/// At the open-file limit a new client is answered 503 at once from the descriptor reserve
/// (not left in the backlog), the admin listener still answers, and the refusals are counted.
#[tokio::test]
async fn at_the_descriptor_limit_clients_are_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (listen, admin) = (free_port(), free_port());
    let config = write_config_admin(
        dir.path(),
        listen,
        admin,
        &up.url(),
        &root().join("policies/tools"),
    );
    let mut child = spawn_limited(&config, 64);
    listening(listen).await;
    listening(admin).await;
    // Idle clients (they never send a head) until one is answered from the reserve.
    let mut idle = Vec::new();
    let refused = loop {
        assert!(idle.len() < 200, "no 503 after {} connections", idle.len());
        let mut s = TcpStream::connect(listen).await.unwrap();
        let mut buf = vec![0u8; 512];
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => break String::from_utf8_lossy(&buf[..n]).into_owned(),
            _ => idle.push(s),
        }
    };
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("FD_EXHAUSTED"), "{refused}");
    // Still at the limit: the admin listener answers its probe.
    let mut probe = TcpStream::connect(admin).await.unwrap();
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), probe.read_to_string(&mut answer))
        .await
        .expect("the admin listener answers at the limit")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Below the limit again, the refusals are in the metrics.
    drop(idle);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let count = loop {
        let m = send_h1(admin, request("GET", admin, "/metrics", &[], "")).await;
        if let Ok(m) = m {
            let text = String::from_utf8_lossy(&m.body).into_owned();
            let e = support::prom::parse(&text).unwrap();
            if let Some(n) = e.get(
                "toolgate_connection_errors_total",
                &[("reason", "fd_exhausted")],
            ) {
                if n >= 1.0 {
                    break n;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no fd_exhausted count"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(count >= 1.0);
    let _ = child.kill();
    let _ = child.wait();
    assert!(up.seen().is_empty());
}
