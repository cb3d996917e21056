//! Table tests of the engine: every issue code the engine itself raises, the verdict rule,
//! and the interplay of action constraints with bundle rules. Payloads go through
//! `CheckRequest`, so the constraint vocabulary and fact reading are exercised too.

use super::testkit::policy;
use super::{CheckRequest, IssueCode, IssueCode::*, Verdict};
use jiff::Timestamp;
use serde_json::json;

const MONDAY_10: &str = "2026-03-16T10:00:00Z";

fn run(payload: serde_json::Value, now: &str) -> (Verdict, Vec<IssueCode>, Vec<String>) {
    let policy = policy();
    let req = CheckRequest::from_json(payload.to_string().as_bytes()).unwrap();
    let facts = req.facts("amount").unwrap();
    let (action, details) = req.prepare(&policy);
    let now: Timestamp = now.parse().unwrap();
    let outcome = policy.evaluate(&action, &facts, now);
    let d = policy.decision(&action, &facts, &outcome, "r1".into(), now, details);
    let questions = d.defer_questions.iter().map(|q| q.to_string()).collect();
    (d.verdict, outcome.issues.iter().collect(), questions)
}

fn issues(payload: serde_json::Value) -> Vec<IssueCode> {
    run(payload, MONDAY_10).1
}

fn approved(extra: serde_json::Value) -> serde_json::Value {
    let mut ctx = json!({
        "actor": "agent-7",
        "approval_status": "approved",
        "approved_by": "alice@example.com",
        "approved_at": "2026-03-16T09:45:00Z",
    });
    ctx.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ctx
}

#[test]
fn every_engine_issue_code_from_its_cause() {
    let table: Vec<(serde_json::Value, Vec<IssueCode>)> = vec![
        (json!({"goal": "g"}), vec![]),
        (
            json!({"goal": "g", "constraints": ["required_role:admin"]}),
            vec![ActorRoleMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["required_role:admin"], "context": {"actor_role": "viewer"}}),
            vec![RoleNotAuthorized],
        ),
        (
            json!({"goal": "g", "constraints": ["required_role:admin"], "context": {"actor_role": "admin"}}),
            vec![],
        ),
        (
            json!({"goal": "g", "constraints": ["allowed_environment:staging"]}),
            vec![EnvironmentMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["allowed_environment:staging"], "context": {"environment": "production"}}),
            vec![EnvironmentNotAllowed],
        ),
        (
            json!({"goal": "g", "context": {"environment": "qa"}}),
            vec![EnvironmentNotAllowed],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"]}),
            vec![ApprovalRequired, ApproverMissing, ApprovalTimestampMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"], "context": {"approval_status": "pending", "approved_by": "bob"}}),
            vec![ApprovalRequired, ApprovalTimestampMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"], "context": {"approval_status": "rejected"}}),
            vec![ApprovalRejected],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"], "context": {"approval_status": "Denied"}}),
            vec![ApprovalRejected],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"], "context": approved(json!({}))}),
            vec![],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"], "context": {"approval_status": "approved", "approved_at": "2026-03-16T09:45:00Z"}}),
            vec![ApproverMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"], "context": {"approval_status": "approved", "approved_by": "bob"}}),
            vec![ApprovalTimestampMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"], "context": approved(json!({"approved_at": "2026-03-16T08:59:00Z"}))}),
            vec![ApprovalExpired],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"], "context": approved(json!({"approved_at": "2026-03-16T10:05:00Z"}))}),
            vec![ApprovalExpired],
        ),
        (
            json!({"goal": "g", "constraints": ["approval required"], "context": approved(json!({"actor": "Alice@Example.com"}))}),
            vec![SelfApproval],
        ),
        (
            json!({"goal": "g", "side_effects": ["delete"]}),
            vec![DestructiveActionRequiresApproval],
        ),
        (
            json!({"goal": "g", "side_effects": ["delete"], "context": {"approval_status": "rejected"}}),
            vec![ApprovalRejected],
        ),
        (
            json!({"goal": "g", "side_effects": ["delete"], "context": approved(json!({"actor": "alice@example.com"}))}),
            vec![SelfApproval],
        ),
        (
            json!({"goal": "g", "side_effects": ["delete"], "context": approved(json!({"approved_at": "2026-03-16T07:00:00Z"}))}),
            vec![ApprovalExpired],
        ),
        (
            json!({"goal": "g", "constraints": ["business-hours only"]}),
            vec![],
        ),
        (
            json!({"goal": "g", "constraints": ["rollback_plan_required: true"], "context": {"rollback_plan": false}}),
            vec![RollbackPlanMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["rollback_plan_required: true"], "context": {"rollback_plan": "https://runbooks/rb-1"}}),
            vec![],
        ),
        (
            json!({"goal": "g", "constraints": ["mfa_required: true"]}),
            vec![MfaRequired],
        ),
        (
            json!({"goal": "g", "constraints": ["mfa_required: true"], "context": {"mfa": true}}),
            vec![],
        ),
        (
            json!({"goal": "g", "constraints": ["max_iterations:3"]}),
            vec![IterationCountMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["max_iterations:3"], "context": {"current_iteration": 3}}),
            vec![],
        ),
        (
            json!({"goal": "g", "constraints": ["max_iterations:3"], "context": {"current_iteration": 4}}),
            vec![MaxIterationsExceeded],
        ),
        (
            json!({"goal": "g", "constraints": ["timeout:300s"]}),
            vec![ElapsedTimeMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["timeout:300s"], "context": {"elapsed_seconds": 300.5}}),
            vec![TimeoutExceeded],
        ),
        (
            json!({"goal": "g", "constraints": ["max_cost_usd:1"]}),
            vec![CostMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["max_cost_usd:1"], "context": {"cumulative_cost_usd": 1.01}}),
            vec![BudgetExceeded],
        ),
        (
            json!({"goal": "g", "constraints": ["max_amount:10000"]}),
            vec![AmountMissing],
        ),
        (
            json!({"goal": "g", "constraints": ["max_amount:10000"], "context": {"amount": 10000}}),
            vec![],
        ),
        (
            json!({"goal": "g", "constraints": ["max_amount:10000"], "context": {"amount": 10000.01}}),
            vec![AmountLimitExceeded],
        ),
        (
            json!({"goal": "g", "side_effects": ["teleport"]}),
            vec![SideEffectUnclassified],
        ),
        (
            json!({"goal": "g", "constraints": ["be nice"]}),
            vec![ConstraintUnrecognized],
        ),
        (
            json!({"goal": "g", "constraints": ["allowed_change_window: weekends"]}),
            vec![ConstraintUnrecognized],
        ),
        // The bundle rule (production_change in production needs MFA) applies on top.
        (
            json!({"goal": "g", "side_effects": ["deployment"], "context": {"environment": "production"}}),
            vec![MfaRequired],
        ),
        (
            json!({"goal": "g", "side_effects": ["deployment"], "context": {"environment": "Production"}}),
            vec![MfaRequired],
        ),
        (
            json!({"goal": "g", "side_effects": ["deployment"], "context": {"environment": "staging"}}),
            vec![],
        ),
        (
            json!({"goal": "g", "side_effects": ["deployment"]}),
            vec![EnvironmentMissing],
        ),
    ];
    for (payload, want) in table {
        assert_eq!(issues(payload.clone()), want, "{payload}");
    }
}

