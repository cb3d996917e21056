//! The in-process state store (the default, one replica): counted limits and what a
//! connect failure gives back, through the whole sidecar over real sockets. The same rows
//! run against a real Redis in tests/state_redis.rs.

mod support;

use support::state_cases;

#[tokio::test]
async fn counted_limits_hold_for_one_replica() {
    state_cases::one_replica_behaviours(None).await;
}

#[tokio::test]
async fn a_connect_failure_gives_its_counts_back() {
    let dead = support::dead_upstream().await;
    state_cases::connect_failures_give_counts_back(None, &dead).await;
}
