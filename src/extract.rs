//! Context extraction: where each fact of a route's context comes from (a header, a path
//! parameter, a query parameter, or a JSON pointer into the body), compiled at bundle load,
//! and the per-request step that reads them into [`Facts`](crate::policy::Facts).

mod body;
pub mod media;
mod query;

pub use body::MAX_DEPTH;

use crate::policy::facts::parse_bool;
use crate::policy::{Facts, IssueCode};
use http::{HeaderMap, HeaderName, HeaderValue};
use jiff::Timestamp;
use smallvec::SmallVec;
use std::borrow::Cow;
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
enum Kind {
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

    fn kind(&self) -> Kind {
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

/// What the extractor reads from one request: every value it returns borrows from `'a`.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'p, 'a> {
    pub headers: &'a HeaderMap,
    /// Path parameters of the matched route (values are slices of the normalized path).
    pub params: &'p matchit::Params<'p, 'a>,
    /// The raw query string (as `normalize` returned it).
    pub query: Option<&'a str>,
    /// The buffered body; `Some` only when the map reads it.
    pub body: Option<&'a [u8]>,
}

/// The facts for the engine, and the values of `Field::Other` fields (for audit).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extracted<'a> {
    pub facts: Facts<'a>,
    pub other: SmallVec<[(Arc<str>, Cow<'a, str>); 2]>,
}

/// A request whose context cannot be read unambiguously: answered 400 `INVALID_REQUEST`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("header {header}: repeated")]
    DuplicateHeader { header: HeaderName },
    #[error("header {header}: value is not clean text (control or invisible character, or invalid UTF-8)")]
    HeaderNotText { header: HeaderName },
    #[error("header {alias}: refused, an underscore alias of header {header}")]
    HeaderAlias { header: HeaderName, alias: Box<str> },
    #[error("query parameter {key}: repeated")]
    DuplicateQueryParam { key: Arc<str> },
    #[error("query parameter {key}: also spelled {spelled:?}")]
    AmbiguousQueryKey { key: Arc<str>, spelled: Box<str> },
    #[error("query parameter {key}: hidden after ';' in {pair:?}")]
    QuerySemicolon { key: Arc<str>, pair: Box<str> },
    #[error("query parameter {key:?}: not valid UTF-8 once decoded")]
    QueryNotUtf8 { key: Box<str> },
    #[error("path parameter {param}: not valid UTF-8 once decoded")]
    ParamNotUtf8 { param: Arc<str> },
    #[error("body: invalid JSON: {0}")]
    BodyInvalidJson(Box<str>),
    #[error("body: the document must be a JSON object")]
    BodyNotObject,
    #[error("body: nested deeper than {MAX_DEPTH} levels")]
    BodyTooDeep,
    #[error("body: duplicate key {key:?}")]
    BodyDuplicateKey { key: Box<str> },
    #[error("body: key {key:?} is ambiguous with key {read:?}")]
    BodyAmbiguousKey { key: Box<str>, read: Box<str> },
    #[error("body: {0}; a body the policy reads must be uncompressed UTF-8 JSON")]
    BodyMediaType(Box<str>),
    #[error("body: a _method field would change the method after authorization")]
    BodyMethodOverride,
    #[error("body: number {text} is not exactly representable; send it with fewer digits")]
    BodyImpreciseNumber { text: Box<str> },
    #[error("{at} ({field}): control or invisible character in value")]
    ControlCharacter { field: Field, at: Source },
    #[error("{at} ({field}): expected {expected}")]
    Invalid {
        field: Field,
        at: Source,
        expected: &'static str,
    },
}

/// A value as read, before conversion.
enum Raw<'a> {
    Text(Cow<'a, str>),
    Json(body::Json<'a>),
}

/// A converted value.
#[derive(Debug, PartialEq)]
enum Value<'a> {
    Text(Cow<'a, str>),
    Time(Timestamp),
    Count(u64),
    Number(f64),
    Bool(bool),
}

/// Reads a route's context out of a request. Header values are borrowed; nothing is
/// allocated for a map that reads only headers, beyond what `Facts` holds.
pub fn extract<'a>(
    map: &ContextMap,
    req: &RequestView<'_, 'a>,
) -> Result<Extracted<'a>, ExtractError> {
    let header_values = read_headers(map, req.headers)?;
    let mut next_header = 0usize;

