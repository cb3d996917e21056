//! Context extraction: where each fact of a route's context comes from (a header, a path
//! parameter, a query parameter, or a JSON pointer into the body), compiled at bundle load,
//! and the per-request step that reads them into [`Facts`](crate::policy::Facts).

use http::HeaderName;
use std::sync::Arc;

/// A context field a route can fill. The engine's own fields are typed; any other name is
/// kept as `Other` (readable by `spec.limits.amount_field`, echoed in audit records).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    RunId,
    Actor,
    ActorRole,
    ApprovalStatus,
    ApprovedBy,
    ApprovedAt,
    Environment,
    CurrentIteration,
    ElapsedSeconds,
    CumulativeCostUsd,
    CurrentTool,
    TicketId,
    RollbackPlan,
    Mfa,
    Other(Arc<str>),
}

/// One place a context value is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Header(HeaderName),
    /// A `{param}` or `{*rest}` of the route template.
    Param(Arc<str>),
    /// A query parameter (percent-decoded).
    Query(Arc<str>),
    /// A JSON pointer (RFC 6901) into the request body, already split into tokens.
    Body(Arc<[Box<str>]>),
}

/// A route's compiled context map: for each field, every source (all present values must
/// agree). Built once at bundle load.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContextMap {
    pub fields: Vec<(Field, Vec<Source>)>,
    /// True when some source reads the body: the proxy then buffers it (up to the limit).
    pub reads_body: bool,
    /// Header names read by any source: never removable by `Connection`, refused when
    /// repeated or not clean UTF-8.
    pub headers: Vec<HeaderName>,
    /// The field whose value is the amount (`spec.limits.amount_field`), if mapped.
    pub amount: Option<Field>,
}
