//! Allowed messages and streams: they reach the MCP server exactly as sent.

use super::*;

/// Allowed messages and streams: each must reach the server exactly as sent.
pub(crate) fn forwarded_rows() -> Vec<Row> {
    let fin: &[&[&str]] = &[FINANCE];
    let none: &[&[&str]] = &[];
    let session = "Mcp-Session-Id: 1868a90c-7e4b-4a3c-9d5e-0f1e2d3c4b5a";
    let version = "Mcp-Protocol-Version: 2025-11-25";
    vec![
        row(
            "initialize (odd whitespace, key order)",
            Req::post(
                none,
                "{ \"params\" : {\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\n\t\"clientInfo\":{\"name\":\"agent\",\"version\":\"1\"}} ,\"method\":\"initialize\",\r\n \"id\" : 0, \"jsonrpc\":\"2.0\"   }",
            ),
            Want::Forwarded,
        ),
        row(
            "notifications/initialized",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            )
            .with(session)
            .with(version),
            Want::Forwarded,
        ),
        row(
            "ping (string id, padded)",
            Req::post(none, "\n {\"method\":\"ping\",\"jsonrpc\":\"2.0\",\"id\":\"p\"}\n")
                .with(session)
                .with(version),
            Want::Forwarded,
        ),
        row(
            "tools/list",
            Req::post(fin, r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#)
                .with(session)
                .with(version),
            Want::Forwarded,
        ),
        row(
            "a client's JSON-RPC response",
            Req::post(none, r#"{"jsonrpc":"2.0","id":"s-1","result":{}}"#)
                .with(session)
                .with(version),
            Want::Forwarded,
        ),
        row(
            "a client's JSON-RPC error response",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","id":9,"error":{"code":-32601,"message":"no roots"}}"#,
            )
            .with(session)
            .with(version),
            Want::Forwarded,
        ),
        row(
            "notifications/cancelled",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"user"}}"#,
            )
            .with(session),
            Want::Forwarded,
        ),
        row(
            "get_balance as finance_operator (odd whitespace, escapes, key order)",
            Req::post(
                fin,
                "{\"params\":{ \"arguments\" : {\"account\":\"acc-\\u0031\", \"note\":\"caf\u{e9} \\\"x\\\"\"},\n\t\"name\":\"get_balance\" },\"id\":1.0 ,\"method\":\"tools/call\",\"jsonrpc\":\"2.0\"}",
            )
            .with(session)
            .with(version),
            Want::Forwarded,
        ),
        row(
            "get_balance with Mcp-Method and Mcp-Name that agree (2026-07-28)",
            Req::post(fin, GET_BALANCE)
                .with("Mcp-Method: tools/call")
                .with("Mcp-Name: get_balance")
                .with("Mcp-Protocol-Version: 2026-07-28"),
            Want::Forwarded,
        ),
        row(
            "create_payout, approved, within the limit",
            Req::post(
                &[FINANCE, APPROVED],
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"create_payout","arguments":{"account":"acc-1","amount":250,"currency":"EUR"}}}"#,
            )
            .with(session),
            Want::Forwarded,
        ),
        row(
            "delete_customer by an approved platform_admin",
            Req::post(&[ADMIN, APPROVED], DELETE).with(session),
            Want::Forwarded,
        ),
        row(
            "server/discover with its Mcp-Method",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
            )
            .with("Mcp-Method: server/discover")
            .with("Mcp-Protocol-Version: 2026-07-28"),
            Want::Forwarded,
        ),
        row(
            "subscriptions/listen (streams: true)",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","id":2,"method":"subscriptions/listen","params":{}}"#,
            )
            .with("Mcp-Protocol-Version: 2026-07-28"),
            Want::Forwarded,
        ),
        row(
            "GET /mcp: the server's event stream (streams: true)",
            Req::bare(
                "GET",
                &["Accept: text/event-stream", session, version, "Last-Event-ID: 42"],
            ),
            Want::Forwarded,
        ),
        row(
            "DELETE /mcp: the session ends (streams: true)",
            Req::bare("DELETE", &[session, version]),
            Want::Forwarded,
        ),
    ]
}
