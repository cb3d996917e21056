//! `redact` and `reviewer_roles` of a route, MCP tool or prompt: what a reviewer of a
//! deferred request is shown of its body or arguments, and which reviewer roles may
//! approve it, checked into [`ReviewSettings`].

use super::*;
use crate::snapshot::ReviewSettings;

/// The most `redact` pointers one route, tool or prompt may list.
pub(super) const MAX_REDACT: usize = 32;

/// What a route's `redact` pointers point into.
#[derive(Clone, Copy, Debug)]
pub(super) enum Payload {
    /// A REST request's JSON body.
    Body,
    /// An MCP call's `params.arguments`.
    Arguments,
}

impl Payload {
    const fn noun(self) -> &'static str {
        match self {
            Payload::Body => "body",
            Payload::Arguments => "arguments",
        }
    }
}

/// Checks `redact` (RFC 6901 pointers into `payload`) and `reviewer_roles` of the entry at
/// `field`; what is valid is kept.
pub(super) fn review_settings(
    file: &Path,
    field: &str,
    redact: &[Str],
    roles: &[Str],
    payload: Payload,
    sink: &mut Sink,
) -> ReviewSettings {
    if let Some(extra) = redact.get(MAX_REDACT) {
        sink.at(
            file,
            extra.referenced,
            &format!("{field}.redact"),
            format!(
                "{} pointers; at most {MAX_REDACT} are allowed",
                redact.len()
            ),
        );
    }
    let mut pointers: Vec<Box<str>> = Vec::new();
    for (i, p) in redact.iter().enumerate() {
        let here = format!("{field}.redact[{i}]");
        let noun = payload.noun();
        let problem = if p.value.is_empty() {
            Some(format!(
                "the empty pointer would redact the whole {noun}, which is not allowed; name the fields to mask, e.g. /destination/account_number"
            ))
        } else {
            Source::parse_pointer(&p.value).err()
        };
        match problem {
            Some(m) => sink.at(file, p.referenced, &here, m),
            None if pointers.iter().any(|q| **q == *p.value) => {}
            None => pointers.push(p.value.as_str().into()),
        }
    }
    let mut reviewer_roles: Vec<Box<str>> = Vec::new();
    for (i, r) in roles.iter().enumerate() {
        let here = format!("{field}.reviewer_roles[{i}]");
        let role = r.value.as_str();
        if role.is_empty() {
            sink.at(
                file,
                r.referenced,
                &here,
                "a reviewer role must not be empty",
            );
        } else if role.chars().any(char::is_whitespace) {
            sink.at(
                file,
                r.referenced,
                &here,
                format!("reviewer role {role:?} must not contain whitespace"),
            );
        } else if let Some(first) = roles[..i].iter().position(|o| o.value == role) {
            sink.at(
                file,
                r.referenced,
                &here,
                format!(
                    "duplicate reviewer role {role:?}; first listed as reviewer_roles[{first}]"
                ),
            );
        } else {
            reviewer_roles.push(role.into());
        }
    }
    ReviewSettings {
        redact: pointers.into(),
        reviewer_roles: reviewer_roles.into(),
    }
}

/// Reports a `redact` on what has no body or arguments to redact, naming `why`.
pub(super) fn nothing_to_redact(
    file: &Path,
    field: &str,
    redact: &[Str],
    why: String,
    sink: &mut Sink,
) {
    if let Some(first) = redact.first() {
        sink.at(file, first.referenced, &format!("{field}.redact"), why);
    }
}