#[test]
fn change_window_is_read_at_the_instant_passed_in() {
    let p = json!({"goal": "g", "constraints": ["business-hours only"]});
    assert_eq!(run(p.clone(), MONDAY_10).1, vec![]);
    assert_eq!(
        run(p.clone(), "2026-03-16T17:00:00Z").1,
        vec![ChangeWindowClosed]
    );
    assert_eq!(run(p, "2026-03-14T10:00:00Z").1, vec![ChangeWindowClosed]);
}

#[test]
fn verdict_pairs_and_questions_follow_the_issues() {
    let (v, _, q) = run(
        json!({"goal": "pay", "side_effects": ["payout"], "constraints": ["human approval required"]}),
        MONDAY_10,
    );
    assert_eq!(v, Verdict::Defer);
    assert_eq!(
        q,
        [
            "Who approved this payout?",
            "Who is the approver of record?",
            "Is approval still valid?"
        ]
    );
    let (v, i, q) = run(
        json!({"goal": "rm", "side_effects": ["delete"], "constraints": ["required_role:platform_admin"], "context": {"actor_role": "viewer"}}),
        MONDAY_10,
    );
    assert_eq!(v, Verdict::Deny);
    assert_eq!(i, [RoleNotAuthorized, DestructiveActionRequiresApproval]);
    // DENY still names what else is missing, with its question.
    assert_eq!(q, ["Who approved this destructive action?"]);
}

