//! Criterion benchmarks of the MCP decision path: the whole decision
//! (`toolgate::decide::decide`: route match, JSON-RPC parse, tool lookup, context from the
//! headers and the call's arguments, evidence, evaluation) for a `tools/call` of
//! `create_payout` against the shipped `policies/mcp` bundle, with a 1 KiB and a ~100 byte
//! `params.arguments` object; the REST equivalent (`POST /payments/v1/payouts` against
//! `policies/tools`, route `payouts-create`) with the same 1 KiB object as its body, for a
//! ratio; and the strict JSON-RPC parse (`toolgate::mcp::message::parse`) alone.
//! Every request is ALLOW at 2026-03-16T10:00:00Z (asserted once, outside the timed loop).
//! Run: `cargo bench --bench mcp`.

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use http::{HeaderMap, Method};
use std::path::Path;
use toolgate::decide::{self, Head};
use toolgate::policy::Verdict;
use toolgate::snapshot::Snapshot;

/// The arguments object's size for the 1 KiB case, in bytes.
const KIB: usize = 1024;

/// Every header the bundles read for an approved payout by a finance operator.
const APPROVED: &[(&str, &str)] = &[
    ("content-type", "application/json"),
    ("accept", "application/json, text/event-stream"),
    ("x-actor", "agent-7"),
    ("x-actor-role", "finance_operator"),
    ("x-environment", "production"),
    ("x-approval-status", "approved"),
    ("x-approved-by", "alice@example.com"),
    ("x-approved-at", "2026-03-16T09:30:00Z"),
];

fn bundle(name: &str) -> Snapshot {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(name);
    let (snap, _tests) = toolgate::bundle::load_with_tests(&dir, jiff::Timestamp::UNIX_EPOCH)
        .unwrap_or_else(|e| panic!("policies/{name} loads: {e:?}"));
    snap
}

/// A `create_payout` arguments object of exactly `size` bytes: the fields the tool takes
/// (the bundle reads `amount`), then a metadata object and a memo padded to the size.
fn arguments(size: usize) -> String {
    let head = r#"{"account":"acc-1","amount":250,"currency":"EUR""#;
    let meta = r#","metadata":{"invoice":"INV-2026-000123","customer":"cus_7781","tags":["q1","eu","priority"],"lines":[{"sku":"A-1","qty":3},{"sku":"B-22","qty":1},{"sku":"C-333","qty":12}]}"#;
    let meta = if size >= 512 { meta } else { "" };
    let fixed = head.len() + meta.len() + r#","memo":""}"#.len();
    assert!(size >= fixed, "{size} bytes cannot hold the arguments");
    let filler = "settlement for march invoices, see ticket FIN-2231 ";
    let memo: String = filler.chars().cycle().take(size - fixed).collect();
    let args = format!(r#"{head}{meta},"memo":"{memo}"}}"#);
    assert_eq!(args.len(), size);
    serde_json::from_str::<serde_json::Value>(&args).expect("arguments are JSON");
    args
}

fn tools_call(args: &str) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"create_payout","arguments":{args}}}}}"#
    )
    .into_bytes()
}

/// One request as the decision sees it: built once, outside the timed loop.
struct Case {
    name: String,
    snap: &'static Snapshot,
    method: Method,
    path: &'static str,
    headers: HeaderMap,
    body: Vec<u8>,
    route: &'static str,
}

impl Case {
    fn head(&self) -> Head<'_> {
        Head {
            method: &self.method,
            path: self.path,
            query: None,
            headers: &self.headers,
            client_cert: None,
        }
    }

    /// Decides once and checks the verdict and the route that judged it.
    fn assert_allow(&self) {
        let now = common::now();
        let j = decide::decide(self.snap, &self.head(), Some(&self.body), now);
        let route = j.route.map(|i| &*self.snap.routes[i].name);
        let judged = j
            .result
            .unwrap_or_else(|e| panic!("{}: not judged: {e}", self.name));
        let verdict = Verdict::from_issues(judged.outcome.issues);
        assert_eq!(
            (verdict, route),
            (Verdict::Allow, Some(self.route)),
            "{}: issues {:?}",
            self.name,
            judged.outcome.issues
        );
    }
}

fn bench_mcp(c: &mut Criterion) {
    let mcp: &'static Snapshot = Box::leak(Box::new(bundle("mcp")));
    let tools: &'static Snapshot = Box::leak(Box::new(bundle("tools")));
    let kib_args = arguments(KIB);
    let small_args = arguments(100);
    let cases = [
        Case {
            name: format!("MCP tools/call create_payout, {KIB} B arguments (ALLOW)"),
            snap: mcp,
            method: Method::POST,
            path: "/mcp",
            headers: common::headers(APPROVED),
            body: tools_call(&kib_args),
            route: "create_payout",
        },
        Case {
            name: "MCP tools/call create_payout, 100 B arguments (ALLOW)".into(),
            snap: mcp,
            method: Method::POST,
            path: "/mcp",
            headers: common::headers(APPROVED),
            body: tools_call(&small_args),
            route: "create_payout",
        },
        Case {
            name: format!("REST POST /payments/v1/payouts, {KIB} B body (ALLOW)"),
            snap: tools,
            method: Method::POST,
            path: "/payments/v1/payouts",
            headers: common::headers(APPROVED),
            body: kib_args.clone().into_bytes(),
            route: "payouts-create",
        },
    ];
    for case in &cases {
        case.assert_allow();
    }
    let now = common::now();

    let mut group = c.benchmark_group("mcp_decision");
    for case in &cases {
        let head = case.head();
        group.throughput(Throughput::Bytes(case.body.len() as u64));
        group.bench_function(&case.name, |b| {
            b.iter(|| {
                let j = decide::decide(
                    case.snap,
                    black_box(&head),
                    Some(black_box(&case.body)),
                    now,
                );
                black_box(j.result.is_ok())
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("mcp_parse");
    let body = &cases[0].body;
    let headers = &cases[0].headers;
    let msg = toolgate::mcp::message::parse(body, headers).expect("one JSON-RPC message");
    assert_eq!(msg.name.as_deref(), Some("create_payout"));
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("message::parse, {KIB} B arguments"), |b| {
        b.iter(|| black_box(toolgate::mcp::message::parse(black_box(body), headers).is_ok()))
    });
    group.finish();

    eprintln!(
        "bodies: MCP {KIB} B arguments = {} B body; MCP 100 B arguments = {} B body; REST = {} B body",
        cases[0].body.len(),
        cases[1].body.len(),
        cases[2].body.len()
    );
}

criterion_group!(benches, bench_mcp);
criterion_main!(benches);
