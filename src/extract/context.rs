//! The compiled context map of a route: which fields it fills, and from where (a header, a
//! path parameter, a query parameter, or a JSON pointer into the body). Built once at
//! bundle load; read per request by [`super::read`].

use http::HeaderName;
use std::fmt;
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

/// How a field's value is converted (the same rules for every source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Timestamp,
    Count,
    Quantity,
    Flag,
    Evidence,
}

impl Field {
    /// The field for a context name: the engine's own names are typed, any other is
    /// `Other`.
    pub fn parse(name: &str) -> Field {
        match name {
            "run_id" => Field::RunId,
            "actor" => Field::Actor,
            "actor_role" => Field::ActorRole,
            "approval_status" => Field::ApprovalStatus,
            "approved_by" => Field::ApprovedBy,
            "approved_at" => Field::ApprovedAt,
            "environment" => Field::Environment,
            "current_iteration" => Field::CurrentIteration,
            "elapsed_seconds" => Field::ElapsedSeconds,
            "cumulative_cost_usd" => Field::CumulativeCostUsd,
            "current_tool" => Field::CurrentTool,
            "ticket_id" => Field::TicketId,
            "rollback_plan" => Field::RollbackPlan,
            "mfa" => Field::Mfa,
            other => Field::Other(other.into()),
        }
    }

    /// The context (wire) name of the field.
    pub fn name(&self) -> &str {
        match self {
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

    pub(super) fn kind(&self) -> Kind {
        match self {
            Field::ApprovedAt => Kind::Timestamp,
            Field::CurrentIteration => Kind::Count,
            Field::ElapsedSeconds | Field::CumulativeCostUsd => Kind::Quantity,
            Field::Mfa => Kind::Flag,
            Field::RollbackPlan => Kind::Evidence,
            _ => Kind::Text,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Source {
    /// Parses an RFC 6901 JSON pointer (`""` for the whole document, else `/a/b`, with
    /// `~1` for `/` and `~0` for `~`) into a body source.
    pub fn parse_pointer(ptr: &str) -> Result<Source, String> {
        if ptr.is_empty() {
            return Ok(Source::Body(Arc::from(Vec::new())));
        }
        let Some(rest) = ptr.strip_prefix('/') else {
            return Err(format!(
                "JSON pointer {ptr:?} must start with '/', e.g. /amount"
            ));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    token.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => {
                        return Err(format!(
                            "JSON pointer {ptr:?}: '~' must be followed by '0' or '1'"
                        ))
                    }
                }
            }
            tokens.push(token.into_boxed_str());
        }
        Ok(Source::Body(Arc::from(tokens)))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Header(name) => write!(f, "header {name}"),
            Source::Param(name) => write!(f, "path parameter {name}"),
            Source::Query(key) => write!(f, "query parameter {key}"),
            Source::Body(tokens) if tokens.is_empty() => f.write_str("body (whole document)"),
            Source::Body(tokens) => {
                f.write_str("body ")?;
                for t in tokens.iter() {
                    write!(f, "/{}", t.replace('~', "~0").replace('/', "~1"))?;
                }
                Ok(())
            }
        }
    }
}

impl ContextMap {
    /// Compiles a route's context map: sources of a field listed twice are merged (and
    /// deduplicated), the headers read are collected once each, and the amount is the
    /// field named `amount_field` (typed or not), if the map has it.
    pub fn compile(fields: Vec<(Field, Vec<Source>)>, amount_field: &str) -> ContextMap {
        let mut merged: Vec<(Field, Vec<Source>)> = Vec::with_capacity(fields.len());
        for (field, sources) in fields {
            let i = match merged.iter().position(|(f, _)| *f == field) {
                Some(i) => i,
                None => {
                    merged.push((field, Vec::with_capacity(sources.len())));
                    merged.len() - 1
                }
            };
            for s in sources {
                if !merged[i].1.contains(&s) {
                    merged[i].1.push(s);
                }
            }
        }
        let mut headers: Vec<HeaderName> = Vec::new();
        let mut reads_body = false;
        for s in merged.iter().flat_map(|(_, s)| s) {
            match s {
                Source::Header(h) if !headers.contains(h) => headers.push(h.clone()),
                Source::Body(_) => reads_body = true,
                _ => {}
            }
        }
        let amount = merged
            .iter()
            .map(|(f, _)| f)
            .find(|f| f.name() == amount_field)
            .cloned();
        ContextMap {
            fields: merged,
            reads_body,
            headers,
            amount,
        }
    }
}

impl ContextMap {
    /// Whether a body source starts at the top-level member `key` (any case, as form keys
    /// are compared by some stacks).
    pub fn reads_body_key(&self, key: &str) -> bool {
        self.fields.iter().flat_map(|(_, s)| s).any(|s| {
            matches!(s, Source::Body(tokens) if tokens.first().is_some_and(|t| t.eq_ignore_ascii_case(key)))
        })
    }
}
