//! A bundle's own tests: the compiled cases, and the runner that decides each one at its
//! fixed instant and compares the decision with what the case expects. Pure: no network, no
//! clock.

use crate::extract::{Field, Source};
use crate::policy::facts::parse_bool;
use crate::policy::{
    CheckRequest, Decision, Facts, IssueCode, IssueSet, Outcome, PreparedAction, Verdict,
};
use crate::snapshot::Snapshot;
use bytes::Bytes;
use http::Method;
use jiff::Timestamp;
use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

/// Where something was written in a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One test case of a bundle's `TestSuite`.
#[derive(Clone, Debug)]
pub struct TestCase {
    pub name: String,
    /// The fixed instant the case is evaluated at.
    pub now: Timestamp,
    pub input: TestInput,
    pub expect: Expectation,
    /// The test's entry in its `TestSuite` file.
    pub location: SourceLocation,
}

/// What a case sends: an HTTP request to the guarded API, or a Stage0 `/check` payload.
#[derive(Clone, Debug)]
pub enum TestInput {
    Request(TestRequest),
    Check(Box<CheckRequest>),
}

#[derive(Clone, Debug)]
pub struct TestRequest {
    pub method: Method,
    /// The request target as written: path and optional `?query`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
}

/// What a case expects. Only `verdict` is required; the rest is checked when present.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    pub verdict: Verdict,
    /// The exact set of issues.
    pub issues: Option<IssueSet>,
    /// Issues that must be among the decision's (empty: no check).
    pub issues_include: IssueSet,
    pub route: Option<String>,
    /// The exact list of defer questions, in order.
    pub defer_questions: Option<Vec<String>>,
    /// Questions that must be among the decision's (empty: no check).
    pub defer_questions_include: Vec<String>,
}

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct TestResult {
    pub name: String,
    pub passed: bool,
    /// One human-readable line per mismatch, e.g. `verdict: expected DENY, got DEFER`.
    pub failures: Vec<String>,
    pub location: SourceLocation,
    /// The decision the case produced.
    pub decision: Decision,
}

/// Runs every test case of the snapshot.
pub fn run_tests(snapshot: &Snapshot) -> Vec<TestResult> {
    snapshot
        .tests
        .iter()
        .map(|case| {
            let decision = match &case.input {
                TestInput::Request(r) => decide_request(snapshot, r, case.now),
                TestInput::Check(c) => decide_check(snapshot, c, case.now),
            };
            let failures = compare(&case.expect, &decision);
            TestResult {
                name: case.name.clone(),
                passed: failures.is_empty(),
                failures,
                location: case.location.clone(),
                decision,
            }
        })
        .collect()
}

const TEST_REQUEST_ID: &str = "test";

/// Decides a `/check` payload, as the `/v1/check` endpoint does. A context the engine cannot
/// read is an `INVALID_REQUEST` decision naming the field.
pub fn decide_check(snapshot: &Snapshot, check: &CheckRequest, now: Timestamp) -> Decision {
    let policy = &snapshot.policy;
    let (action, details) = check.prepare(policy);
    match check.facts(&snapshot.amount_field) {
        Ok(facts) => {
            let outcome = policy.evaluate(&action, &facts, now);
            policy.decision(
                &action,
                &facts,
                &outcome,
                TEST_REQUEST_ID.into(),
                now,
                details,
            )
        }
        Err(e) => fixed(
            snapshot,
            &action,
            IssueCode::InvalidRequest,
            vec![e.to_string()],
            now,
        ),
    }
}

/// A decision with one issue and no evaluation (unmapped route, unreadable input).
fn fixed(
    snapshot: &Snapshot,
    action: &PreparedAction,
    code: IssueCode,
    details: Vec<String>,
    now: Timestamp,
) -> Decision {
    let outcome = Outcome {
        issues: IssueSet::of(code),
        risk: 0,
        environment_risk: None,
    };
    snapshot.policy.decision(
        action,
        &Facts::default(),
        &outcome,
        TEST_REQUEST_ID.into(),
        now,
        details,
    )
}