    let mut query_keys: SmallVec<[&Arc<str>; 4]> = SmallVec::new();
    let mut pointers: SmallVec<[&[Box<str>]; 4]> = SmallVec::new();
    for source in map.fields.iter().flat_map(|(_, s)| s) {
        match source {
            Source::Query(k) if !query_keys.contains(&k) => query_keys.push(k),
            Source::Body(tokens) => pointers.push(tokens),
            _ => {}
        }
    }
    let query_values = match (query_keys.is_empty(), req.query) {
        (false, Some(q)) => query::scan(q, &query_keys)?,
        _ => SmallVec::from_elem(None, query_keys.len()),
    };
    let mut body_values = match req.body {
        Some(b) if !pointers.is_empty() && !b.is_empty() => body::walk(b, &pointers)?,
        _ => SmallVec::from_elem(None, pointers.len()),
    };

    let mut out = Extracted::default();
    let mut next_pointer = 0usize;
    for (field, sources) in &map.fields {
        let kind = field.kind();
        let is_amount = map.amount.as_ref() == Some(field);
        let mut first: Option<Value<'a>> = None;
        let mut amount: Option<f64> = None;
        let mut mismatch = false;
        for source in sources {
            let raw = match source {
                Source::Header(name) => {
                    // Sources name the read headers in `map.headers` order: try the next
                    // slot before searching.
                    let slot = match map.headers.get(next_header) {
                        Some(h) if h == name => Some(next_header),
                        _ => map.headers.iter().position(|h| h == name),
                    };
                    let value = match slot {
                        Some(i) => {
                            next_header = i + 1;
                            header_values[i]
                        }
                        // A map whose `headers` misses a source (built by hand): look it up.
                        None => header_value(req.headers, name)?,
                    };
                    value.map(|v| Raw::Text(Cow::Borrowed(v)))
                }
                Source::Param(name) => param_value(req.params, name)?.map(Raw::Text),
                Source::Query(key) => {
                    let i = query_keys.iter().position(|k| *k == key);
                    i.and_then(|i| query_values[i].clone()).map(Raw::Text)
                }
                Source::Body(_) => {
                    next_pointer += 1;
                    body_values[next_pointer - 1].take().map(Raw::Json)
                }
            };
            let Some(raw) = raw else { continue };
            if is_amount {
                let n = quantity(&raw, field, source)?;
                match amount {
                    None => amount = Some(n),
                    Some(a) => mismatch |= a != n,
                }
            }
            let value = convert(kind, raw, field, source)?;
            match &first {
                None => first = Some(value),
                // The amount, when `Other`, is compared as a number (its text may differ).
                Some(_) if is_amount && kind == Kind::Text => {}
                Some(f) => mismatch |= !agree(field, f, &value),
            }
        }
        if mismatch {
            out.facts.issues.insert(if *field == Field::Environment {
                IssueCode::EnvironmentMismatch
            } else {
                IssueCode::ContextMismatch
            });
        }
        if is_amount {
            out.facts.amount = amount;
        }
        if let Some(value) = first {
            assign(&mut out, field, value);
        }
    }
    Ok(out)
}

fn agree(field: &Field, a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Text(a), Value::Text(b)) if *field == Field::Environment => {
            a.eq_ignore_ascii_case(b)
        }
        _ => a == b,
    }
}

fn assign<'a>(out: &mut Extracted<'a>, field: &Field, value: Value<'a>) {
    let f = &mut out.facts;
    match (field, value) {
        (Field::RunId, Value::Text(t)) => f.run_id = Some(t),
        (Field::Actor, Value::Text(t)) => f.actor = Some(t),
        (Field::ActorRole, Value::Text(t)) => f.actor_role = Some(t),
        (Field::ApprovalStatus, Value::Text(t)) => f.approval_status = Some(t),
        (Field::ApprovedBy, Value::Text(t)) => f.approved_by = Some(t),
        (Field::Environment, Value::Text(t)) => f.environment = Some(t),
        (Field::CurrentTool, Value::Text(t)) => f.current_tool = Some(t),
        (Field::TicketId, Value::Text(t)) => f.ticket_id = Some(t),
        (Field::ApprovedAt, Value::Time(t)) => f.approved_at = Some(t),
        (Field::CurrentIteration, Value::Count(n)) => f.current_iteration = Some(n),
        (Field::ElapsedSeconds, Value::Number(n)) => f.elapsed_seconds = Some(n),
        (Field::CumulativeCostUsd, Value::Number(n)) => f.cumulative_cost_usd = Some(n),
        (Field::RollbackPlan, Value::Bool(b)) => f.rollback_plan = Some(b),
        (Field::Mfa, Value::Bool(b)) => f.mfa = Some(b),
        (Field::Other(name), Value::Text(t)) => out.other.push((Arc::clone(name), t)),
        (field, value) => unreachable!("{field} converted to {value:?}"),
    }
}

