//! The compiled context map: JSON pointers (RFC 6901), field names, merging a route's
//! sources, and how sources and refusals are named.

use super::*;

#[test]
fn pointers_parse_per_rfc_6901() {
    // The tokens of a pointer; `None`: refused.
    #[rustfmt::skip]
    let rows: &[(&str, Option<&[&str]>)] = &[
        ("", Some(&[])),
        ("/", Some(&[""])),
        ("/a/b", Some(&["a", "b"])),
        ("/a~1b/~0c", Some(&["a/b", "~c"])),
        ("/~01", Some(&["~1"])),
        ("/a//b", Some(&["a", "", "b"])),
        ("a/b", None),
        ("/a~", None),
        ("/a~2", None),
        ("#/a", None),
    ];
    let mut failures = Failures::new("JSON pointers");
    for &(pointer, want) in rows {
        let got = match Source::parse_pointer(pointer) {
            Ok(Source::Body(t)) => Ok(Some(t.iter().map(|t| t.to_string()).collect())),
            Ok(other) => Err(format!("not a body source: {other:?}")),
            Err(_) => Ok(None),
        };
        let want = Ok(want.map(|w| w.iter().map(|t| t.to_string()).collect::<Vec<_>>()));
        failures.check(format!("{pointer:?}"), got, want);
    }
    failures.assert();
}

#[test]
fn fields_parse_and_name() {
    // Each context name and its field, both ways: a field parses from its name, and names
    // itself by it.
    #[rustfmt::skip]
    let rows = [
        ("run_id", Field::RunId),
        ("actor", Field::Actor),
        ("actor_role", Field::ActorRole),
        ("approval_status", Field::ApprovalStatus),
        ("approved_by", Field::ApprovedBy),
        ("approved_at", Field::ApprovedAt),
        ("environment", Field::Environment),
        ("current_iteration", Field::CurrentIteration),
        ("elapsed_seconds", Field::ElapsedSeconds),
        ("cumulative_cost_usd", Field::CumulativeCostUsd),
        ("current_tool", Field::CurrentTool),
        ("ticket_id", Field::TicketId),
        ("rollback_plan", Field::RollbackPlan),
        ("mfa", Field::Mfa),
        ("amount", Field::Other("amount".into())),
        // Names are case-sensitive: this one is not the engine's `actor_role`.
        ("Actor_Role", Field::Other("Actor_Role".into())),
    ];
    let mut failures = Failures::new("field names");
    for (name, field) in rows {
        let got = (Field::parse(name), field.name().to_owned());
        failures.check(name, got, (field.clone(), name.to_owned()));
    }
    failures.assert();
}

#[test]
fn compile_merges_and_collects() {
    let header = |name: &'static str| HeaderName::from_static(name);
    let sources = |specs: &[&str]| specs.iter().map(|s| source(s)).collect::<Vec<_>>();
    let rows = [
        (
            // A field listed twice has its sources merged, each once; each header read is
            // listed once.
            "merged",
            &[
                ("actor", &["header:x-actor", "header:x-actor"][..]),
                ("amount", &["query:amount"]),
                ("actor", &["body:/actor", "header:x-actor"]),
                ("approved_by", &["header:x-actor", "header:x-approver"]),
            ][..],
            "amount",
            ContextMap {
                fields: vec![
                    (Field::Actor, sources(&["header:x-actor", "body:/actor"])),
                    (Field::Other("amount".into()), sources(&["query:amount"])),
                    (
                        Field::ApprovedBy,
                        sources(&["header:x-actor", "header:x-approver"]),
                    ),
                ],
                reads_body: true,
                headers: vec![header("x-actor"), header("x-approver")],
                amount: Some(Field::Other("amount".into())),
            },
        ),
        (
            "a typed field is the amount",
            &[("cumulative_cost_usd", &["header:x-cost"][..])][..],
            "cumulative_cost_usd",
            ContextMap {
                fields: vec![(Field::CumulativeCostUsd, sources(&["header:x-cost"]))],
                reads_body: false,
                headers: vec![header("x-cost")],
                amount: Some(Field::CumulativeCostUsd),
            },
        ),
        (
            "no amount field mapped",
            &[("actor", &["header:x-actor"][..])][..],
            "amount",
            ContextMap {
                fields: vec![(Field::Actor, sources(&["header:x-actor"]))],
                reads_body: false,
                headers: vec![header("x-actor")],
                amount: None,
            },
        ),
    ];
    let mut failures = Failures::new("compiled maps");
    for (name, fields, amount, want) in rows {
        failures.check(name, map(fields, amount), want);
    }
    failures.assert();
}

#[test]
fn sources_and_refusals_are_named() {
    let rows = [
        (
            "a pointer, escaped again",
            Source::parse_pointer("/a~1b/~0c").unwrap().to_string(),
            "body /a~1b/~0c",
        ),
        (
            "an invalid value, by field and source",
            ExtractError::Invalid {
                field: Field::CurrentIteration,
                at: source("header:x-iteration"),
                expected: "a non-negative integer",
            }
            .to_string(),
            "header x-iteration (current_iteration): expected a non-negative integer",
        ),
    ];
    let mut failures = Failures::new("names");
    for (name, got, want) in rows {
        failures.check(name, got.as_str(), want);
    }
    failures.assert();
}
