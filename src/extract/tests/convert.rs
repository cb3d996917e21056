//! Converting values to their fields' types, the same rules for every source: text,
//! counts, quantities, the amount and `Other` fields, timestamps, flags; and a number is
//! read only when its text means exactly the `f64` compared.

use super::*;

#[rustfmt::skip]
fn text_rows() -> Vec<Row> {
    let not_string = "body /actor (actor): expected a string";
    let dirty = "body /actor (actor): control or invisible character in value";
    vec![
        row("text field, string", ACTOR_B, b(r#"{"actor": "bob"}"#), ok(facts!(actor: t("bob")))),
        row("text field, escaped string", ACTOR_B, b(r#"{"actor": "b\u00f6b"}"#), ok(facts!(actor: t("böb")))),
        row("text field, empty string is present", ACTOR_B, b(r#"{"actor": ""}"#), ok(facts!(actor: t("")))),
        row("text field, number", ACTOR_B, b(r#"{"actor": 5}"#), Err(not_string)),
        row("text field, object", ACTOR_B, b(r#"{"actor": {"name": "bob"}}"#), Err(not_string)),
        row("text field, control character", ACTOR_B, b(r#"{"actor": "bob\u0000"}"#), Err(dirty)),
        row("text field, bidi override", ACTOR_B, b(r#"{"actor": "bob\u202e"}"#), Err(dirty)),
    ]
}

#[test]
fn text() {
    run("text", text_rows());
}

#[rustfmt::skip]
fn count_rows() -> Vec<Row> {
    const ITER_BODY: Spec = &[("current_iteration", &["body:/it"])];
    let e = "header x-iteration (current_iteration): expected a non-negative integer";
    let e_body = "body /it (current_iteration): expected a non-negative integer";
    vec![
        row("count", ITER_H, h(&[("x-iteration", b"12")]), ok(facts!(current_iteration: Some(12)))),
        row("negative count", ITER_H, h(&[("x-iteration", b"-1")]), Err(e)),
        row("signed count", ITER_H, h(&[("x-iteration", b"+1")]), Err(e)),
        row("fractional count", ITER_H, h(&[("x-iteration", b"1.0")]), Err(e)),
        row("count with blank", ITER_H, h(&[("x-iteration", b"1 2")]), Err(e)),
        row("count overflowing u64", ITER_H, h(&[("x-iteration", b"18446744073709551616")]), Err(e)),
        row("count from a query", &[("current_iteration", &["query:i"])], q("i=3"),
            ok(facts!(current_iteration: Some(3)))),
        row("count native", ITER_BODY, b(r#"{"it": 3}"#), ok(facts!(current_iteration: Some(3)))),
        row("count as float", ITER_BODY, b(r#"{"it": 3.0}"#), Err(e_body)),
        row("count as string", ITER_BODY, b(r#"{"it": "3"}"#), Err(e_body)),
    ]
}

#[test]
fn counts() {
    run("counts", count_rows());
}

#[rustfmt::skip]
fn quantity_rows() -> Vec<Row> {
    let e = "header x-elapsed (elapsed_seconds): expected a non-negative number";
    let nines = "9".repeat(400);
    vec![
        row("quantity", ELAPSED_H, h(&[("x-elapsed", b"1.5")]), ok(facts!(elapsed_seconds: Some(1.5)))),
        row("quantity exponent", ELAPSED_H, h(&[("x-elapsed", b"1e3")]), Err(e)),
        row("quantity inf", ELAPSED_H, h(&[("x-elapsed", b"inf")]), Err(e)),
        row("quantity NaN", ELAPSED_H, h(&[("x-elapsed", b"NaN")]), Err(e)),
        row("quantity .5", ELAPSED_H, h(&[("x-elapsed", b".5")]), Err(e)),
        row("quantity 1.", ELAPSED_H, h(&[("x-elapsed", b"1.")]), Err(e)),
        row("quantity negative", ELAPSED_H, h(&[("x-elapsed", b"-1")]), Err(e)),
        row("quantity hex", ELAPSED_H, h(&[("x-elapsed", b"0x10")]), Err(e)),
        row("quantity overflowing f64", ELAPSED_H, h(&[("x-elapsed", nines.as_bytes())]), Err(e)),
    ]
}

#[test]
fn quantities() {
    run("quantities", quantity_rows());
}

#[rustfmt::skip]
fn amount_rows() -> Vec<Row> {
    let amount = |a: f64, text: &'static str| ok_other(facts!(amount: Some(a)), &[("amount", text)]);
    let not_number = "body /amount (amount): expected a non-negative number";
    vec![
        // The amount field, from a header (`Other`) or the body.
        row("amount from an Other header", AMOUNT_H, h(&[("x-amount", b"100.50")]), amount(100.5, "100.50")),
        row("amount not a number", AMOUNT_H, h(&[("x-amount", b"100 USD")]),
            Err("header x-amount (amount): expected a non-negative number")),
        row("number", AMOUNT_B, b(r#"{"amount": 100}"#), amount(100.0, "100")),
        row("float", AMOUNT_B, b(r#"{"amount": 1.5e2}"#), amount(150.0, "150.0")),
        row("float parsed exactly (round trip)", AMOUNT_B, b(r#"{"amount": 904240.9729775657}"#),
            amount(904240.9729775657, "904240.9729775657")),
        row("number as a string", AMOUNT_B, b(r#"{"amount": "100"}"#), Err(not_number)),
        row("negative number", AMOUNT_B, b(r#"{"amount": -1}"#), Err(not_number)),
        row("boolean amount", AMOUNT_B, b(r#"{"amount": true}"#), Err(not_number)),
        // A typed field may be the amount; an `Other` field that is not is text.
        row("amount as a typed field", &[("cumulative_cost_usd", &["header:x-cost"])], h(&[("x-cost", b"7.25")]),
            ok(facts!(amount: Some(7.25), cumulative_cost_usd: Some(7.25))))
            .amount_field("cumulative_cost_usd"),
        row("Other not the amount is text", AMOUNT_H, h(&[("x-amount", b"100 USD")]),
            ok_other(facts!(), &[("amount", "100 USD")])).amount_field("total"),
        row("Other scalars as JSON text",
            &[("region", &["body:/r"]), ("priority", &["body:/p"]), ("urgent", &["body:/u"])],
            b(r#"{"r": "eu", "p": 2.50, "u": false}"#),
            ok_other(facts!(), &[("region", "eu"), ("priority", "2.5"), ("urgent", "false")])),
        row("Other as an array", &[("region", &["body:/r"])], b(r#"{"r": ["eu"]}"#),
            Err("body /r (region): expected a string, number or boolean")),
    ]
}

#[test]
fn amounts_and_other_fields() {
    run("amounts and Other fields", amount_rows());
}

#[rustfmt::skip]
fn timestamp_rows() -> Vec<Row> {
    const AT_H: Spec = &[("approved_at", &["header:x-approved-at"])];
    const AT_B: Spec = &[("approved_at", &["body:/at"])];
    let noon = || ok(facts!(approved_at: ts("2026-03-14T09:30:00Z")));
    let bad = "header x-approved-at (approved_at): expected an RFC 3339 timestamp such as 2026-03-14T09:30:00Z";
    vec![
        row("timestamp", AT_H, h(&[("x-approved-at", b"2026-03-14T09:30:00Z")]), noon()),
        row("timestamp with offset", AT_H, h(&[("x-approved-at", b"2026-03-14T10:30:00+01:00")]), noon()),
        row("bad timestamp", AT_H, h(&[("x-approved-at", b"yesterday")]), Err(bad)),
        row("timestamp in a body", AT_B, b(r#"{"at": "2026-03-14T09:30:00Z"}"#), noon()),
        row("timestamp as number", AT_B, b(r#"{"at": 1773480600}"#),
            Err("body /at (approved_at): expected an RFC 3339 timestamp string")),
    ]
}

#[test]
fn timestamps() {
    run("timestamps", timestamp_rows());
}

#[rustfmt::skip]
fn flag_rows() -> Vec<Row> {
    const MFA_H: Spec = &[("mfa", &["header:x-mfa"])];
    const MFA_B: Spec = &[("mfa", &["body:/mfa"])];
    const ROLLBACK_H: Spec = &[("rollback_plan", &["header:x-rollback"])];
    const ROLLBACK_B: Spec = &[("rollback_plan", &["body:/rb"])];
    vec![
        // A flag is a boolean, or one of its spellings.
        row("mfa spelling", MFA_H, h(&[("x-mfa", b"Yes")]), ok(facts!(mfa: Some(true)))),
        row("mfa not a boolean", MFA_H, h(&[("x-mfa", b"maybe")]),
            Err("header x-mfa (mfa): expected a boolean")),
        row("mfa native boolean", MFA_B, b(r#"{"mfa": true}"#), ok(facts!(mfa: Some(true)))),
        row("mfa string spelling", MFA_B, b(r#"{"mfa": "no"}"#), ok(facts!(mfa: Some(false)))),
        row("mfa number", MFA_B, b(r#"{"mfa": 1}"#), Err("body /mfa (mfa): expected a boolean")),
        // Evidence (a rollback plan) is a boolean, or a reference to it.
        row("rollback plan reference", ROLLBACK_H, h(&[("x-rollback", b"https://runbooks/42")]),
            ok(facts!(rollback_plan: Some(true)))),
        row("rollback plan false", ROLLBACK_H, h(&[("x-rollback", b"no")]),
            ok(facts!(rollback_plan: Some(false)))),
        row("rollback plan native and reference", ROLLBACK_B, b(r#"{"rb": "see runbook"}"#),
            ok(facts!(rollback_plan: Some(true)))),
        row("rollback plan number", ROLLBACK_B, b(r#"{"rb": 1}"#),
            Err("body /rb (rollback_plan): expected a boolean or a reference string")),
    ]
}

#[test]
fn flags() {
    run("flags", flag_rows());
}

/// A number is compared only when its decimal text means exactly the f64 compared: a
/// decimal upstream must not see more (or less) than the policy did. `Some(x)`: read as
/// `x` (compared as an `f64`, so `-0` and `0` are alike); `None`: refused as imprecise or
/// invalid.
#[test]
fn numbers_must_mean_exactly_what_is_compared() {
    #[rustfmt::skip]
    let rows: &[(&str, &str, Option<f64>)] = &[
        ("body", "10000", Some(10000.0)),
        ("body", "10000.0", Some(10000.0)),
        ("body", "1e4", Some(10000.0)),
        ("body", "1.0E+4", Some(10000.0)),
        ("body", "0.1", Some(0.1)),
        ("body", "0.30000000000000004", Some(0.30000000000000004)),
        ("body", "9007199254740992", Some(9007199254740992.0)),
        ("body", "-0", Some(0.0)),
        ("body", "10000.0000000000001", None),
        ("body", "10000.00000000000001e0", None),
        ("body", "9999.99999999999999999", None),
        ("body", "0.1000000000000000000001", None),
        ("body", "1e-400", None),
        ("body", "9007199254740993", None),
        ("body", "18446744073709551615", None),
        // The same rule for text sources.
        ("header", "10000", Some(10000.0)),
        ("header", "10000.50", Some(10000.5)),
        ("header", "10000.0000000000001", None),
        ("header", "9999.99999999999999999", None),
    ];
    let mut failures = Failures::new("exact numbers");
    for &(from, text, want) in rows {
        let (fields, req) = match from {
            "body" => (AMOUNT_HB, b(format!(r#"{{"amount": {text}}}"#))),
            _ => (AMOUNT_H, h(&[("x-amount", text.as_bytes())])),
        };
        let got = with_request(&map(fields, "amount"), &req, |r| r.map(|x| x.facts.amount));
        let name = format!("{from} {text}");
        match (got, want) {
            (Ok(got), Some(want)) => failures.check(name, got, Some(want)),
            (Err(e), None) => failures.expect(
                name,
                matches!(
                    e,
                    ExtractError::BodyImpreciseNumber { .. } | ExtractError::Invalid { .. }
                ),
                format_args!("refused, but not as imprecise or invalid: {e}"),
            ),
            (got, want) => failures.expect(name, false, format_args!("got {got:?}, want {want:?}")),
        }
    }
    failures.assert();
}
