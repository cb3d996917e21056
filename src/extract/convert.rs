//! Converting a value read from a request into the engine's type for its field: text
//! (clean of control and invisible characters), a timestamp, a count, a quantity, a flag or
//! evidence; and comparing two values for a field read from several sources.

use super::context::{Field, Kind, Source};
use super::error::ExtractError;
use super::json::{self};
use crate::policy::facts::parse_bool;
use jiff::Timestamp;
use std::borrow::Cow;

/// A value as read, before conversion.
pub(super) enum Raw<'a> {
    Text(Cow<'a, str>),
    Json(json::Json<'a>),
}

/// A converted value.
#[derive(Debug, PartialEq)]
pub(super) enum Value<'a> {
    Text(Cow<'a, str>),
    Time(Timestamp),
    Count(u64),
    Number(f64),
    Bool(bool),
}

pub(super) fn agree(field: &Field, a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Text(a), Value::Text(b)) if *field == Field::Environment => {
            a.eq_ignore_ascii_case(b)
        }
        _ => a == b,
    }
}

pub(super) fn invalid(field: &Field, at: &Source, expected: &'static str) -> ExtractError {
    ExtractError::Invalid {
        field: field.clone(),
        at: at.clone(),
        expected,
    }
}

/// Text a value may hold: no control characters (C0, DEL, C1), and none of the invisible
/// format characters that make two spellings look alike (zero-width, bidi controls, BOM,
/// soft hyphen).
pub(super) fn is_clean_text(t: &str) -> bool {
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
pub(super) fn clean<'a>(
    t: Cow<'a, str>,
    field: &Field,
    at: &Source,
) -> Result<Cow<'a, str>, ExtractError> {
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
pub(super) fn parse_decimal(s: &str) -> Option<f64> {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let ok = match s.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(s),
    };
    s.parse::<f64>()
        .ok()
        .filter(|n| ok && n.is_finite() && json::decimal_is_exact(s, *n))
}

/// The largest integer up to which every integer is an f64 (2^53).
const MAX_EXACT_INT: u64 = 1 << 53;

const EXPECT_QUANTITY: &str = "a non-negative number";
const EXPECT_COUNT: &str = "a non-negative integer";

/// The amount (or any quantity): a non-negative finite number; a JSON number in a body.
pub(super) fn quantity(raw: &Raw<'_>, field: &Field, at: &Source) -> Result<f64, ExtractError> {
    let n = match raw {
        Raw::Text(t) => parse_decimal(t),
        // Beyond 2^53 the f64 compared would not be the integer sent.
        Raw::Json(json::Json::U64(n)) => Some(*n).filter(|n| *n <= MAX_EXACT_INT).map(|n| n as f64),
        Raw::Json(json::Json::I64(n)) => Some(*n as f64),
        Raw::Json(json::Json::F64(n)) => Some(*n),
        Raw::Json(_) => None,
    };
    n.filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| invalid(field, at, EXPECT_QUANTITY))
}

pub(super) fn convert<'a>(
    kind: Kind,
    raw: Raw<'a>,
    field: &Field,
    at: &Source,
) -> Result<Value<'a>, ExtractError> {
    use json::Json;
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
