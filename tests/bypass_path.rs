//! Path confusion, over raw sockets, against the example bundle (`policies/tools`): every
//! spelling of a target either normalizes to one route, which is evaluated and forwarded as
//! the normalized path (and nothing else), or is refused, and then the upstream receives
//! nothing. `GET /db/v1/tenants/{id}` is allowed; `DELETE` on it defers without approval.

mod support;
use support::wire::{assert_all, req, run_cases, Case};
use support::*;

const ACTOR: &str = "x-actor: agent-7";

fn get(target: &str) -> Vec<u8> {
    req(&format!("GET {target} HTTP/1.1"), &[ACTOR], "")
}

fn delete(target: &str) -> Vec<u8> {
    req(&format!("DELETE {target} HTTP/1.1"), &[ACTOR], "")
}

/// An allowed read that the upstream must receive as `want`.
fn read_as(name: &str, target: &str, want: &str) -> Case {
    Case::allowed(name, get(target), "GET", want).read("x-actor", "agent-7")
}

/// `upstream`: the upstream's authority, which hyper's client names in `Host` when the
/// client sent none (HTTP/1.0).
fn cases(upstream: &str) -> Vec<Case> {
    let long = format!("/db/v1/tenants/{}", "a".repeat(9000));
    vec![
        // --- allowed spellings: forwarded as the normalized path, query untouched
        read_as("plain", "/db/v1/tenants/t-1", "/db/v1/tenants/t-1"),
        read_as(
            "query kept raw",
            "/db/v1/tenants/t-1?a=%2F..&b",
            "/db/v1/tenants/t-1?a=%2F..&b",
        ),
        read_as("dot segment", "/db/v1/./tenants/t-1", "/db/v1/tenants/t-1"),
        read_as(
            "dot-dot segment",
            "/db/v1/x/../tenants/t-1",
            "/db/v1/tenants/t-1",
        ),
        read_as(
            "encoded dot-dot",
            "/db/v1/x/%2e%2E/tenants/t-1",
            "/db/v1/tenants/t-1",
        ),
        read_as(
            "half-encoded dot-dot",
            "/db/v1/x/.%2e/tenants/t-1",
            "/db/v1/tenants/t-1",
        ),
        read_as(
            "encoded dot",
            "/db/v1/%2e/tenants/t-1",
            "/db/v1/tenants/t-1",
        ),
        read_as(
            "double slash inside",
            "/db//v1///tenants/t-1",
            "/db/v1/tenants/t-1",
        ),
        read_as(
            "// at the start",
            "//db/v1/tenants/t-1",
            "/db/v1/tenants/t-1",
        ),
        read_as(
            "encoded unreserved",
            "/%64b/v1/tenants/%74-1",
            "/db/v1/tenants/t-1",
        ),
        read_as(
            "lower-case hex kept upper",
            "/db/v1/tenants/t%c3%a9",
            "/db/v1/tenants/t%C3%A9",
        ),
        read_as(
            "matrix parameter is part of the segment",
            "/db/v1/tenants/t;v=1",
            "/db/v1/tenants/t;v=1",
        ),
        read_as(
            "encoded space kept",
            "/db/v1/tenants/a%20b",
            "/db/v1/tenants/a%20b",
        ),
        Case::allowed(
            "absolute-form naming this host",
            req("GET http://t/db/v1/tenants/t-1 HTTP/1.1", &[ACTOR], ""),
            "GET",
            "/db/v1/tenants/t-1",
        )
        .read("x-actor", "agent-7"),
        Case::allowed(
            "absolute-form, host in another case",
            req("GET http://T/db/v1/tenants/t-1 HTTP/1.1", &["Host: t"], ""),
            "GET",
            "/db/v1/tenants/t-1",
        ),
        Case::allowed(
            "HTTP/1.0 without Host",
            b"GET /db/v1/tenants/t-1 HTTP/1.0\r\n\r\n".to_vec(),
            "GET",
            "/db/v1/tenants/t-1",
        )
        .host(upstream),
        // --- a read spelled to climb out of its route is not that route
        Case::refused(
            "encoded dot-dot as the id",
            get("/db/v1/tenants/%2e%2e"),
            403,
        ),
        Case::refused("dot-dot as the id", get("/db/v1/tenants/.."), 403),
        Case::refused("trailing slash", get("/db/v1/tenants/t-1/"), 403),
        Case::refused("trailing dot segment", get("/db/v1/tenants/t-1/."), 403),
        Case::refused("upper case", get("/DB/v1/tenants/t-1"), 403),
        Case::refused("suffix", get("/db/v1/tenants.json/t-1"), 403),
        Case::refused(
            "encoded slash in the id",
            get("/db/v1/tenants/x%2f..%2f..%2fpayments"),
            400,
        ),
        Case::refused("encoded slash, upper", get("/db/v1/tenants/x%2F"), 400),
        Case::refused("encoded backslash", get("/db/v1/tenants/x%5c..%5c"), 400),
        Case::refused("raw backslash", get("/db/v1/tenants/x\\..\\t-1"), 400),
        Case::refused("double encoding", get("/db/v1/tenants/%252e%252e"), 400),
        Case::refused("encoded percent", get("/db/v1/tenants/%25"), 400),
        Case::refused("encoded NUL", get("/db/v1/tenants/t-1%00.json"), 400),
        Case::refused("encoded LF", get("/db/v1/tenants/t%0a1"), 400),
        Case::refused(
            "overlong UTF-8 dot",
            get("/db/v1/tenants/%c0%ae%c0%ae"),
            400,
        ),
        Case::refused("overlong UTF-8 slash", get("/db/v1/tenants/x%c0%afy"), 400),
        Case::refused("lone continuation byte", get("/db/v1/tenants/%80"), 400),
        Case::refused("truncated escape", get("/db/v1/tenants/%e2%82"), 400),
        Case::refused("invalid escape", get("/db/v1/tenants/%zz"), 400),
        Case::refused(
            "dot-dot with matrix parameter",
            get("/db/v1/tenants/..;/..;/x"),
            400,
        ),
        Case::refused(
            "encoded dot-dot with matrix parameter",
            get("/db/v1/%2e%2e%3b/v1/tenants/x"),
            400,
        ),
        Case::refused("above the root", get("/../db/v1/tenants/t-1"), 400),
        Case::refused(
            "above the root, encoded",
            get("/%2e%2e/db/v1/tenants/t-1"),
            400,
        ),
        Case::refused("over-long target", get(&long), 400),
        Case::refused(
            "absolute-form naming another host",
            req(
                "GET http://evil.example/db/v1/tenants/t-1 HTTP/1.1",
                &[],
                "",
            ),
            400,
        ),
        Case::refused(
            "absolute-form with userinfo",
            req("GET http://evil@t/db/v1/tenants/t-1 HTTP/1.1", &[], ""),
            400,
        ),
        Case::refused(
            "absolute-form with another port",
            req("GET http://t:8080/db/v1/tenants/t-1 HTTP/1.1", &[], ""),
            400,
        ),
        Case::refused(
            "absolute-form, other scheme",
            req("GET ftp://t/db/v1/tenants/t-1 HTTP/1.1", &[], ""),
            400,
        ),
        Case::refused(
            "absolute-form without Host",
            b"GET http://t/db/v1/tenants/t-1 HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        Case::refused(
            "HTTP/1.1 without Host",
            b"GET /db/v1/tenants/t-1 HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        Case::refused(
            "two Host headers",
            req(
                "GET /db/v1/tenants/t-1 HTTP/1.1",
                &["Host: t", "Host: evil"],
                "",
            ),
            400,
        ),
        Case::refused("asterisk-form", req("OPTIONS * HTTP/1.1", &[], ""), 400),
        Case::refused("CONNECT", req("CONNECT t:443 HTTP/1.1", &[], ""), 400),
        Case::refused(
            "CONNECT, origin-form",
            req("CONNECT /db/v1/tenants/t-1 HTTP/1.1", &[], ""),
            400,
        ),
        Case::refused(
            "relative target",
            req("GET db/v1/tenants/t-1 HTTP/1.1", &[], ""),
            400,
        ),
        // --- raw bytes the request line must not carry
        Case::refused("raw NUL", get("/db/v1/tenants/t\0-1"), 400),
        Case::refused("raw tab", get("/db/v1/tenants/t\t-1"), 400),
        Case::refused("raw DEL", get("/db/v1/tenants/t\x7f"), 400),
        Case::refused("raw non-ASCII", get("/db/v1/tenants/t\u{e9}"), 400),
        Case::refused("quote", get("/db/v1/tenants/\"t\""), 400),
        // A fragment is not part of a request target; hyper drops it before routing, so
        // it is neither evaluated nor forwarded.
        read_as(
            "fragment dropped, not resolved",
            "/db/v1/tenants/t-1#/../../../payments/v1/payouts",
            "/db/v1/tenants/t-1",
        ),
        // --- the deferred DELETE, however spelled, never reaches the upstream
        Case::refused("delete", delete("/db/v1/tenants/t-1"), 409),
        Case::refused("delete, dot-dot", delete("/db/v1/x/../tenants/t-1"), 409),
        Case::refused(
            "delete, encoded dot-dot",
            delete("/db/v1/x/%2e%2e/tenants/t-1"),
            409,
        ),
        Case::refused("delete, //", delete("//db/v1/tenants/t-1"), 409),
        Case::refused("delete, encoded name", delete("/db/v1/%74enants/t-1"), 409),
        Case::refused(
            "delete, matrix parameter",
            delete("/db/v1/tenants/t-1;x=1"),
            409,
        ),
        Case::refused(
            "delete, matrix on a static segment",
            delete("/db/v1/tenants;x=1/t-1"),
            403,
        ),
        Case::refused(
            "delete, absolute-form",
            req("DELETE http://t/db/v1/tenants/t-1 HTTP/1.1", &[ACTOR], ""),
            409,
        ),
        Case::refused("delete, trailing slash", delete("/db/v1/tenants/t-1/"), 403),
        Case::refused("delete, upper case", delete("/DB/V1/TENANTS/t-1"), 403),
        Case::refused("delete, encoded slash", delete("/db/v1/tenants%2ft-1"), 400),
        Case::refused(
            "delete, fragment",
            delete("/db/v1/tenants/t-1#/../../x"),
            409,
        ),
    ]
}

#[tokio::test]
async fn every_spelling_is_routed_as_normalized_or_refused() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(tools_bundle(), &up.url(), |_| {}).await;
    assert_all(run_cases(&gate, &up, &cases(&up.addr.to_string())).await);
}

/// A target longer than hyper will buffer is refused before toolgate sees it.
#[tokio::test]
async fn a_huge_target_is_refused_before_routing() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(tools_bundle(), &up.url(), |_| {}).await;
    let huge = format!("/db/v1/tenants/{}", "a".repeat(200_000));
    let ex = support::wire::exchange(gate.addr, &get(&huge), 1, false).await;
    assert!(
        matches!(ex.status(), 400 | 414 | 431) || (ex.responses.is_empty() && ex.closed),
        "{ex:?}"
    );
    assert!(up.seen().is_empty());
}
