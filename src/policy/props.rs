//! Property tests of the engine: evaluation is deterministic, requirements only ever add
//! issues, and adding a failing fact never makes a verdict more permissive.

use super::testkit::policy;
use super::{CheckRequest, Verdict};
use jiff::Timestamp;
use proptest::prelude::*;
use proptest::sample::subsequence;
use serde_json::{json, Map, Value};

const CONSTRAINTS: &[&str] = &[
    "approval required",
    "required_role:platform_admin",
    "required_role:finance_operator,finance_admin",
    "allowed_environment:staging,production",
    "allowed_environment:staging",
    "max_iterations:3",
    "timeout:300s",
    "business-hours only",
    "rollback_plan_required: true",
    "mfa_required: true",
    "max_cost_usd:2",
    "max_amount:10000",
    "do a barrel roll",
];
const SIDE_EFFECTS: &[&str] = &["payout", "delete", "deployment", "read", "teleport"];

fn context() -> impl Strategy<Value = Map<String, Value>> {
    let text = |pool: &'static [&'static str]| proptest::option::of(proptest::sample::select(pool));
    (
        (
            text(&["platform_admin", "finance_admin", "viewer"]),
            text(&["approved", "pending", "rejected", "maybe"]),
            text(&["alice", "bob"]),
            text(&[
                "2026-03-16T09:30:00Z",
                "2026-03-16T07:00:00Z",
                "2026-03-16T11:00:00Z",
            ]),
            text(&["staging", "production", "Production"]),
            text(&["alice", "carol"]),
        ),
        (
            proptest::option::of(0u64..6),
            proptest::option::of(0.0f64..600.0),
            proptest::option::of(0.0f64..4.0),
            proptest::option::of(0.0f64..20000.0),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
        ),
    )
        .prop_map(
            |((role, status, by, at, env, actor), (it, el, cost, amount, mfa, rb))| {
                let mut m = Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                };
                put("actor_role", role.map(Value::from));
                put("approval_status", status.map(Value::from));
                put("approved_by", by.map(Value::from));
                put("approved_at", at.map(Value::from));
                put("environment", env.map(Value::from));
                put("actor", actor.map(Value::from));
                put("current_iteration", it.map(Value::from));
                put("elapsed_seconds", el.map(Value::from));
                put("cumulative_cost_usd", cost.map(Value::from));
                put("amount", amount.map(Value::from));
                put("mfa", mfa.map(Value::from));
                put("rollback_plan", rb.map(Value::from));
                m
            },
        )
}

fn payload(constraints: &[&str], side_effects: &[&str], ctx: &Map<String, Value>) -> Value {
    json!({"goal": "g", "constraints": constraints, "side_effects": side_effects, "context": ctx})
}

fn evaluate(p: &Value, now: Timestamp) -> (Verdict, super::IssueSet, String) {
    let policy = policy();
    let req = CheckRequest::from_json(p.to_string().as_bytes()).unwrap();
    let facts = req.facts("amount").unwrap();
    let (action, details) = req.prepare(&policy);
    let outcome = policy.evaluate(&action, &facts, now);
    let d = policy.decision(&action, &facts, &outcome, "r".into(), now, details);
    (
        d.verdict,
        outcome.issues,
        serde_json::to_string(&d).unwrap(),
    )
}

fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Allow => 0,
        Verdict::Defer => 1,
        Verdict::Deny => 2,
    }
}

/// Each mutation sets one fact to a value that fails any check reading it.
/// Computes the failing value from the rest of the context.
type Worsen = fn(&Map<String, Value>) -> Value;

const FAILING_FACTS: &[(&str, Worsen)] = &[
    ("actor_role", |_| json!("intruder")),
    ("approval_status", |_| json!("rejected")),
    ("approved_at", |_| json!("2000-01-01T00:00:00Z")),
    ("environment", |_| json!("nowhere")),
    ("current_iteration", |_| json!(1_000_000)),
    ("elapsed_seconds", |_| json!(1e9)),
    ("cumulative_cost_usd", |_| json!(1e9)),
    ("amount", |_| json!(1e12)),
    ("mfa", |_| json!(false)),
    ("rollback_plan", |_| json!(false)),
    ("actor", |c| {
        c.get("approved_by").cloned().unwrap_or(json!("x"))
    }),
];

fn instant() -> impl Strategy<Value = Timestamp> {
    proptest::sample::select(
        &[
            "2026-03-16T10:00:00Z",
            "2026-03-14T10:00:00Z",
            "2026-03-16T09:40:00Z",
        ][..],
    )
    .prop_map(|s| s.parse().unwrap())
}

proptest! {
    #[test]
    fn evaluation_is_deterministic(
        c in subsequence(CONSTRAINTS, 0..=CONSTRAINTS.len()),
        s in subsequence(SIDE_EFFECTS, 0..=SIDE_EFFECTS.len()),
        ctx in context(),
        now in instant(),
    ) {
        let p = payload(&c, &s, &ctx);
        prop_assert_eq!(evaluate(&p, now).2, evaluate(&p, now).2);
    }

    #[test]
    fn more_constraints_or_side_effects_only_add_issues(
        c in subsequence(CONSTRAINTS, 0..=CONSTRAINTS.len()),
        keep_c in proptest::collection::vec(any::<bool>(), CONSTRAINTS.len()),
        s in subsequence(SIDE_EFFECTS, 0..=SIDE_EFFECTS.len()),
        keep_s in proptest::collection::vec(any::<bool>(), SIDE_EFFECTS.len()),
        ctx in context(),
        now in instant(),
    ) {
        let fewer_c: Vec<&str> = c.iter().zip(&keep_c).filter(|(_, k)| **k).map(|(x, _)| *x).collect();
        let fewer_s: Vec<&str> = s.iter().zip(&keep_s).filter(|(_, k)| **k).map(|(x, _)| *x).collect();
        let (v_all, all, _) = evaluate(&payload(&c, &s, &ctx), now);
        let (v_few, few, _) = evaluate(&payload(&fewer_c, &fewer_s, &ctx), now);
        prop_assert_eq!(few.union(all), all, "fewer requirements raised an issue more requirements did not");
        prop_assert!(severity(v_all) >= severity(v_few));
    }

    #[test]
    fn a_failing_fact_never_makes_the_verdict_more_permissive(
        c in subsequence(CONSTRAINTS, 0..=CONSTRAINTS.len()),
        s in subsequence(SIDE_EFFECTS, 0..=SIDE_EFFECTS.len()),
        ctx in context(),
        now in instant(),
        which in 0..FAILING_FACTS.len(),
    ) {
        let (field, value) = FAILING_FACTS[which];
        let (before, _, _) = evaluate(&payload(&c, &s, &ctx), now);
        let mut worse = ctx.clone();
        worse.insert(field.into(), value(&ctx));
        let (after, _, _) = evaluate(&payload(&c, &s, &worse), now);
        prop_assert!(
            severity(after) >= severity(before),
            "{field}: {before:?} became {after:?}"
        );
    }
}
