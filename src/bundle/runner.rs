//! A bundle's own tests: the compiled cases, and the runner that decides each one at its
//! fixed instant and compares the decision with what the case expects. Pure: no network, no
//! clock.
//!
//! Requests are decided by the proxy's own decision function (`crate::decide`), identity
//! and signed-approval verification included: a test under a `jwt` bundle carries its bearer token (and its `x-approval`)
//! as literal header values, verified at the case's `now` with the bundle's public keys;
//! under `mtls`, `client_cert` gives the SANs of the verified certificate. An approval is
//! judged as unused (using it once is the proxy's, after the decision), so one approval
//! token may serve several cases.

use crate::classify::normalize::normalize;
use crate::decide::{self, Head, Unjudged};
use crate::identity::ClientCert;
use crate::policy::{CheckRequest, Decision, Facts, IssueCode, IssueSet, Outcome, Verdict};
use crate::snapshot::Snapshot;
use bytes::Bytes;
use http::Method;
use http::{HeaderMap, HeaderName, HeaderValue};
use jiff::Timestamp;
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
    /// The verified client certificate the request arrives with (mTLS identity).
    pub client_cert: Option<ClientCert>,
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

/// Runs every test case of a bundle against its snapshot.
pub fn run_tests(snapshot: &Snapshot, tests: &[TestCase]) -> Vec<TestResult> {
    tests
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
    match decide::check(snapshot, check, TEST_REQUEST_ID.into(), now) {
        Ok(decision) => decision,
        Err(e) => {
            let (action, _) = check.prepare(&snapshot.policy);
            let outcome = Outcome {
                issues: IssueSet::of(IssueCode::InvalidRequest),
                risk: 0,
                environment_risk: None,
            };
            crate::authorize::decision(
                &snapshot.policy,
                &action,
                &Facts::default(),
                &outcome,
                vec![e.to_string()],
                TEST_REQUEST_ID.into(),
                now,
            )
        }
    }
}

/// Decides an HTTP request against the snapshot's routes through the proxy's own decision
/// function (`crate::decide`), after normalizing its target as the proxy does. Its body is
/// what the proxy would have read: all of it (an absent body is zero bytes).
pub fn decide_request(snapshot: &Snapshot, req: &TestRequest, now: Timestamp) -> Decision {
    let unjudged = |route, issue, detail: String| {
        decide::unjudged_decision(snapshot, route, issue, detail, TEST_REQUEST_ID.into(), now)
    };
    let invalid = IssueCode::InvalidRequest;
    let target = match normalize(&req.path) {
        Ok(t) => t,
        Err(e) => return unjudged(None, invalid, format!("request target: {e}")),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &req.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                headers.append(n, v);
            }
            _ => return unjudged(None, invalid, format!("header {name:?} is invalid")),
        }
    }
    let head = Head {
        method: &req.method,
        path: &target.path,
        query: target.query,
        headers: &headers,
        client_cert: req.client_cert.as_ref(),
    };
    let body = req.body.as_deref().unwrap_or_default();
    let judgement = decide::decide(snapshot, &head, Some(body), now);
    let route = judgement.route.and_then(|i| snapshot.routes.get(i));
    match (judgement.result, route) {
        (Ok(judged), Some(route)) => judged.decision(snapshot, route, TEST_REQUEST_ID.into(), now),
        (Ok(_), None) => unjudged(None, IssueCode::RouteNotMapped, "no route".into()),
        (Err(why), route) => {
            let detail = match &why {
                Unjudged::NotMapped => format!("no route maps {} {}", req.method, target.path),
                other => other.to_string(),
            };
            unjudged(route, why.issue(), detail)
        }
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
