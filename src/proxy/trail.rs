//! The audit record and the metrics of one request, from arrival to outcome.
//!
//! A [`Trail`] starts when a request arrives and collects what each stage learns (route,
//! facts, verdict, upstream status and timings). Its decision is counted in the metrics the
//! moment it is made; its audit record is handed to the sink exactly once, when the trail
//! is dropped: when a refusal has been rendered, when a forwarded response's body has ended
//! (or was abandoned by the client), or when the client went away mid-request. A record is
//! therefore written for every outcome, including a cancelled one, and a drained connection
//! has handed over all of its records by the time it closes.
//!
//! With a candidate bundle configured, dropping the trail spawns the candidate's evaluation
//! (off the response path); the record is handed over once the candidate has judged.

use super::refusal::{policy_status, Rendered};
use super::rpc::Rpc;
use crate::audit::{self, AuditRecord, FinalAction};
use crate::body::{BoxError, ProxyBody};
use crate::candidate::{self, CandidateInput};
use crate::decide::McpCall;
use crate::identity::ClientCert;
use crate::mcp::Kind;
use crate::metrics::{
    mcp_method_label, InFlight, RouteMetricsTable, UpstreamErrorKind, MCP_MALFORMED,
};
use crate::ops::Ops;
use crate::policy::{Facts, IssueSet, Outcome, Verdict};
use crate::snapshot::{Mode, Route, Snapshot};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use jiff::Timestamp;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How far routing got.
enum Routed {
    NotReached,
    Unmatched,
    Route(usize),
}

/// One request's record in progress. See the module docs.
pub(super) struct Trail {
    /// `None` once handed to the sink.
    rec: Option<AuditRecord>,
    ops: Arc<Ops>,
    table: Arc<RouteMetricsTable>,
    routed: Routed,
    started: Instant,
    decision_time: Duration,
    /// The decision has been counted (exactly once per request).
    counted: bool,
    /// The live bundle judged the request (a policy decision, no route, or an unreadable
    /// context), so a candidate's verdict can be compared with it. Refusals that do not
    /// depend on the bundle (a bad target, a body over the limit) are not compared.
    comparable: bool,
    /// The request was handed to the upstream client.
    sent: bool,
    upstream_started: Option<Instant>,
    /// The upstream answered with a usable response head.
    answered: bool,
    /// The upstream's answer turned out unusable (a 101, a body that broke off).
    failed: bool,
    /// ALLOWed but never sent: the upstream fan-out bound was reached.
    overloaded: bool,
    /// The client got its whole answer (a refusal rendered, or the forwarded body to its
    /// end); dropped unsettled, the trail records a client that went away.
    settled: bool,
    candidate: Option<CandidateInput>,
    /// The MCP message being answered, for a refusal in its shape.
    rpc: Option<Rpc>,
    /// Its labels in `toolgate_mcp_messages_total`.
    mcp: Option<McpLabels>,
    _in_flight: InFlight,
}

/// What `toolgate_mcp_messages_total` counts an MCP message under (bounded: a tool is
/// named only when the bundle maps it, a method only when the specification does).
struct McpLabels {
    server: Arc<str>,
    tool: Option<Arc<str>>,
    method: usize,
}

impl Trail {
    pub(super) fn start(
        ops: &Arc<Ops>,
        snapshot: &Snapshot,
        now: Timestamp,
        request_id: &str,
        method: &Method,
        headers: &HeaderMap,
        raw_path: &str,
    ) -> Trail {
        let mut rec = AuditRecord::new(
            now,
            request_id.into(),
            method.clone(),
            raw_path.into(),
            snapshot.meta.policy_version.clone(),
            Verdict::Deny,
        );
        let mut parents = headers.get_all("traceparent").iter();
        if let (Some(v), None) = (parents.next(), parents.next()) {
            rec.trace_id = v.to_str().ok().and_then(audit::trace_id).map(Arc::from);
        }
        Trail {
            rec: Some(rec),
            ops: ops.clone(),
            table: snapshot.route_metrics(&ops.metrics).clone(),
            routed: Routed::NotReached,
            started: Instant::now(),
            decision_time: Duration::ZERO,
            counted: false,
            comparable: false,
            sent: false,
            upstream_started: None,
            answered: false,
            failed: false,
            overloaded: false,
            settled: false,
            candidate: None,
            rpc: None,
            mcp: None,
            _in_flight: ops.metrics.in_flight(),
        }
    }

    fn rec(&mut self) -> &mut AuditRecord {
        self.rec
            .as_mut()
            .expect("a trail's record is taken only when it is dropped")
    }

    fn route_index(&self) -> Option<usize> {
        match self.routed {
            Routed::Route(i) => Some(i),
            Routed::NotReached | Routed::Unmatched => None,
        }
    }

    /// The route for refusal bodies: its name, `unmatched`, or none before routing.
    pub(super) fn route_label(&self) -> Option<Arc<str>> {
        match self.routed {
            Routed::NotReached => None,
            Routed::Unmatched => Some(Arc::from(crate::metrics::UNMATCHED)),
            Routed::Route(_) => self.rec.as_ref().and_then(|r| r.route.clone()),
        }
    }

