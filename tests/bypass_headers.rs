//! Header confusion, over raw sockets, against the example bundle. The route
//! `DELETE /db/v1/tenants/{id}` is allowed with a platform admin's role and an approval,
//! all read from headers; every trick that would make the upstream see other values than
//! the ones evaluated (a second copy, an underscore alias, a `Connection` entry that drops
//! one, bytes two parsers read differently) is refused, and claims only toolgate may make
//! (client address, identity, its own tags) are replaced or dropped.

mod support;
use support::wire::{assert_all, req, run_cases, Case};
use support::*;

const TENANT: &str = "DELETE /db/v1/tenants/t-1 HTTP/1.1";

/// The headers that make the tenant delete an ALLOW (approval by someone else, in time).
const APPROVED: &[&str] = &[
    "x-actor: agent-7",
    "x-actor-role: platform_admin",
    "x-approval-status: approved",
    "x-approved-by: [email protected]",
    "x-approved-at: 2026-03-16T09:30:00Z",
];

fn with(extra: &[&str]) -> Vec<String> {
    APPROVED
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

fn delete(headers: &[String]) -> Vec<u8> {
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    req(TENANT, &refs, "")
}

/// The allowed delete: every header the bundle read arrives as sent.
fn allowed(name: &str, extra: &[&str]) -> Case {
    let mut c = Case::allowed(name, delete(&with(extra)), "DELETE", "/db/v1/tenants/t-1");
    for h in APPROVED {
        let (k, v) = h.split_once(": ").unwrap();
        c = c.read(k, v);
    }
    c
}

fn refused(name: &str, extra: &[&str], status: u16) -> Case {
    Case::refused(name, delete(&with(extra)), status)
}

/// The same request with one approved header replaced by raw `line` bytes.
fn replacing(name: &str, header: &str, line: &[u8], status: u16) -> Case {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(format!("{TENANT}\r\nHost: t\r\nConnection: close\r\n").as_bytes());
    for h in APPROVED.iter().filter(|h| !h.starts_with(header)) {
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(line);
    bytes.extend_from_slice(b"\r\n\r\n");
    Case::refused(name, bytes, status)
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        allowed("approved delete", &[]),
        // Claims only toolgate makes: the client's copies are dropped or replaced.
        allowed(
            "spoofed forwarding and identity claims",
            &[
                "X-Forwarded-For: 6.6.6.6",
                "X-Forwarded-Host: evil.example",
                "X-Forwarded-Proto: https",
                "X-Forwarded-User: root",
                "X-Forwarded-Prefix: /admin",
                "Forwarded: for=6.6.6.6;host=evil;proto=https",
                "X-Real-IP: 6.6.6.6",
                "X-Client-IP: 6.6.6.6",
                "True-Client-IP: 6.6.6.6",
                "X-Remote-User: root",
                "Remote-User: root",
                "X-Authenticated-User: root",
                "x-toolgate-verdict: ALLOW",
                "x-toolgate-policy-version: forged@9",
                "x-toolgate-anything: 1",
            ],
        )
        .read("x-toolgate-policy-version", "tools@1.0.0")
        .read("x-toolgate-verdict", "ALLOW"),
        allowed(
            "underscore aliases of toolgate's own headers",
            &[
                "X_Forwarded_For: 6.6.6.6",
                "x_forwarded_host: evil",
                "X_Real_IP: 6.6.6.6",
                "X_Remote_User: root",
                "x_toolgate_verdict: ALLOW",
                "x_request_id: forged",
            ],
        )
        .read("x-toolgate-verdict", "ALLOW"),
        // Rewrite headers: refused, in any spelling.
        refused("X-Original-URL", &["X-Original-URL: /admin"], 400),
        refused("X-Rewrite-URL", &["X-Rewrite-URL: /admin"], 400),
        refused("X-Original-URI", &["X-Original-URI: /admin"], 400),
        refused("X_Original_URL", &["X_Original_URL: /admin"], 400),
        refused("x_rewrite_url", &["x_rewrite_url: /admin"], 400),
        // A second copy of a header the bundle reads.
        refused("duplicate role", &["x-actor-role: viewer"], 400),
        refused(
            "duplicate role, other case",
            &["X-Actor-Role: platform_admin"],
            400,
        ),
        refused("duplicate approval", &["x-approval-status: rejected"], 400),
        refused("duplicate actor", &["x-actor: someone-else"], 400),
        // Underscore aliases of headers the bundle reads (CGI, WSGI and nginx fold them).
        refused("role alias", &["x_actor_role: viewer"], 400),
        refused("role alias, upper", &["X_ACTOR_ROLE: platform_admin"], 400),
        refused("approval alias", &["x_approval_status: rejected"], 400),
        refused("half alias", &["x-actor_role: viewer"], 400),
        // `Connection` may not drop what was evaluated or what toolgate sets.
        refused(
            "Connection drops the role",
            &["Connection: x-actor-role"],
            400,
        ),
        refused(
            "Connection drops the approval",
            &["Connection: close, x-approval-status"],
            400,
        ),
        refused(
            "Connection drops X-Forwarded-For",
            &["Connection: X-Forwarded-For"],
            400,
        ),
        refused(
            "Connection drops Forwarded",
            &["Connection: forwarded"],
            400,
        ),
        refused(
            "Connection drops the request id",
            &["Connection: x-request-id"],
            400,
        ),
        refused(
            "Connection drops a tag",
            &["Connection: x-toolgate-verdict"],
            400,
        ),
        refused("Connection drops Host", &["Connection: host"], 400),
        refused(
            "Connection drops an aliased owned header",
            &["Connection: x_forwarded_for"],
            400,
        ),
        refused("Connection lists garbage", &["Connection: a b"], 400),
        // Bytes two parsers could read differently, in a header the bundle reads.
        replacing(
            "tab inside the role",
            "x-actor-role",
            b"x-actor-role: platform\tadmin",
            400,
        ),
        replacing(
            "non-UTF-8 role",
            "x-actor-role",
            b"x-actor-role: platform_admin\xff",
            400,
        ),
        replacing(
            "Latin-1 role",
            "x-actor-role",
            b"x-actor-role: pl\xe4tform_admin",
            400,
        ),
        replacing(
            "zero-width space in the role",
            "x-actor-role",
            "x-actor-role: platform\u{200b}_admin".as_bytes(),
            400,
        ),
        replacing(
            "bidi control in the actor",
            "x-actor:",
            "x-actor: agent\u{202e}7".as_bytes(),
            400,
        ),
        replacing(
            "NUL in the role",
            "x-actor-role",
            b"x-actor-role: platform_admin\0viewer",
            400,
        ),
        replacing(
            "CR in the role",
            "x-actor-role",
            b"x-actor-role: platform_admin\rviewer",
            400,
        ),
        replacing(
            "control byte in the role",
            "x-actor-role",
            b"x-actor-role: platform\x01admin",
            400,
        ),
        replacing(
            "space before the colon",
            "x-actor-role",
            b"x-actor-role : platform_admin",
            400,
        ),
        replacing(
            "obs-fold in the role",
            "x-actor-role",
            b"x-actor-role: viewer\r\n platform_admin",
            400,
        ),
    ];
    // Allowed and forwarded byte for byte: surrounding blanks are not part of the value.
    let mut padded = Case::allowed(
        "blanks around a value",
        req(
            TENANT,
            &[
                "x-actor: agent-7",
                "x-actor-role: \t platform_admin \t",
                "x-approval-status: approved",
                "x-approved-by: [email protected]",
                "x-approved-at: 2026-03-16T09:30:00Z",
            ],
            "",
        ),
        "DELETE",
        "/db/v1/tenants/t-1",
    );
    padded = padded.read("x-actor-role", "platform_admin");
    cases.push(padded);
    cases
}

#[tokio::test]
async fn the_headers_evaluated_are_the_headers_forwarded() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(tools_bundle(), &up.url(), |_| {}).await;
    assert_all(run_cases(&gate, &up, &cases()).await);
}

