//! Table tests of context extraction: every source, every conversion, every refusal.

use super::context::*;
use super::json as body;
use super::read::*;
use crate::policy::IssueSet;
use crate::policy::{Facts, IssueCode};
use http::HeaderValue;
use http::{HeaderMap, HeaderName};
use jiff::Timestamp;
use std::borrow::Cow;

fn source(spec: &str) -> Source {
    let (kind, arg) = spec.split_once(':').expect("kind:arg");
    match kind {
        "header" => Source::Header(HeaderName::from_bytes(arg.as_bytes()).unwrap()),
        "param" => Source::Param(arg.into()),
        "query" => Source::Query(arg.into()),
        "body" => Source::parse_pointer(arg).unwrap(),
        _ => panic!("unknown source kind {kind}"),
    }
}

fn map(fields: &[(&str, &[&str])], amount: &str) -> ContextMap {
    ContextMap::compile(
        fields
            .iter()
            .map(|(f, s)| (Field::parse(f), s.iter().map(|s| source(s)).collect()))
            .collect(),
        amount,
    )
}

/// A request: headers (raw bytes), a route template and path, a query, a body.
#[derive(Clone, Copy, Default)]
struct Req<'x> {
    headers: &'x [(&'x str, &'x [u8])],
    route: Option<(&'x str, &'x str)>,
    query: Option<&'x str>,
    body: Option<&'x str>,
}

fn with_request<R>(
    m: &ContextMap,
    req: Req<'_>,
    f: impl FnOnce(Result<Extracted<'_>, ExtractError>) -> R,
) -> R {
    let mut headers = HeaderMap::new();
    for (name, value) in req.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let mut router = matchit::Router::new();
    let (template, path) = req.route.unwrap_or(("/", "/"));
    router.insert(template, ()).unwrap();
    let matched = router.at(path).expect("route matches");
    let view = RequestView {
        headers: &headers,
        params: &matched.params,
        query: req.query,
        body: req.body.map(str::as_bytes),
    };
    f(extract(m, &view))
}

type Want = Result<(Facts<'static>, Vec<(&'static str, &'static str)>), &'static str>;

struct Case {
    name: &'static str,
    fields: &'static [(&'static str, &'static [&'static str])],
    amount: &'static str,
    req: Req<'static>,
    want: Want,
}

fn facts() -> Facts<'static> {
    Facts::default()
}

fn ts(s: &str) -> Option<Timestamp> {
    Some(s.parse().unwrap())
}

fn issues(codes: &[IssueCode]) -> IssueSet {
    codes.iter().copied().collect()
}

fn t(s: &'static str) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(s))
}