/// The value of a header the map reads: refused when repeated or not clean text; `None`
/// when absent or empty. Borrowed.
fn header_value<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a str>, ExtractError> {
    let mut all = headers.get_all(name).iter();
    let Some(value) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(ExtractError::DuplicateHeader {
            header: name.clone(),
        });
    }
    let text = header_text(value).ok_or_else(|| ExtractError::HeaderNotText {
        header: name.clone(),
    })?;
    Ok(Some(text).filter(|t| !t.is_empty()))
}

/// Reads every header the map reads, in one pass over the request's fields: the value of
/// each (borrowed; `None` when absent or empty), aligned with `map.headers`. Refused, in
/// this order: a read header that is repeated or not clean text (the first in
/// `map.headers` order), then a request header that some stacks (nginx, CGI, WSGI) would
/// read as a header the map reads, because they fold `_` and `-`: `x_actor_role` for
/// `x-actor-role`.
fn read_headers<'a>(
    map: &ContextMap,
    headers: &'a HeaderMap,
) -> Result<SmallVec<[Option<&'a str>; 16]>, ExtractError> {
    #[derive(Clone, Copy)]
    enum Slot<'a> {
        Absent,
        Text(&'a str),
        Repeated,
        NotText,
    }
    fn folded_eq(a: &[u8], b: &[u8]) -> bool {
        let fold = |c: u8| if c == b'_' { b'-' } else { c };
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| fold(*x) == fold(*y))
    }
    let read = &map.headers;
    if read.is_empty() {
        return Ok(SmallVec::new());
    }
    let mut slots: SmallVec<[Slot<'a>; 16]> = SmallVec::from_elem(Slot::Absent, read.len());
    let mut alias: Option<(usize, &'a HeaderName)> = None;
    // Names as bytes once, not once per (request header, read header) pair.
    let wanted: SmallVec<[&[u8]; 16]> = read.iter().map(|h| h.as_str().as_bytes()).collect();
    for (name, value) in headers {
        let n = name.as_str().as_bytes();
        // Lengths differ for almost every pair: compare bytes only when they match.
        for (i, w) in wanted.iter().enumerate() {
            if w.len() != n.len() {
                continue;
            }
            if *w == n {
                slots[i] = match slots[i] {
                    Slot::Absent => header_text(value).map_or(Slot::NotText, Slot::Text),
                    _ => Slot::Repeated,
                };
            } else if alias.is_none() && folded_eq(w, n) {
                // Another read header this name folds onto (`x_actor` for `x-actor`).
                alias = Some((i, name));
            }
        }
    }
    for (i, slot) in slots.iter().enumerate() {
        match slot {
            Slot::Repeated => {
                return Err(ExtractError::DuplicateHeader {
                    header: read[i].clone(),
                })
            }
            Slot::NotText => {
                return Err(ExtractError::HeaderNotText {
                    header: read[i].clone(),
                })
            }
            Slot::Absent | Slot::Text(_) => {}
        }
    }
    if let Some((i, name)) = alias {
        return Err(ExtractError::HeaderAlias {
            header: read[i].clone(),
            alias: name.as_str().into(),
        });
    }
    Ok(slots
        .iter()
        .map(|s| match s {
            Slot::Text(t) if !t.is_empty() => Some(*t),
            _ => None,
        })
        .collect())
}

/// A header value as clean text (see [`is_clean_text`]), borrowed; `None` when it is not.
fn header_text(value: &HeaderValue) -> Option<&str> {
    match value.to_str() {
        // Visible ASCII and tabs only: clean unless there is a tab.
        Ok(t) => (!t.bytes().any(|b| b == b'\t')).then_some(t),
        Err(_) => std::str::from_utf8(value.as_bytes())
            .ok()
            .filter(|t| is_clean_text(t)),
    }
}

/// A path parameter, its remaining escapes decoded (UTF-8 required); `None` when absent
/// or empty.
fn param_value<'a>(
    params: &matchit::Params<'_, 'a>,
    name: &Arc<str>,
) -> Result<Option<Cow<'a, str>>, ExtractError> {
    let Some(raw) = params.get(&**name) else {
        return Ok(None);
    };
    let value = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ExtractError::ParamNotUtf8 {
            param: Arc::clone(name),
        })?;
    Ok(Some(value).filter(|v| !v.is_empty()))
}

fn invalid(field: &Field, at: &Source, expected: &'static str) -> ExtractError {
    ExtractError::Invalid {
        field: field.clone(),
        at: at.clone(),
        expected,
    }
}

/// Text a value may hold: no control characters (C0, DEL, C1), and none of the invisible
/// format characters that make two spellings look alike (zero-width, bidi controls, BOM,
/// soft hyphen).
fn is_clean_text(t: &str) -> bool {
    if t.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return true;
    }
    !t.chars().any(|c| {
        c.is_control()
            || matches!(
                c,
                '\u{AD}'
                    | '\u{200B}'..='\u{200F}'
                    | '\u{202A}'..='\u{202E}'
                    | '\u{2060}'..='\u{2064}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{FEFF}'
            )
    })
}

