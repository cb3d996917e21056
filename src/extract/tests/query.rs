//! The query string (decoding, repeated keys, keys spelled another way, keys hidden after
//! `;`) and the route's path parameters.

use super::*;

#[rustfmt::skip]
fn query_rows() -> Vec<Row> {
    let five = || ok_other(facts!(amount: Some(5.0)), &[("amount", "5")]);
    let repeated = "query parameter amount: repeated";
    vec![
        row("query value", AMOUNT_Q, q("x=1&amount=5&y"), five()),
        row("no query", AMOUNT_Q, Req::default(), nothing()),
        row("key without value", AMOUNT_Q, q("amount"), nothing()),
        row("empty value", AMOUNT_Q, q("amount="), nothing()),
        row("empty pairs", AMOUNT_Q, q("&&amount=5&"), five()),
        row("repeated key", AMOUNT_Q, q("amount=5&amount=500"), Err(repeated)),
        row("repeated key, first empty", AMOUNT_Q, q("amount=&amount=500"), Err(repeated)),
        // A key some framework would read as the one the policy reads.
        row("escaped spelling of a key", AMOUNT_Q, q("%61mount=500"),
            Err("query parameter amount: also spelled \"%61mount\"")),
        row("case spelling of a key", AMOUNT_Q, q("amount=5&Amount=500"),
            Err("query parameter amount: also spelled \"Amount\"")),
        row("PHP array spelling of a key", AMOUNT_Q, q("amount[]=500"),
            Err("query parameter amount: also spelled \"amount[]\"")),
        row("padded spelling of a key", AMOUNT_Q, q("amount+=500"),
            Err("query parameter amount: also spelled \"amount+\"")),
        row("NUL-cut spelling of a key", AMOUNT_Q, q("amount%00x=500"),
            Err("query parameter amount: also spelled \"amount%00x\"")),
        row("PHP dot mangling", RUN_Q, q("run.id=r-2"), Err("query parameter run_id: also spelled \"run.id\"")),
        // Some stacks split pairs at `;` too.
        row("key hidden after ';' in a value", AMOUNT_Q, q("x=1;amount=500"),
            Err("query parameter amount: hidden after ';' in \"x=1;amount=500\"")),
        row("key hidden after ';' in a key", AMOUNT_Q, q("x;amount=500"),
            Err("query parameter amount: hidden after ';' in \"x;amount=500\"")),
        row("second value hidden after ';'", AMOUNT_Q, q("amount=5;amount=500"),
            Err("query parameter amount: hidden after ';' in \"amount=5;amount=500\"")),
        row("';' in an unrelated pair", AMOUNT_Q, q("x=1;y=2&amount=5"), five()),
        // Decoding.
        row("plus and escapes decode", ACTOR_Q, q("actor=a+b%20c%2Bd%C3%A9"),
            ok(facts!(actor: Some(Cow::Owned("a b c+dé".into()))))),
        row("value not UTF-8", ACTOR_Q, q("actor=%FF"),
            Err("query parameter \"actor\": not valid UTF-8 once decoded")),
        row("unread key not UTF-8", ACTOR_Q, q("%C0%AF=1&actor=bob"),
            Err("query parameter \"%C0%AF\": not valid UTF-8 once decoded")),
        row("control character in a value", ACTOR_Q, q("actor=bob%00admin"),
            Err("query parameter actor (actor): control or invisible character in value")),
    ]
}

#[test]
fn query() {
    run("query", query_rows());
}

#[rustfmt::skip]
fn param_rows() -> Vec<Row> {
    const TENANT: Spec = &[("ticket_id", &["param:id"])];
    let tenant = |path: &str| at("/tenants/{id}", path);
    vec![
        row("param", TENANT, tenant("/tenants/t-1"), ok(facts!(ticket_id: t("t-1")))),
        row("param with kept escapes", TENANT, tenant("/tenants/caf%C3%A9%20x"),
            ok(facts!(ticket_id: Some(Cow::Owned("café x".into()))))),
        row("param not UTF-8", TENANT, tenant("/tenants/%FF"),
            Err("path parameter id: not valid UTF-8 once decoded")),
        row("param absent from the route", &[("ticket_id", &["param:other"])], tenant("/tenants/t-1"),
            nothing()),
        row("catch-all param", &[("current_tool", &["param:rest"])], at("/files/{*rest}", "/files/a/b"),
            ok(facts!(current_tool: t("a/b")))),
    ]
}

#[test]
fn path_params() {
    run("path parameters", param_rows());
}

#[test]
fn route_params_from_the_route_table() {
    use crate::classify::router::RouteTable;
    let get = http::Method::GET;
    let table = RouteTable::build([(&get, "/db/v1/tenants/{id}")]).unwrap();
    let m = map(&[("ticket_id", &["param:id"])], "amount");
    let headers = HeaderMap::new();
    let path = String::from("/db/v1/tenants/t-9");
    let found = table.find(&get, &path).unwrap();
    let view = RequestView {
        headers: &headers,
        params: &found.params,
        query: None,
        body: None,
    };
    assert_eq!(
        extract(&m, &view).unwrap().facts.ticket_id.as_deref(),
        Some("t-9")
    );
}