fn h(headers: &'static [(&'static str, &'static [u8])]) -> Req<'static> {
    Req {
        headers,
        ..Req::default()
    }
}

fn q(query: &'static str) -> Req<'static> {
    Req {
        query: Some(query),
        ..Req::default()
    }
}

fn b(body: &'static str) -> Req<'static> {
    Req {
        body: Some(body),
        ..Req::default()
    }
}

fn run_cases(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        let m = map(case.fields, case.amount);
        let got = with_request(&m, case.req, |r| match r {
            Ok(x) => {
                let other: Vec<(String, String)> = x
                    .other
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                Ok((format!("{:?}", x.facts), other))
            }
            Err(e) => Err(e.to_string()),
        });
        let want = match &case.want {
            Ok((f, o)) => Ok((
                format!("{f:?}"),
                o.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )),
            Err(e) => Err(e.to_string()),
        };
        if got != want {
            failures.push(format!("{}:\n   got {got:?}\n  want {want:?}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const ROLE_H: &[(&str, &[&str])] = &[("actor_role", &["header:x-actor-role"])];
const ITER_H: &[(&str, &[&str])] = &[("current_iteration", &["header:x-iteration"])];
const ELAPSED_H: &[(&str, &[&str])] = &[("elapsed_seconds", &["header:x-elapsed"])];
const AMOUNT_H: &[(&str, &[&str])] = &[("amount", &["header:x-amount"])];
const AMOUNT_Q: &[(&str, &[&str])] = &[("amount", &["query:amount"])];
const AMOUNT_B: &[(&str, &[&str])] = &[("amount", &["body:/amount"])];
const ACTOR_Q: &[(&str, &[&str])] = &[("actor", &["query:actor"])];
const ACTOR_B: &[(&str, &[&str])] = &[("actor", &["body:/actor"])];
const ENV_HQ: &[(&str, &[&str])] = &[("environment", &["header:x-env", "query:env"])];
const ACTOR_HB: &[(&str, &[&str])] = &[("actor", &["header:x-actor", "body:/actor"])];
const AMOUNT_HB: &[(&str, &[&str])] = &[("amount", &["header:x-amount", "body:/amount"])];
const ITER_HB: &[(&str, &[&str])] = &[("current_iteration", &["header:x-iteration", "body:/it"])];
const RUN_Q: &[(&str, &[&str])] = &[("run_id", &["query:run_id"])];

#[test]
fn header_sources() {
    let e = "header x-iteration (current_iteration): expected a non-negative integer";
    let e_el = "header x-elapsed (elapsed_seconds): expected a non-negative number";
    let nines: &'static [u8] = "9".repeat(400).leak().as_bytes();
    let cases = vec![
        Case {
            name: "text header, borrowed",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"admin")]),
            want: Ok((Facts { actor_role: t("admin"), ..facts() }, vec![])),
        },
        Case {
            name: "absent header",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-other", b"admin")]),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "empty header is absent",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"")]),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "UTF-8 header value",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"Jos\xc3\xa9")]),
            want: Ok((Facts { actor_role: t("José"), ..facts() }, vec![])),
        },
        Case {
            name: "repeated header",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"viewer"), ("x-actor-role", b"admin")]),
            want: Err("header x-actor-role: repeated"),
        },
        Case {
            name: "repeated header, one empty",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b""), ("x-actor-role", b"admin")]),
            want: Err("header x-actor-role: repeated"),
        },
        Case {
            name: "tab in header value",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"ad\tmin")]),
            want: Err("header x-actor-role: value is not clean text (control or invisible character, or invalid UTF-8)"),
        },
        Case {
            name: "obs-text that is not UTF-8",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"adm\xffin")]),
            want: Err("header x-actor-role: value is not clean text (control or invisible character, or invalid UTF-8)"),
        },
        Case {
            name: "C1 control (U+0085) in header value",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"ad\xc2\x85min")]),
            want: Err("header x-actor-role: value is not clean text (control or invisible character, or invalid UTF-8)"),
        },
        Case {
            name: "zero-width space in header value",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"adm\xe2\x80\x8bin")]),
            want: Err("header x-actor-role: value is not clean text (control or invisible character, or invalid UTF-8)"),
        },
        Case {
            name: "unread header may be dirty",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"admin"), ("x-other", b"a\tb"), ("x-other", b"c")]),
            want: Ok((Facts { actor_role: t("admin"), ..facts() }, vec![])),
        },
        Case {
            name: "underscore alias alone",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x_actor_role", b"admin")]),
            want: Err("header x_actor_role: refused, an underscore alias of header x-actor-role"),
        },
        Case {
            name: "underscore alias next to the header",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"viewer"), ("x-actor_role", b"admin")]),
            want: Err("header x-actor_role: refused, an underscore alias of header x-actor-role"),
        },
        Case {
            name: "underscore in an unrelated header",
            fields: ROLE_H,
            amount: "amount",
            req: h(&[("x-actor-role", b"viewer"), ("x_trace_id", b"1")]),
            want: Ok((Facts { actor_role: t("viewer"), ..facts() }, vec![])),
        },
        Case {
            name: "dash alias of an underscore header",
            fields: &[("actor_role", &["header:x_actor_role"])],
            amount: "amount",
            req: h(&[("x-actor-role", b"admin")]),
            want: Err("header x-actor-role: refused, an underscore alias of header x_actor_role"),
        },
        Case {
            name: "count",
            fields: ITER_H,
            amount: "amount",
            req: h(&[("x-iteration", b"12")]),
            want: Ok((Facts { current_iteration: Some(12), ..facts() }, vec![])),
        },
        Case { name: "negative count", fields: ITER_H, amount: "amount", req: h(&[("x-iteration", b"-1")]), want: Err(e) },
        Case { name: "signed count", fields: ITER_H, amount: "amount", req: h(&[("x-iteration", b"+1")]), want: Err(e) },
        Case { name: "fractional count", fields: ITER_H, amount: "amount", req: h(&[("x-iteration", b"1.0")]), want: Err(e) },
        Case { name: "count with blank", fields: ITER_H, amount: "amount", req: h(&[("x-iteration", b"1 2")]), want: Err(e) },
        Case {
            name: "count overflowing u64",
            fields: ITER_H,
            amount: "amount",
            req: h(&[("x-iteration", b"18446744073709551616")]),
            want: Err(e),
        },
        Case {
            name: "quantity",
            fields: ELAPSED_H,
            amount: "amount",
            req: h(&[("x-elapsed", b"1.5")]),
            want: Ok((Facts { elapsed_seconds: Some(1.5), ..facts() }, vec![])),
        },
        Case { name: "quantity exponent", fields: ELAPSED_H, amount: "amount", req: h(&[("x-elapsed", b"1e3")]), want: Err(e_el) },
        Case { name: "quantity inf", fields: ELAPSED_H, amount: "amount", req: h(&[("x-elapsed", b"inf")]), want: Err(e_el) },
        Case { name: "quantity NaN", fields: ELAPSED_H, amount: "amount", req: h(&[("x-elapsed", b"NaN")]), want: Err(e_el) },
        Case { name: "quantity .5", fields: ELAPSED_H, amount: "amount", req: h(&[("x-elapsed", b".5")]), want: Err(e_el) },
        Case { name: "quantity 1.", fields: ELAPSED_H, amount: "amount", req: h(&[("x-elapsed", b"1.")]), want: Err(e_el) },
        Case { name: "quantity negative", fields: ELAPSED_H, amount: "amount", req: h(&[("x-elapsed", b"-1")]), want: Err(e_el) },
        Case { name: "quantity hex", fields: ELAPSED_H, amount: "amount", req: h(&[("x-elapsed", b"0x10")]), want: Err(e_el) },
        Case {
            name: "quantity overflowing f64",
            fields: ELAPSED_H,
            amount: "amount",
            req: h(vec![("x-elapsed", nines)].leak()),
            want: Err(e_el),
        },
        Case {
            name: "timestamp",
            fields: &[("approved_at", &["header:x-approved-at"])],
            amount: "amount",
            req: h(&[("x-approved-at", b"2026-03-14T09:30:00Z")]),
            want: Ok((Facts { approved_at: ts("2026-03-14T09:30:00Z"), ..facts() }, vec![])),
        },
        Case {
            name: "timestamp with offset",
            fields: &[("approved_at", &["header:x-approved-at"])],
            amount: "amount",
            req: h(&[("x-approved-at", b"2026-03-14T10:30:00+01:00")]),
            want: Ok((Facts { approved_at: ts("2026-03-14T09:30:00Z"), ..facts() }, vec![])),
        },
        Case {
            name: "bad timestamp",
            fields: &[("approved_at", &["header:x-approved-at"])],
            amount: "amount",
            req: h(&[("x-approved-at", b"yesterday")]),
            want: Err("header x-approved-at (approved_at): expected an RFC 3339 timestamp such as 2026-03-14T09:30:00Z"),
        },
        Case {
            name: "mfa spelling",
            fields: &[("mfa", &["header:x-mfa"])],
            amount: "amount",
            req: h(&[("x-mfa", b"Yes")]),
            want: Ok((Facts { mfa: Some(true), ..facts() }, vec![])),
        },
        Case {
            name: "mfa not a boolean",
            fields: &[("mfa", &["header:x-mfa"])],
            amount: "amount",
            req: h(&[("x-mfa", b"maybe")]),
            want: Err("header x-mfa (mfa): expected a boolean"),
        },
        Case {
            name: "rollback plan reference",
            fields: &[("rollback_plan", &["header:x-rollback"])],
            amount: "amount",
            req: h(&[("x-rollback", b"https://runbooks/42")]),
            want: Ok((Facts { rollback_plan: Some(true), ..facts() }, vec![])),
        },
        Case {
            name: "rollback plan false",
            fields: &[("rollback_plan", &["header:x-rollback"])],
            amount: "amount",
            req: h(&[("x-rollback", b"no")]),
            want: Ok((Facts { rollback_plan: Some(false), ..facts() }, vec![])),
        },
        Case {
            name: "amount from an Other header",
            fields: AMOUNT_H,
            amount: "amount",
            req: h(&[("x-amount", b"100.50")]),
            want: Ok((Facts { amount: Some(100.5), ..facts() }, vec![("amount", "100.50")])),
        },
        Case {
            name: "amount not a number",
            fields: AMOUNT_H,
            amount: "amount",
            req: h(&[("x-amount", b"100 USD")]),
            want: Err("header x-amount (amount): expected a non-negative number"),
        },
        Case {
            name: "Other not the amount is text",
            fields: AMOUNT_H,
            amount: "total",
            req: h(&[("x-amount", b"100 USD")]),
            want: Ok((facts(), vec![("amount", "100 USD")])),
        },
        Case {
            name: "amount as a typed field",
            fields: &[("cumulative_cost_usd", &["header:x-cost"])],
            amount: "cumulative_cost_usd",
            req: h(&[("x-cost", b"7.25")]),
            want: Ok((Facts { amount: Some(7.25), cumulative_cost_usd: Some(7.25), ..facts() }, vec![])),
        },
        Case {
            name: "two fields, one header",
            fields: &[("actor", &["header:x-who"]), ("approved_by", &["header:x-who"])],
            amount: "amount",
            req: h(&[("x-who", b"bob")]),
            want: Ok((Facts { actor: t("bob"), approved_by: t("bob"), ..facts() }, vec![])),
        },
    ];
    run_cases(cases);
}

