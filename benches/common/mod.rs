//! What the benchmarks and the profiling harness share: the example bundle and the seed
//! scenarios as they arrive at the proxy (method, target, headers, body).
#![allow(dead_code)]

use http::{HeaderMap, HeaderValue, Method};
use jiff::Timestamp;
use std::path::Path;
use toolgate::classify::normalize::normalize;
use toolgate::extract::{extract, RequestView};
use toolgate::policy::IssueSet;
use toolgate::snapshot::Snapshot;

/// The instant every scenario is evaluated at: Monday 2026-03-16 10:00 UTC.
pub const NOW: &str = "2026-03-16T10:00:00Z";

pub fn now() -> Timestamp {
    NOW.parse().expect("a timestamp")
}

pub fn bundle_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools")
}

pub fn example() -> Snapshot {
    toolgate::bundle::load(&bundle_dir(), Timestamp::UNIX_EPOCH).expect("example bundle loads")
}

pub fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_static(v));
    }
    h
}

/// A payout body padded to about 1 KiB with fields the bundle does not read.
pub const KIB_BODY: &str = concat!(
    r#"{"amount":2500,"currency":"EUR","destination":"acct_981","memo":""#,
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ",
    "incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud ",
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat duis aute ",
    "irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla ",
    "pariatur excepteur sint occaecat cupidatat non proident sunt in culpa qui officia",
    r#"","metadata":{"invoice":"INV-2026-000123","customer":"cus_7781","tags":["#,
    r#""q1","eu","priority","manual-review","batch-17"],"lines":[{"sku":"A-1","qty":3},"#,
    r#"{"sku":"B-22","qty":1},{"sku":"C-333","qty":12},{"sku":"D-4444","qty":7}]},"#,
    r#""requested_by":"agent-7","requested_at":"2026-03-16T09:59:00Z","channel":"api","#,
    r#""notes":"settlement for march invoices, see ticket FIN-2231 and FIN-2232 for the "#,
    r#"reconciliation details and the approval thread in the finance channel","#,
    r#""reference":"ref_0000000000000000000000000000000000000000000000000000000000"}"#
);

/// A seed scenario as it arrives at the proxy.
pub struct Scenario {
    pub name: &'static str,
    pub method: Method,
    pub target: &'static str,
    pub headers: HeaderMap,
    pub body: Option<&'static [u8]>,
}

pub fn scenarios() -> Vec<Scenario> {
    let finance = [
        ("x-actor", "agent-7"),
        ("x-actor-role", "finance_operator"),
        ("x-environment", "production"),
        ("x-run-id", "run_pay_001"),
    ];
    vec![
        Scenario {
            name: "read payout (allow)",
            method: Method::GET,
            target: "/payments/v1/payouts/po_123",
            headers: headers(&finance),
            body: None,
        },
        Scenario {
            name: "staging deploy (allow)",
            method: Method::POST,
            target: "/deploy/v1/deployments",
            headers: headers(&[
                ("x-actor", "agent-7"),
                ("x-actor-role", "release_manager"),
                ("x-environment", "staging"),
            ]),
            body: Some(br#"{"service":"payments","release":"2026.03.14","environment":"staging"}"#),
        },
        Scenario {
            name: "production delete, wrong role (deny)",
            method: Method::DELETE,
            target: "/db/v1/tenants/t-42",
            headers: headers(&[
                ("x-actor", "agent-7"),
                ("x-actor-role", "support_agent"),
                ("x-environment", "production"),
            ]),
            body: None,
        },
        Scenario {
            name: "refund, approved (allow)",
            method: Method::POST,
            target: "/payments/v1/refunds",
            headers: headers(&[
                ("x-actor", "agent-7"),
                ("x-actor-role", "finance_operator"),
                ("x-environment", "production"),
                ("x-approval-status", "approved"),
                ("x-approved-by", "alice@example.com"),
                ("x-approved-at", "2026-03-16T09:45:00Z"),
            ]),
            body: Some(br#"{"amount":120,"currency":"EUR","destination":"acct_981"}"#),
        },
        Scenario {
            name: "production migration (defer)",
            method: Method::POST,
            target: "/deploy/v1/migrations",
            headers: headers(&[
                ("x-actor", "agent-7"),
                ("x-actor-role", "release_manager"),
                ("x-environment", "production"),
                ("x-approval-status", "pending"),
            ]),
            body: Some(
                br#"{"service":"payments","release":"2026.03.14","environment":"production"}"#,
            ),
        },
        Scenario {
            name: "tenant read (allow)",
            method: Method::GET,
            target: "/db/v1/tenants/t-42",
            headers: headers(&[
                ("x-actor", "agent-7"),
                ("x-actor-role", "support_agent"),
                ("x-environment", "production"),
            ]),
            body: None,
        },
        Scenario {
            name: "payout, 1 KiB body (defer)",
            method: Method::POST,
            target: "/payments/v1/payouts",
            headers: headers(&finance),
            body: Some(KIB_BODY.as_bytes()),
        },
        Scenario {
            name: "payout without approval (defer)",
            method: Method::POST,
            target: "/payments/v1/payouts",
            headers: headers(&finance),
            body: Some(br#"{"amount":2500,"currency":"EUR","destination":"acct_981"}"#),
        },
    ]
}

/// A whole decision, as the proxy makes it: normalize the target, match the route table,
/// extract the route's context, evaluate the route's action.
#[inline(never)]
pub fn decide(snap: &Snapshot, s: &Scenario, now: Timestamp) -> IssueSet {
    let target = normalize(s.target).expect("normalizes");
    let m = snap.table.find(&s.method, &target.path).expect("mapped");
    let route = &snap.routes[m.index];
    let view = RequestView {
        headers: &s.headers,
        params: &m.params,
        query: target.query,
        body: s.body,
    };
    let facts = extract(&route.context, &view).expect("extracts").facts;
    snap.policy.evaluate(&route.action, &facts, now).issues
}
