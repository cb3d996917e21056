//! MCP on the wire, through the whole sidecar running the shipped `policies/mcp` bundle in
//! front of a recording upstream (the MCP server). Every table row is a request as raw
//! bytes (method, header lines, body bytes, framing) and what must come of it: the status,
//! the JSON-RPC error (code and `id`) or the plain decision, the `x-toolgate-verdict`, the
//! issues, the route, and what the upstream received: nothing, or exactly the bytes sent.
//!
//! - A body that is not one JSON-RPC message is answered 400 with the JSON-RPC error the
//!   specification gives it (-32700 parse error, -32600 invalid request), `id: null`, and
//!   the decision (`INVALID_REQUEST`) as `error.data`; it reaches nobody.
//! - A well-formed message the policy refuses is answered 200 with a JSON-RPC error that
//!   carries the request's own `id`, toolgate's DENY or DEFER code and the decision; a
//!   notification (no `id`) keeps 403/409 and the plain decision; with `refusal: http`
//!   requests keep 403/409 and get the JSON-RPC body.
//! - What is allowed reaches the MCP server byte for byte, MCP headers untouched.
//! - The audit record and `toolgate_mcp_messages_total` name the method and the tool.
//!
//! Every row runs (failures are collected) and each failing row is named in the assertion.

#[path = "../support/mod.rs"]
mod support;

mod check;
mod forwarded;
mod harness;
mod keys;
mod malformed;
mod refusals;

use check::*;
use forwarded::*;
use harness::*;
use keys::*;
use malformed::*;
use refusals::*;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::sidecar::{replaced, Sidecar};
use support::wire::{read_exchange, Exchange, RawResponse};
use support::{Seen, Upstream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use toolgate::mcp::reply::{DEFER, DENY};

/// JSON-RPC's parse error and invalid request codes.
const PARSE: i32 = -32700;
const INVALID: i32 = -32600;
/// The `McpServer` of `policies/mcp`: the endpoint's route name.
const SERVER: &str = "payments-mcp";
const DEFAULT_MAX_BODY_BYTES: usize = 1_048_576;

const FINANCE: &[&str] = &[
    "X-Actor: agent-7",
    "X-Actor-Role: finance_operator",
    "X-Environment: production",
];
const ADMIN: &[&str] = &[
    "X-Actor: agent-1",
    "X-Actor-Role: platform_admin",
    "X-Environment: production",
];
const RELEASE: &[&str] = &[
    "X-Actor: agent-3",
    "X-Actor-Role: release_manager",
    "X-Environment: production",
];
const APPROVED: &[&str] = &[
    "X-Approval-Status: approved",
    "X-Approved-By: [email protected]",
    "X-Approved-At: 2026-03-16T09:30:00Z",
];

/// The issues of a payout (or deletion) asked for without an approval.
const UNAPPROVED: &[&str] = &[
    "APPROVAL_REQUIRED",
    "APPROVER_MISSING",
    "APPROVAL_TIMESTAMP_MISSING",
];
const PAYOUT_QUESTION: &[&str] = &["Who approved this payout?"];

/// Headers an MCP client and server rely on: whatever of them the client sent must reach
/// the server unchanged (and nothing of them the client did not send).
const PASSED: [&str; 9] = [
    "mcp-session-id",
    "mcp-protocol-version",
    "accept",
    "last-event-id",
    "mcp-method",
    "mcp-name",
    "content-type",
    "x-actor",
    "x-actor-role",
];

fn bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/mcp")
}

async fn sidecar(up: &Upstream, dir: PathBuf) -> Sidecar {
    Sidecar::start(&up.url(), move |_, cfg| cfg.policies = Some(dir)).await
}

// --- tests --------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_messages_get_400_jsonrpc_errors_and_reach_nobody() {
    let up = Upstream::start().await;
    let gate = sidecar(&up, bundle()).await;
    let rows = malformed_rows();
    let failures = run_table(&gate, &up, "malformed", &rows).await;
    assert_rows(rows.len(), failures);
}

#[tokio::test]
async fn oversized_and_cut_transfers_reach_nobody() {
    let up = Upstream::start().await;
    let gate = sidecar(&up, bundle()).await;
    let rows = transfer_rows();
    let failures = run_table(&gate, &up, "transfer", &rows).await;
    assert_rows(rows.len(), failures);
}

#[tokio::test]
async fn policy_refusals_are_jsonrpc_errors_with_the_callers_id() {
    let up = Upstream::start().await;
    let gate = sidecar(&up, bundle()).await;
    let rows = refusal_rows();
    let failures = run_table(&gate, &up, "refusal", &rows).await;
    assert_rows(rows.len(), failures);
}

