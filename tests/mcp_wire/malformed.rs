//! Bodies that are not one JSON-RPC message: 400, -32700 or -32600, `id: null`.

use super::*;

pub(crate) fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

pub(crate) fn malformed_rows() -> Vec<Row> {
    let fin: &[&[&str]] = &[FINANCE, APPROVED];
    let adm: &[&[&str]] = &[ADMIN, APPROVED];
    let none: &[&[&str]] = &[];
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"get_balance","arguments":{{"account":"a","x":{}1{}}}}}}}"#,
        r#"{"a":"#.repeat(70),
        "}".repeat(70)
    );
    let mut rows = vec![
        // Batches: removed from MCP, still executed by some servers.
        row(
            "batch of two messages (JSON array)",
            Req::post(fin, format!("[{PING},{GET_BALANCE}]")),
            malformed(INVALID),
        ),
        row(
            "batch of one message",
            Req::post(fin, format!("[{PING}]")),
            malformed(INVALID),
        ),
        row(
            "batch whose first element is an allowed get_balance call",
            Req::post(fin, format!("[{GET_BALANCE},{DELETE}]")),
            malformed(INVALID),
        ),
        row("empty batch", Req::post(fin, "[]"), malformed(INVALID)),
        row("a JSON null", Req::post(fin, "null"), malformed(INVALID)),
        row(
            "a JSON string",
            Req::post(fin, r#""tools/call""#),
            malformed(INVALID),
        ),
        row("a JSON number", Req::post(fin, "1"), malformed(INVALID)),
        // Not UTF-8.
        row(
            "not UTF-8: a 0xFF byte inside the method",
            Req::post(none, b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pi\xffng\"}"),
            malformed(PARSE),
        ),
        row(
            "not UTF-8: a cut sequence inside a key",
            Req::post(
                none,
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"meth\xc3od\":\"x\",\"method\":\"ping\"}",
            ),
            malformed(PARSE),
        ),
        row(
            "not UTF-8: a Latin-1 tool name",
            Req::post(
                fin,
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"get_bal\xe9nce\"}}",
            ),
            malformed(PARSE),
        ),
        row(
            "not UTF-8: UTF-16LE with a byte-order mark",
            Req::post(none, utf16le(PING)),
            malformed(PARSE),
        ),
        row(
            "a UTF-8 byte-order mark before the object",
            Req::post(none, [&b"\xef\xbb\xbf"[..], PING.as_bytes()].concat()),
            malformed(PARSE),
        ),
        row(
            "a lone surrogate escape in the method",
            Req::post(none, r#"{"jsonrpc":"2.0","id":1,"method":"ping\ud800"}"#),
            malformed(PARSE),
        ),
        // Not JSON.
        row(
            "invalid JSON: not JSON at all",
            Req::post(fin, "tools/call get_balance"),
            malformed(PARSE),
        ),
        row(
            "invalid JSON: single quotes",
            Req::post(none, "{'jsonrpc':'2.0','id':1,'method':'ping'}"),
            malformed(PARSE),
        ),
        row(
            "invalid JSON: a trailing comma",
            Req::post(none, r#"{"jsonrpc":"2.0","id":1,"method":"ping",}"#),
            malformed(PARSE),
        ),
        row(
            "invalid JSON: a comment",
            Req::post(none, r#"{/* c */"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            malformed(PARSE),
        ),
        row(
            "invalid JSON: NaN as the id",
            Req::post(none, r#"{"jsonrpc":"2.0","id":NaN,"method":"ping"}"#),
            malformed(PARSE),
        ),
        row(
            "truncated JSON: inside a string",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_bal"#,
            ),
            malformed(PARSE),
        ),
        row(
            "truncated JSON: the object never closed",
            Req::post(none, r#"{"jsonrpc":"2.0","id":1,"method":"ping""#),
            malformed(PARSE),
        ),
        row(
            "empty body (Content-Length: 0)",
            Req::post(fin, ""),
            malformed(PARSE),
        ),
        row(
            "empty body (no framing header)",
            Req::post(fin, "").framed(Framing::AsIs),
            malformed(PARSE),
        ),
        row(
            "a body of blanks only",
            Req::post(fin, " \r\n\t "),
            malformed(PARSE),
        ),
        row(
            "trailing garbage after the object",
            Req::post(none, format!("{PING} x")),
            malformed(PARSE),
        ),
        row(
            "a second message right after the first",
            Req::post(adm, format!("{PING}{DELETE}")),
            malformed(PARSE),
        ),
        row(
            "a second message after a newline",
            Req::post(adm, format!("{PING}\n{DELETE}")),
            malformed(PARSE),
        ),
        // Duplicate keys.
        row(
            "duplicate key at the top: method",
            Req::post(
                adm,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"delete_customer"}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "duplicate key at the top: id",
            Req::post(none, r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#),
            malformed(INVALID),
        ),
        row(
            "duplicate key: params.name",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","name":"delete_customer"}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "duplicate key deep inside the arguments",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","arguments":{"account":"a","filter":{"range":{"from":1,"from":2}}}}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "duplicate key: arguments.amount",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_payout","arguments":{"amount":1,"amount":20000}}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "duplicate key written with a unicode escape: \\u006dethod",
            Req::post(
                adm,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","\u006dethod":"tools/call","params":{"name":"delete_customer","arguments":{"customer_id":"c"}}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "duplicate key written with a unicode escape: \\u006eame",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","\u006eame":"delete_customer"}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "duplicate key written with a unicode escape: \\u0061mount",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_payout","arguments":{"account":"acc-1","amount":1,"\u0061mount":20000,"currency":"EUR"}}}"#,
            ),
            malformed(INVALID),
        ),
        // jsonrpc.
        row(
            "jsonrpc missing",
            Req::post(none, r#"{"id":1,"method":"ping"}"#),
            malformed(INVALID),
        ),
        row(
            "jsonrpc \"1.0\"",
            Req::post(none, r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            malformed(INVALID),
        ),
        row(
            "jsonrpc 2.0 as a number",
            Req::post(none, r#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#),
            malformed(INVALID),
        ),
        row(
            "jsonrpc null",
            Req::post(none, r#"{"jsonrpc":null,"id":1,"method":"ping"}"#),
            malformed(INVALID),
        ),
        // method, params, name, id.
        row(
            "method an array",
            Req::post(fin, r#"{"jsonrpc":"2.0","id":1,"method":["tools/call"]}"#),
            malformed(INVALID),
        ),
        row(
            "method a number",
            Req::post(none, r#"{"jsonrpc":"2.0","id":1,"method":7}"#),
            malformed(INVALID),
        ),
        row(
            "method null",
            Req::post(none, r#"{"jsonrpc":"2.0","id":1,"method":null}"#),
            malformed(INVALID),
        ),
        row(
            "params an array",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["get_balance"]}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "params a string",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"get_balance"}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "params.arguments an array",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance","arguments":["acc-1"]}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "params.name an array",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["get_balance"]}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "params.name a number",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "params.uri a number",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":1}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "id an object",
            Req::post(none, r#"{"jsonrpc":"2.0","id":{"n":1},"method":"ping"}"#),
            malformed(INVALID),
        ),
        row(
            "id a boolean",
            Req::post(none, r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#),
            malformed(INVALID),
        ),
        row(
            "neither a request nor a response",
            Req::post(none, r#"{"jsonrpc":"2.0","id":1}"#),
            malformed(INVALID),
        ),
        row(
            "a response with both result and error",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","id":"s-1","result":{},"error":{"code":1,"message":"x"}}"#,
            ),
            malformed(INVALID),
        ),
        row(
            "nesting deeper than 64 levels inside the arguments",
            Req::post(fin, deep),
            malformed(INVALID),
        ),
        // Mcp-Method and Mcp-Name headers.
        row(
            "Mcp-Method differs from the body's method",
            Req::post(adm, DELETE).with("Mcp-Method: tools/list"),
            malformed(INVALID),
        ),
        row(
            "Mcp-Method differs from the body's method only in case",
            Req::post(fin, GET_BALANCE).with("Mcp-Method: Tools/Call"),
            malformed(INVALID),
        ),
        row(
            "Mcp-Name differs from params.name",
            Req::post(adm, DELETE)
                .with("Mcp-Method: tools/call")
                .with("Mcp-Name: get_balance"),
            malformed(INVALID),
        ),
        row(
            "Mcp-Name on a message that names nothing",
            Req::post(none, PING).with("Mcp-Name: get_balance"),
            malformed(INVALID),
        ),
        row(
            "Mcp-Method repeated (both agreeing with the body)",
            Req::post(fin, GET_BALANCE)
                .with("Mcp-Method: tools/call")
                .with("Mcp-Method: tools/call"),
            malformed(INVALID),
        ),
        row(
            "Mcp-Method repeated (one disagreeing)",
            Req::post(adm, DELETE)
                .with("Mcp-Method: tools/call")
                .with("Mcp-Method: tools/list"),
            malformed(INVALID),
        ),
        row(
            "Mcp-Name repeated",
            Req::post(fin, GET_BALANCE)
                .with("Mcp-Name: get_balance")
                .with("Mcp-Name: get_balance"),
            malformed(INVALID),
        ),
    ];
    rows.extend(key_variant_rows());
    rows
}
