//! The review inbox across replicas: two whole sidecars (`toolgate::app::Sidecar`, as
//! `toolgate serve` runs it, on the shipped `policies/tools-signed` bundle and the test's
//! clock) sharing one real Redis (`state.url`) and one recording upstream, and ONE inbox
//! whose state store is connected to the same Redis. A deferred payout opens one review
//! whichever replica sees it; an approval admits exactly one identical retry in all, even
//! when the retries race over both replicas; a rejection is seen by every replica; the
//! inbox lists what both hold and finds the decision traces either one shipped.
//!
//! Ignored by a plain `cargo test`: they need `redis-server` (see tests/state_redis.rs).

mod support;

use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use support::redis::RedisServer;
use support::review::{agent_token, config, review_id, serve_inbox, BUNDLE, LEAD, PAYOUT, PAYOUTS};
use support::sidecar::Sidecar;
use support::{call, fixed_clock, Reply, Upstream};
use tokio::net::TcpListener;
use toolgate::config::HumanDuration;
use toolgate::ops::Ops;
use toolgate::state::StateStore;

/// Identical retries of an approved payout racing over both replicas (alternating).
const RETRIES: usize = 20;
/// Generous for a debug build on a busy machine: these tests are about counting, not speed.
const STATE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most any one request, or the whole setup, may take.
const CALL_DEADLINE: Duration = Duration::from_secs(20);
/// How long a decision trace may take to reach the store (batched every 250 ms) or an
/// approved retry's outcome to be recorded (off the request path).
const SHARED_DEADLINE: Duration = Duration::from_secs(5);
const REFUNDS: &str = "/payments/v1/refunds";
const REFUND: &str = r#"{"amount":900,"currency":"EUR","payment":"pay-77"}"#;
const ALLOWED_OUTCOME: &str = "forwarded, the tool answered 200";

/// `fut`, or a panic naming `what` after `limit`.
async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {limit:?}"))
}

/// A Redis, an upstream, replicas A and B in front of it, and one inbox, all on that Redis.
struct Replicas {
    /// Kept alive until the test ends (killed on drop).
    _redis: RedisServer,
    up: Upstream,
    a: Sidecar,
    b: Sidecar,
    inbox: SocketAddr,
}

impl Replicas {
    async fn start() -> Replicas {
        within(
            CALL_DEADLINE,
            "starting the replicas",
            Replicas::start_now(),
        )
        .await
    }

    async fn start_now() -> Replicas {
        let redis = RedisServer::start();
        let up = Upstream::start().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inbox = listener.local_addr().unwrap();
        let url = redis.url();
        let on_redis = |c: &mut toolgate::config::Config| {
            c.state.url = url.clone();
            c.state.timeout = HumanDuration(STATE_TIMEOUT);
        };
        let up_url = up.url();
        let mut replicas = Vec::new();
        for _ in 0..2 {
            let setup = |root: &std::path::Path, c: &mut toolgate::config::Config| {
                let live = root.join("signed");
                let shipped = BUNDLE.strip_prefix("policies/").unwrap();
                support::processes::copy_shipped_bundle(shipped, &live);
                c.policies = Some(live);
                on_redis(c);
                c.review.url = Some(format!("http://{inbox}"));
            };
            replicas.push(Sidecar::start(&up_url, setup).await);
        }
        let (b, a) = (replicas.pop().unwrap(), replicas.pop().unwrap());

        // The inbox, as `toolgate review` builds it, on its own connection to the Redis and
        // a clock that reads what the sidecars' do (support::NOW, inside business hours).
        let cfg = config(inbox, on_redis);
        let detached = Ops::detached().unwrap();
        let state = StateStore::connect(&cfg.state, detached.metrics.state.clone())
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(state.backend(), "redis");
        let ops = Arc::new(Ops::new(detached.metrics, detached.audit, None, state));
        let built = toolgate::inbox::start::build(&cfg, ops, fixed_clock()).unwrap();
        serve_inbox(Arc::new(built), listener);
        Replicas {
            _redis: redis,
            up,
            a,
            b,
            inbox,
        }
    }

