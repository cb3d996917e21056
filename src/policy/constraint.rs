//! The constraint vocabulary: every spelling Stage0 payloads use ("approval required",
//! `require_approval: true`, `required_role:platform_admin`, `timeout:300s`,
//! "business-hours only", ...) parsed into one typed [`Constraint`].

use super::counters;
pub use super::counters::grammar_of;
use super::model::normalize_label;
use super::requirements::{Counted, Limit, Per, Requirements, WindowId};

#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    Approval,
    Roles(Vec<Box<str>>),
    Environments(Vec<Box<str>>),
    MaxIterations(u64),
    TimeoutSeconds(f64),
    /// A named change window (normalized name).
    Window(Box<str>),
    RollbackPlan,
    Mfa,
    MaxCostUsd(f64),
    MaxAmount(f64),
    /// `rate_limit:N/WINDOW per actor|run|route`, counted by toolgate.
    RateLimit {
        limit: u32,
        window_ms: u64,
        per: Per,
    },
    /// `max_calls_per_run:N`, counted by toolgate.
    MaxCallsPerRun(u64),
    /// `daily_amount_limit:N per actor`, summed by toolgate per UTC day.
    DailyAmountLimit(f64),
    /// A recognized spelling that requires nothing, e.g. `mfa_required: false`.
    Nothing,
    /// Text the engine cannot verify.
    Unrecognized,
}

const APPROVAL: &[&str] = &[
    "approval_required",
    "require_approval",
    "requires_approval",
    "human_approval_required",
    "requires_human_approval",
    "require_human_approval",
    "approval_needed",
];
const ROLLBACK: &[&str] = &[
    "rollback_plan_required",
    "require_rollback_plan",
    "requires_rollback_plan",
    "rollback_required",
];
const MFA: &[&str] = &["mfa_required", "require_mfa", "requires_mfa"];
const ROLES: &[&str] = &[
    "required_role",
    "required_roles",
    "allowed_role",
    "allowed_roles",
    "role",
    "roles",
];
const ENVIRONMENTS: &[&str] = &[
    "allowed_environment",
    "allowed_environments",
    "environment",
    "environments",
];
const ITERATIONS: &[&str] = &["max_iterations", "max_iteration", "iteration_limit"];
const TIMEOUT: &[&str] = &["timeout", "max_runtime", "max_elapsed", "max_duration"];
const WINDOW: &[&str] = &["allowed_change_window", "change_window", "window"];
const COST: &[&str] = &["max_cost_usd", "max_cost", "budget_usd", "max_budget_usd"];
const AMOUNT: &[&str] = &["max_amount", "amount_limit"];

/// Parses one constraint string. Never fails: what it cannot read is `Unrecognized`.
pub fn parse(text: &str) -> Constraint {
    let text = text.trim();
    let split = text.find([':', '=']);
    let Some(at) = split else {
        return parse_phrase(&normalize_label(text));
    };
    let key = normalize_label(&text[..at]);
    let value = text[at + 1..].trim();
    let key = key.as_str();
    if APPROVAL.contains(&key) || key == "human_approval" || key == "approval" {
        flag(value, Constraint::Approval)
    } else if ROLLBACK.contains(&key) {
        flag(value, Constraint::RollbackPlan)
    } else if MFA.contains(&key) {
        flag(value, Constraint::Mfa)
    } else if ROLES.contains(&key) {
        list(value).map_or(Constraint::Unrecognized, Constraint::Roles)
    } else if ENVIRONMENTS.contains(&key) {
        list(value).map_or(Constraint::Unrecognized, |l| {
            Constraint::Environments(
                l.into_iter()
                    .map(|e| e.to_ascii_lowercase().into())
                    .collect(),
            )
        })
    } else if ITERATIONS.contains(&key) {
        value
            .parse()
            .map_or(Constraint::Unrecognized, Constraint::MaxIterations)
    } else if TIMEOUT.contains(&key) || key == "timeout_seconds" {
        parse_seconds(value).map_or(Constraint::Unrecognized, Constraint::TimeoutSeconds)
    } else if WINDOW.contains(&key) {
        let name = normalize_label(value);
        if name.is_empty() {
            Constraint::Unrecognized
        } else {
            Constraint::Window(name.into())
        }
    } else if COST.contains(&key) {
        number(value.trim_start_matches('$'))
            .map_or(Constraint::Unrecognized, Constraint::MaxCostUsd)
    } else if AMOUNT.contains(&key) {
        number(value).map_or(Constraint::Unrecognized, Constraint::MaxAmount)
    } else if key == "rate_limit" {
        match counters::rate_limit(value) {
            Some(Limit::Rate {
                limit,
                window_ms,
                per,
            }) => Constraint::RateLimit {
                limit,
                window_ms,
                per,
            },
            _ => Constraint::Unrecognized,
        }
    } else if key == "max_calls_per_run" {
        match value.parse() {
            Ok(n) if n >= 1 => Constraint::MaxCallsPerRun(n),
            _ => Constraint::Unrecognized,
        }
    } else if key == "daily_amount_limit" {
        let amount = match value.split_once(char::is_whitespace) {
            Some((n, _)) if counters::per_of(value, n) == Some(Per::Actor) => n,
            Some(_) => return Constraint::Unrecognized,
            None => value,
        };
        number(amount)
            .filter(|n| *n <= counters::MAX_DAILY_AMOUNT)
            .map_or(Constraint::Unrecognized, Constraint::DailyAmountLimit)
    } else {
        Constraint::Unrecognized
    }
}

