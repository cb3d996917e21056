//! One decision, three callers: for random requests over every route of every shipped bundle
//! (`policies/*`, `deploy/kubernetes/policies`), with random context, evidence and bodies,
//! the real proxy over a socket, the decision function (`decide::decide`) and the bundle
//! test runner decide the same (status, verdict, issues, route), and a candidate identical
//! to the live bundle never disagrees. And each shipped bundle's own `tests.yaml` passes
//! when replayed through the whole sidecar over sockets.

mod support;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, RngAlgorithm, TestRng, TestRunner};
use std::path::{Path, PathBuf};
use support::sidecar::Sidecar;
use support::*;
use toolgate::audit::FinalAction;
use toolgate::bundle::{self, TestCase, TestInput, TestRequest};
use toolgate::candidate::{self, CandidateInput};
use toolgate::decide::{self, Head, Unjudged};
use toolgate::mcp::RefusalStyle;
use toolgate::policy::Verdict;
use toolgate::snapshot::{Mode, RouteKind, Snapshot};

fn shipped_bundles() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.push(root.join("deploy/kubernetes/policies"));
    dirs.sort();
    assert!(dirs.len() >= 3, "{dirs:?}");
    dirs
}

/// Valid bearer tokens for a bundle with `identity: jwt` and example keys, one list per
/// instant of [`INSTANTS`] (a token per role), minted as `toolgate token` mints them.
fn tokens(dir: &Path, snapshot: &Snapshot) -> Vec<Vec<String>> {
    let key = dir.join("example-private-keys/idp.es256.key.pem");
    if snapshot.trust.identity.name() != "jwt" || !key.is_file() {
        return Vec::new();
    }
    INSTANTS
        .iter()
        .map(|at| {
            let at: jiff::Timestamp = at.parse().unwrap();
            ["viewer", "finance_operator", "platform_admin", "release_manager"]
                .iter()
                .map(|role| {
                    let claims = format!(
                        r#"{{"iss":"https://idp.example.test","aud":"toolgate","sub":"agent-5","roles":["{role}"]}}"#
                    );
                    let options = toolgate::commands::MintOptions {
                        key: &key,
                        alg: None,
                        kid: Some("example-idp-2026-03"),
                        ttl: jiff::SignedDuration::from_hours(1),
                        now: Some(at),
                    };
                    toolgate::commands::mint_token(claims.as_bytes(), &options).unwrap()
                })
                .collect()
        })
        .collect()
}

fn load(dir: &Path) -> (Snapshot, Vec<TestCase>) {
    bundle::load_with_tests(dir, NOW.parse().unwrap()).unwrap_or_else(|e| panic!("{e}"))
}

/// What a request came to: the HTTP status, the verdict, the issue codes and the route.
#[derive(Clone, Debug, PartialEq)]
struct Outcome {
    status: u16,
    verdict: String,
    issues: Vec<String>,
    route: Option<String>,
}

/// One generated request.
#[derive(Clone, Debug)]
struct Sample {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    now: &'static str,
}

const VALUES: &[&str] = &[
    "agent-7",
    "finance_operator",
    "platform_admin",
    "release_manager",
    "viewer",
    "production",
    "staging",
    "approved",
    "pending",
    "[email protected]",
    "2026-03-16T09:30:00Z",
    "2026-03-10T09:30:00Z",
    "true",
    "false",
    "3",
    "250",
    "run-1",
    "TCK-1",
    "",
];

/// The values a header most likely carries (so that every outcome is reached); `v` picks
/// one, and one pick in four is any value at all (most of them invalid for the field).
fn likely(header: &str, v: usize) -> &'static str {
    let pool: &[&str] = match header {
        "x-environment" => &["production", "staging", "development"],
        "x-actor-role" => &[
            "finance_operator",
            "platform_admin",
            "release_manager",
            "viewer",
        ],
        "x-actor" => &["agent-7", "agent-5"],
        "x-approval-status" => &["approved", "approved", "pending"],
        "x-approved-by" => &["[email protected]", "agent-7"],
        "x-approved-at" => &["2026-03-16T09:30:00Z", "2026-03-14T09:30:00Z"],
        "x-mfa" => &["true", "false"],
        "x-rollback-plan" => &["plan-1", "true"],
        "x-run-id" => &["run-1", "run-2"],
        "x-iteration" => &["1", "3", "40"],
        "x-elapsed-seconds" => &["30", "600", "90000"],
        "x-cost-usd" => &["0.5", "12", "900"],
        "x-ticket-id" => &["TCK-1"],
        _ => &[],
    };
    if v < 48 && !pool.is_empty() {
        pool[v % pool.len()]
    } else {
        VALUES[v % VALUES.len()]
    }
}

