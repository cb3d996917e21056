//! Checks shared by every document: names, durations, percentages, question tables,
//! name lists, method tokens and constraint strings.

use super::*;

/// `[a-z0-9-]+`: bundle, route and rule names.
pub(super) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `[a-z0-9_]+`: class and window names, which constraints and labels reach normalized.
pub(super) fn is_snake(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `[a-z][a-z0-9_]*`: context field names.
pub(super) fn is_field_name(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase) && is_snake(s)
}

pub(super) fn check_name(file: &Path, s: &Str, field: &str, what: &str, sink: &mut Sink) {
    if !is_name(&s.value) {
        sink.at(
            file,
            s.referenced,
            field,
            format!(
                "invalid {what} {:?}: use lower-case letters, digits and '-'",
                s.value
            ),
        );
    }
}

pub(super) fn duration(
    file: &Path,
    s: &Str,
    field: &str,
    sink: &mut Sink,
) -> Option<SignedDuration> {
    match crate::duration::parse_signed(&s.value) {
        Ok(d) => Some(d),
        Err(_) => {
            sink.at(
                file,
                s.referenced,
                field,
                format!(
                    "invalid duration {:?}: expected {}",
                    s.value,
                    crate::duration::EXPECTED
                ),
            );
            None
        }
    }
}

pub(super) fn percent(file: &Path, v: &Spanned<u64>, field: &str, sink: &mut Sink) -> u8 {
    if v.value > 100 {
        sink.at(
            file,
            v.referenced,
            field,
            format!("{} is out of range: risk weights are 0..=100", v.value),
        );
        100
    } else {
        v.value as u8
    }
}

/// A question table: keys must be DEFER-class issue codes.
pub(super) fn questions(
    file: &Path,
    map: &OrderedMap<Str, String>,
    field: &str,
    sink: &mut Sink,
) -> QuestionTable {
    let mut table = QuestionTable::default();
    for (code, text) in &map.0 {
        let here = format!("{field}.{}", code.value);
        match IssueCode::parse(&code.value) {
            None => sink.at(
                file,
                code.referenced,
                &here,
                format!(
                    "unknown issue code {:?} (codes are upper case, e.g. APPROVAL_REQUIRED)",
                    code.value
                ),
            ),
            Some(c) if c.class() == IssueClass::Deny => sink.at(
                file,
                code.referenced,
                &here,
                format!("{c} is a DENY issue; only DEFER issues ask a question"),
            ),
            Some(_) if text.trim().is_empty() => sink.at(
                file,
                code.referenced,
                &here,
                "the question must not be empty",
            ),
            Some(c) => table.set(c, text.trim().into()),
        }
    }
    table
}

/// A non-empty list of non-empty names.
pub(super) fn name_list(
    file: &Path,
    list: &Spanned<Vec<Str>>,
    field: &str,
    sink: &mut Sink,
) -> Vec<Box<str>> {
    if list.value.is_empty() {
        sink.at(file, list.referenced, field, "the list must not be empty");
    }
    let mut out: Vec<Box<str>> = Vec::new();
    for (i, item) in list.value.iter().enumerate() {
        let v = item.value.trim();
        if v.is_empty() {
            sink.at(
                file,
                item.referenced,
                &format!("{field}[{i}]"),
                "must not be empty",
            );
        } else if !out.iter().any(|o| &**o == v) {
            out.push(v.into());
        }
    }
    out
}

pub(super) fn is_method_token(m: &str) -> bool {
    !m.is_empty()
        && !m.bytes().any(|b| b.is_ascii_lowercase())
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

// ---------------------------------------------------------------- constraints

/// Parses constraint strings into requirements, reporting what is unrecognized, names an
/// unknown window, or names an unknown environment.
pub(super) fn constraints(
    base: &Base,
    file: &Path,
    list: &[Str],
    field: &str,
    into: &mut Requirements,
    sink: &mut Sink,
) {
    for (i, c) in list.iter().enumerate() {
        let here = format!("{field}[{i}]");
        let parsed = constraint::parse(&c.value);
        if let Constraint::Environments(envs) = &parsed {
            for e in envs {
                if let Err(m) = base.check_environment(e) {
                    sink.at(file, c.referenced, &here, m);
                }
            }
        }
        match into.add(&parsed, |name| base.window(name)) {
            Ok(()) => {}
            Err(ApplyError::Unrecognized) => sink.at(
                file,
                c.referenced,
                &here,
                match constraint::grammar_of(&c.value) {
                    Some(grammar) => format!("constraint {:?} is not recognized: write {grammar}", c.value),
                    None => format!(
                        "constraint {:?} is not recognized (see the constraint vocabulary, e.g. \"approval required\", \"required_role:platform_admin\", \"max_amount:10000\")",
                        c.value
                    ),
                },
            ),
            Err(ApplyError::UnknownWindow(w)) => sink.at(
                file,
                c.referenced,
                &here,
                format!(
                    "constraint {:?} names window {w:?}, which the Bundle's spec.windows does not define",
                    c.value
                ),
            ),
        }
    }
}