#[test]
fn wrong_types_name_the_field() {
    let bad = [
        (json!({"goal": 5}), "goal"),
        (json!({"tools": []}), "(payload)"),
        (json!({"goal": "g", "tools": "x"}), "tools"),
        (json!({"goal": "g", "constraints": [1]}), "constraints[0]"),
    ];
    for (payload, field) in bad {
        let err = CheckRequest::from_json(payload.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field, field, "{payload}");
    }
    let ctx_bad = [
        (
            json!({"current_iteration": "1"}),
            "context.current_iteration",
        ),
        (
            json!({"current_iteration": -1}),
            "context.current_iteration",
        ),
        (json!({"approved_at": "yesterday"}), "context.approved_at"),
        (json!({"actor_role": ["a"]}), "context.actor_role"),
        (json!({"mfa": "perhaps"}), "context.mfa"),
        (json!({"amount": "100"}), "context.amount"),
        (json!({"recent_tools": [1]}), "context.recent_tools"),
    ];
    for (ctx, field) in ctx_bad {
        let payload = json!({"goal": "g", "context": ctx});
        let req = CheckRequest::from_json(payload.to_string().as_bytes()).unwrap();
        assert_eq!(req.facts("amount").unwrap_err().field, field, "{ctx}");
    }
    // Unknown top-level fields are ignored; unknown context fields are kept.
    let req =
        CheckRequest::from_json(br#"{"goal":"g","pro":true,"context":{"team":"x"}}"#).unwrap();
    assert!(req.facts("amount").is_ok());
    assert_eq!(req.context["team"], "x");
}

#[test]
fn risk_adds_classes_unclassified_labels_and_environment() {
    let policy = policy();
    let req = CheckRequest::from_json(
        br#"{"goal":"g","side_effects":["payout","deployment","teleport"],"context":{"environment":"production","mfa":true}}"#,
    )
    .unwrap();
    let facts = req.facts("amount").unwrap();
    let (action, _) = req.prepare(&policy);
    let now = MONDAY_10.parse().unwrap();
    let outcome = policy.evaluate(&action, &facts, now);
    // 40 + 30 + 50 + 20, capped at 100.
    assert_eq!(outcome.risk, 100);
    let d = policy.decision(&action, &facts, &outcome, "r".into(), now, vec![]);
    let signals: Vec<&str> = d.risk.signals.iter().map(|s| &**s).collect();
    assert_eq!(
        signals,
        [
            "side_effect:money_movement",
            "side_effect:production_change",
            "unclassified_side_effect:teleport",
            "environment:production"
        ]
    );
}

#[test]
fn a_role_requirement_is_met_by_any_role_the_actor_holds() {
    use std::borrow::Cow;
    let policy = policy();
    let payload = json!({"goal": "g", "constraints": ["required_role:admin"]});
    let check = CheckRequest::from_json(payload.to_string().as_bytes()).unwrap();
    let (action, _) = check.prepare(&policy);
    let now: Timestamp = MONDAY_10.parse().unwrap();
    let mut facts = super::Facts {
        actor_role: Some(Cow::Borrowed("viewer")),
        ..Default::default()
    };
    let denied = policy.evaluate(&action, &facts, now).issues;
    assert!(denied.contains(IssueCode::RoleNotAuthorized));
    facts.extra_roles = vec![Cow::Borrowed("auditor"), Cow::Borrowed("admin")];
    assert!(policy.evaluate(&action, &facts, now).issues.is_empty());
}

#[test]
fn a_risk_threshold_the_missing_environment_could_reach_holds_for_it() {
    // payout: money_movement, risk 40; production adds 20.
    let mut policy = policy();
    policy.rules.push(super::model::Rule {
        name: "risky-needs-a-ticket".into(),
        when: super::model::Condition {
            min_risk: Some(60),
            ..Default::default()
        },
        require: super::Requirements {
            mfa: true,
            ..Default::default()
        },
    });
    let issues_of = |ctx: serde_json::Value| {
        let p = json!({"goal": "g", "side_effects": ["payout"], "context": ctx});
        let req = CheckRequest::from_json(p.to_string().as_bytes()).unwrap();
        let facts = req.facts("amount").unwrap();
        let (action, _) = req.prepare(&policy);
        let now: Timestamp = MONDAY_10.parse().unwrap();
        let issues: Vec<IssueCode> = policy
            .evaluate(&action, &facts, now)
            .issues
            .iter()
            .collect();
        issues
    };
    let prod = issues_of(json!({"environment": "production"}));
    assert!(prod.contains(&MfaRequired), "{prod:?}");
    let staging = issues_of(json!({"environment": "staging"}));
    assert!(!staging.contains(&MfaRequired), "{staging:?}");
    // Without an environment the rule may apply: hold for the fact, never skip the rule.
    let unknown = issues_of(json!({}));
    assert!(unknown.contains(&EnvironmentMissing), "{unknown:?}");
}
