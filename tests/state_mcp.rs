//! Counted limits on an MCP tool: `rate_limit` on `tools/call get_balance` counts the calls
//! forwarded to the MCP server; over it, the JSON-RPC error an MCP client decodes (HTTP
//! 200, code -31403, the decision in `data`), never the server.

mod support;

use serde_json::Value;
use std::path::Path;
use support::{call, Gate, Upstream};

fn bundle(dir: &Path) -> toolgate::snapshot::Snapshot {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/mcp");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        // Its own tests assume no counted limit; they are not what this test is about.
        if name != "tests.yaml" {
            std::fs::copy(&path, dir.join(name)).unwrap();
        }
    }
    let server = std::fs::read_to_string(dir.join("server.yaml")).unwrap();
    let limited = server.replacen(
        "      goal: Read an account's balance\n",
        "      goal: Read an account's balance\n      constraints: [\"rate_limit:2/1m per actor\"]\n",
        1,
    );
    assert_ne!(server, limited);
    std::fs::write(dir.join("server.yaml"), limited).unwrap();
    toolgate::bundle::load(dir, support::NOW.parse().unwrap()).unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test]
async fn an_mcp_tool_under_a_rate_limit_is_refused_as_json_rpc_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start().await;
    let gate = Gate::start(bundle(dir.path()), &up.url(), |_| {}).await;
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("x-actor", "agent-7"),
        ("x-actor-role", "finance_operator"),
        ("x-environment", "production"),
    ];
    let body = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_balance","arguments":{{"account":"acc-1"}}}}}}"#
        )
    };
    for id in 1..=2 {
        let r = call(gate.addr, "POST", "/mcp", &headers, &body(id)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.header("x-toolgate-verdict"), Some("ALLOW"));
    }
    assert_eq!(up.seen().len(), 2);
    let r = call(gate.addr, "POST", "/mcp", &headers, &body(3)).await;
    assert_eq!(r.status, 200, "a JSON-RPC refusal: {:?}", r.body);
    assert_eq!(r.header("x-toolgate-verdict"), Some("DENY"));
    let v: Value = r.json();
    assert_eq!(v["id"], 3);
    assert_eq!(v["error"]["code"], -31403, "{v}");
    assert_eq!(
        v["error"]["data"]["issues"],
        serde_json::json!(["RATE_LIMITED"]),
        "{v}"
    );
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    assert_eq!(up.seen().len(), 2, "the MCP server saw nothing more");
    // Other tools and lifecycle messages are not counted.
    let ping = r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#;
    assert_eq!(
        call(gate.addr, "POST", "/mcp", &headers, ping).await.status,
        200
    );
    assert_eq!(up.seen().len(), 3);
}