const INSTANTS: &[&str] = &[
    "2026-03-16T10:00:00Z",
    "2026-03-14T09:45:00Z",
    "2026-03-16T22:30:00Z",
];

/// Requests for the routes of `snapshot`: a route's method and a path that matches its
/// template, a random choice of the headers routes read (and evidence headers), a JSON
/// body (or none, or one where the method takes none), at one of a few instants.
fn samples(snapshot: &Snapshot, tokens: Vec<Vec<String>>) -> impl Strategy<Value = Sample> {
    let routes: Vec<(Method, String, Vec<String>, Rpc)> = snapshot
        .routes
        .iter()
        .map(|r| {
            let mut headers: Vec<String> =
                r.context.headers.iter().map(|h| h.to_string()).collect();
            headers.extend(["x-approval", "authorization"].map(String::from));
            let (method, path, rpc) = match r.kind {
                RouteKind::Http => (r.method.clone(), r.path.to_string(), Rpc::None),
                RouteKind::McpEndpoint(n) => {
                    let path = snapshot.mcp[n].path.to_string();
                    (r.method.clone(), path, Rpc::Endpoint)
                }
                RouteKind::McpEntry(n) => {
                    let path = snapshot.mcp[n].path.to_string();
                    (Method::POST, path, Rpc::Tool(r.name.to_string()))
                }
            };
            (method, path, headers, rpc)
        })
        .collect();
    let n = routes.len();
    (
        0..n,
        prop::collection::vec(prop::option::weighted(0.6, 0..64usize), 16),
        prop::option::of(prop::collection::vec(
            (0..4usize, prop_oneof![Just(10u32), Just(9000), Just(20000)]),
            0..4,
        )),
        0..INSTANTS.len(),
        0..3usize,
        0..8usize,
    )
        .prop_map(move |(ri, picks, body, when, id, shape)| {
            let (method, template, names, rpc) = &routes[ri];
            let ids = ["po-1", "t-42", "a_b.c"];
            let path = template
                .split('/')
                .map(|seg| match seg.strip_prefix('{') {
                    Some(p) if p.starts_with('*') => "a/b".to_owned(),
                    Some(_) => ids[id].to_owned(),
                    None => seg.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let mut headers: Vec<(String, String)> = Vec::new();
            for (name, pick) in names.iter().zip(picks) {
                let Some(v) = pick else { continue };
                let value = match name.as_str() {
                    "authorization" if !tokens.is_empty() => {
                        let valid = &tokens[when];
                        format!("Bearer {}", valid[v % valid.len()])
                    }
                    "authorization" => format!("Bearer {}", VALUES[v % VALUES.len()]),
                    other => likely(other, v).to_owned(),
                };
                if !value.is_empty() {
                    headers.push((name.clone(), value));
                }
            }
            let object = body.map(|fields| {
                let mut o = serde_json::Map::new();
                for (k, amount) in fields {
                    let (key, value) = match k {
                        0 => ("amount", serde_json::json!(amount)),
                        1 => ("environment", serde_json::json!("staging")),
                        2 => ("environment", serde_json::json!("production")),
                        _ => ("currency", serde_json::json!("EUR")),
                    };
                    o.insert(key.into(), value);
                }
                serde_json::Value::Object(o)
            });
            let body = match (rpc, object) {
                (Rpc::None, None) => Vec::new(),
                (Rpc::None, Some(o)) => serde_json::to_vec(&o).unwrap(),
                (Rpc::Tool(name), arguments) => mcp_call(name, arguments, shape),
                (Rpc::Endpoint, _) if method != Method::POST => Vec::new(),
                (Rpc::Endpoint, _) => mcp_message(shape),
            };
            if !body.is_empty() {
                headers.push(("content-type".into(), "application/json".into()));
            }
            Sample {
                method: method.clone(),
                path,
                headers,
                body,
                now: INSTANTS[when],
            }
        })
}

/// How a route is reached by a generated request.
#[derive(Clone, Debug)]
enum Rpc {
    /// By method and path.
    None,
    /// An MCP endpoint: lifecycle, discovery, unmapped and malformed messages.
    Endpoint,
    /// An MCP tool, by a `tools/call` naming it.
    Tool(String),
}

/// A `tools/call` of `name` (one in eight a notification, which has no `id`).
fn mcp_call(name: &str, arguments: Option<serde_json::Value>, shape: usize) -> Vec<u8> {
    let mut msg = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "tools/call",
        "params": { "name": name },
    });
    if let Some(a) = arguments {
        msg["params"]["arguments"] = a;
    }
    if shape != 0 {
        msg["id"] = serde_json::json!(shape);
    }
    serde_json::to_vec(&msg).unwrap()
}

