//! MCP through toolgate with the official SDK on both sides: the `rmcp` Streamable HTTP
//! client (as an agent's runtime uses it) and the demo's `rmcp` payments server, with a real
//! toolgate on sockets between them running `policies/mcp`. What the client sees (the
//! filtered tool list, answers, refusals it decodes with their `data`) and what the server
//! received (nothing that was not ALLOWed) are both checked, for every protocol revision.
//! Raw upstreams check what the SDK cannot show: an event reaches the client before its
//! stream ends, and a client that goes away cancels the upstream stream.

mod support;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response};
use http_body_util::channel::Channel;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use toolgate::demo::mcp::PaymentsServer;
use toolgate::mcp::reply;

const DEADLINE: Duration = Duration::from_secs(20);

const FINANCE: &[(&str, &str)] = &[
    ("x-actor", "agent-7"),
    ("x-actor-role", "finance_operator"),
    ("x-environment", "production"),
];

const APPROVED: &[(&str, &str)] = &[
    ("x-approval-status", "approved"),
    ("x-approved-by", "[email protected]"),
    ("x-approved-at", "2026-03-16T09:30:00Z"),
];

fn mcp_bundle() -> toolgate::snapshot::Snapshot {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/mcp");
    toolgate::bundle::load(&dir, NOW.parse().unwrap()).unwrap()
}

/// The payments MCP server, and toolgate with `policies/mcp` in front of it.
async fn start() -> (PaymentsServer, Gate) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = PaymentsServer::start(listener).unwrap();
    let gate = Gate::start(mcp_bundle(), &server.url(), |_| {}).await;
    gate.clock.set(NOW);
    (server, gate)
}

type Client = RunningService<RoleClient, ClientConfig>;

fn transport(
    gate: &Gate,
    headers: &[(&str, &str)],
) -> StreamableHttpClientTransport<reqwest::Client> {
    let headers: HashMap<HeaderName, HeaderValue> = headers
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect();
    let config =
        StreamableHttpClientTransportConfig::with_uri(gate.url("/mcp")).custom_headers(headers);
    StreamableHttpClientTransport::with_client(reqwest::Client::new(), config)
}

/// An rmcp client through toolgate, as the caller `headers` describe, speaking `version`
/// (2026-07-28 has no `initialize`: `server/discover` instead).
async fn connect(gate: &Gate, headers: &[(&str, &str)], version: ProtocolVersion) -> Client {
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("toolgate-tests", "1"),
    )
    .with_protocol_version(version.clone());
    let transport = transport(gate, headers);
    let started = if version.has_initialize() {
        tokio::time::timeout(DEADLINE, info.serve(transport)).await
    } else {
        let mode = ClientLifecycleMode::Discover {
            preferred_versions: vec![version.clone()],
        };
        tokio::time::timeout(DEADLINE, info.serve_with_lifecycle(transport, mode)).await
    };
    started
        .expect("the MCP handshake has a deadline")
        .unwrap_or_else(|e| panic!("{version}: handshake through toolgate: {e}"))
}

async fn call(client: &Client, tool: &str, args: Value) -> Result<String, (i32, Value)> {
    let params = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    let result = tokio::time::timeout(DEADLINE, client.call_tool(params))
        .await
        .expect("tools/call has a deadline");
    match result {
        Ok(r) => Ok(r
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone())
            .unwrap_or_default()),
        Err(ServiceError::McpError(e)) => Err((e.code.0, e.data.unwrap_or(Value::Null))),
        Err(e) => panic!("tools/call {tool}: not a JSON-RPC answer: {e}"),
    }
}

