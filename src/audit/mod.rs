//! Audit: one JSON line per request, so an auditor can follow a request from proposal
//! (who asked, for what, under which policy version) to result (what the runtime did).
//!
//! This module owns the record's shape ([`AuditRecord`], whose field names are a contract
//! with whoever reads the log) and [`sink`], which writes records off the request path and
//! keeps the most recent ones for lookup by request id. [`AuditRecord::render`] (in
//! `render`) writes a record's JSON line without going through serde.

mod render;
mod ring;
pub mod sink;

pub use sink::{AuditOptions, AuditSink, Trace, DEFAULT_RING_CAPACITY};

use crate::policy::{DecisionKind, Facts, IssueSet, Verdict};
use crate::snapshot::Mode;
use http::Method;
use jiff::Timestamp;
use serde::{Serialize, Serializer};
use std::sync::Arc;

/// What the runtime finally did with the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAction {
    /// Sent to the tool API, which answered (any status).
    Forwarded,
    /// Stopped by a DENY or DEFER: the tool API never saw it.
    ExecutionStopped,
    /// Sent to the tool API, which gave no usable answer.
    UpstreamError,
    /// ALLOWed, but not sent: `upstream.max_concurrent_requests` exchanges were under way.
    UpstreamOverloaded,
    /// The client went away before its answer was complete: before a decision, while the
    /// tool API worked (the tool may have acted; `upstream_status` is null), or while the
    /// response streamed (`upstream_status` is the tool's).
    ClientCancelled,
    /// A decision API call (`POST /check`): decided, nothing to forward.
    DecisionOnly,
}

/// What the state store did for a request that needed it (`state.url`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateAction {
    /// A signed approval's `jti` was claimed (and any counted limits counted).
    Claimed,
    /// Counted limits were checked and counted; no approval was claimed.
    Counted,
    /// The store refused: the approval was used already, or a limit was reached. Nothing
    /// was claimed or counted.
    Refused,
    /// The store did not answer in time, or failed: the request was refused with 503.
    Unavailable,
}

/// What a candidate bundle would have decided, recorded when it disagrees with the live one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CandidateVerdict {
    pub policy_version: Arc<str>,
    pub verdict: Verdict,
    pub issues: IssueSet,
}

/// One request, from proposal to result. Strings are `Arc`s shared with the snapshot where
/// they come from it (route, policy version, tools), so building a record costs a handful of
/// small allocations; formatting happens on the audit writer, not on the request path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    /// When the request arrived (RFC 3339, UTC).
    #[serde(serialize_with = "display")]
    pub ts: Timestamp,
    pub request_id: Arc<str>,
    /// The trace id of the request's `traceparent` header, if it had a valid one.
    pub trace_id: Option<Arc<str>>,
    /// The matched route's name; null when no route matched.
    pub route: Option<Arc<str>>,
    #[serde(serialize_with = "method")]
    pub method: Method,
    /// The normalized path (what was matched, and what would be forwarded).
    pub path: Arc<str>,
    pub policy_version: Arc<str>,
    pub decision: DecisionKind,
    /// The verdict the runtime acted on (on a shadow route, the request was forwarded).
    pub verdict: Verdict,
    pub issues: IssueSet,
    pub actor: Option<Arc<str>>,
    pub actor_role: Option<Arc<str>>,
    pub environment: Option<Arc<str>>,
    pub approval_status: Option<Arc<str>>,
    pub approved_by: Option<Arc<str>>,
    #[serde(serialize_with = "opt_display")]
    pub approved_at: Option<Timestamp>,
    pub run_id: Option<Arc<str>>,
    pub tools: Arc<[Box<str>]>,
    pub side_effects: Arc<[Box<str>]>,
    /// The risk score, 0-100.
    pub risk: u8,
    pub final_runtime_action: FinalAction,
    /// The tool API's status; null when the request was not forwarded or got no answer.
    pub upstream_status: Option<u16>,
    pub decision_us: u64,
    /// Null when the request was not forwarded.
    pub upstream_ms: Option<f64>,
    pub total_ms: f64,
    #[serde(serialize_with = "mode")]
    pub mode: Mode,
    /// On a shadow route, the verdict that would have been enforced; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_verdict: Option<Verdict>,
    /// On a shadow route, the status toolgate would have answered with instead of
    /// forwarding (403 for DENY, 409 for DEFER); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_status: Option<u16>,
    /// The candidate bundle's decision, when it disagreed with the live one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<CandidateVerdict>,
    /// An MCP message: its JSON-RPC method (absent for a client's response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_method: Option<Arc<str>>,
    /// An MCP message: the tool or prompt it names, or the resource URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_tool: Option<Arc<str>>,
    /// Only for a request that needed the state store: what it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateAction>,
    /// Only for a decision API call: the name of the key it came with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Arc<str>>,
    /// Only for a request held for, or released by, a review in the review inbox: its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_id: Option<Arc<str>>,
}

