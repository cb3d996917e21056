//! A small hand-built policy for the engine's own tests: three classes, one window, one rule
//! keyed on an environment, known environments. Bundles build the same shapes from YAML.

use super::model::{ClassMask, Condition, Policy, QuestionTable, RiskModel, Rule, SideEffectClass};
use super::requirements::Requirements;
use super::window::ChangeWindow;
use super::IssueCode;
use jiff::tz::TimeZone;
use std::sync::Arc;

fn class(name: &str, risk: u8, destructive: bool) -> SideEffectClass {
    SideEffectClass {
        name: name.into(),
        risk,
        destructive,
        signal: format!("side_effect:{name}").into(),
        questions: QuestionTable::default(),
    }
}

/// Classes: money_movement (0), destructive (1), production_change (2), read (3).
/// Window 0: `business_hours`, UTC, Mon-Fri 09:00-17:00.
/// Rule: production_change in production needs MFA.
pub fn policy() -> Policy {
    let mut money = class("money_movement", 40, false);
    money.questions.set(
        IssueCode::ApprovalRequired,
        "Who approved this payout?".into(),
    );
    let classes = vec![
        money,
        class("destructive", 50, true),
        class("production_change", 30, false),
        class("read", 0, false),
    ];
    let labels = [
        ("money_movement", 0),
        ("payout", 0),
        ("money_movement", 0),
        ("destructive", 1),
        ("delete", 1),
        ("database_change", 1),
        ("production_change", 2),
        ("deployment", 2),
        ("write", 2),
        ("read", 3),
    ]
    .into_iter()
    .map(|(l, c)| (Box::from(l), c))
    .collect();
    let mut questions = QuestionTable::default();
    for code in IssueCode::ALL {
        if code.class() == super::IssueClass::Defer {
            questions.set(*code, code.default_question().into());
        }
    }
    Policy {
        policy_version: "test@1".into(),
        digest: "sha256:00".into(),
        known_environments: Some(names(&["staging", "production"])),
        classes,
        labels,
        rules: vec![Rule {
            name: "prod-changes-need-mfa".into(),
            when: Condition {
                classes: Some(ClassMask::default().with(2)),
                environments: Some(names(&["production"])),
                ..Condition::default()
            },
            require: Requirements {
                mfa: true,
                ..Requirements::default()
            },
        }],
        windows: vec![ChangeWindow {
            name: "business_hours".into(),
            time_zone: TimeZone::UTC,
            days: 0b0001_1111,
            start_minute: 9 * 60,
            end_minute: 17 * 60,
        }],
        approval: Default::default(),
        risk: RiskModel {
            environments: vec![("production".into(), 20, "environment:production".into())],
            unclassified_weight: 50,
            defer_unclassified: true,
        },
        questions,
    }
}

pub fn names(items: &[&str]) -> Arc<[Box<str>]> {
    items.iter().map(|s| Box::from(*s)).collect()
}