/// Text that is clean (headers are checked when read).
fn clean<'a>(t: Cow<'a, str>, field: &Field, at: &Source) -> Result<Cow<'a, str>, ExtractError> {
    if !is_clean_text(&t) {
        return Err(ExtractError::ControlCharacter {
            field: field.clone(),
            at: at.clone(),
        });
    }
    Ok(t)
}

/// A plain decimal, `digits[.digits]`: no sign, exponent, blanks, `inf` or `NaN`, and no
/// more precision than an f64 holds, so no upstream parser reads it as a different number.
fn parse_decimal(s: &str) -> Option<f64> {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let ok = match s.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(s),
    };
    s.parse::<f64>()
        .ok()
        .filter(|n| ok && n.is_finite() && body::decimal_is_exact(s, *n))
}

/// The largest integer up to which every integer is an f64 (2^53).
const MAX_EXACT_INT: u64 = 1 << 53;

const EXPECT_QUANTITY: &str = "a non-negative number";
const EXPECT_COUNT: &str = "a non-negative integer";

/// The amount (or any quantity): a non-negative finite number; a JSON number in a body.
fn quantity(raw: &Raw<'_>, field: &Field, at: &Source) -> Result<f64, ExtractError> {
    let n = match raw {
        Raw::Text(t) => parse_decimal(t),
        // Beyond 2^53 the f64 compared would not be the integer sent.
        Raw::Json(body::Json::U64(n)) => Some(*n).filter(|n| *n <= MAX_EXACT_INT).map(|n| n as f64),
        Raw::Json(body::Json::I64(n)) => Some(*n as f64),
        Raw::Json(body::Json::F64(n)) => Some(*n),
        Raw::Json(_) => None,
    };
    n.filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| invalid(field, at, EXPECT_QUANTITY))
}

fn convert<'a>(
    kind: Kind,
    raw: Raw<'a>,
    field: &Field,
    at: &Source,
) -> Result<Value<'a>, ExtractError> {
    use body::Json;
    Ok(match (kind, raw) {
        (Kind::Text, Raw::Text(t) | Raw::Json(Json::Str(t))) => Value::Text(clean(t, field, at)?),
        (Kind::Text, Raw::Json(j)) => match (field, j.render()) {
            (Field::Other(_), Some(text)) => Value::Text(Cow::Owned(text)),
            (Field::Other(_), None) => {
                return Err(invalid(field, at, "a string, number or boolean"))
            }
            _ => return Err(invalid(field, at, "a string")),
        },
        (Kind::Timestamp, Raw::Text(t) | Raw::Json(Json::Str(t))) => {
            let t = clean(t, field, at)?;
            Value::Time(t.parse().map_err(|_| {
                invalid(
                    field,
                    at,
                    "an RFC 3339 timestamp such as 2026-03-14T09:30:00Z",
                )
            })?)
        }
        (Kind::Timestamp, Raw::Json(_)) => {
            return Err(invalid(field, at, "an RFC 3339 timestamp string"))
        }
        (Kind::Count, Raw::Text(t)) => {
            let ok = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
            let n = t.parse::<u64>().ok().filter(|_| ok);
            Value::Count(n.ok_or_else(|| invalid(field, at, EXPECT_COUNT))?)
        }
        (Kind::Count, Raw::Json(Json::U64(n))) => Value::Count(n),
        (Kind::Count, Raw::Json(_)) => return Err(invalid(field, at, EXPECT_COUNT)),
        (Kind::Quantity, raw) => Value::Number(quantity(&raw, field, at)?),
        (Kind::Flag, Raw::Text(t) | Raw::Json(Json::Str(t))) => {
            Value::Bool(parse_bool(&t).ok_or_else(|| invalid(field, at, "a boolean"))?)
        }
        (Kind::Evidence, Raw::Text(t) | Raw::Json(Json::Str(t))) => {
            let t = clean(t, field, at)?;
            Value::Bool(parse_bool(&t).unwrap_or(!t.trim().is_empty()))
        }
        (Kind::Flag | Kind::Evidence, Raw::Json(Json::Bool(b))) => Value::Bool(b),
        (Kind::Flag, Raw::Json(_)) => return Err(invalid(field, at, "a boolean")),
        (Kind::Evidence, Raw::Json(_)) => {
            return Err(invalid(field, at, "a boolean or a reference string"))
        }
    })
}

#[cfg(test)]
mod tests;