/// An empty label list, shared: a record starts with it and most get the route's own.
fn no_labels() -> Arc<[Box<str>]> {
    static EMPTY: std::sync::OnceLock<Arc<[Box<str>]>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::from([])).clone()
}

impl AuditRecord {
    /// A record for a request stopped with `verdict` and no facts; callers fill in the rest
    /// field by field (they are public) as the request progresses.
    pub fn new(
        ts: Timestamp,
        request_id: Arc<str>,
        method: Method,
        path: Arc<str>,
        policy_version: Arc<str>,
        verdict: Verdict,
    ) -> AuditRecord {
        AuditRecord {
            ts,
            request_id,
            trace_id: None,
            route: None,
            method,
            path,
            policy_version,
            decision: verdict.decision(),
            verdict,
            issues: IssueSet::EMPTY,
            actor: None,
            actor_role: None,
            environment: None,
            approval_status: None,
            approved_by: None,
            approved_at: None,
            run_id: None,
            tools: no_labels(),
            side_effects: no_labels(),
            risk: 0,
            final_runtime_action: FinalAction::ExecutionStopped,
            upstream_status: None,
            decision_us: 0,
            upstream_ms: None,
            total_ms: 0.0,
            mode: Mode::Enforce,
            shadow_verdict: None,
            shadow_status: None,
            candidate: None,
            mcp_method: None,
            mcp_tool: None,
            state: None,
            api_key: None,
            review_id: None,
        }
    }

    /// Copies the identity and approval facts the request was evaluated with.
    pub fn set_facts(&mut self, facts: &Facts<'_>) {
        let own = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().map(Arc::from);
        self.actor = own(&facts.actor);
        self.actor_role = own(&facts.actor_role);
        self.environment = own(&facts.environment);
        self.approval_status = own(&facts.approval_status);
        self.approved_by = own(&facts.approved_by);
        self.approved_at = facts.approved_at;
        self.run_id = own(&facts.run_id);
    }

    /// Sets the verdict and the matching Stage0 decision together, so they cannot disagree.
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.verdict = verdict;
        self.decision = verdict.decision();
    }
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), or `None`
/// when the header is malformed or carries the invalid all-zero id.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    // Version ff is forbidden; later versions may append fields, version 00 may not.
    let extra_ok = version != "00" || parts.next().is_none();
    let valid = hex(version, 2)
        && version != "ff"
        && extra_ok
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then_some(trace)
}

fn display<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn opt_display<T: std::fmt::Display, S: Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn method<S: Serializer>(m: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

fn mode<S: Serializer>(m: &Mode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match m {
        Mode::Enforce => "enforce",
        Mode::Shadow => "shadow",
    })
}

#[cfg(test)]
mod tests {
    use super::trace_id;

    #[test]
    fn trace_ids_come_from_valid_traceparents_only() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let ok = format!("00-{id}-00f067aa0ba902b7-01");
        assert_eq!(trace_id(&ok), Some(id));
        assert_eq!(
            trace_id(&format!("01-{id}-00f067aa0ba902b7-01-xyz")),
            Some(id)
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
    }
}