fn parse_phrase(phrase: &str) -> Constraint {
    if APPROVAL.contains(&phrase) {
        Constraint::Approval
    } else if ROLLBACK.contains(&phrase) || phrase == "rollback_plan_required_true" {
        Constraint::RollbackPlan
    } else if MFA.contains(&phrase) {
        Constraint::Mfa
    } else if let Some(window) = phrase.strip_suffix("_only").filter(|w| !w.is_empty()) {
        // "business-hours only" names the window `business_hours`.
        Constraint::Window(window.into())
    } else {
        Constraint::Unrecognized
    }
}

fn flag(value: &str, on: Constraint) -> Constraint {
    match super::facts::parse_bool(value) {
        Some(true) => on,
        Some(false) => Constraint::Nothing,
        None => Constraint::Unrecognized,
    }
}

fn list(value: &str) -> Option<Vec<Box<str>>> {
    let items: Vec<Box<str>> = value
        .split([',', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Into::into)
        .collect();
    (!items.is_empty()).then_some(items)
}

pub(super) fn number(value: &str) -> Option<f64> {
    let n: f64 = value.trim().parse().ok()?;
    (n.is_finite() && n >= 0.0).then_some(n)
}

/// Parses a duration in seconds: `300`, `300s`, `5m`, `1.5h`, `250ms`, `10 minutes`.
pub fn parse_seconds(value: &str) -> Option<f64> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let n = number(&value[..split])?;
    let scale = match value[split..].trim().to_ascii_lowercase().as_str() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "ms" | "millis" | "milliseconds" => 0.001,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        _ => return None,
    };
    Some(n * scale)
}

/// Why a constraint could not be added to requirements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    Unrecognized,
    UnknownWindow(Box<str>),
}

impl Requirements {
    /// Adds one parsed constraint; `window` resolves window names to ids.
    pub fn add(
        &mut self,
        constraint: &Constraint,
        window: impl Fn(&str) -> Option<WindowId>,
    ) -> Result<(), ApplyError> {
        match constraint {
            Constraint::Approval => self.approval = true,
            Constraint::Roles(r) => self.roles.push(r.clone().into()),
            Constraint::Environments(e) => self.environments.push(e.clone().into()),
            Constraint::MaxIterations(n) => {
                self.max_iterations = Some(self.max_iterations.map_or(*n, |m| m.min(*n)))
            }
            Constraint::TimeoutSeconds(s) => {
                self.timeout_seconds = Some(self.timeout_seconds.map_or(*s, |m| m.min(*s)))
            }
            Constraint::Window(name) => {
                let id = window(name).ok_or_else(|| ApplyError::UnknownWindow(name.clone()))?;
                if !self.windows.contains(&id) {
                    self.windows.push(id);
                }
            }
            Constraint::RollbackPlan => self.rollback_plan = true,
            Constraint::Mfa => self.mfa = true,
            Constraint::MaxCostUsd(c) => {
                self.max_cost_usd = Some(self.max_cost_usd.map_or(*c, |m| m.min(*c)))
            }
            Constraint::MaxAmount(a) => {
                self.max_amount = Some(self.max_amount.map_or(*a, |m| m.min(*a)))
            }
            Constraint::RateLimit {
                limit,
                window_ms,
                per,
            } => self.count(Limit::Rate {
                limit: *limit,
                window_ms: *window_ms,
                per: *per,
            }),
            Constraint::MaxCallsPerRun(n) => self.count(Limit::RunCalls(*n)),
            Constraint::DailyAmountLimit(n) => self.count(Limit::DailyAmount(*n)),
            Constraint::Nothing => {}
            Constraint::Unrecognized => return Err(ApplyError::Unrecognized),
        }
        Ok(())
    }
}

