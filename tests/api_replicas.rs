//! Two `toolgate api` processes (the real binary) behind one imaginary Service, sharing a
//! real Redis: one key's quota holds across both, whichever replica a call lands on.
//!
//! Ignored by a plain `cargo test` (it needs redis-server); `.ci/run` runs it.

#[path = "support/demo.rs"]
mod demo;
mod support;

use std::net::SocketAddr;
use support::redis::RedisServer;

/// Calls raced at the two replicas, and the key's quota per minute.
const RACED: usize = 24;
const PER_MINUTE: usize = 5;

#[test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
fn a_quota_holds_across_two_api_replicas() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, line) = toolgate::api::keys::new_key("orchestrator").unwrap();
    std::fs::write(
        dir.path().join("keys"),
        format!("{line} per_minute={PER_MINUTE}\n"),
    )
    .unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = dir.path().join("api.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: toolgate.dev/v1alpha1\nkind: Config\npolicies: {}\ndecision_api:\n  keys_file: keys\naudit:\n  sink: file\n  path: audit.jsonl\n",
            root.join("policies/tools").display()
        ),
    )
    .unwrap();
    let replica = |admin: &str| {
        let args = [
            "api",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            admin,
            "--state-url",
            &redis.url(),
        ];
        let mut running = demo::Running::start(&args);
        let line = running.stderr_until("decision API listening");
        let addr: SocketAddr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("local="))
            .unwrap()
            .parse()
            .unwrap();
        (running, addr)
    };
    let (a, a_addr) = replica("127.0.0.2:0");
    let (b, b_addr) = replica("127.0.0.3:0");
    let body = r#"{"goal": "Read a payout", "tools": ["payments_api"], "side_effects": ["read"]}"#;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(RACED));
    let statuses: Vec<u16> = (0..RACED)
        .map(|i| {
            let (barrier, key) = (barrier.clone(), key.clone());
            let addr = if i % 2 == 0 { a_addr } else { b_addr };
            std::thread::spawn(move || {
                barrier.wait();
                demo::http(addr, "POST", "/check", &[("x-api-key".into(), key)], body).status
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (ok, limited),
        (PER_MINUTE, RACED - PER_MINUTE),
        "{statuses:?}"
    );
    // Both replicas read the same counts.
    for addr in [a_addr, b_addr] {
        let r = demo::http(
            addr,
            "GET",
            "/usage",
            &[("x-api-key".into(), key.clone())],
            "",
        );
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.body.contains(&format!("\"minute\":{PER_MINUTE}")),
            "{}",
            r.body
        );
    }
    assert_eq!(a.interrupt(), 0);
    assert_eq!(b.interrupt(), 0);
}