    /// `method path` with `body` as agent-7 (finance_operator) in production, to `to`,
    /// with `request_id` when given.
    async fn agent(
        to: SocketAddr,
        method: &str,
        path: &str,
        body: &str,
        request_id: Option<&str>,
    ) -> Reply {
        let now = support::NOW.parse().unwrap();
        let bearer = format!(
            "Bearer {}",
            agent_token("agent-7", &["finance_operator"], now)
        );
        let mut headers = vec![
            ("authorization", bearer.as_str()),
            ("x-environment", "production"),
            ("content-type", "application/json"),
        ];
        if let Some(id) = request_id {
            headers.push(("x-request-id", id));
        }
        let what = format!("{method} {path} to {to}");
        within(CALL_DEADLINE, &what, call(to, method, path, &headers, body)).await
    }

    /// The payout, to `to`.
    async fn payout(to: SocketAddr) -> Reply {
        Replicas::agent(to, "POST", PAYOUTS, PAYOUT, None).await
    }

    /// A request to the inbox as LEAD (the JSON API).
    async fn inbox(&self, method: &str, path: &str, body: &str) -> Reply {
        let headers = [
            ("x-forwarded-email", LEAD.0),
            ("x-forwarded-groups", LEAD.1),
            ("content-type", "application/json"),
        ];
        let what = format!("inbox {method} {path}");
        within(
            CALL_DEADLINE,
            &what,
            call(self.inbox, method, path, &headers, body),
        )
        .await
    }

    /// Review `id` as the inbox shows it.
    async fn review(&self, id: &str) -> Value {
        let r = self.inbox("GET", &format!("/api/reviews/{id}"), "").await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.json()
    }

