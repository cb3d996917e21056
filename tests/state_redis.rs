//! The state store on a real Redis (a `redis-server` each test starts on a free port): the
//! same one-replica rows as the in-process store (tests/state_memory.rs), over plain TCP,
//! TLS with a password, and a three-node Redis Cluster.
//!
//! Ignored by a plain `cargo test` (a fresh machine has no redis-server); `.ci/run`
//! installs Debian's `redis-server` and runs them with `cargo test -- --ignored`.

#[path = "support/demo.rs"]
mod demo;
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

/// The in-process engine and the Redis script are one semantics: the same plans (claims,
/// sliding windows, run counts, day sums, several ops at once, refunds) at the same
/// instants get the same answers, over a fixed-seed random sequence of 600 plans.
#[tokio::test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn the_memory_engine_and_the_redis_script_agree() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use toolgate::config::StateConfig;
    use toolgate::metrics::Metrics;
    use toolgate::state::plan::Op;
    use toolgate::state::{Engine, Plan, StateStore};

    let redis = RedisServer::start();
    let cfg = StateConfig {
        url: redis.url(),
        timeout: toolgate::config::HumanDuration::secs(2),
        ..StateConfig::default()
    };
    let metrics = Metrics::new(&prometheus::Registry::new(), "test").unwrap();
    let store = StateStore::connect(&cfg, metrics.state.clone())
        .await
        .unwrap();
    let mut engine = Engine::default();
    let seed = [7u8; 32];
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    // (kind, key, step ms, amount, refund?)
    let op = (
        0u8..4,
        0u8..3,
        0i64..1500,
        0i64..4000,
        proptest::bool::weighted(0.1),
    );
    let plans = proptest::collection::vec(proptest::collection::vec(op, 1..4), 600);
    let sequence = plans.new_tree(&mut runner).unwrap().current();
    let mut now = 1_773_655_200_000i64;
    let mut refused = 0;
    for (i, ops) in sequence.into_iter().enumerate() {
        now += ops[0].2;
        let mut plan = Plan {
            ops: Default::default(),
            now_ms: now,
            member: format!("m{i}"),
            what: Default::default(),
        };
        for (kind, key, _, amount, _) in &ops {
            let op = match kind {
                0 => Op::Claim {
                    key: format!("{{t:}}jti:{key}"),
                    ttl_ms: 3000,
                },
                // Counts and sums expire by Redis's own clock (a key's TTL collects it),
                // which this sequence's quick virtual time does not move: they outlive it.
                1 => Op::Rate {
                    key: format!("{{t:}}rate:{key}"),
                    limit: 3,
                    window_ms: 2000,
                },
                2 => Op::Calls {
                    key: format!("{{t:}}calls:{key}"),
                    limit: 4,
                    ttl_ms: 3_600_000,
                },
                _ => Op::Amount {
                    key: format!("{{t:}}amount:{key}"),
                    limit: 9000,
                    add: *amount,
                    ttl_ms: 3_600_000,
                },
            };
            if !plan.ops.iter().any(|o| o.key() == op.key()) {
                plan.ops.push(op);
            }
        }
        let want = engine.apply(&plan);
        let got = store.apply(&plan).await.unwrap();
        assert_eq!(got, want, "plan {i} at {now}: {plan:?}");
        refused += usize::from(matches!(got, toolgate::state::Applied::Refused(_)));
        if ops[0].4 && got == toolgate::state::Applied::Granted {
            engine.refund(&plan);
            store.refund(plan).await;
        }
    }
    // Both outcomes were exercised, not only one.
    assert!((100..500).contains(&refused), "{refused} of 600 refused");
}

/// `toolgate demo --state-url`: the same replay, its approval loop's `jti` and its review
/// loop's claimed in Redis, and the review loop's reviews kept there.
#[test]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
fn the_demo_runs_on_redis_when_told_to() {
    let redis = RedisServer::start();
    let url = redis.url();
    let (code, out, err) = demo::demo_once(&["--admin-listen", "127.0.0.1:0", "--state-url", &url]);
    assert_eq!(code, 0, "{out}\n{err}");
    let keys = redis.cli(&["--scan", "--pattern", "{toolgate:}jti:*"]);
    assert_eq!(
        keys.lines().count(),
        2,
        "the approval loop's and the review loop's used approvals: {keys:?}"
    );
    // The approval loop's deferred delete (released by its own x-approval: settled as
    // approved), the payout's (approved), its successor (pending), the refund's (rejected).
    let reviews = redis.cli(&["--scan", "--pattern", "{toolgate:}review:*"]);
    let mut statuses: Vec<String> = reviews
        .lines()
        .map(|key| redis.cli(&["HGET", key, "status"]).trim().to_owned())
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        ["approved", "approved", "pending", "rejected"],
        "{reviews:?}"
    );
}