    /// Time spent deciding (classify, extract, evaluate), excluding body and upstream I/O.
    pub(super) fn add_decision_time(&mut self, d: Duration) {
        self.decision_time += d;
    }

    /// The target checked out: `path` is what is matched and forwarded. With a candidate
    /// bundle configured, keeps what it needs to judge the request later.
    pub(super) fn target(
        &mut self,
        parts: &http::request::Parts,
        path: &str,
        query: Option<&str>,
        now: Timestamp,
    ) {
        // Usually normalizing changed nothing: keep the one copy.
        if *self.rec().path != *path {
            self.rec().path = path.into();
        }
        if self.ops.candidate.is_some() {
            self.candidate = Some(CandidateInput {
                method: parts.method.clone(),
                path: path.into(),
                query: query.map(Into::into),
                headers: parts.headers.clone(),
                body: None,
                client_cert: parts.extensions.get::<ClientCert>().cloned(),
                now,
            });
        }
    }

    pub(super) fn unmatched(&mut self) {
        self.routed = Routed::Unmatched;
        self.comparable = true;
    }

    /// The route's context could not be read from the request: the bundle's judgement.
    pub(super) fn context_invalid(&mut self) {
        self.comparable = true;
    }

    pub(super) fn routed(&mut self, index: usize, route: &Route) {
        self.routed = Routed::Route(index);
        let rec = self.rec();
        rec.route = Some(route.name.clone());
        rec.tools = route.action.tools.clone();
        rec.side_effects = route.action.side_effects.clone();
        rec.mode = route.mode;
    }

    /// The request is an MCP message: the record names its method and tool, and a refusal
    /// answers it in JSON-RPC.
    pub(super) fn mcp(&mut self, call: &McpCall, snapshot: &Snapshot) {
        let style = snapshot
            .mcp
            .get(call.endpoint)
            .map(|e| e.refusal)
            .unwrap_or_default();
        self.rpc = Some(Rpc {
            id: call.id.clone(),
            style,
        });
        if let Some(server) = snapshot.mcp.get(call.endpoint) {
            let method = call.method.as_deref();
            let tool = match (method, call.name.as_deref()) {
                (Some("tools/call"), Some(name)) => server
                    .tools
                    .get(name)
                    .and_then(|&i| snapshot.routes.get(i))
                    .map(|r| r.name.clone()),
                _ => None,
            };
            self.mcp = Some(McpLabels {
                server: server.name.clone(),
                tool,
                method: mcp_method_label(call.kind == Kind::Response, method),
            });
        }
        let rec = self.rec();
        rec.mcp_method = call.method.as_deref().map(Arc::from);
        rec.mcp_tool = call.name.as_deref().map(Arc::from);
    }

    /// The body sent to MCP endpoint `endpoint` is not one readable JSON-RPC message.
    pub(super) fn mcp_malformed(&mut self, endpoint: usize, snapshot: &Snapshot) {
        if let Some(server) = snapshot.mcp.get(endpoint) {
            self.mcp = Some(McpLabels {
                server: server.name.clone(),
                tool: None,
                method: MCP_MALFORMED,
            });
        }
    }

    /// How a refusal of this request is shaped, when it is an MCP message.
    pub(super) fn rpc(&self) -> Option<&Rpc> {
        self.rpc.as_ref()
    }

    /// The body toolgate buffered for the route's context (the candidate may read it too).
    pub(super) fn body(&mut self, body: &Bytes) {
        if let Some(c) = &mut self.candidate {
            c.body = Some(body.clone());
        }
    }

    pub(super) fn state(&mut self, action: crate::audit::StateAction) {
        self.rec().state = Some(action);
    }

    /// The review (review inbox) that holds or released this request.
    pub(super) fn review(&mut self, id: &str) {
        self.rec().review_id = Some(id.into());
    }

    pub(super) fn facts(&mut self, facts: &Facts<'_>) {
        self.rec().set_facts(facts);
    }

    /// The policy decided: counts it, and records what the runtime does (on a shadow route,
    /// forward) beside what the policy said.
    pub(super) fn decided(&mut self, mode: Mode, outcome: &Outcome) {
        let would_be = Verdict::from_issues(outcome.issues);
        let shadow = mode == Mode::Shadow;
        self.comparable = true;
        let rec = self.rec();
        rec.issues = outcome.issues;
        rec.risk = outcome.risk;
        if shadow {
            rec.set_verdict(Verdict::Allow);
            rec.shadow_verdict = Some(would_be);
            rec.shadow_status = policy_status(would_be).map(|s| s.as_u16());
        } else {
            rec.set_verdict(would_be);
        }
        self.count(would_be, shadow, outcome.issues);
    }

