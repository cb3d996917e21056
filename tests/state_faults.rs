//! The state store failing under a running sidecar (in process, whole, on a real Redis):
//! Redis stopped, then started again on the same port; Redis hung (SIGSTOP), then resumed.
//! A request that needs state is answered 503 `STATE_UNAVAILABLE` and never forwarded;
//! a request that needs none keeps flowing; the metrics and `/healthz` say so; the sidecar
//! recovers by itself.
//!
//! Ignored by a plain `cargo test`: they need `redis-server` (see tests/state_redis.rs).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::processes::{approve, bearer, copy_shipped_bundle, issues, send, within};
use support::redis::RedisServer;
use support::sidecar::{eventually, Sidecar};
use support::{Reply, Upstream};
use toolgate::config::HumanDuration;

/// A staging deploy by a release manager: allowed, and no counted limit or signed approval
/// applies to it, so it never touches the state store.
const DEPLOY: &str =
    r#"{"service": "payments", "release": "2026.03.16", "environment": "staging"}"#;
const RELEASE_MANAGER: &[(&str, &str)] = &[
    ("x-actor", "agent-3"),
    ("x-actor-role", "release_manager"),
    ("x-environment", "staging"),
];

/// The example bundle with the counted limits, on `redis`, with `state.timeout` = `timeout`.
async fn sidecar(up: &Upstream, redis: &RedisServer, timeout: Duration) -> Sidecar {
    let url = redis.url();
    Sidecar::start(&up.url(), move |root, cfg| {
        support::state_cases::add_counted_limits(root);
        cfg.state.url = url;
        cfg.state.timeout = HumanDuration(timeout);
    })
    .await
}

/// Stateful and stateless requests to one sidecar; every stateful one by a new actor, so
/// that `rate_limit:3/1m per actor` never refuses it.
struct Traffic<'a> {
    gate: &'a Sidecar,
    actors: AtomicUsize,
}

impl Traffic<'_> {
    /// A payout read, counted by `rate_limit:3/1m per actor`.
    async fn stateful(&self) -> Reply {
        let n = self.actors.fetch_add(1, Ordering::SeqCst);
        let actor = format!("actor-{n}");
        let h = [
            ("x-actor", actor.as_str()),
            ("x-request-id", actor.as_str()),
        ];
        send(self.gate.proxy, "GET", "/payments/v1/payouts/p1", &h, "").await
    }

    async fn stateless(&self) -> Reply {
        let p = "/deploy/v1/deployments";
        send(self.gate.proxy, "POST", p, RELEASE_MANAGER, DEPLOY).await
    }
}

/// `r` is the 503 the README promises, nothing forwarded.
fn assert_state_unavailable(r: &Reply) {
    assert_eq!(r.status, 503, "{:?}", r.body);
    let body = r.json();
    assert_eq!(body["error"], "STATE_UNAVAILABLE");
    assert_eq!(issues(r), ["STATE_UNAVAILABLE"]);
    assert_eq!(body["verdict"], "DENY");
}

fn payout_reads(up: &Upstream) -> usize {
    let seen = up.seen();
    seen.iter()
        .filter(|s| s.target.starts_with("/payments/"))
        .count()
}

async fn metric(gate: &Sidecar, name: &str, labels: &[(&str, &str)]) -> f64 {
    gate.metrics().await.sum(name, labels)
}

async fn state_up(gate: &Sidecar) -> f64 {
    metric(gate, "toolgate_state_up", &[]).await
}

