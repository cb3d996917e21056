//! The hot state: one immutable snapshot of a loaded bundle (its metadata, compiled policy
//! and routes). The proxy holds it behind one `ArcSwap`; a request loads it once
//! and so never sees two versions.

use crate::classify::router::RouteTable;
use crate::extract::ContextMap;
use crate::metrics::{Metrics, RouteMetricsTable};
use crate::policy::{Policy, PreparedAction};
use http::{HeaderValue, Method};
use jiff::Timestamp;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Identity of the bundle a snapshot was built from.
#[derive(Clone, Debug)]
pub struct BundleMeta {
    pub name: Arc<str>,
    pub version: Arc<str>,
    /// `name@version`.
    pub policy_version: Arc<str>,
    /// `sha256:<hex>` over the bundle's files.
    pub digest: Arc<str>,
    pub dir: PathBuf,
    pub loaded_at: Timestamp,
    /// `policy_version` as the `x-toolgate-policy-version` tag, built once per bundle:
    /// every request and response carries it (see [`crate::headers::tag_value`]).
    pub policy_version_header: HeaderValue,
}

/// Whether a route's verdicts are enforced, or only recorded (the request is forwarded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Enforce,
    Shadow,
}

/// A compiled route: what it matches, the action it maps to, and where its facts come from.
#[derive(Clone, Debug)]
pub struct Route {
    pub name: Arc<str>,
    pub method: Method,
    pub path: Arc<str>,
    pub action: PreparedAction,
    pub context: ContextMap,
    pub mode: Mode,
    /// The method carries no body semantics (GET, HEAD, DELETE, OPTIONS, TRACE), the
    /// context reads no body field and the route does not set `allow_body`: a request with
    /// a non-empty body is refused, since an upstream that ignores such bodies would run
    /// whatever request hides in one.
    pub refuses_body: bool,
    pub kind: RouteKind,
    /// What a reviewer of a deferred request is shown, and who may approve it.
    pub review: ReviewSettings,
}

/// What a reviewer is shown of a deferred request, and who may approve it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewSettings {
    /// RFC 6901 pointers (as written, validated at load) into the body (REST) or the MCP
    /// call's `params.arguments`: masked in what a reviewer sees
    /// ([`redacted_payload`](crate::redact::redacted_payload)).
    pub redact: Arc<[Box<str>]>,
    /// The reviewer roles that may approve the route: any one of them; empty = any reviewer.
    pub reviewer_roles: Arc<[Box<str>]>,
}

/// What a route is reached as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RouteKind {
    /// By method and path.
    #[default]
    Http,
    /// The endpoint of MCP server `n` (`Snapshot::mcp[n]`): its messages are judged by the
    /// routes of its tools, resources and prompts.
    McpEndpoint(usize),
    /// A tool, resource or prompt of MCP server `n`, judged by the name in the message.
    McpEntry(usize),
}

/// Methods whose request content has no generally defined meaning (RFC 9110 §9.3): many
/// servers ignore a body on them and read it as the next request on the connection.
pub fn is_bodiless_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Everything a request needs, immutable.
#[derive(Debug)]
pub struct Snapshot {
    pub meta: BundleMeta,
    pub policy: Policy,
    pub routes: Vec<Route>,
    pub table: RouteTable,
    /// The MCP servers the bundle maps, by index (see [`RouteKind`]).
    pub mcp: Vec<crate::mcp::Endpoint>,
    /// The context field that carries the amount, for `/check` payloads.
    pub amount_field: Arc<str>,
    /// Where identity comes from and how approvals are verified (`spec.identity`,
    /// `spec.approval.source`), with their keys parsed.
    pub trust: crate::identity::Trust,
    /// This snapshot's per-route metric handles. The reloader resolves them before the
    /// snapshot is stored, so the request path never resolves labels; they live here so a
    /// request counts into the table of the very version that decided it (one load).
    pub route_metrics: OnceLock<Arc<RouteMetricsTable>>,
}

impl Snapshot {
    /// The per-route metric handles, resolved on first use if nobody did it before.
    pub fn route_metrics(&self, metrics: &Metrics) -> &Arc<RouteMetricsTable> {
        self.route_metrics.get_or_init(|| {
            let names: Vec<Arc<str>> = self.routes.iter().map(|r| r.name.clone()).collect();
            metrics.for_routes(&names)
        })
    }
}
