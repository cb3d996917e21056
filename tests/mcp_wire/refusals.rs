//! Oversized and cut transfers, and well-formed messages the policy refuses.

use super::*;

/// Bodies over `limits.max_body_bytes` (the default) and transfers cut short.
pub(crate) fn transfer_rows() -> Vec<Row> {
    let fin: &[&[&str]] = &[FINANCE, APPROVED];
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"get_balance","arguments":{{"account":"acc-1","pad":"{}"}}}}}}"#,
        "x".repeat(DEFAULT_MAX_BODY_BYTES)
    );
    let mut chunked = Vec::new();
    for c in big.as_bytes().chunks(64 * 1024) {
        chunked.extend(format!("{:x}\r\n", c.len()).into_bytes());
        chunked.extend_from_slice(c);
        chunked.extend(b"\r\n");
    }
    chunked.extend(b"0\r\n\r\n");
    // Over the limit: 413 and the plain decision (the body is never read whole, so there
    // is no message, and no id, to answer; README "Malformed messages").
    let over = Want::Refused(Refused {
        status: 413,
        shape: Shape::Plain,
        verdict: "DENY",
        issues: &["INVALID_REQUEST"],
        questions: &[],
        route: SERVER,
    });
    // The body could not be read: 400 and the plain decision (no message was read, so
    // there is no JSON-RPC request to answer).
    let cut = plain(400, "DENY", &["INVALID_REQUEST"], SERVER);
    let half = &GET_BALANCE[..GET_BALANCE.len() / 2];
    vec![
        row(
            "body over max_body_bytes: declared, head sent alone",
            Req::post(fin, "")
                .with(&format!("Content-Length: {}", big.len()))
                .framed(Framing::HeadOnly),
            over.clone(),
        ),
        row(
            "body over max_body_bytes: declared and sent",
            Req::post(fin, &big)
                .with(&format!("Content-Length: {}", big.len()))
                .framed(Framing::Streamed),
            over.clone(),
        ),
        row(
            "body over max_body_bytes: chunked",
            Req::post(fin, &chunked)
                .with("Transfer-Encoding: chunked")
                .framed(Framing::Streamed),
            over,
        ),
        row(
            "Content-Length promises more than is sent before the client half-closes",
            Req::post(fin, half)
                .with(&format!("Content-Length: {}", GET_BALANCE.len()))
                .framed(Framing::HalfClose),
            cut.clone(),
        ),
        row(
            "Content-Length promises more than a whole message before the half-close",
            Req::post(fin, GET_BALANCE)
                .with(&format!("Content-Length: {}", GET_BALANCE.len() + 40))
                .framed(Framing::HalfClose),
            cut.clone(),
        ),
        row(
            "chunked body cut mid-chunk before the half-close",
            Req::post(fin, format!("{:x}\r\n{half}", GET_BALANCE.len()))
                .with("Transfer-Encoding: chunked")
                .framed(Framing::HalfClose),
            cut.clone(),
        ),
        row(
            "chunked body of a whole message without its last chunk before the half-close",
            Req::post(fin, format!("{:x}\r\n{GET_BALANCE}\r\n", GET_BALANCE.len()))
                .with("Transfer-Encoding: chunked")
                .framed(Framing::HalfClose),
            cut,
        ),
    ]
}

