//! The demo's MCP agent: the official MCP SDK's client (`rmcp`, Streamable HTTP) talking to
//! the payments MCP server through the `policies/mcp` sidecar, as a finance operator's
//! agent. It lists the tools (toolgate hides what this caller may not call), calls
//! `get_balance` (ALLOW), `create_payout` (DEFER: the client decodes the JSON-RPC error and
//! prints the decision's questions), `delete_customer` (DENY) and `export_customers` (not
//! mapped: DENY), and reports what the MCP server received. Each step has an expectation;
//! one that is not met fails the demo.

use super::mcp::PaymentsServer;
use crate::mcp::reply;
use anyhow::Context as _;
use http::{HeaderName, HeaderValue};
use rmcp::model::CallToolRequestParams;
use rmcp::service::ServiceError;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Who the agent is: the context headers `policies/mcp` reads.
pub const AGENT_HEADERS: [(&str, &str); 3] = [
    ("x-actor", "agent-7"),
    ("x-actor-role", "finance_operator"),
    ("x-environment", "production"),
];

/// One step of the agent, as it went.
#[derive(Clone, Debug)]
pub struct Step {
    pub call: String,
    pub verdict: &'static str,
    /// The JSON-RPC error code of a refusal.
    pub code: Option<i32>,
    /// The issues of a refusal, or the tool's answer.
    pub detail: String,
    pub questions: Vec<String>,
    pub request_id: String,
    /// Whether the call reached the MCP server.
    pub reached: bool,
    /// Why the step did not go as the demo expects, if it did not.
    pub unexpected: Option<String>,
}

/// Drives the agent through the sidecar at `base` (whose upstream is `server`).
pub async fn drive(base: &str, server: &PaymentsServer) -> anyhow::Result<Vec<Step>> {
    let mut headers = HashMap::new();
    for (k, v) in AGENT_HEADERS {
        headers.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
        .custom_headers(headers);
    let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
    let client = ().serve(transport).await.context("MCP initialize through toolgate")?;

    let mut steps = Vec::new();
    let listed = client.list_all_tools().await.context("tools/list")?;
    let mut names: Vec<String> = listed.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    let want = ["create_payout", "get_balance"];
    steps.push(Step {
        call: "tools/list".into(),
        verdict: "ALLOW",
        code: None,
        detail: format!("sees {} (the server has 4)", names.join(", ")),
        questions: Vec::new(),
        request_id: String::new(),
        reached: true,
        unexpected: (names != want).then(|| format!("listed {names:?}, want {want:?}")),
    });
    let calls: [(&str, Value, &str); 4] = [
        ("get_balance", json!({ "account": "acc-1" }), "ALLOW"),
        (
            "create_payout",
            json!({ "account": "acc-9", "amount": 2500, "currency": "EUR" }),
            "DEFER",
        ),
        (
            "delete_customer",
            json!({ "customer_id": "cus_42" }),
            "DENY",
        ),
        ("export_customers", json!({}), "DENY"),
    ];
    for (tool, arguments, want) in calls {
        let before = server.calls().len();
        let args = arguments.as_object().cloned().unwrap_or_default();
        let result = client
            .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
            .await;
        let reached = server.calls().len() > before;
        let mut step = match result {
            Ok(r) => Step {
                call: tool.into(),
                verdict: "ALLOW",
                code: None,
                detail: r
                    .content
                    .first()
                    .and_then(|c| c.as_text())
                    .map(|t| t.text.clone())
                    .unwrap_or_default(),
                questions: Vec::new(),
                request_id: String::new(),
                reached,
                unexpected: None,
            },
            Err(ServiceError::McpError(e)) => refused(tool, e.code.0, e.data.as_ref(), reached),
            Err(e) => return Err(e).with_context(|| format!("tools/call {tool}")),
        };
        let forwarded = want == "ALLOW";
        if step.verdict != want || step.reached != forwarded {
            step.unexpected = Some(format!(
                "{} and {} the server, want {want} and {}",
                step.verdict,
                if step.reached {
                    "reached"
                } else {
                    "never reached"
                },
                if forwarded {
                    "reached"
                } else {
                    "never reached"
                },
            ));
        }
        steps.push(step);
    }
    client.cancel().await.context("closing the MCP session")?;
    Ok(steps)
}

/// A refusal, as the client decoded it: the code names the verdict, `data` is the decision.
fn refused(tool: &str, code: i32, data: Option<&Value>, reached: bool) -> Step {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let list = |key: &str| -> Vec<String> {
        data.and_then(|d| d[key].as_array())
            .map(|a| a.iter().filter_map(text).collect())
            .unwrap_or_default()
    };
    Step {
        call: tool.into(),
        verdict: match code {
            reply::DEFER => "DEFER",
            reply::DENY => "DENY",
            _ => "ERROR",
        },
        code: Some(code),
        detail: list("issues").join(", "),
        questions: list("defer_questions"),
        request_id: data
            .and_then(|d| text(&d["request_id"]))
            .unwrap_or_default(),
        reached,
        unexpected: None,
    }
}

/// The steps as a plain-text table, each DEFER's questions under it.
pub fn render(steps: &[Step]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<7} {:<8} {:<26} {:<13} ISSUES / ANSWER",
        "MCP CALL", "VERDICT", "CODE", "REQUEST_ID", "SERVER SAW"
    );
    for s in steps {
        let code = s.code.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
        let saw = if s.reached { "the call" } else { "nothing" };
        let id = if s.request_id.is_empty() {
            "-"
        } else {
            &s.request_id
        };
        let _ = writeln!(
            out,
            "{:<18} {:<7} {:<8} {:<26} {:<13} {}",
            s.call, s.verdict, code, id, saw, s.detail
        );
        // A DENY is final: its questions are moot.
        let questions = if s.verdict == "DEFER" {
            &s.questions[..]
        } else {
            &[]
        };
        for q in questions {
            let _ = writeln!(out, "{:<18}   ? {q}", "");
        }
    }
    out
}