#[test]
fn query_sources() {
    let cases = vec![
        Case {
            name: "query value",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("x=1&amount=5&y"),
            want: Ok((
                Facts {
                    amount: Some(5.0),
                    ..facts()
                },
                vec![("amount", "5")],
            )),
        },
        Case {
            name: "no query",
            fields: AMOUNT_Q,
            amount: "amount",
            req: Req::default(),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "key without value",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("amount"),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "empty value",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("amount="),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "empty pairs",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("&&amount=5&"),
            want: Ok((
                Facts {
                    amount: Some(5.0),
                    ..facts()
                },
                vec![("amount", "5")],
            )),
        },
        Case {
            name: "repeated key",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("amount=5&amount=500"),
            want: Err("query parameter amount: repeated"),
        },
        Case {
            name: "repeated key, first empty",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("amount=&amount=500"),
            want: Err("query parameter amount: repeated"),
        },
        Case {
            name: "escaped spelling of a key",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("%61mount=500"),
            want: Err("query parameter amount: also spelled \"%61mount\""),
        },
        Case {
            name: "case spelling of a key",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("amount=5&Amount=500"),
            want: Err("query parameter amount: also spelled \"Amount\""),
        },
        Case {
            name: "PHP array spelling of a key",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("amount[]=500"),
            want: Err("query parameter amount: also spelled \"amount[]\""),
        },
        Case {
            name: "padded spelling of a key",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("amount+=500"),
            want: Err("query parameter amount: also spelled \"amount+\""),
        },
        Case {
            name: "NUL-cut spelling of a key",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("amount%00x=500"),
            want: Err("query parameter amount: also spelled \"amount%00x\""),
        },
        Case {
            name: "PHP dot mangling",
            fields: RUN_Q,
            amount: "amount",
            req: q("run.id=r-2"),
            want: Err("query parameter run_id: also spelled \"run.id\""),
        },
        Case {
            name: "key hidden after ';' in a value",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("x=1;amount=500"),
            want: Err("query parameter amount: hidden after ';' in \"x=1;amount=500\""),
        },
        Case {
            name: "key hidden after ';' in a key",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("x;amount=500"),
            want: Err("query parameter amount: hidden after ';' in \"x;amount=500\""),
        },
        Case {
            name: "second value hidden after ';'",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("amount=5;amount=500"),
            want: Err("query parameter amount: hidden after ';' in \"amount=5;amount=500\""),
        },
        Case {
            name: "';' in an unrelated pair",
            fields: AMOUNT_Q,
            amount: "amount",
            req: q("x=1;y=2&amount=5"),
            want: Ok((
                Facts {
                    amount: Some(5.0),
                    ..facts()
                },
                vec![("amount", "5")],
            )),
        },
        Case {
            name: "plus and escapes decode",
            fields: ACTOR_Q,
            amount: "amount",
            req: q("actor=a+b%20c%2Bd%C3%A9"),
            want: Ok((
                Facts {
                    actor: Some(Cow::Owned("a b c+dé".into())),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "value not UTF-8",
            fields: ACTOR_Q,
            amount: "amount",
            req: q("actor=%FF"),
            want: Err("query parameter \"actor\": not valid UTF-8 once decoded"),
        },
        Case {
            name: "unread key not UTF-8",
            fields: ACTOR_Q,
            amount: "amount",
            req: q("%C0%AF=1&actor=bob"),
            want: Err("query parameter \"%C0%AF\": not valid UTF-8 once decoded"),
        },
        Case {
            name: "control character in a value",
            fields: ACTOR_Q,
            amount: "amount",
            req: q("actor=bob%00admin"),
            want: Err("query parameter actor (actor): control or invisible character in value"),
        },
        Case {
            name: "count from a query",
            fields: &[("current_iteration", &["query:i"])],
            amount: "amount",
            req: q("i=3"),
            want: Ok((
                Facts {
                    current_iteration: Some(3),
                    ..facts()
                },
                vec![],
            )),
        },
    ];
    run_cases(cases);
}

#[test]
fn param_sources() {
    const TENANT: &[(&str, &[&str])] = &[("ticket_id", &["param:id"])];
    let route = |path: &'static str| Req {
        route: Some(("/tenants/{id}", path)),
        ..Req::default()
    };
    let cases = vec![
        Case {
            name: "param",
            fields: TENANT,
            amount: "amount",
            req: route("/tenants/t-1"),
            want: Ok((
                Facts {
                    ticket_id: t("t-1"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "param with kept escapes",
            fields: TENANT,
            amount: "amount",
            req: route("/tenants/caf%C3%A9%20x"),
            want: Ok((
                Facts {
                    ticket_id: Some(Cow::Owned("café x".into())),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "param not UTF-8",
            fields: TENANT,
            amount: "amount",
            req: route("/tenants/%FF"),
            want: Err("path parameter id: not valid UTF-8 once decoded"),
        },
        Case {
            name: "param absent from the route",
            fields: &[("ticket_id", &["param:other"])],
            amount: "amount",
            req: route("/tenants/t-1"),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "catch-all param",
            fields: &[("current_tool", &["param:rest"])],
            amount: "amount",
            req: Req {
                route: Some(("/files/{*rest}", "/files/a/b")),
                ..Req::default()
            },
            want: Ok((
                Facts {
                    current_tool: t("a/b"),
                    ..facts()
                },
                vec![],
            )),
        },
    ];
    run_cases(cases);
}

#[test]
fn body_sources() {
    let deep_ok: &'static str = format!("{}{}", "[".repeat(63), "]".repeat(63)).leak();
    let deep_ok = format!(r#"{{"amount":1,"x":{deep_ok}}}"#).leak();
    let deep_bad: &'static str = format!("{}{}", "[".repeat(64), "]".repeat(64)).leak();
    let deep_bad = format!(r#"{{"amount":1,"x":{deep_bad}}}"#).leak();
    let amount = |a: f64, text: &'static str| -> Want {
        Ok((
            Facts {
                amount: Some(a),
                ..facts()
            },
            vec![("amount", text)],
        ))
    };
    let not_number = "body /amount (amount): expected a non-negative number";
    let cases = vec![
        Case {
            name: "number",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 100}"#),
            want: amount(100.0, "100"),
        },
        Case {
            name: "float",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 1.5e2}"#),
            want: amount(150.0, "150.0"),
        },
        Case {
            name: "float parsed exactly (round trip)",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 904240.9729775657}"#),
            want: amount(904240.9729775657, "904240.9729775657"),
        },
        Case {
            name: "number as a string",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": "100"}"#),
            want: Err(not_number),
        },
        Case {
            name: "negative number",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": -1}"#),
            want: Err(not_number),
        },
        Case {
            name: "boolean amount",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": true}"#),
            want: Err(not_number),
        },
        Case {
            name: "number out of f64 range",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 1e400}"#),
            want: Err("body: invalid JSON: number out of range at line 1 column 17"),
        },
        Case {
            name: "null is absent",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": null}"#),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "missing key",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"x": 1}"#),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "no body",
            fields: AMOUNT_B,
            amount: "amount",
            req: Req::default(),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "empty body",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(""),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "duplicate key",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 1, "amount": 1000}"#),
            want: Err("body: duplicate key \"amount\""),
        },
        Case {
            name: "duplicate key in an unrelated object",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 1, "x": [{"a": 1, "b": 2, "a": 3}]}"#),
            want: Err("body: duplicate key \"a\""),
        },
        Case {
            name: "duplicate key in a big object",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(
                r#"{"k1":1,"k2":1,"k3":1,"k4":1,"k5":1,"k6":1,"k7":1,"k8":1,"k9":1,"k10":1,"k11":1,"k12":1,"k13":1,"k14":1,"k15":1,"k16":1,"k17":1,"k3":2}"#,
            ),
            want: Err("body: duplicate key \"k3\""),
        },
        Case {
            name: "escaped duplicate key",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 1, "\u0061mount": 1000}"#),
            want: Err("body: duplicate key \"amount\""),
        },
        Case {
            name: "escaped key spelling",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"\u0061mount": 7}"#),
            want: amount(7.0, "7"),
        },
        Case {
            name: "case-folded key",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"Amount": 1000}"#),
            want: Err("body: key \"Amount\" is ambiguous with key \"amount\""),
        },
        Case {
            name: "case-folded key next to the key",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 1, "AMOUNT": 1000}"#),
            want: Err("body: key \"AMOUNT\" is ambiguous with key \"amount\""),
        },
        Case {
            name: "padded key",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 1, " amount": 1000}"#),
            want: Err("body: key \" amount\" is ambiguous with key \"amount\""),
        },
        Case {
            name: "NUL-cut key",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount\u0000x": 1000}"#),
            want: Err("body: key \"amount\\0x\" is ambiguous with key \"amount\""),
        },
        Case {
            name: "Unicode case-folded key (Kelvin sign)",
            fields: &[("ticket_id", &["body:/k"])],
            amount: "amount",
            req: b(r#"{"\u212a": "x"}"#),
            want: Err("body: key \"\u{212a}\" is ambiguous with key \"k\""),
        },
        Case {
            name: "folded key at another depth is fine",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 1, "x": {"Amount": 1000}}"#),
            want: amount(1.0, "1"),
        },
        Case {
            name: "trailing data",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"{"amount": 1} {"amount": 1000}"#),
            want: Err("body: invalid JSON: trailing characters at line 1 column 15"),
        },
        Case {
            name: "trailing blanks",
            fields: AMOUNT_B,
            amount: "amount",
            req: b("{\"amount\": 1}\n\t "),
            want: amount(1.0, "1"),
        },
        Case {
            name: "not JSON",
            fields: AMOUNT_B,
            amount: "amount",
            req: b("amount=1"),
            want: Err("body: invalid JSON: expected value at line 1 column 1"),
        },
        Case {
            name: "lone surrogate",
            fields: ACTOR_B,
            amount: "amount",
            req: b(r#"{"actor": "\ud800"}"#),
            want: Err("body: invalid JSON: unexpected end of hex escape at line 1 column 19"),
        },
        Case {
            name: "nesting of 64",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(deep_ok),
            want: amount(1.0, "1"),
        },
        Case {
            name: "nesting of 65",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(deep_bad),
            want: Err("body: nested deeper than 64 levels"),
        },
        Case {
            name: "root array",
            fields: AMOUNT_B,
            amount: "amount",
            req: b(r#"[{"amount": 1}]"#),
            want: Err("body: the document must be a JSON object"),
        },
        Case {
            name: "root scalar",
            fields: AMOUNT_B,
            amount: "amount",
            req: b("1"),
            want: Err("body: the document must be a JSON object"),
        },
        Case {
            name: "root null",
            fields: AMOUNT_B,
            amount: "amount",
            req: b("null"),
            want: Err("body: the document must be a JSON object"),
        },
        Case {
            name: "whole-document pointer",
            fields: &[("actor", &["body:"])],
            amount: "amount",
            req: b(r#""bob""#),
            want: Ok((
                Facts {
                    actor: t("bob"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "text field, string",
            fields: ACTOR_B,
            amount: "amount",
            req: b(r#"{"actor": "bob"}"#),
            want: Ok((
                Facts {
                    actor: t("bob"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "text field, escaped string",
            fields: ACTOR_B,
            amount: "amount",
            req: b(r#"{"actor": "b\u00f6b"}"#),
            want: Ok((
                Facts {
                    actor: t("böb"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "text field, empty string is present",
            fields: ACTOR_B,
            amount: "amount",
            req: b(r#"{"actor": ""}"#),
            want: Ok((
                Facts {
                    actor: t(""),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "text field, number",
            fields: ACTOR_B,
            amount: "amount",
            req: b(r#"{"actor": 5}"#),
            want: Err("body /actor (actor): expected a string"),
        },
        Case {
            name: "text field, object",
            fields: ACTOR_B,
            amount: "amount",
            req: b(r#"{"actor": {"name": "bob"}}"#),
            want: Err("body /actor (actor): expected a string"),
        },
        Case {
            name: "text field, control character",
            fields: ACTOR_B,
            amount: "amount",
            req: b(r#"{"actor": "bob\u0000"}"#),
            want: Err("body /actor (actor): control or invisible character in value"),
        },
        Case {
            name: "text field, bidi override",
            fields: ACTOR_B,
            amount: "amount",
            req: b(r#"{"actor": "bob\u202e"}"#),
            want: Err("body /actor (actor): control or invisible character in value"),
        },
        Case {
            name: "nested pointer",
            fields: &[("amount", &["body:/payment/amount"])],
            amount: "amount",
            req: b(r#"{"payment": {"currency": "EUR", "amount": 12.5}, "amount": 99}"#),
            want: amount(12.5, "12.5"),
        },
        Case {
            name: "array index pointer",
            fields: &[("ticket_id", &["body:/items/1/id"])],
            amount: "amount",
            req: b(r#"{"items": [{"id": "a"}, {"id": "b"}]}"#),
            want: Ok((
                Facts {
                    ticket_id: t("b"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "array index with a leading zero never matches",
            fields: &[("ticket_id", &["body:/items/01/id"])],
            amount: "amount",
            req: b(r#"{"items": [{"id": "a"}, {"id": "b"}]}"#),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "pointer through a scalar",
            fields: &[("ticket_id", &["body:/items/id"])],
            amount: "amount",
            req: b(r#"{"items": "x"}"#),
            want: Ok((facts(), vec![])),
        },
        Case {
            name: "escaped pointer token",
            fields: &[("ticket_id", &["body:/a~1b/~0c"])],
            amount: "amount",
            req: b(r#"{"a/b": {"~c": "T-1"}}"#),
            want: Ok((
                Facts {
                    ticket_id: t("T-1"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "mfa native boolean",
            fields: &[("mfa", &["body:/mfa"])],
            amount: "amount",
            req: b(r#"{"mfa": true}"#),
            want: Ok((
                Facts {
                    mfa: Some(true),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "mfa string spelling",
            fields: &[("mfa", &["body:/mfa"])],
            amount: "amount",
            req: b(r#"{"mfa": "no"}"#),
            want: Ok((
                Facts {
                    mfa: Some(false),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "mfa number",
            fields: &[("mfa", &["body:/mfa"])],
            amount: "amount",
            req: b(r#"{"mfa": 1}"#),
            want: Err("body /mfa (mfa): expected a boolean"),
        },
        Case {
            name: "rollback plan native and reference",
            fields: &[("rollback_plan", &["body:/rb"])],
            amount: "amount",
            req: b(r#"{"rb": "see runbook"}"#),
            want: Ok((
                Facts {
                    rollback_plan: Some(true),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "rollback plan number",
            fields: &[("rollback_plan", &["body:/rb"])],
            amount: "amount",
            req: b(r#"{"rb": 1}"#),
            want: Err("body /rb (rollback_plan): expected a boolean or a reference string"),
        },
        Case {
            name: "count native",
            fields: &[("current_iteration", &["body:/it"])],
            amount: "amount",
            req: b(r#"{"it": 3}"#),
            want: Ok((
                Facts {
                    current_iteration: Some(3),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "count as float",
            fields: &[("current_iteration", &["body:/it"])],
            amount: "amount",
            req: b(r#"{"it": 3.0}"#),
            want: Err("body /it (current_iteration): expected a non-negative integer"),
        },
        Case {
            name: "count as string",
            fields: &[("current_iteration", &["body:/it"])],
            amount: "amount",
            req: b(r#"{"it": "3"}"#),
            want: Err("body /it (current_iteration): expected a non-negative integer"),
        },
        Case {
            name: "timestamp",
            fields: &[("approved_at", &["body:/at"])],
            amount: "amount",
            req: b(r#"{"at": "2026-03-14T09:30:00Z"}"#),
            want: Ok((
                Facts {
                    approved_at: ts("2026-03-14T09:30:00Z"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "timestamp as number",
            fields: &[("approved_at", &["body:/at"])],
            amount: "amount",
            req: b(r#"{"at": 1773480600}"#),
            want: Err("body /at (approved_at): expected an RFC 3339 timestamp string"),
        },
        Case {
            name: "Other scalars as JSON text",
            fields: &[
                ("region", &["body:/r"]),
                ("priority", &["body:/p"]),
                ("urgent", &["body:/u"]),
            ],
            amount: "amount",
            req: b(r#"{"r": "eu", "p": 2.50, "u": false}"#),
            want: Ok((
                facts(),
                vec![("region", "eu"), ("priority", "2.5"), ("urgent", "false")],
            )),
        },
        Case {
            name: "Other as an array",
            fields: &[("region", &["body:/r"])],
            amount: "amount",
            req: b(r#"{"r": ["eu"]}"#),
            want: Err("body /r (region): expected a string, number or boolean"),
        },
        Case {
            name: "two fields, one pointer",
            fields: &[("actor", &["body:/who"]), ("approved_by", &["body:/who"])],
            amount: "amount",
            req: b(r#"{"who": "b\u006fb"}"#),
            want: Ok((
                Facts {
                    actor: t("bob"),
                    approved_by: t("bob"),
                    ..facts()
                },
                vec![],
            )),
        },
    ];
    run_cases(cases);
}

#[test]
fn multiple_sources_must_agree() {
    let hq = |env: &'static [u8], query: &'static str| -> Req<'static> {
        Req {
            headers: vec![("x-env", env)].leak(),
            query: Some(query),
            ..Req::default()
        }
    };
    let hb = |headers: &'static [(&'static str, &'static [u8])], body: &'static str| Req {
        headers,
        body: Some(body),
        ..Req::default()
    };
    let cases = vec![
        Case {
            name: "environment agrees without case",
            fields: ENV_HQ,
            amount: "amount",
            req: hq(b"Prod", "env=prod"),
            want: Ok((
                Facts {
                    environment: t("Prod"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "environment mismatch keeps the first",
            fields: ENV_HQ,
            amount: "amount",
            req: hq(b"prod", "env=staging"),
            want: Ok((
                Facts {
                    environment: t("prod"),
                    issues: issues(&[IssueCode::EnvironmentMismatch]),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "first source absent",
            fields: ENV_HQ,
            amount: "amount",
            req: q("env=staging"),
            want: Ok((
                Facts {
                    environment: t("staging"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "text agrees exactly",
            fields: ACTOR_HB,
            amount: "amount",
            req: hb(&[("x-actor", b"bob")], r#"{"actor": "bob"}"#),
            want: Ok((
                Facts {
                    actor: t("bob"),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "text mismatch by case",
            fields: ACTOR_HB,
            amount: "amount",
            req: hb(&[("x-actor", b"bob")], r#"{"actor": "Bob"}"#),
            want: Ok((
                Facts {
                    actor: t("bob"),
                    issues: issues(&[IssueCode::ContextMismatch]),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "amount agrees as a number",
            fields: AMOUNT_HB,
            amount: "amount",
            req: hb(&[("x-amount", b"100")], r#"{"amount": 100.0}"#),
            want: Ok((
                Facts {
                    amount: Some(100.0),
                    ..facts()
                },
                vec![("amount", "100")],
            )),
        },
        Case {
            name: "amount mismatch",
            fields: AMOUNT_HB,
            amount: "amount",
            req: hb(&[("x-amount", b"100")], r#"{"amount": 100000}"#),
            want: Ok((
                Facts {
                    amount: Some(100.0),
                    issues: issues(&[IssueCode::ContextMismatch]),
                    ..facts()
                },
                vec![("amount", "100")],
            )),
        },
        Case {
            name: "count agrees across header and body",
            fields: ITER_HB,
            amount: "amount",
            req: hb(&[("x-iteration", b"3")], r#"{"it": 3}"#),
            want: Ok((
                Facts {
                    current_iteration: Some(3),
                    ..facts()
                },
                vec![],
            )),
        },
        Case {
            name: "second source still converted",
            fields: ITER_HB,
            amount: "amount",
            req: hb(&[("x-iteration", b"3")], r#"{"it": "3"}"#),
            want: Err("body /it (current_iteration): expected a non-negative integer"),
        },
        Case {
            name: "other fields not affected",
            fields: &[
                ("actor", &["header:x-actor", "body:/actor"]),
                ("environment", &["header:x-env", "body:/env"]),
            ],
            amount: "amount",
            req: hb(
                &[("x-actor", b"bob"), ("x-env", b"prod")],
                r#"{"actor": "eve", "env": "PROD"}"#,
            ),
            want: Ok((
                Facts {
                    actor: t("bob"),
                    environment: t("prod"),
                    issues: issues(&[IssueCode::ContextMismatch]),
                    ..facts()
                },
                vec![],
            )),
        },
    ];
    run_cases(cases);
}

#[test]
fn header_reads_are_case_insensitive_by_construction() {
    let name = HeaderName::from_bytes(b"X-Actor-Role").unwrap();
    assert_eq!(name.as_str(), "x-actor-role");
    let m = ContextMap::compile(
        vec![(Field::ActorRole, vec![Source::Header(name)])],
        "amount",
    );
    for sent in ["X-ACTOR-ROLE", "x-actor-role", "X-Actor-Role"] {
        let headers: &'static [(&'static str, &'static [u8])] =
            vec![(&*sent.to_owned().leak(), &b"admin"[..])].leak();
        with_request(&m, h(headers), |r| {
            assert_eq!(
                r.unwrap().facts.actor_role.as_deref(),
                Some("admin"),
                "{sent}"
            );
        });
    }
}

#[test]
fn header_values_are_borrowed() {
    let m = map(ROLE_H, "amount");
    with_request(&m, h(&[("x-actor-role", b"admin")]), |r| {
        assert!(matches!(
            r.unwrap().facts.actor_role,
            Some(Cow::Borrowed("admin"))
        ));
    });
    let m = map(ACTOR_B, "amount");
    with_request(&m, b(r#"{"actor": "bob"}"#), |r| {
        assert!(matches!(r.unwrap().facts.actor, Some(Cow::Borrowed("bob"))));
    });
}

#[test]
fn header_only_extraction_does_not_allocate() {
    let m = map(
        &[
            ("actor", &["header:x-actor"]),
            ("actor_role", &["header:x-actor-role"]),
            ("environment", &["header:x-env", "header:x-environment"]),
            ("current_iteration", &["header:x-iteration"]),
            ("mfa", &["header:x-mfa"]),
        ],
        "amount",
    );
    let mut headers = HeaderMap::new();
    for (k, v) in [
        ("x-actor", "bob"),
        ("x-actor-role", "admin"),
        ("x-env", "prod"),
        ("x-environment", "PROD"),
        ("x-iteration", "4"),
        ("x-mfa", "true"),
        ("x_trace", "1"),
    ] {
        headers.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let params = matchit::Params::new();
    let view = RequestView {
        headers: &headers,
        params: &params,
        query: None,
        body: None,
    };
    assert_eq!(count_allocations(|| Vec::<u8>::with_capacity(1)).0, 1);
    let (allocs, got) = count_allocations(|| extract(&m, &view));
    let got = got.unwrap();
    assert_eq!(got.facts.environment.as_deref(), Some("prod"));
    assert!(got.facts.issues.is_empty());
    assert_eq!(allocs, 0);
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

#[test]
fn pointers_parse_per_rfc_6901() {
    let tokens = |p: &str| match Source::parse_pointer(p) {
        Ok(Source::Body(t)) => Ok(t.iter().map(|t| t.to_string()).collect::<Vec<_>>()),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    };
    assert_eq!(tokens(""), Ok(vec![]));
    assert_eq!(tokens("/"), Ok(vec![String::new()]));
    assert_eq!(tokens("/a/b"), Ok(vec!["a".into(), "b".into()]));
    assert_eq!(tokens("/a~1b/~0c"), Ok(vec!["a/b".into(), "~c".into()]));
    assert_eq!(tokens("/~01"), Ok(vec!["~1".into()]));
    assert_eq!(
        tokens("/a//b"),
        Ok(vec!["a".into(), String::new(), "b".into()])
    );
    assert!(tokens("a/b").is_err());
    assert!(tokens("/a~").is_err());
    assert!(tokens("/a~2").is_err());
    assert!(tokens("#/a").is_err());
    let src = Source::parse_pointer("/a~1b/~0c").unwrap();
    assert_eq!(src.to_string(), "body /a~1b/~0c");
}

#[test]
fn fields_parse_and_name() {
    let all = [
        Field::RunId,
        Field::Actor,
        Field::ActorRole,
        Field::ApprovalStatus,
        Field::ApprovedBy,
        Field::ApprovedAt,
        Field::Environment,
        Field::CurrentIteration,
        Field::ElapsedSeconds,
        Field::CumulativeCostUsd,
        Field::CurrentTool,
        Field::TicketId,
        Field::RollbackPlan,
        Field::Mfa,
        Field::Other("amount".into()),
    ];
    for f in &all {
        assert_eq!(&Field::parse(f.name()), f);
    }
    assert_eq!(Field::parse("actor_role"), Field::ActorRole);
    assert_eq!(
        Field::parse("Actor_Role"),
        Field::Other("Actor_Role".into())
    );
}

#[test]
fn compile_merges_and_collects() {
    let x = |s: &str| source(s);
    let m = ContextMap::compile(
        vec![
            (Field::Actor, vec![x("header:x-actor"), x("header:x-actor")]),
            (Field::Other("amount".into()), vec![x("query:amount")]),
            (Field::Actor, vec![x("body:/actor"), x("header:x-actor")]),
            (
                Field::ApprovedBy,
                vec![x("header:x-actor"), x("header:x-approver")],
            ),
        ],
        "amount",
    );
    assert_eq!(m.fields.len(), 3);
    assert_eq!(m.fields[0].1, vec![x("header:x-actor"), x("body:/actor")]);
    assert!(m.reads_body);
    assert_eq!(
        m.headers,
        vec![
            HeaderName::from_static("x-actor"),
            HeaderName::from_static("x-approver")
        ]
    );
    assert_eq!(m.amount, Some(Field::Other("amount".into())));

    let m = ContextMap::compile(
        vec![(Field::CumulativeCostUsd, vec![x("header:x-cost")])],
        "cumulative_cost_usd",
    );
    assert_eq!(m.amount, Some(Field::CumulativeCostUsd));
    assert!(!m.reads_body);
    let m = ContextMap::compile(vec![(Field::Actor, vec![x("header:x-actor")])], "amount");
    assert_eq!(m.amount, None);
}

#[test]
fn errors_name_field_and_source() {
    let e = ExtractError::Invalid {
        field: Field::CurrentIteration,
        at: source("header:x-iteration"),
        expected: "a non-negative integer",
    };
    assert_eq!(
        e.to_string(),
        "header x-iteration (current_iteration): expected a non-negative integer"
    );
}

// A per-thread allocation counter, to check the header-only path allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// The test's own allocator: counting allocations needs a GlobalAlloc, which is unsafe.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn count_allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (COUNT.with(Cell::get), r)
}

// The streaming walker agrees with serde_json's own pointer lookup on documents without
// ambiguous keys, and refuses the ones with them.
mod walker_props {
    use super::super::json::{self as body, Json};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    const KEYS: &[&str] = &["a", "b", "x", "A", " b"];
    const POINTERS: &[&str] = &["/a", "/a/b", "/x/0", "/x/1/a", "/b"];

    fn doc() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u32>().prop_map(Value::from),
            (-1000i64..0).prop_map(Value::from),
            (0.0f64..1e6).prop_map(Value::from),
            "[a-z\\\\\"é]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                    Value::Object(
                        kv.into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect::<Map<_, _>>(),
                    )
                }),
            ]
        })
    }

    /// Whether an object at `depth` has a key only loosely equal to a token read there.
    fn ambiguous(v: &Value, depth: usize, tokens: &[Vec<Box<str>>]) -> bool {
        match v {
            Value::Object(m) => {
                m.keys().any(|k| {
                    tokens
                        .iter()
                        .filter_map(|t| t.get(depth))
                        .any(|t| **t != **k && body::loose_eq(t, k))
                }) || m.values().any(|v| ambiguous(v, depth + 1, tokens))
            }
            Value::Array(a) => a.iter().any(|v| ambiguous(v, depth + 1, tokens)),
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn walker_matches_serde_json(inner in doc()) {
            let root = match inner {
                Value::Object(m) => Value::Object(m),
                other => Value::Object([("x".to_owned(), other)].into_iter().collect()),
            };
            let text = serde_json::to_string(&root).unwrap();
            let tokens: Vec<Vec<Box<str>>> = POINTERS
                .iter()
                .map(|p| p[1..].split('/').map(Into::into).collect())
                .collect();
            let slices: Vec<&[Box<str>]> = tokens.iter().map(|t| &t[..]).collect();
            let got = body::walk(text.as_bytes(), &slices);
            if ambiguous(&root, 0, &tokens) {
                prop_assert!(got.is_err(), "{text}: {got:?}");
                return Ok(());
            }
            let got = got.map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            for (p, v) in POINTERS.iter().zip(got) {
                let want = match root.pointer(p) {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(b)) => Some(Json::Bool(*b)),
                    Some(Value::Number(n)) => Some(match (n.as_u64(), n.as_i64()) {
                        (Some(u), _) => Json::U64(u),
                        (None, Some(i)) => Json::I64(i),
                        _ => Json::F64(n.as_f64().unwrap()),
                    }),
                    Some(Value::String(s)) => Some(Json::Str(s.clone().into())),
                    Some(_) => Some(Json::Composite),
                };
                prop_assert_eq!(v, want, "{} in {}", p, text);
            }
        }
    }
}

/// A number is compared only when its decimal text means exactly the f64 compared: a
/// decimal upstream must not see more (or less) than the policy did.
#[test]
fn numbers_must_mean_exactly_what_is_compared() {
    let m = map(AMOUNT_HB, "amount");
    let body = |text: &str| {
        let doc = format!(r#"{{"amount": {text}}}"#);
        let req = Req {
            body: Some(&doc),
            ..Req::default()
        };
        with_request(&m, req, |r| r.map(|x| x.facts.amount))
    };
    for (text, want) in [
        ("10000", Some(10000.0)),
        ("10000.0", Some(10000.0)),
        ("1e4", Some(10000.0)),
        ("1.0E+4", Some(10000.0)),
        ("0.1", Some(0.1)),
        ("0.30000000000000004", Some(0.30000000000000004)),
        ("9007199254740992", Some(9007199254740992.0)),
        ("-0", Some(0.0)),
    ] {
        assert_eq!(
            body(text).unwrap_or_else(|e| panic!("{text}: {e}")),
            want,
            "{text}"
        );
    }
    for text in [
        "10000.0000000000001",
        "10000.00000000000001e0",
        "9999.99999999999999999",
        "0.1000000000000000000001",
        "1e-400",
        "9007199254740993",
        "18446744073709551615",
    ] {
        let e = body(text).expect_err(text);
        assert!(
            matches!(
                e,
                ExtractError::BodyImpreciseNumber { .. } | ExtractError::Invalid { .. }
            ),
            "{text}: {e}"
        );
    }
    // The same rule for text sources.
    for (value, ok) in [
        (&b"10000"[..], true),
        (b"10000.50", true),
        (b"10000.0000000000001", false),
        (b"9999.99999999999999999", false),
    ] {
        let r = with_request(
            &map(AMOUNT_H, "amount"),
            Req {
                headers: &[("x-amount", value)],
                ..Req::default()
            },
            |r| r.map(|x| x.facts.amount),
        );
        assert_eq!(r.is_ok(), ok, "{:?}: {r:?}", String::from_utf8_lossy(value));
    }
}

#[test]
fn a_top_level_method_key_is_refused() {
    for doc in [
        r#"{"_method": "DELETE", "amount": 1}"#,
        r#"{"amount": 1, "_METHOD": "DELETE"}"#,
        r#"{"\u005fmethod": "DELETE", "amount": 1}"#,
    ] {
        let r = with_request(&map(AMOUNT_B, "amount"), b(doc), |r| r.map(|_| ()));
        assert_eq!(r, Err(ExtractError::BodyMethodOverride), "{doc}");
    }
    let nested = r#"{"amount": 1, "meta": {"_method": "x"}}"#;
    assert!(with_request(&map(AMOUNT_B, "amount"), b(nested), |r| r.is_ok()));
}

#[test]
fn caseless_keys_compare_ascii_quickly_and_unicode_fully() {
    assert!(body::caseless_eq("Amount", "aMOUNT"));
    assert!(!body::caseless_eq("amount", "amounts"));
    // The Kelvin sign lower-cases to `k`; the long s upper-cases to `S`.
    assert!(body::caseless_eq("\u{212A}ey", "key"));
    assert!(body::caseless_eq("\u{17F}ervice", "SERVICE"));
    assert!(body::loose_eq(" _METHOD\0x", "_method"));
}