/// Too many headers, or too many bytes of them: 431, and nothing forwarded.
#[tokio::test]
async fn header_count_and_size_limits_are_431() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(tools_bundle(), &up.url(), |c| {
        c.limits.max_header_bytes = 4096;
    })
    .await;
    let many: Vec<String> = (0..150).map(|i| format!("x-h{i}: v")).collect();
    let many = with(&many.iter().map(String::as_str).collect::<Vec<_>>());
    let wide: Vec<String> = (0..40)
        .map(|i| format!("x-w{i}: {}", "v".repeat(100)))
        .collect();
    let wide = with(&wide.iter().map(String::as_str).collect::<Vec<_>>());
    let one = format!("x-pad: {}", "p".repeat(5000));
    let cases = vec![
        Case::refused("150 headers", delete(&many), 431),
        Case::refused("many headers, over the byte limit", delete(&wide), 431),
        Case::refused(
            "one header over the byte limit",
            delete(&with(&[&one])),
            431,
        ),
    ];
    assert_all(run_cases(&gate, &up, &cases).await);
}

/// Over HTTP/2 the same header rules hold (HPACK cannot smuggle a second copy, an alias or
/// a control byte past them).
#[tokio::test]
async fn h2_requests_follow_the_same_header_rules() {
    let up = Upstream::start().await;
    let gate = support::Gate::start(tools_bundle(), &up.url(), |_| {}).await;
    let send = |extra: Vec<(&'static str, &'static str)>| {
        let mut headers: Vec<(&str, &str)> = APPROVED
            .iter()
            .map(|h| h.split_once(": ").unwrap())
            .collect();
        headers.extend(extra);
        let req = request("DELETE", gate.addr, "/db/v1/tenants/t-1", &headers, "");
        send_h2c(gate.addr, req)
    };
    assert_eq!(send(vec![]).await.unwrap().status, 200);
    for (extra, status) in [
        (vec![("x-actor-role", "viewer")], 400),
        (vec![("x_actor_role", "viewer")], 400),
        (vec![("x-original-url", "/admin")], 400),
        (vec![("x-http-method-override", "GET")], 400),
    ] {
        let r = send(extra.clone()).await.unwrap();
        assert_eq!(r.status, status, "{extra:?}: {:?}", r.body);
    }
    let r = send(vec![
        ("x-forwarded-for", "6.6.6.6"),
        ("x-remote-user", "root"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let seen = up.seen();
    assert_eq!(seen.len(), 2, "only the two allowed requests");
    let last = seen.last().unwrap();
    assert_eq!(last.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(last.header("x-remote-user"), None);
    assert_eq!(last.header("x-actor-role"), Some("platform_admin"));
}