/// Decides an HTTP request against the snapshot's routes.
pub fn decide_request(snapshot: &Snapshot, req: &TestRequest, now: Timestamp) -> Decision {
    // Normalization is trivial for now: the path is used as given.
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let Some(m) = snapshot.table.find(&req.method, path) else {
        return fixed(
            snapshot,
            &PreparedAction::default(),
            IssueCode::RouteNotMapped,
            vec![format!("no route maps {} {path}", req.method)],
            now,
        );
    };
    let route = &snapshot.routes[m.index];

    // TEMPORARY until extract::extract lands: a minimal reader of headers, path params,
    // query parameters and JSON body pointers, all read as text.
    let mut facts: Facts<'static> = Facts::default();
    let mut details = Vec::new();
    let body: Option<serde_json::Value> = match &req.body {
        Some(b) if route.context.reads_body => match serde_json::from_slice(b) {
            Ok(v) => Some(v),
            Err(e) => {
                facts.issues.insert(IssueCode::InvalidRequest);
                details.push(format!("the body is not JSON: {e}"));
                None
            }
        },
        _ => None,
    };
    for (field, sources) in &route.context.fields {
        let mut value: Option<String> = None;
        for source in sources {
            let found = match source {
                Source::Header(h) => req
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(h.as_str()))
                    .map(|(_, v)| v.trim().to_owned()),
                Source::Param(p) => m.params.get(&**p).map(str::to_owned),
                Source::Query(q) => query.split('&').find_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k) == **q).then(|| decode(v))
                }),
                Source::Body(tokens) => body
                    .as_ref()
                    .and_then(|b| pointer(b, tokens))
                    .and_then(scalar_text),
            };
            match (&value, found) {
                (_, None) => {}
                (None, Some(v)) => value = Some(v),
                (Some(first), Some(v)) if *first != v => {
                    facts.issues.insert(if *field == Field::Environment {
                        IssueCode::EnvironmentMismatch
                    } else {
                        IssueCode::ContextMismatch
                    });
                    details.push(format!(
                        "context field {} has two values: {first:?} and {v:?}",
                        name_of(field)
                    ));
                }
                (Some(_), Some(_)) => {}
            }
        }
        let Some(v) = value else { continue };
        if route.context.amount.as_ref() == Some(field) {
            match v.parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => facts.amount = Some(n),
                _ => invalid(&mut facts, &mut details, field, &v),
            }
        }
        set_fact(&mut facts, &mut details, field, v);
    }
    // END TEMPORARY

    let outcome = snapshot.policy.evaluate(&route.action, &facts, now);
    snapshot.policy.decision(
        &route.action,
        &facts,
        &outcome,
        TEST_REQUEST_ID.into(),
        now,
        details,
    )
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn pointer<'v>(
    mut value: &'v serde_json::Value,
    tokens: &[Box<str>],
) -> Option<&'v serde_json::Value> {
    for t in tokens {
        value = match value {
            serde_json::Value::Object(m) => m.get(&**t)?,
            serde_json::Value::Array(a) => a.get(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn name_of(field: &Field) -> &str {
    match field {
        Field::RunId => "run_id",
        Field::Actor => "actor",
        Field::ActorRole => "actor_role",
        Field::ApprovalStatus => "approval_status",
        Field::ApprovedBy => "approved_by",
        Field::ApprovedAt => "approved_at",
        Field::Environment => "environment",
        Field::CurrentIteration => "current_iteration",
        Field::ElapsedSeconds => "elapsed_seconds",
        Field::CumulativeCostUsd => "cumulative_cost_usd",
        Field::CurrentTool => "current_tool",
        Field::TicketId => "ticket_id",
        Field::RollbackPlan => "rollback_plan",
        Field::Mfa => "mfa",
        Field::Other(name) => name,
    }
}

fn invalid(facts: &mut Facts<'_>, details: &mut Vec<String>, field: &Field, v: &str) {
    facts.issues.insert(IssueCode::InvalidRequest);
    details.push(format!(
        "context field {} has an unreadable value {v:?}",
        name_of(field)
    ));
}

fn set_fact(facts: &mut Facts<'static>, details: &mut Vec<String>, field: &Field, v: String) {
    let text = |v: String| Some(Cow::Owned(v));
    match field {
        Field::RunId => facts.run_id = text(v),
        Field::Actor => facts.actor = text(v),
        Field::ActorRole => facts.actor_role = text(v),
        Field::ApprovalStatus => facts.approval_status = text(v),
        Field::ApprovedBy => facts.approved_by = text(v),
        Field::Environment => facts.environment = text(v),
        Field::CurrentTool => facts.current_tool = text(v),
        Field::TicketId => facts.ticket_id = text(v),
        Field::ApprovedAt => match v.parse::<Timestamp>() {
            Ok(t) => facts.approved_at = Some(t),
            Err(_) => invalid(facts, details, field, &v),
        },
        Field::CurrentIteration => match v.parse::<u64>() {
            Ok(n) => facts.current_iteration = Some(n),
            Err(_) => invalid(facts, details, field, &v),
        },
        Field::ElapsedSeconds | Field::CumulativeCostUsd => match v.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= 0.0 => {
                if *field == Field::ElapsedSeconds {
                    facts.elapsed_seconds = Some(n);
                } else {
                    facts.cumulative_cost_usd = Some(n);
                }
            }
            _ => invalid(facts, details, field, &v),
        },
        Field::RollbackPlan => {
            facts.rollback_plan = Some(parse_bool(&v).unwrap_or(!v.trim().is_empty()))
        }
        Field::Mfa => match parse_bool(&v) {
            Some(b) => facts.mfa = Some(b),
            None => invalid(facts, details, field, &v),
        },
        Field::Other(_) => {}
    }
}

fn list(issues: IssueSet) -> String {
    let codes: Vec<&str> = issues.iter().map(IssueCode::as_str).collect();
    format!("[{}]", codes.join(", "))
}

/// Compares a decision with an expectation: one line per mismatch.
fn compare(expect: &Expectation, d: &Decision) -> Vec<String> {
    let mut failures = Vec::new();
    if d.verdict != expect.verdict {
        failures.push(format!(
            "verdict: expected {}, got {} (issues {})",
            expect.verdict.as_str(),
            d.verdict.as_str(),
            list(d.issues)
        ));
    }
    if let Some(want) = expect.issues {
        if want != d.issues {
            let missing: IssueSet = want.iter().filter(|c| !d.issues.contains(*c)).collect();
            let extra: IssueSet = d.issues.iter().filter(|c| !want.contains(*c)).collect();
            failures.push(format!(
                "issues: expected {}, got {} (missing {}, unexpected {})",
                list(want),
                list(d.issues),
                list(missing),
                list(extra)
            ));
        }
    }
    let missing: IssueSet = expect
        .issues_include
        .iter()
        .filter(|c| !d.issues.contains(*c))
        .collect();
    if !missing.is_empty() {
        failures.push(format!(
            "issues: expected to include {}, missing {} (got {})",
            list(expect.issues_include),
            list(missing),
            list(d.issues)
        ));
    }
    if let Some(want) = &expect.route {
        if d.route.as_deref() != Some(want.as_str()) {
            failures.push(format!(
                "route: expected {want}, got {}",
                d.route.as_deref().unwrap_or("none")
            ));
        }
    }
    let got: Vec<&str> = d.defer_questions.iter().map(|q| &**q).collect();
    if let Some(want) = &expect.defer_questions {
        if *want != got {
            failures.push(format!("defer_questions: expected {want:?}, got {got:?}"));
        }
    }
    let missing: Vec<&String> = expect
        .defer_questions_include
        .iter()
        .filter(|q| !got.contains(&q.as_str()))
        .collect();
    if !missing.is_empty() {
        failures.push(format!(
            "defer_questions: expected to include {missing:?}, got {got:?}"
        ));
    }
    failures
}
