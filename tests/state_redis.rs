//! The state store on a real Redis (a `redis-server` each test starts on a free port): the
//! same one-replica rows as the in-process store (tests/state_memory.rs), over plain TCP,
//! TLS with a password, and a three-node Redis Cluster.
//!
//! Ignored by a plain `cargo test` (a fresh machine has no redis-server); `.ci/run`
//! installs Debian's `redis-server` and runs them with `cargo test -- --ignored`.

mod support;

use support::redis::{self_signed_localhost, RedisCluster, RedisOpts, RedisServer};
use support::state_cases;

#[tokio::test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn counted_limits_hold_on_redis() {
    let redis = RedisServer::start();
    state_cases::one_replica_behaviours(Some(&redis.url())).await;
    // The counts are in Redis, under the prefix's hash tag.
    let keys = redis.cli(&["--scan", "--pattern", "{toolgate:}*"]);
    assert!(keys.contains("rate:60000:actor:alice"), "{keys}");
    assert!(keys.contains("amount:2026-03-16:agent-7"), "{keys}");
}

#[tokio::test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn a_connect_failure_gives_its_counts_back_on_redis() {
    let redis = RedisServer::start();
    let dead = support::dead_upstream().await;
    state_cases::connect_failures_give_counts_back(Some(&redis.url()), &dead).await;
}

#[tokio::test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn tls_and_a_password_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let tls = self_signed_localhost(dir.path());
    let redis = RedisServer::start_with(RedisOpts {
        password: Some("s3cret-from-a-file".into()),
        tls: Some(tls.clone()),
    });
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "s3cret-from-a-file\n").unwrap();
    let up = support::Upstream::start().await;
    let url = redis.url();
    assert!(url.starts_with("rediss://"), "{url}");
    let gate = support::sidecar::Sidecar::start(&up.url(), |root, cfg| {
        state_cases::add_counted_limits(root);
        cfg.state.url = url;
        cfg.state.ca_file = Some(tls.ca.clone());
        cfg.state.password_file = Some(password_file);
    })
    .await;
    for want in [200, 200, 200, 429] {
        let r = support::call(
            gate.proxy,
            "GET",
            "/payments/v1/payouts/p1",
            &[("x-actor", "alice")],
            "",
        )
        .await;
        assert_eq!(r.status, want, "{:?}", r.body);
    }
    assert_eq!(up.seen().len(), 3);
}

#[tokio::test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn counted_limits_hold_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    state_cases::one_replica_behaviours(Some(&cluster.url())).await;
}