async fn tool_names(client: &Client) -> Vec<String> {
    let tools = tokio::time::timeout(DEADLINE, client.list_all_tools())
        .await
        .expect("tools/list has a deadline")
        .expect("tools/list");
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn tools_list_shows_each_caller_only_what_it_may_call() {
    let (_server, gate) = start().await;
    // (role, tools listed): DENY for this caller hides a tool, DEFER keeps it, and the
    // server's fourth tool, which the bundle does not map, is never listed.
    let rows: &[(&str, &[&str])] = &[
        ("finance_operator", &["create_payout", "get_balance"]),
        ("viewer", &["get_balance"]),
        ("platform_admin", &["delete_customer"]),
        ("release_manager", &[]),
    ];
    let mut failures = Vec::new();
    for (role, want) in rows {
        let headers = [
            ("x-actor", "agent-7"),
            ("x-actor-role", *role),
            ("x-environment", "production"),
        ];
        let client = connect(&gate, &headers, ProtocolVersion::V_2025_11_25).await;
        let got = tool_names(&client).await;
        if got != *want {
            failures.push(format!("{role}: listed {got:?}, want {want:?}"));
        }
        client.cancel().await.unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A refusal as the SDK decoded it: (code, verdict, issues, request_id) from `error.data`.
fn decoded(code: i32, data: &Value) -> (i32, String, Vec<String>, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let issues = data["issues"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    (
        code,
        text(&data["verdict"]),
        issues,
        text(&data["request_id"]),
    )
}

#[tokio::test]
async fn every_protocol_revision_calls_and_is_refused_through_toolgate() {
    let (server, gate) = start().await;
    let versions = [
        ProtocolVersion::V_2025_03_26,
        ProtocolVersion::V_2025_06_18,
        ProtocolVersion::V_2025_11_25,
        ProtocolVersion::V_2026_07_28,
    ];
    for version in versions {
        let before = server.calls().len();
        let client = connect(&gate, FINANCE, version.clone()).await;
        let negotiated = client.peer_info().map(|p| p.protocol_version.clone());
        assert_eq!(
            negotiated,
            Some(version.clone()),
            "negotiated through toolgate"
        );
        assert_eq!(
            tool_names(&client).await,
            ["create_payout", "get_balance"],
            "{version}"
        );

        // ALLOW: forwarded, answered by the server.
        let answer = call(&client, "get_balance", json!({"account": "acc-1"})).await;
        let answer = answer.unwrap_or_else(|e| panic!("{version}: get_balance refused: {e:?}"));
        assert!(answer.contains("18250.75"), "{version}: {answer}");

        // DEFER, DENY, and an unmapped tool: JSON-RPC errors the SDK decodes, the decision
        // in their data; the server never sees them.
        let cases: [(&str, Value, i32, &str, &str); 3] = [
            (
                "create_payout",
                json!({"account": "acc-9", "amount": 2500, "currency": "EUR"}),
                reply::DEFER,
                "DEFER",
                "APPROVAL_REQUIRED",
            ),
            (
                "delete_customer",
                json!({"customer_id": "cus_42"}),
                reply::DENY,
                "DENY",
                "ROLE_NOT_AUTHORIZED",
            ),
            (
                "export_customers",
                json!({}),
                reply::DENY,
                "DENY",
                "ROUTE_NOT_MAPPED",
            ),
        ];
        for (tool, args, code, verdict, issue) in cases {
            let Err((got, data)) = call(&client, tool, args).await else {
                panic!("{version}: {tool} was answered by the server");
            };
            let (got, v, issues, id) = decoded(got, &data);
            assert_eq!(
                (got, v.as_str()),
                (code, verdict),
                "{version} {tool}: {data}"
            );
            assert!(
                issues.iter().any(|i| i == issue),
                "{version} {tool}: {issues:?}"
            );
            assert!(id.starts_with("tg-"), "{version} {tool}: request_id {id:?}");
            assert_eq!(data["policy_version"], "mcp@1.0.0", "{version} {tool}");
            let record = gate.audit_record(&id).await.expect("an audit record");
            assert_eq!(record.mcp_method.as_deref(), Some("tools/call"));
            assert_eq!(record.mcp_tool.as_deref(), Some(tool));
            if verdict == "DEFER" {
                let questions = data["defer_questions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    questions.contains(&json!("Who approved this payout?")),
                    "{data}"
                );
            }
        }
        let calls: Vec<&str> = server.calls()[before..].iter().map(|c| c.tool).collect();
        assert_eq!(
            calls,
            ["get_balance"],
            "{version}: what the server received"
        );
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn an_approved_payout_reaches_the_server_with_its_arguments() {
    let (server, gate) = start().await;
    let headers: Vec<(&str, &str)> = FINANCE.iter().chain(APPROVED).copied().collect();
    let client = connect(&gate, &headers, ProtocolVersion::V_2025_11_25).await;
    let args = json!({"account": "acc-9", "amount": 2500, "currency": "EUR"});
    let answer = call(&client, "create_payout", args).await.expect("ALLOW");
    assert!(answer.contains("po_demo_1"), "{answer}");
    // Over the bundle's max_amount:10000 it is denied even when approved.
    let over = json!({"account": "acc-9", "amount": 20000, "currency": "EUR"});
    let (code, data) = call(&client, "create_payout", over)
        .await
        .expect_err("DENY");
    assert_eq!(decoded(code, &data).2, ["AMOUNT_LIMIT_EXCEEDED"]);
    let calls = server.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    // What the server parsed: the amount as its f64.
    let parsed = json!({"account": "acc-9", "amount": 2500.0, "currency": "EUR"});
    assert_eq!(
        (calls[0].tool, &calls[0].arguments),
        ("create_payout", &parsed)
    );
    client.cancel().await.unwrap();
    let m = gate.metrics();
    let allowed = [
        ("server", "payments-mcp"),
        ("method", "tools/call"),
        ("tool", "create_payout"),
        ("verdict", "allow"),
    ];
    assert_eq!(m.get("toolgate_mcp_messages_total", &allowed), Some(1.0));
    let denied = [
        ("server", "payments-mcp"),
        ("method", "tools/call"),
        ("tool", "create_payout"),
        ("verdict", "deny"),
    ];
    assert_eq!(m.get("toolgate_mcp_messages_total", &denied), Some(1.0));
}

/// A raw MCP "server" whose `POST /mcp` answers with an event stream: one event at once,
/// then a keep-alive comment every 20 ms, the final event only when `release` fires.
/// `closed` fires when a write finds the client side of the stream gone.
async fn sse_upstream() -> (String, oneshot::Sender<()>, oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let (closed_tx, closed_rx) = oneshot::channel::<()>();
    let hold = Arc::new(Mutex::new(Some((release_rx, closed_tx))));
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let svc = hyper::service::service_fn(move |_req| {
            let (mut release, closed) = hold.lock().unwrap().take().expect("one request");
            let (mut tx, body) = Channel::<Bytes>::new(1);
            tokio::spawn(async move {
                let first = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":50}}\n\n";
                let mut sent = tx.send_data(Bytes::from(first)).await;
                while sent.is_ok() {
                    tokio::select! {
                        _ = &mut release => {
                            let last = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n";
                            let _ = tx.send_data(Bytes::from(last)).await;
                            return;
                        }
                        () = tokio::time::sleep(Duration::from_millis(20)) => {
                            sent = tx.send_data(Bytes::from_static(b": keep-alive\n\n")).await;
                        }
                    }
                }
                let _ = closed.send(());
            });
            let resp = Response::builder()
                .header("content-type", "text/event-stream")
                .body(body)
                .unwrap();
            async move { Ok::<_, std::convert::Infallible>(resp) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), svc)
            .await;
    });
    (format!("http://{addr}"), release_tx, closed_rx)
}

/// Sends an allowed `tools/call` through `gate` and returns the streaming response.
async fn open_stream(gate: &Gate) -> hyper::body::Incoming {
    let stream = tokio::net::TcpStream::connect(gate.addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","arguments":{"account":"acc-1"}}}"#;
    let mut headers: Vec<(&str, &str)> = FINANCE.to_vec();
    headers.extend([
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ]);
    let req = request("POST", gate.addr, "/mcp", &headers, body);
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.headers()["x-toolgate-verdict"], "ALLOW");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    resp.into_body()
}

async fn next_data(body: &mut hyper::body::Incoming) -> Option<Bytes> {
    loop {
        let frame = tokio::time::timeout(DEADLINE, body.frame())
            .await
            .expect("an event within the deadline")?;
        if let Ok(data) = frame.ok()?.into_data() {
            return Some(data);
        }
    }
}

#[tokio::test]
async fn events_stream_through_before_the_stream_ends() {
    let (url, release, _closed) = sse_upstream().await;
    let gate = Gate::start(mcp_bundle(), &url, |_| {}).await;
    gate.clock.set(NOW);
    let mut body = open_stream(&gate).await;
    // The first event arrives while the server still holds the stream open: nothing
    // between them buffers it.
    let first = next_data(&mut body).await.expect("the first event");
    assert!(
        String::from_utf8_lossy(&first).contains("notifications/progress"),
        "{first:?}"
    );
    release.send(()).unwrap();
    let mut rest = Vec::new();
    while let Some(d) = next_data(&mut body).await {
        rest.extend_from_slice(&d);
    }
    assert!(
        String::from_utf8_lossy(&rest).contains("\"result\""),
        "{rest:?}"
    );
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_stream() {
    let (url, _release, closed) = sse_upstream().await;
    let gate = Gate::start(mcp_bundle(), &url, |_| {}).await;
    gate.clock.set(NOW);
    let mut body = open_stream(&gate).await;
    next_data(&mut body).await.expect("the first event");
    drop(body);
    tokio::time::timeout(DEADLINE, closed)
        .await
        .expect("the upstream saw its stream closed within the deadline")
        .expect("closed, not dropped unsignalled");
}
