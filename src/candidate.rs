//! Candidate evaluation: a second bundle, configured beside the live one, decides every
//! request too — after the response, on an owned copy of what the request carried — and
//! never enforces anything. Where its verdict differs from the live one, the difference is
//! counted (`toolgate_candidate_disagreements_total`) and written into the request's audit
//! record, so a policy change can be measured on real traffic before it goes live.
//!
//! The candidate judges the request through the one decision function the live bundle used
//! (`crate::decide`): the same route lookup on the normalized path, the same `Connection`,
//! body and extraction checks (a failure is `INVALID_REQUEST`), no route is
//! `ROUTE_NOT_MAPPED`, identity and signed approvals verified by the candidate's own trust
//! settings, and the would-be verdict of a shadow route counts, as it does for the live
//! bundle. An approval the live request just used is judged as unused: the question is what
//! the candidate would have decided instead.

use crate::audit::CandidateVerdict;
use crate::decide::{self, Head};
use crate::identity::ClientCert;
use crate::policy::{IssueSet, Verdict};
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

/// The candidate's would-be decision (through [`decide::decide`], as the live bundle
/// decided), or `None` when it cannot judge the request fairly: it needs the body (its route
/// reads it, or a signed approval binds it), which the live route streamed unread.
pub fn evaluate(snapshot: &Snapshot, input: &CandidateInput) -> Option<CandidateVerdict> {
    let judged = |issues: IssueSet| CandidateVerdict {
        policy_version: snapshot.meta.policy_version.clone(),
        verdict: Verdict::from_issues(issues),
        issues,
    };
    let head = Head {
        method: &input.method,
        path: &input.path,
        query: input.query.as_deref(),
        headers: &input.headers,
        client_cert: input.client_cert.as_ref(),
    };
    if input.body.is_none() {
        if let Some(found) = snapshot.table.find(&input.method, &input.path) {
            let route = snapshot.routes.get(found.index)?;
            if route.context.reads_body || snapshot.trust.buffers_body(&input.headers) {
                return None;
            }
        }
    }
    let judgement = decide::decide(snapshot, &head, input.body.as_deref(), input.now);
    Some(match judgement.result {
        Ok(j) => judged(j.outcome.issues),
        Err(why) => judged(IssueSet::of(why.issue())),
    })
}