/// A message to an MCP endpoint that names no tool of the bundle.
fn mcp_message(shape: usize) -> Vec<u8> {
    let text = match shape {
        0 => r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        1 => r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        2 => r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        3 => r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"wire_money"}}"#,
        4 => r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"x://y"}}"#,
        5 => r#"[{"jsonrpc":"2.0","id":5,"method":"ping"}]"#,
        6 => r#"{"jsonrpc":"2.0","id":6,"id":7,"method":"ping"}"#,
        _ => r#"{"jsonrpc":"2.0","id":8,"result":{}}"#,
    };
    text.as_bytes().to_vec()
}

/// The status the proxy answers a refusal of `status` with: an MCP request (it has an
/// `id`) to an endpoint with JSON-RPC refusals gets 200 and a JSON-RPC error.
fn refusal_status(snapshot: &Snapshot, mcp: Option<&decide::McpCall>, status: u16) -> u16 {
    match mcp {
        Some(call)
            if call.id.is_some()
                && snapshot.mcp[call.endpoint].refusal == RefusalStyle::JsonRpc =>
        {
            200
        }
        _ => status,
    }
}

/// What the decision function decides, mapped to what the proxy answers.
fn decided(snapshot: &Snapshot, s: &Sample) -> Outcome {
    let headers = header_map(&s.headers);
    let head = Head {
        method: &s.method,
        path: &s.path,
        query: None,
        headers: &headers,
        client_cert: None,
    };
    let now = s.now.parse().unwrap();
    let judgement = decide::decide(snapshot, &head, Some(&s.body), now);
    let route = judgement.route.map(|i| &snapshot.routes[i]);
    let name = route.map(|r| r.name.to_string());
    let mcp = judgement.mcp.as_ref();
    match judgement.result {
        Err(Unjudged::NotMapped) => Outcome {
            status: 403,
            verdict: "DENY".into(),
            issues: vec!["ROUTE_NOT_MAPPED".into()],
            route: Some("unmatched".into()),
        },
        Err(Unjudged::McpUnmapped(_)) => Outcome {
            status: refusal_status(snapshot, mcp, 403),
            verdict: "DENY".into(),
            issues: vec!["ROUTE_NOT_MAPPED".into()],
            route: name,
        },
        Err(Unjudged::McpMalformed(_)) => Outcome {
            status: 400,
            verdict: "DENY".into(),
            issues: vec!["INVALID_REQUEST".into()],
            route: name,
        },
        Err(_) => Outcome {
            status: refusal_status(snapshot, mcp, 400),
            verdict: "DENY".into(),
            issues: vec!["INVALID_REQUEST".into()],
            route: name,
        },
        Ok(j) => {
            let verdict = Verdict::from_issues(j.outcome.issues);
            let shadow = route.is_some_and(|r| r.mode == Mode::Shadow);
            let status = match verdict {
                _ if shadow => 200,
                Verdict::Allow => 200,
                Verdict::Deny => refusal_status(snapshot, mcp, 403),
                Verdict::Defer => refusal_status(snapshot, mcp, 409),
            };
            Outcome {
                status,
                verdict: verdict.as_str().into(),
                issues: j
                    .outcome
                    .issues
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
                route: name,
            }
        }
    }
}

