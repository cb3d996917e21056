//! The Stage0 `/check` payload: goal, tools, side_effects, constraints and context, read
//! into a prepared action and facts. Unknown top-level fields (Stage0's `pro`) are ignored;
//! a wrong type is an error that names the field.

use super::constraint::{self, ApplyError};
use super::facts::{parse_bool, Facts};
use super::model::{Policy, PreparedAction};
use super::requirements::Requirements;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A `/check` payload as sent by an agent or orchestrator.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct CheckRequest {
    pub goal: String,
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub side_effects: Vec<String>,
    #[serde(default)]
    pub constraints: Vec<String>,
    /// Every context field is kept; the engine reads the ones it knows.
    #[serde(default)]
    pub context: Map<String, Value>,
}

/// A payload the engine cannot read: the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PayloadError {
    pub field: String,
    pub message: String,
}

impl CheckRequest {
    /// Parses a payload, naming the field of the first type error.
    pub fn from_json(bytes: &[u8]) -> Result<CheckRequest, PayloadError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            PayloadError {
                // `.` is the document itself; `?` is where the document broke off.
                field: if path == "." || path == "?" {
                    "(payload)".into()
                } else {
                    path
                },
                message: e.into_inner().to_string(),
            }
        })
    }

    /// Reads the context into facts; `amount_field` names the context field that holds the
    /// amount (`spec.limits.amount_field` of the bundle).
    pub fn facts(&self, amount_field: &str) -> Result<Facts<'_>, PayloadError> {
        let c = &self.context;
        let facts = Facts {
            run_id: text(c, "run_id")?,
            actor: text(c, "actor")?,
            actor_role: text(c, "actor_role")?,
            extra_roles: Vec::new(),
            approval_status: text(c, "approval_status")?,
            approved_by: text(c, "approved_by")?,
            approved_at: timestamp(c, "approved_at")?,
            environment: text(c, "environment")?,
            current_iteration: count(c, "current_iteration")?,
            elapsed_seconds: quantity(c, "elapsed_seconds")?,
            cumulative_cost_usd: quantity(c, "cumulative_cost_usd")?,
            amount: quantity(c, amount_field)?,
            current_tool: text(c, "current_tool")?,
            ticket_id: text(c, "ticket_id")?,
            rollback_plan: evidence(c, "rollback_plan")?,
            mfa: flag(c, "mfa")?,
            issues: Default::default(),
        };
        if let Some(v) = c.get("recent_tools").filter(|v| !v.is_null()) {
            let ok = v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
            if !ok {
                return Err(wrong("recent_tools", "expected an array of strings"));
            }
        }
        Ok(facts)
    }

    /// Prepares the action: constraints are parsed here, per payload. What cannot be
    /// verified (an unknown spelling or window) is kept as unrecognized, and explained.
    pub fn prepare(&self, policy: &Policy) -> (PreparedAction, Vec<String>) {
        let mut own = Requirements::default();
        let mut details = Vec::new();
        for text in &self.constraints {
            let parsed = constraint::parse(text);
            match own.add(&parsed, |name| policy.window_id(name)) {
                Ok(()) => {}
                Err(ApplyError::Unrecognized) => {
                    own.unrecognized.push(text.as_str().into());
                    details.push(format!("constraint {text:?} is not recognized"));
                }
                Err(ApplyError::UnknownWindow(name)) => {
                    own.unrecognized.push(text.as_str().into());
                    details.push(format!("constraint {text:?} names window {name:?}, which the bundle does not define"));
                }
            }
        }
        let action = policy.prepare(None, &self.goal, &self.tools, &self.side_effects, own, None);
        (action, details)
    }
}

fn wrong(field: &str, message: &str) -> PayloadError {
    PayloadError {
        field: format!("context.{field}"),
        message: message.into(),
    }
}

fn present<'a>(c: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    c.get(field).filter(|v| !v.is_null())
}

fn text<'a>(c: &'a Map<String, Value>, field: &str) -> Result<Option<Cow<'a, str>>, PayloadError> {
    match present(c, field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(Cow::Borrowed(s.as_str()))),
        Some(_) => Err(wrong(field, "expected a string")),
    }
}

fn timestamp(c: &Map<String, Value>, field: &str) -> Result<Option<Timestamp>, PayloadError> {
    match present(c, field) {
        None => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| {
            wrong(
                field,
                "expected an RFC 3339 timestamp such as 2026-03-14T09:30:00Z",
            )
        }),
        Some(_) => Err(wrong(field, "expected an RFC 3339 timestamp string")),
    }
}

fn count(c: &Map<String, Value>, field: &str) -> Result<Option<u64>, PayloadError> {
    match present(c, field) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| wrong(field, "expected a non-negative integer")),
    }
}

fn quantity(c: &Map<String, Value>, field: &str) -> Result<Option<f64>, PayloadError> {
    match present(c, field) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(Some)
            .ok_or_else(|| wrong(field, "expected a non-negative number")),
    }
}

fn flag(c: &Map<String, Value>, field: &str) -> Result<Option<bool>, PayloadError> {
    match present(c, field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => parse_bool(s)
            .map(Some)
            .ok_or_else(|| wrong(field, "expected a boolean")),
        Some(_) => Err(wrong(field, "expected a boolean")),
    }
}

/// Evidence such as a rollback plan: a boolean, or a non-empty reference to it.
fn evidence(c: &Map<String, Value>, field: &str) -> Result<Option<bool>, PayloadError> {
    match present(c, field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => Ok(Some(parse_bool(s).unwrap_or(!s.trim().is_empty()))),
        Some(_) => Err(wrong(field, "expected a boolean or a reference string")),
    }
}
