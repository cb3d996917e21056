//! TEMPORARY stand-ins for `classify::normalize` and `extract::extract`, which are being
//! written on the `request` branch with these exact signatures. Deleted when it merges.

use crate::extract::{ContextMap, Field, Source};
use crate::policy::Facts;
use http::HeaderMap;
use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    pub path: Cow<'a, str>,
    pub query: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeError(&'static str);

impl fmt::Display for NormalizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

pub fn normalize(pq: &str) -> Result<Target<'_>, NormalizeError> {
    if !pq.starts_with('/') {
        return Err(NormalizeError("not origin form"));
    }
    let (path, query) = match pq.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (pq, None),
    };
    if path.contains('%') || path.contains("//") || path.contains("/.") || path.contains('\\') {
        return Err(NormalizeError("not normal"));
    }
    Ok(Target {
        path: Cow::Borrowed(path),
        query,
    })
}

#[allow(dead_code)] // `query` is read by the real extractor.
pub struct RequestView<'a> {
    pub headers: &'a HeaderMap,
    pub params: &'a matchit::Params<'a, 'a>,
    pub query: Option<&'a str>,
    pub body: Option<&'a [u8]>,
}

pub struct Extracted<'a> {
    pub facts: Facts<'a>,
}

#[derive(Debug)]
pub struct ExtractError(String);

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn extract<'a>(map: &ContextMap, req: &RequestView<'a>) -> Result<Extracted<'a>, ExtractError> {
    let mut facts = Facts::default();
    if let Some(body) = req.body {
        serde_json::from_slice::<serde_json::Value>(body)
            .map_err(|e| ExtractError(format!("body is not JSON: {e}")))?;
    }
    for (field, sources) in &map.fields {
        for s in sources {
            let v: Option<&'a str> = match s {
                Source::Header(h) => req.headers.get(h).and_then(|v| v.to_str().ok()),
                Source::Param(p) => req.params.get(&**p),
                _ => None,
            };
            let Some(v) = v else { continue };
            let v = Some(Cow::Borrowed(v));
            match field {
                Field::Environment => facts.environment = v,
                Field::ActorRole => facts.actor_role = v,
                Field::Actor => facts.actor = v,
                Field::ApprovalStatus => facts.approval_status = v,
                _ => {}
            }
        }
    }
    Ok(Extracted { facts })
}
