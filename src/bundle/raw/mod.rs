//! The bundle's YAML as written: serde structs that mirror the files one to one. Parsing
//! checks only shape (syntax, unknown keys, types, duplicate keys); every semantic check
//! happens afterwards, in `compile`, where the `Spanned` locations kept here name the line.

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

/// The one API version this loader reads.
pub const API_VERSION: &str = "toolgate.dev/v1alpha1";

/// A string with the place it was written.
pub type Str = Spanned<String>;

/// A mapping kept in file order, so a key's position (and its location) survives. Duplicate
/// keys never reach it: the parser refuses them.
#[derive(Debug)]
pub struct OrderedMap<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for OrderedMap<K, V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

thread_local! {
    /// The keys of the `OrderedMap` entries being read, outermost first. serde_path_to_error
    /// cannot see a `Spanned` key (it shows `?`); on an error this names those entries.
    static KEYS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<Str, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<Str, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Str>()? {
                    KEYS.with(|k| k.borrow_mut().push(key.value.clone()));
                    // On an error the key stays pushed, for `parse` to read.
                    let value = map.next_value()?;
                    KEYS.with(|k| k.borrow_mut().pop());
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }
        d.deserialize_map(MapVisitor(PhantomData))
    }
}

/// The first pass over a file: only what kind of document it is.
#[derive(Debug, Deserialize)]
pub struct Header {
    #[serde(rename = "apiVersion")]
    pub api_version: Option<Str>,
    pub kind: Option<Str>,
}

/// `metadata` of a `RouteMap`, `RuleSet` or `TestSuite` (optional, informational).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocMeta {
    #[serde(rename = "name")]
    pub _name: Option<IgnoredAny>,
}

mod bundle;
mod mcp;
mod routes;
mod rules;
mod suite;

pub use bundle::*;
pub use mcp::*;
pub use routes::*;
pub use rules::*;
pub use suite::*;

// ---------------------------------------------------------------- parsing

/// A serde error: where the parser says it is (1-based line and column), the field path
/// it was in, and the message without the parser's own "at line, column" suffix.
#[derive(Debug)]
pub struct ParseError {
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub field: String,
    pub message: String,
}

/// Parses one YAML document into `T`, naming the field path of the first error.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let options = serde_saphyr::Options {
        with_snippet: false,
        ..serde_saphyr::Options::default()
    };
    let mut path = String::new();
    KEYS.with(|k| k.borrow_mut().clear());
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let location = e.location();
        let mut message = e.without_snippet().to_string();
        let mut at = location.map(|l| (l.line(), l.column()));
        if let Some((line, column)) = at {
            let suffix = format!(" at line {line}, column {column}");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message.truncate(stripped.len());
            }
            // The parser places an unknown key at the start of its mapping: find the key.
            if let Some(key) = message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split('`').next())
            {
                at = find_key(text, key, line, column).or(at);
            }
        }
        ParseError {
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            field: clean_path(&path, &KEYS.with(|k| std::mem::take(&mut *k.borrow_mut()))),
            message,
        }
    })
}

/// The first `key:` at or after (line, column), as a 1-based (line, column).
fn find_key(text: &str, key: &str, line: u64, column: u64) -> Option<(u64, u64)> {
    for (i, l) in text
        .lines()
        .enumerate()
        .skip(line.saturating_sub(1) as usize)
    {
        let from = if i + 1 == line as usize {
            l.char_indices()
                .nth(column.saturating_sub(1) as usize)
                .map_or(l.len(), |(b, _)| b)
        } else {
            0
        };
        let mut search = from;
        while let Some(found) = l[search..].find(key) {
            let start = search + found;
            let before = l[..start].chars().next_back();
            let after = l[start + key.len()..].trim_start();
            let starts_token = before.is_none_or(|c| c.is_whitespace() || "{,-".contains(c));
            if starts_token && after.starts_with(':') {
                return Some((i as u64 + 1, l[..start].chars().count() as u64 + 1));
            }
            search = start + key.len();
        }
    }
    None
}

/// `spec.routes[0].value.name.value` -> `spec.routes[0].name`: drops the `Spanned`
/// wrapper's `value` segments, and names each `?` (a `Spanned` map key) from `keys`, in
/// order; a `?` left over is a key that failed itself (a duplicate), and is dropped.
fn clean_path(path: &str, keys: &[String]) -> String {
    if path == "." {
        return String::new();
    }
    let mut keys = keys.iter();
    let mut out = String::with_capacity(path.len());
    for segment in path.split('.') {
        let segment = match segment {
            "?" => match keys.next() {
                Some(key) => key.as_str(),
                None => continue,
            },
            "value" | "" => continue,
            other => other,
        };
        let segment = match segment.strip_prefix("value") {
            Some(rest) if rest.starts_with('[') => rest,
            _ => segment,
        };
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_the_spanned_wrappers() {
        assert_eq!(
            clean_path("spec.routes[2].value.constraints[1].value", &[]),
            "spec.routes[2].constraints[1]"
        );
        assert_eq!(clean_path("spec.questions.?", &[]), "spec.questions");
        let keys = ["money_movement".to_owned(), "A".to_owned()];
        assert_eq!(
            clean_path("spec.side_effects.?.value.questions.?", &keys),
            "spec.side_effects.money_movement.questions.A"
        );
        assert_eq!(
            clean_path("spec.windows.w.days.value[1]", &[]),
            "spec.windows.w.days[1]"
        );
        assert_eq!(clean_path(".", &[]), "");
    }

    #[test]
    fn unknown_keys_are_located_at_the_key() {
        let text = "a:\n  - name: x\n    goal: y\n    gaol: z\n  - {name: q, bogus: 1}\n";
        assert_eq!(find_key(text, "gaol", 2, 5), Some((4, 5)));
        assert_eq!(find_key(text, "bogus", 5, 5), Some((5, 15)));
        assert_eq!(find_key(text, "nope", 2, 5), None);
    }
}
