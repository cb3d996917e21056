//! Candidate evaluation: a second bundle, configured beside the live one, decides every
//! request too — after the response, on an owned copy of what the request carried — and
//! never enforces anything. Where its verdict differs from the live one, the difference is
//! counted (`toolgate_candidate_disagreements_total`) and written into the request's audit
//! record, so a policy change can be measured on real traffic before it goes live.
//!
//! The candidate judges the request as the live path would have: the same route lookup on
//! the normalized path, the same `Connection` and extraction checks (a failure is
//! `INVALID_REQUEST`), no route is `ROUTE_NOT_MAPPED`, identity and signed approvals
//! verified by the candidate's own trust settings, and the would-be verdict of a shadow
//! route counts, as it does for the live bundle. An approval the live request just used is
//! judged as unused: the question is what the candidate would have decided instead.

use crate::approval::ReplayCache;
use crate::audit::CandidateVerdict;
use crate::authorize;
use crate::extract::{extract, RequestView};
use crate::headers;
use crate::identity::{ClientCert, TrustInput};
use crate::policy::{IssueCode, IssueSet, Verdict};
use crate::snapshot::Snapshot;
use bytes::Bytes;
use http::{HeaderMap, Method};
use jiff::Timestamp;

/// What the candidate needs of a request, owned so it can outlive the request.
#[derive(Debug)]
pub struct CandidateInput {
    pub method: Method,
    /// The normalized path (what the live bundle matched).
    pub path: Box<str>,
    pub query: Option<Box<str>>,
    pub headers: HeaderMap,
    /// The body, when the live route read it; a streamed body is never buffered for the
    /// candidate's sake.
    pub body: Option<Bytes>,
    /// The connection's verified client certificate, if any.
    pub client_cert: Option<ClientCert>,
    /// The instant the live bundle decided at.
    pub now: Timestamp,
}

/// The candidate's would-be decision, or `None` when it cannot judge the request fairly:
/// it needs the body (its route reads it, or a signed approval binds it), which the live
/// route streamed unread.
pub fn evaluate(snapshot: &Snapshot, input: &CandidateInput) -> Option<CandidateVerdict> {
    let judged = |issues: IssueSet| CandidateVerdict {
        policy_version: snapshot.meta.policy_version.clone(),
        verdict: Verdict::from_issues(issues),
        issues,
    };
    let Some(found) = snapshot.table.find(&input.method, &input.path) else {
        return Some(judged(IssueSet::of(IssueCode::RouteNotMapped)));
    };
    let route = snapshot.routes.get(found.index)?;
    let needs_body = route.context.reads_body || snapshot.trust.buffers_body(&input.headers);
    if needs_body && input.body.is_none() {
        return None;
    }
    let invalid = || Some(judged(IssueSet::of(IssueCode::InvalidRequest)));
    if headers::connection_listed(
        &input.headers,
        &route.context.headers,
        snapshot.trust.verified_headers(),
    )
    .is_err()
    {
        return invalid();
    }
    let view = RequestView {
        headers: &input.headers,
        params: &found.params,
        query: input.query.as_deref(),
        body: if route.context.reads_body {
            input.body.as_deref()
        } else {
            None
        },
    };
    let Ok(extracted) = extract(&route.context, &view) else {
        return invalid();
    };
    let mut facts = extracted.facts;
    let trust = TrustInput {
        headers: &input.headers,
        client_cert: input.client_cert.as_ref(),
        route,
        method: &input.method,
        path: &input.path,
        query: input.query.as_deref(),
        body: input.body.as_deref(),
    };
    snapshot
        .trust
        .gather(&trust, &mut facts, &ReplayCache::default(), input.now);
    let outcome = authorize::evaluate(snapshot, route, &facts, input.now);
    Some(judged(outcome.issues))
}