    /// Polls review `id` until `field` is `want` (within [`SHARED_DEADLINE`]).
    async fn review_until(&self, id: &str, field: &str, want: &Value) -> Value {
        let deadline = tokio::time::Instant::now() + SHARED_DEADLINE;
        loop {
            let r = self.review(id).await;
            if &r[field] == want {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "review {id}: {field} is not {want} within {SHARED_DEADLINE:?}: {r}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The decision trace of `request_id` through the inbox, polled: traces reach the
    /// store in batches, off the request path.
    async fn decision(&self, request_id: &str) -> Value {
        let path = format!("/api/decisions/{request_id}");
        let deadline = tokio::time::Instant::now() + SHARED_DEADLINE;
        loop {
            let r = self.inbox("GET", &path, "").await;
            if r.status == 200 {
                return r.json();
            }
            assert_eq!(r.status, 404, "{:?}", r.body);
            assert!(
                tokio::time::Instant::now() < deadline,
                "no trace of {request_id} in the inbox within {SHARED_DEADLINE:?}: {:?}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The issue codes of a refusal.
fn issues(r: &Reply) -> Vec<String> {
    support::processes::issues(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn a_review_approved_once_admits_exactly_one_retry_across_two_replicas() {
    let r = Replicas::start().await;
    // Deferred on A: a review opens.
    let held = Replicas::payout(r.a.proxy).await;
    assert_eq!(held.status, 409, "{:?}", held.body);
    let id = review_id(&held);
    assert_eq!(held.json()["review"]["status"], "pending");
    assert_eq!(
        held.json()["review"]["url"],
        Value::from(format!("http://{}/reviews/{id}", r.inbox))
    );
    // The identical request on B finds the same review, and counts as its retry.
    let again = Replicas::payout(r.b.proxy).await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(
        review_id(&again),
        id,
        "one review per binding across replicas"
    );
    let seen = r.review(&id).await;
    assert_eq!(seen["retries"], 1, "{seen}");
    assert_eq!(seen["status"], "pending");
    assert_eq!(seen["record"]["route"], "payouts-create");
    assert_eq!(seen["record"]["actor"], "agent-7");
    assert!(r.up.seen().is_empty(), "nothing forwarded while pending");

    // Approved in the one inbox.
    let approved = r
        .inbox(
            "POST",
            &format!("/api/reviews/{id}/approve"),
            r#"{"ttl_seconds":900}"#,
        )
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.json()["status"], "approved");
    assert_eq!(approved.json()["decided"]["approver"], LEAD.0);

    // Identical retries race over both replicas, all released at once.
    let barrier = Arc::new(tokio::sync::Barrier::new(RETRIES));
    let tasks: Vec<_> = (0..RETRIES)
        .map(|i| {
            let to = if i % 2 == 0 { r.a.proxy } else { r.b.proxy };
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                Replicas::payout(to).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(within(CALL_DEADLINE, "a racing retry", t).await.unwrap());
    }

    let mut allowed = 0;
    let mut replayed = 0;
    let mut reopened = Vec::new();
    for reply in &replies {
        match reply.status {
            200 => {
                assert_eq!(reply.header("x-toolgate-verdict"), Some("ALLOW"));
                allowed += 1;
            }
            // Verified the stored approval, then lost the claim of its jti to the winner.
            403 => {
                assert_eq!(issues(reply), ["APPROVAL_REPLAYED"], "{:?}", reply.body);
                assert_eq!(reply.json()["verdict"], "DENY");
                replayed += 1;
            }
            // Came after the approval was used: a new review for the reviewer.
            409 => {
                assert_eq!(reply.json()["verdict"], "DEFER");
                let new = review_id(reply);
                assert_ne!(new, id, "a used approval's review is not reused");
                reopened.push(new);
            }
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
        assert!(
            reply.status == 200 || reply.header("x-upstream").is_none(),
            "a refused retry came from the upstream: {:?}",
            reply.body
        );
    }
    eprintln!(
        "{RETRIES} racing retries: {allowed} allowed, {replayed} APPROVAL_REPLAYED, {} new review",
        reopened.len()
    );
    assert_eq!(allowed, 1, "exactly one retry admitted: {replies:?}");
    assert_eq!(allowed + replayed + reopened.len(), RETRIES);
    let seen = r.up.seen();
    assert_eq!(seen.len(), 1, "forwarded once in all");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("POST", PAYOUTS)
    );
    assert_eq!(seen[0].body, PAYOUT.as_bytes());
    assert_eq!(seen[0].header("x-approval"), None);

    // The approved review says what became of its retry.
    let done = r
        .review_until(&id, "outcome", &Value::from(ALLOWED_OUTCOME))
        .await;
    assert_eq!(done["status"], "approved");
    // Every retry after the use found the same new review (one per binding), counting
    // the ones after its first.
    if let Some(first) = reopened.first() {
        assert!(
            reopened.iter().all(|n| n == first),
            "one new review per binding across replicas, not {reopened:?}"
        );
        let new = r.review(first).await;
        assert_eq!(new["status"], "pending");
        assert_eq!(new["retries"], (reopened.len() - 1) as i64, "{new}");
    }

    // Afterwards, one at a time on each replica: still a review, never forwarded.
    for to in [r.a.proxy, r.b.proxy] {
        let next = Replicas::payout(to).await;
        assert_eq!(next.status, 409, "{:?}", next.body);
        assert_ne!(review_id(&next), id);
        if let Some(first) = reopened.first() {
            assert_eq!(&review_id(&next), first);
        }
    }
    assert_eq!(r.up.seen().len(), 1, "nothing else forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn a_rejection_is_seen_by_every_replica() {
    let r = Replicas::start().await;
    let held = Replicas::payout(r.a.proxy).await;
    assert_eq!(held.status, 409, "{:?}", held.body);
    let id = review_id(&held);

    let reason = "not this account: <script>call finance</script>";
    let body = serde_json::json!({ "reason": reason }).to_string();
    let rejected = r
        .inbox("POST", &format!("/api/reviews/{id}/reject"), &body)
        .await;
    assert_eq!(rejected.status, 200, "{:?}", rejected.body);
    assert_eq!(rejected.json()["status"], "rejected");

    for to in [r.b.proxy, r.a.proxy] {
        let denied = Replicas::payout(to).await;
        assert_eq!(denied.status, 403, "{:?}", denied.body);
        let body = denied.json();
        assert_eq!(body["verdict"], "DENY");
        assert!(
            issues(&denied).iter().any(|i| i == "APPROVAL_REJECTED"),
            "{body}"
        );
        let details = body["details"].to_string();
        assert!(details.contains(reason), "the reason in details: {body}");
        assert!(details.contains(LEAD.0), "the reviewer in details: {body}");
    }
    assert!(r.up.seen().is_empty(), "nothing forwarded");
    let review = r.review(&id).await;
    assert_eq!(review["status"], "rejected");
    assert_eq!(review["decided"]["reason"], reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server (Debian package redis-server); .ci/run installs it and runs ignored tests"]
async fn the_inbox_lists_what_both_replicas_hold() {
    let r = Replicas::start().await;
    let payout = Replicas::payout(r.a.proxy).await;
    assert_eq!(payout.status, 409, "{:?}", payout.body);
    let refund_rid = "review-replicas-refund-b";
    let refund = Replicas::agent(r.b.proxy, "POST", REFUNDS, REFUND, Some(refund_rid)).await;
    assert_eq!(refund.status, 409, "{:?}", refund.body);
    let (payout_id, refund_id) = (review_id(&payout), review_id(&refund));
    assert_ne!(payout_id, refund_id);

    let listed = r.inbox("GET", "/api/reviews", "").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let listed = listed.json();
    let reviews = listed["reviews"].as_array().unwrap();
    let find = |id: &str| {
        reviews
            .iter()
            .find(|v| v["id"] == id)
            .unwrap_or_else(|| panic!("review {id} not listed: {listed}"))
    };
    assert_eq!(reviews.len(), 2, "{listed}");
    assert_eq!(find(&payout_id)["record"]["route"], "payouts-create");
    assert_eq!(find(&payout_id)["status"], "pending");
    assert_eq!(find(&refund_id)["record"]["route"], "refunds-create");
    assert_eq!(find(&refund_id)["record"]["path"], REFUNDS);
    assert_eq!(find(&refund_id)["status"], "pending");

    // A few decided requests, on both replicas: a read (allowed, forwarded) on each, and a
    // payout over the route's max_amount (denied) on B.
    let read_a = "review-replicas-read-a";
    let read_b = "review-replicas-read-b";
    let over_b = "review-replicas-over-b";
    let got = Replicas::agent(
        r.a.proxy,
        "GET",
        "/payments/v1/payouts/p-1",
        "",
        Some(read_a),
    )
    .await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let got = Replicas::agent(
        r.b.proxy,
        "GET",
        "/payments/v1/payouts/p-2",
        "",
        Some(read_b),
    )
    .await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.header("x-request-id"), Some(read_b));
    let over =
        r#"{"amount":20000,"currency":"EUR","destination":{"account_number":"X","name":"Y"}}"#;
    let denied = Replicas::agent(r.b.proxy, "POST", PAYOUTS, over, Some(over_b)).await;
    assert_eq!(denied.status, 403, "{:?}", denied.body);

    // Their traces, shipped by each replica's audit writer through Redis, in the one inbox.
    let trace = r.decision(read_b).await;
    assert_eq!(trace["record"]["request_id"], read_b, "{trace}");
    assert_eq!(trace["record"]["route"], "payouts-get");
    assert_eq!(trace["record"]["verdict"], "ALLOW");
    assert_eq!(trace["record"]["upstream_status"], 200);
    assert!(trace["review"].is_null(), "{trace}");
    let trace = r.decision(over_b).await;
    assert_eq!(trace["record"]["route"], "payouts-create");
    assert_eq!(trace["record"]["verdict"], "DENY", "{trace}");
    let trace = r.decision(read_a).await;
    assert_eq!(
        trace["record"]["path"], "/payments/v1/payouts/p-1",
        "{trace}"
    );
    // The refund's trace names the review it opened; the inbox shows that review with it.
    let trace = r.decision(refund_rid).await;
    assert_eq!(trace["record"]["verdict"], "DEFER", "{trace}");
    assert_eq!(trace["record"]["review_id"], refund_id.as_str());
    assert_eq!(trace["review"]["id"], refund_id.as_str(), "{trace}");
    assert_eq!(trace["review"]["record"]["route"], "refunds-create");
    assert_eq!(r.up.seen().len(), 2, "the two reads, nothing else");
}
