//! The Redis test harness (`support/redis.rs`) against real `redis-server` processes:
//! start, stop, restart on the same port, pause and resume, a password, TLS, and a
//! three-node cluster. Ignored by default: they need the Debian packages redis-server and
//! redis-tools, which `.ci/run` installs before it runs the ignored tests.

mod support;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;
use support::redis::{self_signed_localhost, RedisCluster, RedisOpts, RedisServer};

/// Long enough for an idle local Redis to answer, short enough for the test to be quick.
const SHORT: Duration = Duration::from_millis(300);

#[test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
fn a_server_starts_and_keeps_what_is_set() {
    let redis = RedisServer::start();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/0", redis.port()));
    assert_eq!(redis.cli(&["SET", "k", "v"]), "OK");
    assert_eq!(redis.cli(&["GET", "k"]), "v");
    assert_eq!(redis.request(&["GET", "k"], SHORT).unwrap(), "v");
    assert_eq!(redis.request(&["GET", "nothing"], SHORT).unwrap(), "(nil)");
    assert!(redis.pid() > 0);
}

#[test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
fn a_stopped_server_refuses_and_a_restarted_one_answers_on_the_same_port() {
    let mut redis = RedisServer::start();
    let (port, pid) = (redis.port(), redis.pid());
    redis.stop();
    let refused = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    redis.restart();
    assert_eq!(redis.port(), port);
    assert_ne!(redis.pid(), pid);
    assert_eq!(redis.request(&["PING"], SHORT).unwrap(), "PONG");
    assert_eq!(redis.cli(&["PING"]), "PONG");
}

#[test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
fn a_paused_server_accepts_but_does_not_answer_until_resumed() {
    let redis = RedisServer::start();
    redis.pause();
    let silent = redis.request(&["PING"], SHORT).unwrap_err();
    assert!(
        matches!(silent.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{silent:?}"
    );
    redis.resume();
    assert_eq!(redis.request(&["PING"], SHORT).unwrap(), "PONG");
}

#[test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
fn a_password_server_refuses_commands_before_auth() {
    let redis = RedisServer::start_with(RedisOpts {
        password: Some("s3cret-for-tests".into()),
        ..RedisOpts::default()
    });
    let refused = redis.request_without_auth(&["GET", "k"], SHORT).unwrap();
    assert!(refused.starts_with("-NOAUTH"), "{refused}");
    assert_eq!(redis.request(&["PING"], SHORT).unwrap(), "PONG");
    assert_eq!(redis.cli(&["SET", "k", "v"]), "OK");
    assert_eq!(redis.cli(&["GET", "k"]), "v");
}

#[test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
fn a_tls_server_answers_over_tls_only() {
    let certs = tempfile::tempdir().unwrap();
    let tls = self_signed_localhost(certs.path());
    let mut redis = RedisServer::start_with(RedisOpts {
        tls: Some(tls),
        ..RedisOpts::default()
    });
    assert_eq!(
        redis.url(),
        format!("rediss://localhost:{}/0", redis.port())
    );
    assert_eq!(redis.cli(&["PING"]), "PONG");
    // The TLS port does not speak plaintext RESP.
    let mut plain = TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    plain.set_read_timeout(Some(SHORT * 5)).unwrap();
    std::io::Write::write_all(&mut plain, b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut plain, &mut buf).unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"+PONG"),
        "plaintext PONG on the TLS port"
    );
    redis.restart();
    assert_eq!(redis.cli(&["PING"]), "PONG");
}

#[test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
fn a_cluster_starts_and_routes_keys_between_nodes() {
    let cluster = RedisCluster::start();
    let ports = cluster.ports();
    assert_eq!(ports.len(), 3);
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    assert_eq!(
        cluster.url(),
        format!("redis+cluster://{}", hosts.join(","))
    );
    for node in 0..3 {
        let info = cluster.cli(node, &["cluster", "info"]);
        assert!(info.contains("cluster_state:ok"), "node {node}: {info}");
        assert!(
            info.contains("cluster_known_nodes:3"),
            "node {node}: {info}"
        );
    }
    // Keys in slots owned by different nodes: -c follows the MOVED redirections.
    for key in ["a", "b", "c", "toolgate:approval:1"] {
        assert_eq!(cluster.cli(0, &["SET", key, &format!("v-{key}")]), "OK");
        assert_eq!(cluster.cli(2, &["GET", key]), format!("v-{key}"));
    }
}
