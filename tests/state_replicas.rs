//! Two real `toolgate serve` processes (replicas A and B) sharing one Redis and one
//! recording upstream: a signed approval is forwarded once across both, and still once
//! after a replica restarts; counted limits hold under concurrent requests spread over
//! both replicas (every request of a race is released at once by a barrier).
//!
//! Ignored by a plain `cargo test`: they need `redis-server` (see tests/state_redis.rs).

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::processes::{approve, bearer, issues, send, write_config, Serve};
use support::redis::RedisServer;
use support::sidecar::{edit, payout};
use support::{Reply, Upstream};

/// Uses of one signed approval racing, per replica.
const APPROVAL_USES_PER_REPLICA: usize = 8;
/// `rate_limit:3/1m per actor` on GET /payments/v1/payouts/{id}.
const RATE_LIMIT: usize = 3;
/// Reads by one actor racing, per replica.
const RATE_REQUESTS_PER_REPLICA: usize = 20;
/// `daily_amount_limit:25000 per actor` on POST /payments/v1/payouts.
const DAILY_BUDGET: u64 = 25_000;
/// One payout's amount, and how many of them race per replica.
const PAYOUT_AMOUNT: u32 = 1_000;
const PAYOUTS_PER_REPLICA: usize = 15;
/// `max_calls_per_run:2` on GET /db/v1/tenants/{id}.
const RUN_CALL_LIMIT: usize = 2;
/// Calls of one run racing, per replica.
const RUN_CALLS_PER_REPLICA: usize = 10;

/// Generous for a debug build on a busy machine: these tests are about counting, not speed.
const STATE_TIMEOUT: &str = "2s";

/// A Redis, an upstream, and replicas A and B of one config in front of them.
struct Replicas {
    _root: tempfile::TempDir,
    redis: RedisServer,
    up: Upstream,
    config: PathBuf,
    a: Serve,
    b: Serve,
}

impl Replicas {
    /// Both replicas on a copy of `policies/<bundle>`, edited by `setup` (given the copy).
    async fn start(bundle: &str, setup: impl FnOnce(&Path)) -> Replicas {
        let root = tempfile::tempdir().unwrap();
        let live = root.path().join("live");
        support::processes::copy_shipped_bundle(bundle, &live);
        setup(&live);
        let redis = RedisServer::start();
        let up = Upstream::start().await;
        let config = write_config(root.path(), "toolgate", &live, STATE_TIMEOUT);
        let a = Serve::start(&config, &up.url(), &redis.url()).await;
        let b = Serve::start(&config, &up.url(), &redis.url()).await;
        Replicas {
            _root: root,
            redis,
            up,
            config,
            a,
            b,
        }
    }

    /// The signed bundle (a JWT identity, signed approvals), as shipped.
    async fn signed() -> Replicas {
        Replicas::start("tools-signed", |_| {}).await
    }

    /// The header bundle with the three counted limits (tests/support/state_cases.rs).
    /// `toolgate serve` judges on the wall clock, so the payout rule's business-hours
    /// window goes, and with it the bundle's own tests (written for that window).
    async fn counted() -> Replicas {
        Replicas::start("tools", |live| {
            support::state_cases::add_counted_limits(live.parent().unwrap());
            edit(
                live,
                "rules.yaml",
                "        roles: [finance_operator, finance_admin]\n        change_window: business_hours\n",
                "        roles: [finance_operator, finance_admin]\n",
            );
            std::fs::remove_file(live.join("tests.yaml")).unwrap();
        })
        .await
    }

    /// How many requests the upstream saw with this method and a target starting with
    /// `prefix`.
    fn seen(&self, method: &str, prefix: &str) -> usize {
        let seen = self.up.seen();
        seen.iter()
            .filter(|s| s.method == method && s.target.starts_with(prefix))
            .count()
    }

    /// The sum of `toolgate_state_checks_total{result}` over both replicas.
    async fn checks(&self, result: &str) -> f64 {
        let label = [("result", result)];
        let a = self
            .a
            .metrics()
            .await
            .get("toolgate_state_checks_total", &label);
        let b = self
            .b
            .metrics()
            .await
            .get("toolgate_state_checks_total", &label);
        a.unwrap() + b.unwrap()
    }
}

/// One request of a race, owned so that it can move into a task.
#[derive(Clone)]
struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Req {
    fn new(method: &'static str, path: &str, headers: &[(&str, &str)], body: &str) -> Req {
        Req {
            method,
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_owned(),
        }
    }

    async fn send(&self, to: SocketAddr) -> Reply {
        let h: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        send(to, self.method, &self.path, &h, &self.body).await
    }
}