/// What the bundle test runner decides (status as the proxy would answer).
fn runner(snapshot: &Snapshot, s: &Sample) -> (String, Vec<String>, Option<String>) {
    let req = TestRequest {
        method: s.method.clone(),
        path: s.path.clone(),
        headers: s.headers.clone(),
        body: (!s.body.is_empty()).then(|| Bytes::from(s.body.clone())),
        client_cert: None,
    };
    let d = bundle::decide_request(snapshot, &req, s.now.parse().unwrap());
    (
        d.verdict.as_str().to_owned(),
        d.issues.iter().map(|c| c.as_str().to_owned()).collect(),
        d.route.map(|r| r.to_string()),
    )
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// What the real proxy answered, the forwarded requests' issues read from the audit trail.
async fn proxied(gate: &Gate, s: &Sample) -> Outcome {
    gate.clock.set(s.now);
    let headers: Vec<(&str, &str)> = s
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = String::from_utf8(s.body.clone()).unwrap();
    let r = call(gate.addr, s.method.as_str(), &s.path, &headers, &body).await;
    let verdict = r.header("x-toolgate-verdict").unwrap_or("-").to_owned();
    let id = r.header("x-request-id").expect("a request id").to_owned();
    let rec = gate.audit_record(&id).await.expect("an audit record");
    let refused = rec.final_runtime_action == FinalAction::ExecutionStopped;
    let (issues, route) = if refused {
        let body = r.json();
        // An MCP refusal carries the decision as its JSON-RPC error's data.
        let body = if body.get("jsonrpc").is_some() {
            body["error"]["data"].clone()
        } else {
            body
        };
        let issues = body["issues"]
            .as_array()
            .expect("a decision body")
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        (issues, body["route"].as_str().map(str::to_owned))
    } else {
        let issues = rec.issues.iter().map(|c| c.as_str().to_owned()).collect();
        (issues, rec.route.as_deref().map(str::to_owned))
    };
    Outcome {
        status: r.status,
        verdict,
        issues,
        route,
    }
}

#[test]
fn the_proxy_the_decision_function_the_runner_and_a_twin_candidate_agree() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for dir in shipped_bundles() {
        let (snapshot, _) = load(&dir);
        let (twin, _) = load(&dir);
        let (live, _) = load(&dir);
        let up = rt.block_on(Upstream::start());
        let gate = rt.block_on(Gate::start(live, &up.url(), |_| {}));
        let mut runner_cfg = PropConfig::with_cases(160);
        runner_cfg.failure_persistence = None;
        // A fixed seed: the run is reproducible, and the coverage check below cannot
        // flake; the cases still span every route, outcome and instant.
        let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
        let mut prop = TestRunner::new_with_rng(runner_cfg, rng);
        let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let tokens = tokens(&dir, &snapshot);
        let result = prop.run(&samples(&snapshot, tokens), |s| {
            let by_proxy = rt.block_on(proxied(&gate, &s));
            seen.borrow_mut()
                .insert((by_proxy.status, by_proxy.verdict.clone()));
            let by_decide = decided(&snapshot, &s);
            prop_assert_eq!(&by_proxy, &by_decide, "proxy vs decide::decide");
            let (verdict, issues, route) = runner(&snapshot, &s);
            prop_assert_eq!(&by_decide.verdict, &verdict, "runner verdict");
            prop_assert_eq!(&by_decide.issues, &issues, "runner issues");
            if by_decide.route.as_deref() != Some("unmatched") {
                prop_assert_eq!(&by_decide.route, &route, "runner route");
            }
            let input = CandidateInput {
                method: s.method.clone(),
                path: s.path.clone().into(),
                query: None,
                headers: header_map(&s.headers),
                body: Some(Bytes::from(s.body.clone())),
                client_cert: None,
                now: s.now.parse().unwrap(),
            };
            if let Some(c) = candidate::evaluate(&twin, &input) {
                prop_assert_eq!(
                    c.verdict.as_str(),
                    by_decide.verdict.as_str(),
                    "twin candidate"
                );
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{}: {e}", dir.display());
        }
        // The generator reaches every kind of outcome, so agreement means something.
        let seen = seen.into_inner();
        let mut wanted = vec![(200, "ALLOW"), (403, "DENY"), (409, "DEFER"), (400, "DENY")];
        if !snapshot.mcp.is_empty() {
            // MCP requests refused as JSON-RPC errors.
            wanted.extend([(200, "DENY"), (200, "DEFER")]);
        }
        for want in wanted {
            assert!(
                seen.contains(&(want.0, want.1.to_owned())),
                "{}: no {want:?} among {seen:?}",
                dir.display()
            );
        }
    }
}

/// Each shipped bundle's own test cases, replayed through the whole sidecar (a fresh one
/// per case, its clock at the case's instant: an approval a case uses is not spent for the
/// next): HTTP cases on the proxy listener, `/check` cases on the admin listener.
#[tokio::test]
async fn every_shipped_bundle_passes_its_own_tests_through_the_sidecar() {
    let up = Upstream::start().await;
    let mut failures = Vec::new();
    let mut replayed = 0;
    for dir in shipped_bundles() {
        let (_, tests) = load(&dir);
        assert!(!tests.is_empty(), "{}", dir.display());
        for case in &tests {
            let gate = Sidecar::start(&up.url(), |_, cfg| cfg.policies = Some(dir.clone())).await;
            gate.clock.set(&case.now.to_string());
            let body: serde_json::Value = match &case.input {
                TestInput::Request(r) => {
                    assert!(
                        r.client_cert.is_none(),
                        "{}: mTLS cases need a TLS client",
                        case.name
                    );
                    let headers: Vec<(&str, &str)> = r
                        .headers
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    let text = r
                        .body
                        .as_ref()
                        .map(|b| String::from_utf8(b.to_vec()).unwrap())
                        .unwrap_or_default();
                    let resp = call(gate.proxy, r.method.as_str(), &r.path, &headers, &text).await;
                    let id = resp.header("x-request-id").unwrap().to_owned();
                    let rpc_error = serde_json::from_slice::<serde_json::Value>(&resp.body)
                        .ok()
                        .filter(|v| v.get("jsonrpc").is_some() && v.get("error").is_some());
                    if let Some(e) = rpc_error {
                        // An MCP refusal: the decision is the JSON-RPC error's data.
                        e["error"]["data"].clone()
                    } else if resp.status < 400 || r.method == Method::HEAD {
                        // Forwarded: the decision is in the trail.
                        gate.decision(&id).await
                    } else {
                        resp.json()
                    }
                }
                TestInput::Check(c) => {
                    let payload = serde_json::to_string(c.as_ref()).unwrap();
                    gate.post("/v1/check", &payload).await.json()
                }
            };
            replayed += 1;
            let e = &case.expect;
            // A shadow route's record holds the verdict enforced (forwarded) beside the
            // one the policy gave; the tests state the policy's.
            let verdict = if body["shadow_verdict"].is_string() {
                body["shadow_verdict"].clone()
            } else {
                body["verdict"].clone()
            };
            let issues: Vec<&str> = body["issues"]
                .as_array()
                .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
                .unwrap_or_default();
            let mut bad = Vec::new();
            if verdict != e.verdict.as_str() {
                bad.push(format!("verdict {verdict} (want {})", e.verdict.as_str()));
            }
            if let Some(want) = e.issues {
                let want: Vec<&str> = want.iter().map(|c| c.as_str()).collect();
                if issues != want {
                    bad.push(format!("issues {issues:?} (want {want:?})"));
                }
            }
            for c in e.issues_include.iter() {
                if !issues.contains(&c.as_str()) {
                    bad.push(format!("issues {issues:?} lack {}", c.as_str()));
                }
            }
            if let Some(route) = &e.route {
                if body["route"] != route.as_str() {
                    bad.push(format!("route {} (want {route})", body["route"]));
                }
            }
            if !bad.is_empty() {
                failures.push(format!(
                    "{} {}: {}",
                    dir.display(),
                    case.name,
                    bad.join("; ")
                ));
            }
        }
    }
    assert!(replayed > 40, "{replayed} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
