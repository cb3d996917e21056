//! The per-request step of extraction: read a route's context out of one request into
//! the engine's [`Facts`], converting and cross-checking every value, refusing what could
//! be read two ways.

use super::context::{ContextMap, Field, Kind, Source};
use super::convert::{agree, convert, is_clean_text, quantity, Raw, Value};
use super::error::ExtractError;
use super::json;
use super::query;
use crate::policy::{Facts, IssueCode};
use http::{HeaderMap, HeaderName, HeaderValue};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::sync::Arc;

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
        Some(b) if !pointers.is_empty() && !b.is_empty() => json::walk(b, &pointers)?,
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