impl Requirements {
    /// Adds a counted limit, unscoped until the route or rule stating it scopes it.
    fn count(&mut self, limit: Limit) {
        let c = Counted {
            limit,
            scope: "".into(),
        };
        if !self.counters.contains(&c) {
            self.counters.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Constraint::*;
    use super::*;

    fn roles(r: &[&str]) -> Constraint {
        Roles(r.iter().map(|s| (*s).into()).collect())
    }

    #[test]
    fn every_seed_spelling() {
        let table: &[(&str, Constraint)] = &[
            ("approval required", Approval),
            ("human approval required", Approval),
            ("require_approval: true", Approval),
            ("require_approval: false", Nothing),
            ("required_role:platform_admin", roles(&["platform_admin"])),
            (
                "required_role: release_manager, platform_admin",
                roles(&["release_manager", "platform_admin"]),
            ),
            (
                "allowed_environment:staging,production",
                Environments(vec!["staging".into(), "production".into()]),
            ),
            ("max_iterations:3", MaxIterations(3)),
            ("timeout:300s", TimeoutSeconds(300.0)),
            ("timeout: 5m", TimeoutSeconds(300.0)),
            ("timeout:1500ms", TimeoutSeconds(1.5)),
            ("business-hours only", Window("business_hours".into())),
            (
                "allowed_change_window: business_hours",
                Window("business_hours".into()),
            ),
            ("rollback_plan_required: true", RollbackPlan),
            ("rollback plan required", RollbackPlan),
            ("mfa_required: true", Mfa),
            ("mfa_required: no", Nothing),
            ("max_cost_usd:2.50", MaxCostUsd(2.5)),
            ("max_cost_usd: $5", MaxCostUsd(5.0)),
            ("max_amount:10000", MaxAmount(10000.0)),
            ("max_amount=250", MaxAmount(250.0)),
            (
                "rate_limit:5/1m per actor",
                RateLimit {
                    limit: 5,
                    window_ms: 60_000,
                    per: Per::Actor,
                },
            ),
            (
                "rate_limit: 100/30s per run",
                RateLimit {
                    limit: 100,
                    window_ms: 30_000,
                    per: Per::Run,
                },
            ),
            (
                "rate_limit:10/h",
                RateLimit {
                    limit: 10,
                    window_ms: 3_600_000,
                    per: Per::Route,
                },
            ),
            ("max_calls_per_run:20", MaxCallsPerRun(20)),
            (
                "daily_amount_limit:5000 per actor",
                DailyAmountLimit(5000.0),
            ),
            ("daily_amount_limit: 250.5", DailyAmountLimit(250.5)),
        ];
        for (text, want) in table {
            assert_eq!(&parse(text), want, "{text}");
        }
    }

    #[test]
    fn what_cannot_be_verified_is_unrecognized() {
        for text in [
            "",
            "be careful",
            "max_iterations:three",
            "max_iterations:-1",
            "timeout:soon",
            "max_amount:NaN",
            "max_amount:inf",
            "max_amount:-5",
            "require_approval: maybe",
            "required_role:",
            "only",
            "allowed_change_window:",
            "rate_limit:5",
            "rate_limit:0/1m per actor",
            "rate_limit:5/1m per tenant",
            "rate_limit:5/1m peractor",
            "rate_limit:5/500ms",
            "rate_limit:5/2d",
            "rate_limit:1000000/1s",
            "max_calls_per_run:0",
            "max_calls_per_run:-3",
            "daily_amount_limit:5000 per run",
            "daily_amount_limit:-1",
        ] {
            assert_eq!(parse(text), Unrecognized, "{text:?}");
        }
    }

    #[test]
    fn requirements_take_the_tighter_limit_and_resolve_windows() {
        let mut r = Requirements::default();
        let lookup = |n: &str| (n == "business_hours").then_some(0);
        r.add(&MaxIterations(5), lookup).unwrap();
        r.add(&MaxIterations(3), lookup).unwrap();
        r.add(&Window("business_hours".into()), lookup).unwrap();
        assert_eq!(r.max_iterations, Some(3));
        assert_eq!(r.windows.as_slice(), &[0]);
        assert_eq!(
            r.add(&Window("weekends".into()), lookup),
            Err(ApplyError::UnknownWindow("weekends".into()))
        );
        assert_eq!(r.add(&Unrecognized, lookup), Err(ApplyError::Unrecognized));
    }
}
