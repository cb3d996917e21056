//! Reading query parameters: `&`-separated `key=value` pairs, `+` for a space, percent
//! escapes decoded (UTF-8 required). A key the map reads must appear once, spelled plainly:
//! a repeat, an escaped or case-folded spelling of it, or a copy hidden after a `;` (a
//! separator to some stacks) is refused rather than resolved one way.

use super::json::caseless_eq;
use super::ExtractError;
use percent_encoding::percent_decode_str;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::sync::Arc;

/// The values of the keys read, in the order of `keys`: `None` when absent or empty.
pub(super) type Values<'a> = SmallVec<[Option<Cow<'a, str>>; 4]>;

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, then escapes.
pub(super) fn form_decode(raw: &str) -> Option<Cow<'_, str>> {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        let decoded = percent_decode_str(&spaced).decode_utf8().ok()?;
        return Some(Cow::Owned(decoded.into_owned()));
    }
    percent_decode_str(raw).decode_utf8().ok()
}

/// Keys that some stacks would read as `key`: case-folded, padded, cut at NUL or at `[`
/// (PHP arrays), or with `.`/space for `_` (PHP's variable-name mangling).
fn loose_eq(key: &str, read: &str) -> bool {
    fn fold(s: &str) -> Cow<'_, str> {
        let s = s.split('\0').next().unwrap_or("");
        let s = s.split('[').next().unwrap_or("").trim();
        if s.contains(['.', ' ']) {
            Cow::Owned(s.replace(['.', ' '], "_"))
        } else {
            Cow::Borrowed(s)
        }
    }
    caseless_eq(&fold(key), &fold(read))
}

/// Scans `query` for `keys`. Every pair's key is decoded (invalid UTF-8 is refused); only
/// the values of read keys are.
pub(super) fn scan<'a>(query: &'a str, keys: &[&Arc<str>]) -> Result<Values<'a>, ExtractError> {
    let mut values: Values<'a> = SmallVec::from_elem(None, keys.len());
    let mut seen: SmallVec<[bool; 4]> = SmallVec::from_elem(false, keys.len());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = form_decode(raw_key).ok_or_else(|| ExtractError::QueryNotUtf8 {
            key: raw_key.into(),
        })?;
        for (i, read) in keys.iter().enumerate() {
            if *key == ***read {
                if raw_key != &***read {
                    return Err(ExtractError::AmbiguousQueryKey {
                        key: Arc::clone(read),
                        spelled: raw_key.into(),
                    });
                }
                if seen[i] {
                    return Err(ExtractError::DuplicateQueryParam {
                        key: Arc::clone(read),
                    });
                }
                seen[i] = true;
                let value = form_decode(raw_value).ok_or_else(|| ExtractError::QueryNotUtf8 {
                    key: raw_key.into(),
                })?;
                values[i] = Some(value).filter(|v| !v.is_empty());
            } else if loose_eq(&key, read) {
                return Err(ExtractError::AmbiguousQueryKey {
                    key: Arc::clone(read),
                    spelled: raw_key.into(),
                });
            }
        }
        // `a=1;amount=5`: one pair here, two to a stack that also splits on `;`.
        for hidden in pair.split(';').skip(1) {
            let raw_hidden = hidden.split_once('=').map_or(hidden, |(k, _)| k);
            let Some(hidden_key) = form_decode(raw_hidden) else {
                continue;
            };
            if let Some(read) = keys
                .iter()
                .find(|read| *hidden_key == ****read || loose_eq(&hidden_key, read))
            {
                return Err(ExtractError::QuerySemicolon {
                    key: Arc::clone(read),
                    pair: pair.into(),
                });
            }
        }
    }
    Ok(values)
}
