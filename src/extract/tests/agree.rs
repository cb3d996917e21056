//! A field read from several sources: every value present must agree (environments
//! without case, numbers as numbers, text exactly); a mismatch keeps the first value and
//! raises an issue.

use super::*;

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    let env = |v: &[u8]| h(&[("x-env", v)]);
    let actor = |v: &[u8]| h(&[("x-actor", v)]);
    let amount = |v: &[u8]| h(&[("x-amount", v)]);
    let mismatch = || issues(&[IssueCode::ContextMismatch]);
    vec![
        row("environment agrees without case", ENV_HQ, env(b"Prod").query("env=prod"),
            ok(facts!(environment: t("Prod")))),
        row("environment mismatch keeps the first", ENV_HQ, env(b"prod").query("env=staging"),
            ok(facts!(environment: t("prod"), issues: issues(&[IssueCode::EnvironmentMismatch])))),
        row("first source absent", ENV_HQ, q("env=staging"), ok(facts!(environment: t("staging")))),
        row("text agrees exactly", ACTOR_HB, actor(b"bob").body(r#"{"actor": "bob"}"#),
            ok(facts!(actor: t("bob")))),
        row("text mismatch by case", ACTOR_HB, actor(b"bob").body(r#"{"actor": "Bob"}"#),
            ok(facts!(actor: t("bob"), issues: mismatch()))),
        row("amount agrees as a number", AMOUNT_HB, amount(b"100").body(r#"{"amount": 100.0}"#),
            ok_other(facts!(amount: Some(100.0)), &[("amount", "100")])),
        row("amount mismatch", AMOUNT_HB, amount(b"100").body(r#"{"amount": 100000}"#),
            ok_other(facts!(amount: Some(100.0), issues: mismatch()), &[("amount", "100")])),
        row("count agrees across header and body", ITER_HB, h(&[("x-iteration", b"3")]).body(r#"{"it": 3}"#),
            ok(facts!(current_iteration: Some(3)))),
        row("second source still converted", ITER_HB, h(&[("x-iteration", b"3")]).body(r#"{"it": "3"}"#),
            Err("body /it (current_iteration): expected a non-negative integer")),
        row("other fields not affected",
            &[("actor", &["header:x-actor", "body:/actor"]), ("environment", &["header:x-env", "body:/env"])],
            h(&[("x-actor", b"bob"), ("x-env", b"prod")]).body(r#"{"actor": "eve", "env": "PROD"}"#),
            ok(facts!(actor: t("bob"), environment: t("prod"), issues: mismatch()))),
    ]
}

#[test]
fn multiple_sources_must_agree() {
    run("multiple sources", rows());
}