/// Well-formed messages the policy refuses: as requests (ids of every kind), then as
/// notifications.
pub(crate) fn refusal_rows() -> Vec<Row> {
    let fin: &[&[&str]] = &[FINANCE, APPROVED];
    let fin_unapproved: &[&[&str]] = &[FINANCE];
    let none: &[&[&str]] = &[];
    let unmapped = |id: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"wire_money","arguments":{{"amount":1}}}}}}"#
        )
    };
    let payout = |id: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"create_payout","arguments":{{"account":"acc-1","amount":250,"currency":"EUR"}}}}}}"#
        )
    };
    let delete = |id: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"delete_customer","arguments":{{"customer_id":"cus-9"}}}}}}"#
        )
    };
    const NOT_MAPPED: &[&str] = &["ROUTE_NOT_MAPPED"];
    const ROLE: &[&str] = &["ROLE_NOT_AUTHORIZED"];
    let deny = |id: Value, issues, route| rpc(200, "DENY", id, issues, route);
    let defer = |id: Value| rpc(200, "DEFER", id, UNAPPROVED, "create_payout");
    vec![
        // Requests: HTTP 200 and a JSON-RPC error with the request's id.
        row(
            "unmapped tool, number id",
            Req::post(fin, unmapped("1")),
            deny(json!(1), NOT_MAPPED, SERVER),
        ),
        row(
            "unmapped tool, string id",
            Req::post(fin, unmapped(r#""req-abc""#)),
            deny(json!("req-abc"), NOT_MAPPED, SERVER),
        ),
        row(
            "unmapped tool, id 0",
            Req::post(fin, unmapped("0")),
            deny(json!(0), NOT_MAPPED, SERVER),
        ),
        row(
            "resources/read",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}"#,
            ),
            deny(json!(4), NOT_MAPPED, SERVER),
        ),
        row(
            "prompts/get",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","id":"p-5","method":"prompts/get","params":{"name":"x"}}"#,
            ),
            deny(json!("p-5"), NOT_MAPPED, SERVER),
        ),
        row(
            "unknown method",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","id":6,"method":"sampling/createMessage","params":{}}"#,
            ),
            deny(json!(6), NOT_MAPPED, SERVER),
        ),
        row(
            "Tools/Call (method names compare exactly)",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":0,"method":"Tools/Call","params":{"name":"get_balance","arguments":{"account":"a"}}}"#,
            ),
            deny(json!(0), NOT_MAPPED, SERVER),
        ),
        row(
            "\"tools/call \" (a trailing blank in the method)",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/call ","params":{"name":"get_balance","arguments":{"account":"a"}}}"#,
            ),
            deny(json!(7), NOT_MAPPED, SERVER),
        ),
        row(
            "delete_customer by a finance_operator, number id",
            Req::post(fin, delete("1")),
            deny(json!(1), ROLE, "delete_customer"),
        ),
        row(
            "delete_customer by a finance_operator, string id",
            Req::post(fin, delete(r#""del-1""#)),
            deny(json!("del-1"), ROLE, "delete_customer"),
        ),
        row(
            "get_balance by a release_manager",
            Req::post(&[RELEASE], GET_BALANCE),
            deny(json!(1), ROLE, "get_balance"),
        ),
        row(
            "create_payout over max_amount, approved",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"create_payout","arguments":{"account":"acc-1","amount":20000,"currency":"EUR"}}}"#,
            ),
            deny(json!("big"), &["AMOUNT_LIMIT_EXCEEDED"], "create_payout"),
        ),
        row(
            "create_payout with an amount that is not a number",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"create_payout","arguments":{"account":"acc-1","amount":"lots","currency":"EUR"}}}"#,
            ),
            deny(json!(8), &["INVALID_REQUEST"], "create_payout"),
        ),
        row(
            "create_payout without approval, number id",
            Req::post(fin_unapproved, payout("1")),
            defer(json!(1)),
        ),
        row(
            "create_payout without approval, string id with an escaped quote",
            Req::post(fin_unapproved, payout(r#""pay-\"q\"""#)),
            defer(json!("pay-\"q\"")),
        ),
        row(
            "create_payout without approval, id 0",
            Req::post(fin_unapproved, payout("0")),
            defer(json!(0)),
        ),
        row(
            "create_payout without approval, negative id",
            Req::post(fin_unapproved, payout("-3")),
            defer(json!(-3)),
        ),
        row(
            "create_payout without approval, fractional id",
            Req::post(fin_unapproved, payout("1.5")),
            defer(json!(1.5)),
        ),
        row(
            "create_payout without approval, id beyond 2^53",
            Req::post(fin_unapproved, payout("9007199254740993")),
            defer(json!(9007199254740993u64)),
        ),
        row(
            "create_payout without approval, empty string id",
            Req::post(fin_unapproved, payout(r#""""#)),
            defer(json!("")),
        ),
        // Notifications: nothing to answer in JSON-RPC; the refusal's status and decision.
        row(
            "notification: unmapped tool",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"wire_money","arguments":{"amount":1}}}"#,
            ),
            plain(403, "DENY", NOT_MAPPED, SERVER),
        ),
        row(
            "notification: resources/read",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","method":"resources/read","params":{"uri":"file:///etc/passwd"}}"#,
            ),
            plain(403, "DENY", NOT_MAPPED, SERVER),
        ),
        row(
            "notification: unknown method",
            Req::post(
                none,
                r#"{"jsonrpc":"2.0","method":"notifications/unknown"}"#,
            ),
            plain(403, "DENY", NOT_MAPPED, SERVER),
        ),
        row(
            "notification: Tools/Call",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","method":"Tools/Call","params":{"name":"get_balance"}}"#,
            ),
            plain(403, "DENY", NOT_MAPPED, SERVER),
        ),
        row(
            "notification: delete_customer by a finance_operator",
            Req::post(
                fin,
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_customer","arguments":{"customer_id":"cus-9"}}}"#,
            ),
            plain(403, "DENY", ROLE, "delete_customer"),
        ),
        row(
            "notification: create_payout without approval",
            Req::post(
                fin_unapproved,
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"create_payout","arguments":{"account":"acc-1","amount":250,"currency":"EUR"}}}"#,
            ),
            plain(409, "DEFER", UNAPPROVED, "create_payout"),
        ),
    ]
}