/// Runs a blocking harness call (a Redis stop, restart, pause) off the runtime's workers'
/// critical path.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn redis_stopped_refuses_what_needs_state_and_recovers_when_it_is_back() {
    let mut redis = RedisServer::start();
    let up = Upstream::start().await;
    let gate = sidecar(&up, &redis, Duration::from_millis(500)).await;
    let t = Traffic {
        gate: &gate,
        actors: AtomicUsize::new(0),
    };
    assert_eq!(t.stateful().await.status, 200);
    assert_eq!(t.stateless().await.status, 200);
    assert_eq!(up.seen().len(), 2);
    assert_eq!(state_up(&gate).await, 1.0);
    let errors = metric(&gate, "toolgate_state_errors_total", &[]).await;
    let unavailable = [("result", "unavailable")];
    assert_eq!(
        metric(&gate, "toolgate_state_checks_total", &unavailable).await,
        0.0
    );

    blocking(|| redis.stop());
    const DURING: usize = 5;
    for _ in 0..DURING {
        assert_state_unavailable(&t.stateful().await);
        let r = t.stateless().await;
        assert_eq!(
            r.status, 200,
            "a stateless request is unaffected: {:?}",
            r.body
        );
    }
    assert_eq!(payout_reads(&up), 1, "nothing stateful was forwarded");
    assert_eq!(up.seen().len(), 2 + DURING);
    let record = gate.decision("actor-1").await;
    assert_eq!(record["state"], "unavailable", "{record}");
    assert_eq!(
        metric(&gate, "toolgate_state_checks_total", &unavailable).await,
        DURING as f64
    );
    let now = metric(&gate, "toolgate_state_errors_total", &[]).await;
    assert!(now >= errors + DURING as f64, "errors {errors} -> {now}");
    eventually("toolgate_state_up 0", || async {
        state_up(&gate).await == 0.0
    })
    .await;
    let health = gate.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, "ok\nstate: redis down\n");
    assert_eq!(gate.get("/readyz").await.status, 200);

    // Back on the same port: the sidecar reconnects by itself.
    blocking(|| redis.restart());
    eventually("a stateful request forwarded again", || async {
        t.stateful().await.status == 200
    })
    .await;
    eventually("toolgate_state_up 1", || async {
        state_up(&gate).await == 1.0
    })
    .await;
    assert_eq!(gate.get("/healthz").await.body, "ok\nstate: redis up\n");
    // Decided on Redis's state again: one actor's fourth read is refused.
    for want in [200, 200, 200, 429] {
        let h = [("x-actor", "after")];
        let r = send(gate.proxy, "GET", "/payments/v1/payouts/p1", &h, "").await;
        assert_eq!(r.status, want, "{:?}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn a_hung_redis_is_a_timeout_not_a_hung_request() {
    const TIMEOUT: Duration = Duration::from_millis(100);
    // Every answer must arrive within this: a generous multiple of state.timeout, so that
    // only a request left hanging fails, not a slow machine.
    const ANSWER: Duration = TIMEOUT.saturating_mul(50);
    let redis = RedisServer::start();
    let up = Upstream::start().await;
    let gate = sidecar(&up, &redis, TIMEOUT).await;
    let t = Traffic {
        gate: &gate,
        actors: AtomicUsize::new(0),
    };
    eventually("a stateful request forwarded", || async {
        t.stateful().await.status == 200
    })
    .await;
    let forwarded = payout_reads(&up);
    let timeouts = [("reason", "timeout")];
    let before = metric(&gate, "toolgate_state_errors_total", &timeouts).await;

    blocking(|| redis.pause());
    const DURING: usize = 5;
    for _ in 0..DURING {
        assert_state_unavailable(&within(ANSWER, t.stateful()).await);
        let r = within(ANSWER, t.stateless()).await;
        assert_eq!(
            r.status, 200,
            "a stateless request is unaffected: {:?}",
            r.body
        );
    }
    assert_eq!(
        payout_reads(&up),
        forwarded,
        "nothing stateful was forwarded"
    );
    let after = metric(&gate, "toolgate_state_errors_total", &timeouts).await;
    eventually("toolgate_state_up 0", || async {
        state_up(&gate).await == 0.0
    })
    .await;
    assert_eq!(gate.get("/healthz").await.body, "ok\nstate: redis down\n");

    blocking(|| redis.resume());
    eventually("a stateful request forwarded again", || async {
        within(ANSWER, t.stateful()).await.status == 200
    })
    .await;
    eventually("toolgate_state_up 1", || async {
        state_up(&gate).await == 1.0
    })
    .await;
    // Last, so that a failure here leaves everything above checked: a hung store is
    // counted as what it is.
    assert_eq!(
        after,
        before + DURING as f64,
        "every refusal while Redis hung was a timeout (reason=\"timeout\")"
    );
}

/// The signed bundle (a JWT identity, signed approvals) on `redis`. The sidecar's clock is
/// fixed at support::NOW, so tokens are minted as of then.
async fn signed_sidecar(up: &Upstream, redis: &RedisServer) -> Sidecar {
    let url = redis.url();
    Sidecar::start(&up.url(), move |root, cfg| {
        let live = root.join("live");
        std::fs::remove_dir_all(&live).unwrap();
        copy_shipped_bundle("tools-signed", &live);
        cfg.state.url = url;
        cfg.state.timeout = HumanDuration(Duration::from_millis(200));
    })
    .await
}

/// agent-5 (a platform admin) deleting tenant t-42 in production, with `approval` if any.
async fn delete(gate: &Sidecar, auth: &str, approval: Option<&str>) -> Reply {
    let mut h = vec![("authorization", auth), ("x-environment", "production")];
    h.extend(approval.map(|a| ("x-approval", a)));
    send(gate.proxy, "DELETE", "/db/v1/tenants/t-42", &h, "").await
}

const MINTED_AT: &str = "2026-03-16T09:59:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn a_signed_approval_is_never_forwarded_without_the_store() {
    let mut redis = RedisServer::start();
    let up = Upstream::start().await;
    let gate = signed_sidecar(&up, &redis).await;
    let auth = bearer("agent-5", &["viewer", "platform_admin"], Some(MINTED_AT));
    let deferred = delete(&gate, &auth, None).await;
    assert_eq!(deferred.status, 409, "{:?}", deferred.body);
    let token = approve(&deferred.body, Some(MINTED_AT));

    blocking(|| redis.stop());
    for _ in 0..3 {
        let r = delete(&gate, &auth, Some(&token)).await;
        assert_state_unavailable(&r);
    }
    // The approval itself still defers when it is missing: no state needed for that.
    assert_eq!(delete(&gate, &auth, None).await.status, 409);
    assert!(up.seen().is_empty(), "nothing was forwarded");

    // Redis never saw those uses: once it is back the approval is good, once.
    blocking(|| redis.restart());
    eventually("toolgate_state_up 1", || async {
        state_up(&gate).await == 1.0
    })
    .await;
    let r = delete(&gate, &auth, Some(&token)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = delete(&gate, &auth, Some(&token)).await;
    assert_eq!(
        (r.status, issues(&r)),
        (403, vec!["APPROVAL_REPLAYED".to_owned()])
    );
    assert_eq!(up.seen().len(), 1);

    // A hung Redis: the use times out, 503, nothing forwarded.
    let deferred = delete(&gate, &auth, None).await;
    let token = approve(&deferred.body, Some(MINTED_AT));
    blocking(|| redis.pause());
    let r = within(Duration::from_secs(10), delete(&gate, &auth, Some(&token))).await;
    assert_state_unavailable(&r);
    assert_eq!(up.seen().len(), 1, "nothing was forwarded");
    blocking(|| redis.resume());
    eventually("toolgate_state_up 1", || async {
        state_up(&gate).await == 1.0
    })
    .await;
    // The sidecar cannot know whether its timed-out claim reached Redis: Redis may run it
    // when it resumes, spending the approval. Either way it is forwarded at most once.
    let retry = delete(&gate, &auth, Some(&token)).await;
    match retry.status {
        200 => assert_eq!(up.seen().len(), 2),
        _ => {
            assert_eq!(issues(&retry), ["APPROVAL_REPLAYED"], "{:?}", retry.body);
            assert_eq!(up.seen().len(), 1);
        }
    }
    let r = delete(&gate, &auth, Some(&token)).await;
    assert_eq!(
        (r.status, issues(&r)),
        (403, vec!["APPROVAL_REPLAYED".to_owned()])
    );
    assert_eq!(up.seen().len(), 1 + usize::from(retry.status == 200));
}
