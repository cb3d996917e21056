use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

#[test]
fn messages_read_as_every_json_rpc_server_reads_them() {
    let call = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"create_payout","arguments":{"amount":5}}}"#;
    let m = parse(call.as_bytes(), &HeaderMap::new()).unwrap();
    assert_eq!(m.kind, Kind::Request);
    assert_eq!(m.id.as_deref(), Some("7"));
    assert_eq!(m.method.as_deref(), Some("tools/call"));
    assert_eq!(m.name.as_deref(), Some("create_payout"));
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(
        parse(note.as_bytes(), &HeaderMap::new()).unwrap().kind,
        Kind::Notification
    );
    let answer = r#"{"jsonrpc":"2.0","id":"s-1","result":{}}"#;
    let m = parse(answer.as_bytes(), &HeaderMap::new()).unwrap();
    assert_eq!((m.kind, m.id.as_deref()), (Kind::Response, Some("\"s-1\"")));
    let read = r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"ledger://a/entries"}}"#;
    assert_eq!(
        parse(read.as_bytes(), &HeaderMap::new())
            .unwrap()
            .uri
            .as_deref(),
        Some("ledger://a/entries")
    );
}

#[test]
fn every_malformed_class_is_refused_with_its_code() {
    let cases: &[(&str, &str, i32)] = &[
        (
            "a batch",
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            -32600,
        ),
        ("not JSON", "{\"jsonrpc\":", -32700),
        (
            "truncated",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x""#,
            -32700,
        ),
        (
            "duplicate method",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#,
            -32600,
        ),
        (
            "duplicate name",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
            -32600,
        ),
        (
            "duplicate deep key",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":{"y":1,"y":2}}}}"#,
            -32600,
        ),
        (
            "Method in case",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}"#,
            -32600,
        ),
        (
            "padded name",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"," name":"b"}}"#,
            -32600,
        ),
        (
            "NUL-cut params",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\\u0000x\":{}}",
            -32600,
        ),
        (
            "ARGUMENTS in case",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","ARGUMENTS":{}}}"#,
            -32600,
        ),
        ("no jsonrpc", r#"{"id":1,"method":"ping"}"#, -32600),
        (
            "jsonrpc 1.0",
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            -32600,
        ),
        (
            "method not a string",
            r#"{"jsonrpc":"2.0","id":1,"method":["tools/call"]}"#,
            -32600,
        ),
        (
            "name not a string",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
            -32600,
        ),
        (
            "params not an object",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}"#,
            -32600,
        ),
        (
            "arguments not an object",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[1]}}"#,
            -32600,
        ),
        (
            "id an object",
            r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
            -32600,
        ),
        (
            "neither request nor response",
            r#"{"jsonrpc":"2.0","id":1}"#,
            -32600,
        ),
        (
            "escaped duplicate method",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","\u006dethod":"tools/call"}"#,
            -32600,
        ),
        (
            "escaped Method in case",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","\u004Dethod":"tools/call"}"#,
            -32600,
        ),
        (
            "lone surrogate in a key",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","\ud800":1}"#,
            -32700,
        ),
        (
            "byte order mark",
            "\u{feff}{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
            -32700,
        ),
        (
            "trailing data",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"} {}"#,
            -32700,
        ),
        (
            "params a number, spelled past f64",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":1.00000000000000001}"#,
            -32600,
        ),
        (
            "arguments a number",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":2.5}}"#,
            -32600,
        ),
        (
            "imprecise number deep in the arguments",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"n":1e400}}}"#,
            -32700,
        ),
    ];
    let not_utf8: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xffing\"}";
    let mut all: Vec<(&str, &[u8], i32)> = cases
        .iter()
        .map(|(n, b, c)| (*n, b.as_bytes(), *c))
        .collect();
    all.push(("not UTF-8", not_utf8, -32700));
    let mut bad = Vec::new();
    for (name, body, code) in &all {
        match parse(body, &HeaderMap::new()) {
            Ok(m) => bad.push(format!("{name}: accepted as {m:?}")),
            Err(e) if e.code() != *code => bad.push(format!("{name}: {e:?}, want {code}")),
            Err(_) => {}
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn mcp_headers_must_say_what_the_body_says() {
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance"}}"#;
    let ok = headers(&[("mcp-method", "tools/call"), ("mcp-name", "get_balance")]);
    assert!(parse(call, &ok).is_ok());
    for h in [
        headers(&[("mcp-method", "tools/list")]),
        headers(&[("mcp-name", "delete_customer")]),
        headers(&[("mcp-method", "tools/call"), ("mcp-method", "tools/call")]),
        headers(&[("mcp-method", "Tools/Call")]),
    ] {
        assert!(
            matches!(parse(call, &h), Err(Malformed::Invalid(_))),
            "{h:?}"
        );
    }
}

#[test]
fn arguments_are_canonical_whatever_their_order_and_spacing() {
    let a = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"b":1.0,"a":"\u0041"}}}"#;
    let b = br#"{"id":9,"params":{"arguments":{ "a" : "A", "b" : 1 },"name":"x"},"method":"tools/call","jsonrpc":"2.0"}"#;
    assert_eq!(canonical_arguments(a), canonical_arguments(b));
    assert_eq!(canonical_arguments(a).unwrap(), br#"{"a":"A","b":1}"#);
    let none = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#;
    assert_eq!(canonical_arguments(none).unwrap(), b"{}");
}