    fn count(&mut self, verdict: Verdict, shadow: bool, issues: IssueSet) {
        if self.counted {
            return;
        }
        self.counted = true;
        let secs = self.decision_time.as_secs_f64();
        self.table
            .decided(self.route_index(), verdict, shadow, issues, secs);
        if let (Some(m), Some(route)) = (&self.mcp, self.route_index()) {
            let tool = m.tool.as_deref().unwrap_or_default();
            self.table.mcp(route, &m.server, tool, m.method, verdict);
        }
    }

    /// Handing the request to the upstream client.
    pub(super) fn sending(&mut self) {
        self.sent = true;
        self.upstream_started = Some(Instant::now());
    }

    /// The upstream's response head arrived.
    pub(super) fn answered(&mut self, status: StatusCode) {
        self.answered = true;
        let elapsed = self
            .upstream_started
            .map_or(Duration::ZERO, |t| t.elapsed());
        self.table
            .upstream(self.route_index(), elapsed.as_secs_f64());
        let rec = self.rec();
        rec.upstream_status = Some(status.as_u16());
        rec.upstream_ms = Some(elapsed.as_secs_f64() * 1e3);
    }

    /// The request was refused (by policy, by a check before it, or by an upstream fault):
    /// counts the decision if the policy never got to make one, and records the verdict the
    /// client was sent.
    pub(super) fn refused(&mut self, r: &Rendered) {
        self.settled = true;
        if !self.counted {
            // Refused before any stage timed itself (a bad target, an oversized head): all
            // the time so far was spent deciding.
            if self.decision_time.is_zero() {
                self.decision_time = self.started.elapsed();
            }
            self.rec().issues = r.issues;
            self.count(r.verdict, false, r.issues);
        }
        if let Some(kind) = r.upstream_error {
            self.upstream_failed(kind);
        }
        let rec = self.rec();
        if rec.verdict != r.verdict {
            rec.set_verdict(r.verdict);
        }
    }

    fn upstream_failed(&mut self, kind: UpstreamErrorKind) {
        match kind {
            UpstreamErrorKind::Overloaded => self.overloaded = true,
            UpstreamErrorKind::Connect
            | UpstreamErrorKind::Timeout
            | UpstreamErrorKind::Protocol
            | UpstreamErrorKind::Reset => self.failed = true,
        }
        self.table.upstream_error(self.route_index(), kind);
    }

    /// Ties the trail to a forwarded response's body: the record is written when the body
    /// ends, breaks off, or is dropped.
    pub(super) fn follow(self, body: ProxyBody) -> ProxyBody {
        Followed {
            inner: body,
            trail: Some(self),
        }
        .boxed_unsync()
    }

    fn final_action(&self) -> FinalAction {
        if self.overloaded {
            FinalAction::UpstreamOverloaded
        } else if self.failed {
            FinalAction::UpstreamError
        } else if !self.settled {
            FinalAction::ClientCancelled
        } else if self.answered {
            FinalAction::Forwarded
        } else {
            FinalAction::ExecutionStopped
        }
    }
}

impl Drop for Trail {
    fn drop(&mut self) {
        let action = self.final_action();
        let Some(mut rec) = self.rec.take() else {
            return;
        };
        rec.final_runtime_action = action;
        rec.decision_us = u64::try_from(self.decision_time.as_micros()).unwrap_or(u64::MAX);
        rec.total_ms = self.started.elapsed().as_secs_f64() * 1e3;
        let candidate = self.candidate.take().filter(|_| self.comparable);
        let (Some(input), Some(swap), Ok(rt)) = (
            candidate,
            self.ops.candidate.clone(),
            tokio::runtime::Handle::try_current(),
        ) else {
            self.ops.audit.record(rec);
            return;
        };
        let (ops, table, route) = (self.ops.clone(), self.table.clone(), self.route_index());
        let pending = ops.pending_record();
        rt.spawn(async move {
            let _pending = pending;
            let live = rec.shadow_verdict.unwrap_or(rec.verdict);
            // A panic in the candidate (a bundle not trusted in production yet) must not
            // take the live record with it.
            let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                candidate::evaluate(&swap.load(), &input)
            }));
            if let Ok(Some(judged)) = judged {
                if judged.verdict != live {
                    table.candidate_disagreement(route, live, judged.verdict);
                    rec.candidate = Some(judged);
                }
            }
            ops.audit.record(rec);
        });
    }
}

/// A forwarded response body that finishes its request's trail.
struct Followed {
    inner: ProxyBody,
    trail: Option<Trail>,
}

impl Body for Followed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut trail) = self.trail.take() {
                    trail.upstream_failed(UpstreamErrorKind::Reset);
                }
            }
            Poll::Ready(None) => {
                if let Some(mut trail) = self.trail.take() {
                    trail.settled = true;
                }
            }
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Followed {
    /// hyper may drop a body it has written to its declared end without polling past it:
    /// that is a complete answer, not a client that left.
    fn drop(&mut self) {
        if let Some(trail) = &mut self.trail {
            if self.inner.is_end_stream() {
                trail.settled = true;
            }
        }
    }
}