/// Sends `per_replica` copies of `req` to each replica, all released at once; returns
/// every reply.
async fn race(r: &Replicas, req: &Req, per_replica: usize) -> Vec<Reply> {
    let targets: Vec<SocketAddr> = [r.a.proxy, r.b.proxy]
        .into_iter()
        .flat_map(|addr| std::iter::repeat_n(addr, per_replica))
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(targets.len()));
    let tasks: Vec<_> = targets
        .into_iter()
        .map(|to| {
            let (barrier, req) = (barrier.clone(), req.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                req.send(to).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    replies
}

/// How many replies have `status`; every other one must be `refused` with exactly `issue`.
fn tally(replies: &[Reply], refused: u16, issue: &str) -> usize {
    let mut ok = 0;
    for r in replies {
        if r.status == 200 {
            ok += 1;
            continue;
        }
        assert_eq!(
            (r.status, issues(r)),
            (refused, vec![issue.to_owned()]),
            "{:?}",
            r.body
        );
    }
    ok
}

/// agent-5 (a platform admin) deleting tenant t-42 in production: needs a signed approval.
async fn deferred_delete(to: SocketAddr, auth: &str) -> Reply {
    let h = [("authorization", auth), ("x-environment", "production")];
    let reply = send(to, "DELETE", "/db/v1/tenants/t-42", &h, "").await;
    assert_eq!(reply.status, 409, "{:?}", reply.body);
    assert_eq!(reply.json()["verdict"], "DEFER");
    assert!(reply.json()["approval_request"].is_object());
    reply
}

fn delete_with(auth: &str, approval: &str) -> Req {
    let h = [
        ("authorization", auth),
        ("x-environment", "production"),
        ("x-approval", approval),
    ];
    Req::new("DELETE", "/db/v1/tenants/t-42", &h, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn a_signed_approval_is_forwarded_once_across_replicas() {
    let r = Replicas::signed().await;
    let auth = bearer("agent-5", &["viewer", "platform_admin"], None);
    let deferred = deferred_delete(r.a.proxy, &auth).await;
    let token = approve(&deferred.body, None);
    let req = delete_with(&auth, &token);

    let replies = race(&r, &req, APPROVAL_USES_PER_REPLICA).await;
    assert_eq!(replies.len(), 2 * APPROVAL_USES_PER_REPLICA);
    assert_eq!(
        tally(&replies, 403, "APPROVAL_REPLAYED"),
        1,
        "one use in total"
    );
    // Again, one after the other, on each replica.
    for to in [r.a.proxy, r.b.proxy] {
        assert_eq!(tally(&[req.send(to).await], 403, "APPROVAL_REPLAYED"), 0);
    }
    assert_eq!(r.seen("DELETE", "/db/v1/tenants/t-42"), 1);
    assert_eq!(r.up.seen().len(), 1, "nothing else was forwarded");
    assert!(r.up.seen()[0].header("x-approval").is_none());
    assert_eq!(r.checks("granted").await, 1.0);
    assert_eq!(
        r.checks("refused").await,
        (2 * APPROVAL_USES_PER_REPLICA + 1) as f64
    );
    assert_eq!(r.checks("unavailable").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn a_used_approval_stays_used_when_a_replica_restarts() {
    let Replicas {
        _root,
        redis,
        up,
        config,
        a,
        b,
    } = Replicas::signed().await;
    let auth = bearer("agent-5", &["viewer", "platform_admin"], None);
    let deferred = deferred_delete(a.proxy, &auth).await;
    let req = delete_with(&auth, &approve(&deferred.body, None));
    let used = req.send(a.proxy).await;
    assert_eq!(used.status, 200, "{:?}", used.body);
    assert_eq!(up.seen().len(), 1);

    // A goes away (a clean exit on SIGTERM) and comes back on the same config and Redis:
    // nothing of the use is left in any process's memory.
    assert_eq!(a.terminate().await, 0);
    let keys = redis.cli(&["--scan", "--pattern", "{toolgate:}jti:*"]);
    assert_eq!(keys.lines().count(), 1, "the used jti is in Redis: {keys}");
    let a = Serve::start(&config, &up.url(), &redis.url()).await;
    for to in [a.proxy, b.proxy] {
        let again = req.send(to).await;
        assert_eq!(tally(&[again], 403, "APPROVAL_REPLAYED"), 0);
    }
    let seen = up.seen();
    assert_eq!(seen.len(), 1, "forwarded once in all");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("DELETE", "/db/v1/tenants/t-42")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn a_rate_limit_holds_across_replicas_under_a_race() {
    let r = Replicas::counted().await;
    let req = Req::new(
        "GET",
        "/payments/v1/payouts/p1",
        &[("x-actor", "racer")],
        "",
    );
    let replies = race(&r, &req, RATE_REQUESTS_PER_REPLICA).await;
    assert_eq!(replies.len(), 2 * RATE_REQUESTS_PER_REPLICA);
    assert_eq!(tally(&replies, 429, "RATE_LIMITED"), RATE_LIMIT);
    for reply in replies.iter().filter(|r| r.status == 429) {
        let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
        // A refused request's clock may be read a little before the oldest counted entry
        // was stamped by the other replica (at most its round trip, `STATE_TIMEOUT`, before):
        // the wait is the window from that entry, rounded up.
        assert!((1..=62).contains(&retry), "Retry-After {retry}");
    }
    assert_eq!(r.seen("GET", "/payments/v1/payouts/"), RATE_LIMIT);
    for to in [r.a.proxy, r.b.proxy] {
        assert_eq!(tally(&[req.send(to).await], 429, "RATE_LIMITED"), 0);
    }
    // Another actor counts apart.
    let other = Req::new(
        "GET",
        "/payments/v1/payouts/p1",
        &[("x-actor", "other")],
        "",
    );
    assert_eq!(other.send(r.b.proxy).await.status, 200);
    assert_eq!(r.seen("GET", "/payments/v1/payouts/"), RATE_LIMIT + 1);
    assert_eq!(r.checks("granted").await, (RATE_LIMIT + 1) as f64);
    assert_eq!(r.checks("unavailable").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn a_daily_amount_budget_holds_across_replicas_under_a_race() {
    let r = Replicas::counted().await;
    // The header bundle's approval must be under an hour old on the wall clock.
    let approved_at = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 60)
        .unwrap()
        .to_string();
    let h = [
        ("x-actor", "agent-race"),
        ("x-actor-role", "finance_operator"),
        ("x-environment", "production"),
        ("x-approval-status", "approved"),
        ("x-approved-by", "[email protected]"),
        ("x-approved-at", approved_at.as_str()),
    ];
    let req = Req::new("POST", "/payments/v1/payouts", &h, &payout(PAYOUT_AMOUNT));
    let replies = race(&r, &req, PAYOUTS_PER_REPLICA).await;
    assert_eq!(replies.len(), 2 * PAYOUTS_PER_REPLICA);
    let fits = (DAILY_BUDGET / u64::from(PAYOUT_AMOUNT)) as usize;
    assert_eq!(tally(&replies, 403, "AMOUNT_BUDGET_EXCEEDED"), fits);

    let seen = r.up.seen();
    let forwarded: Vec<_> = seen.iter().filter(|s| s.method == "POST").collect();
    assert_eq!(forwarded.len(), fits);
    let spent: u64 = forwarded
        .iter()
        .map(|s| {
            let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            body["amount"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(spent, DAILY_BUDGET);
    for to in [r.a.proxy, r.b.proxy] {
        let more = req.send(to).await;
        assert_eq!(tally(&[more], 403, "AMOUNT_BUDGET_EXCEEDED"), 0);
    }
    assert_eq!(r.seen("POST", "/payments/v1/payouts"), fits);
    assert_eq!(r.checks("unavailable").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn max_calls_per_run_holds_across_replicas_under_a_race() {
    let r = Replicas::counted().await;
    let req = Req::new("GET", "/db/v1/tenants/t1", &[("x-run-id", "run-race")], "");
    let replies = race(&r, &req, RUN_CALLS_PER_REPLICA).await;
    assert_eq!(replies.len(), 2 * RUN_CALLS_PER_REPLICA);
    assert_eq!(
        tally(&replies, 403, "RUN_CALL_LIMIT_EXCEEDED"),
        RUN_CALL_LIMIT
    );
    assert_eq!(r.seen("GET", "/db/v1/tenants/"), RUN_CALL_LIMIT);
    for to in [r.a.proxy, r.b.proxy] {
        let more = req.send(to).await;
        assert_eq!(tally(&[more], 403, "RUN_CALL_LIMIT_EXCEEDED"), 0);
    }
    // Another run counts apart; a call without a run cannot be counted.
    let other = Req::new("GET", "/db/v1/tenants/t1", &[("x-run-id", "run-other")], "");
    assert_eq!(other.send(r.a.proxy).await.status, 200);
    let none = Req::new("GET", "/db/v1/tenants/t1", &[], "")
        .send(r.b.proxy)
        .await;
    assert_eq!(
        (none.status, issues(&none)),
        (409, vec!["RUN_ID_MISSING".to_owned()])
    );
    assert_eq!(r.seen("GET", "/db/v1/tenants/"), RUN_CALL_LIMIT + 1);
    assert_eq!(r.checks("unavailable").await, 0.0);
}