#[tokio::test]
async fn refusal_http_keeps_403_and_409_with_the_jsonrpc_body() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(bundle()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let server = dir.path().join("server.yaml");
    let text = std::fs::read_to_string(&server).unwrap();
    std::fs::write(
        &server,
        replaced(&text, "refusal: jsonrpc", "refusal: http"),
    )
    .unwrap();
    let up = Upstream::start().await;
    let gate = sidecar(&up, dir.path().to_path_buf()).await;
    let fin: &[&[&str]] = &[FINANCE, APPROVED];
    let rows = vec![
        row(
            "DENY (delete_customer by a finance_operator) is 403",
            Req::post(fin, DELETE),
            rpc(
                403,
                "DENY",
                json!(2),
                &["ROLE_NOT_AUTHORIZED"],
                "delete_customer",
            ),
        ),
        row(
            "DENY (unmapped tool) is 403",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":"w","method":"tools/call","params":{"name":"wire_money"}}"#,
            ),
            rpc(403, "DENY", json!("w"), &["ROUTE_NOT_MAPPED"], SERVER),
        ),
        row(
            "DEFER (create_payout without approval) is 409",
            Req::post(
                &[FINANCE],
                r#"{"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"create_payout","arguments":{"account":"acc-1","amount":250,"currency":"EUR"}}}"#,
            ),
            rpc(409, "DEFER", json!(0), UNAPPROVED, "create_payout"),
        ),
        row(
            "notification DEFER keeps 409 and the plain decision",
            Req::post(
                &[FINANCE],
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"create_payout","arguments":{"account":"acc-1","amount":250,"currency":"EUR"}}}"#,
            ),
            plain(409, "DEFER", UNAPPROVED, "create_payout"),
        ),
        row(
            "a batch is still 400 with -32600",
            Req::post(fin, format!("[{GET_BALANCE}]")),
            malformed(INVALID),
        ),
        row(
            "get_balance is still forwarded",
            Req::post(&[FINANCE], GET_BALANCE),
            Want::Forwarded,
        ),
    ];
    let failures = run_table(&gate, &up, "refusal-http", &rows).await;
    assert_rows(rows.len(), failures);
}

#[tokio::test]
async fn allowed_messages_reach_the_server_byte_for_byte() {
    let up = Upstream::start().await;
    let gate = sidecar(&up, bundle()).await;
    let rows = forwarded_rows();
    let failures = run_table(&gate, &up, "forwarded", &rows).await;
    assert_rows(rows.len(), failures);
}

/// The audit record names the JSON-RPC method and the tool; `toolgate_mcp_messages_total`
/// counts each message under its server, method, mapped tool (or none) and verdict.
#[tokio::test]
async fn audit_records_and_metrics_name_the_mcp_call() {
    let up = Upstream::start().await;
    let gate = sidecar(&up, bundle()).await;
    let calls = [
        ("mw-m-allow", Req::post(&[FINANCE], GET_BALANCE)),
        (
            "mw-m-unmapped",
            Req::post(
                &[FINANCE],
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wire_money"}}"#,
            ),
        ),
        (
            "mw-m-malformed",
            Req::post(&[FINANCE], format!("[{GET_BALANCE}]")),
        ),
        (
            "mw-m-defer",
            Req::post(
                &[FINANCE],
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_payout","arguments":{"amount":250}}}"#,
            ),
        ),
        ("mw-m-ping", Req::post(&[], PING)),
    ];
    let mut failures = Vec::new();
    for (id, req) in &calls {
        let ex = send(gate.proxy, req, id).await;
        if ex.status() == 0 {
            failures.push(format!("{id}: no answer"));
        }
    }
    // Audit: request id, mcp_method, mcp_tool, verdict, route, final action.
    let records = [
        (
            "mw-m-allow",
            Some("tools/call"),
            Some("get_balance"),
            "ALLOW",
            "get_balance",
            "forwarded",
        ),
        (
            "mw-m-unmapped",
            Some("tools/call"),
            Some("wire_money"),
            "DENY",
            SERVER,
            "execution_stopped",
        ),
        (
            "mw-m-malformed",
            None,
            None,
            "DENY",
            SERVER,
            "execution_stopped",
        ),
        (
            "mw-m-defer",
            Some("tools/call"),
            Some("create_payout"),
            "DEFER",
            "create_payout",
            "execution_stopped",
        ),
        (
            "mw-m-ping",
            Some("ping"),
            None,
            "ALLOW",
            SERVER,
            "forwarded",
        ),
    ];
    for (id, method, tool, verdict, route, action) in records {
        let rec = gate.decision(id).await;
        let mut bad = Vec::new();
        if rec.get("mcp_method").and_then(Value::as_str) != method {
            bad.push(format!(
                "mcp_method {:?} (want {method:?})",
                rec.get("mcp_method")
            ));
        }
        if rec.get("mcp_tool").and_then(Value::as_str) != tool {
            bad.push(format!(
                "mcp_tool {:?} (want {tool:?})",
                rec.get("mcp_tool")
            ));
        }
        if rec["verdict"] != verdict {
            bad.push(format!("verdict {} (want {verdict})", rec["verdict"]));
        }
        if rec["route"] != route {
            bad.push(format!("route {} (want {route})", rec["route"]));
        }
        if rec["final_runtime_action"] != action {
            bad.push(format!(
                "final_runtime_action {} (want {action})",
                rec["final_runtime_action"]
            ));
        }
        if !bad.is_empty() {
            failures.push(format!("audit {id}: {} in {rec}", bad.join("; ")));
        }
    }
    // Metrics: each message once, under its labels.
    let m = gate.metrics().await;
    let name = "toolgate_mcp_messages_total";
    let series: [(&str, &str, &str); 5] = [
        ("tools/call", "get_balance", "allow"),
        ("tools/call", "", "deny"),
        ("malformed", "", "deny"),
        ("tools/call", "create_payout", "defer"),
        ("ping", "", "allow"),
    ];
    for (method, tool, verdict) in series {
        let labels = [
            ("server", SERVER),
            ("method", method),
            ("tool", tool),
            ("verdict", verdict),
        ];
        let got = m.get(name, &labels);
        if got != Some(1.0) {
            failures.push(format!(
                "metric {name}{{method={method:?},tool={tool:?},verdict={verdict:?}}} = {got:?} (want 1)"
            ));
        }
    }
    if m.count(name) != series.len() {
        let all: Vec<_> = m.series.keys().filter(|k| k.starts_with(name)).collect();
        failures.push(format!(
            "{name}: {} series (want {}): {all:?}",
            m.count(name),
            series.len()
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
