mod support;
use support::*;

#[tokio::test]
async fn allowed_read_reaches_the_upstream() {
    let up = Upstream::start().await;
    let gate = Gate::start(fixture::snapshot(), &up.url(), |_| {}).await;
    let r = call(
        gate.addr,
        "GET",
        "/items/7?x=1",
        &[("x-environment", "staging")],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/items/7?x=1");
    let r = call(gate.addr, "DELETE", "/items/7", &[], "").await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(up.seen().len(), 1);
}
