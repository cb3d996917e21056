//! Reading JSON-pointer values out of a request body in one streaming pass, with no tree
//! built: the walker follows only the pointers still matching the current path, and keeps
//! the scalars they end at (borrowed from the body when the JSON string has no escapes).
//!
//! Everything two JSON parsers could read differently is refused: duplicate keys in any
//! object, keys that differ from a key the map reads (at that depth) only by case, blank
//! padding or a NUL cut, nesting deeper than [`MAX_DEPTH`], trailing data, numbers out of
//! the f64 range, and invalid UTF-8 or lone surrogates (serde_json refuses the last ones).
//! A number a pointer reads must mean exactly the f64 it parses to (its decimal text is the
//! shortest spelling of that f64, up to zeros and exponent form): `10000.0000000000001` is
//! 10000 to f64 but more than 10000 to a decimal upstream, so it is refused, not compared.
//! A top-level `_method` key (Laravel reads it from JSON as the method) is refused.

use super::ExtractError;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::fmt;

/// The deepest nesting of objects and arrays accepted.
pub const MAX_DEPTH: usize = 64;

/// A value a pointer ends at. `null` and missing values are not kept (absent).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json<'de> {
    Str(Cow<'de, str>),
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    /// An object: never a fact.
    Composite,
    /// An array: never a fact.
    Array,
}

impl Json<'_> {
    /// The JSON text of a scalar that is not a string.
    pub(crate) fn render(&self) -> Option<String> {
        match self {
            Json::Bool(b) => Some(b.to_string()),
            Json::U64(n) => Some(n.to_string()),
            Json::I64(n) => Some(n.to_string()),
            Json::F64(f) => serde_json::Number::from_f64(*f).map(|n| n.to_string()),
            Json::Str(_) | Json::Composite | Json::Array => None,
        }
    }
}

pub(crate) type Values<'de> = SmallVec<[Option<Json<'de>>; 4]>;

/// Walks `body`, returning for each pointer (tokens, in order) the value it ends at.
pub(crate) fn walk<'de>(
    body: &'de [u8],
    pointers: &[&[Box<str>]],
) -> Result<Values<'de>, ExtractError> {
    walk_shaped(body, pointers, &[])
}

/// [`walk`], where the pointers at the indexes in `objects` are read only to learn whether
/// an object is there (any other value there is refused by the caller): the value they end
/// at is walked once, in place, instead of being captured as text first (which scans it
/// again) to check the spelling of a number the caller refuses anyway.
pub(crate) fn walk_shaped<'de>(
    body: &'de [u8],
    pointers: &[&[Box<str>]],
    objects: &[usize],
) -> Result<Values<'de>, ExtractError> {
    let mut walk = Walk {
        pointers,
        objects,
        out: SmallVec::from_elem(None, pointers.len()),
        error: None,
    };
    let root = Node {
        active: (0..pointers.len()).collect(),
        root_object: pointers.iter().any(|p| !p.is_empty()),
        depth: 0,
        // Only an empty pointer reads the root itself (and needs its text).
        text: pointers
            .iter()
            .any(|p| p.is_empty())
            .then(|| std::str::from_utf8(body).ok().map(str::trim))
            .flatten(),
        walk: &mut walk,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let res = root.deserialize(&mut de).and_then(|()| de.end());
    match res {
        Ok(()) => Ok(walk.out),
        Err(e) => Err(walk
            .error
            .take()
            .unwrap_or_else(|| ExtractError::BodyInvalidJson(e.to_string().into()))),
    }
}

struct Walk<'p, 'de> {
    pointers: &'p [&'p [Box<str>]],
    /// See [`walk_shaped`].
    objects: &'p [usize],
    out: Values<'de>,
    /// The precise reason, when the walk itself refused the document.
    error: Option<ExtractError>,
}

impl<'de> Walk<'_, 'de> {
    fn fail<E: de::Error>(&mut self, e: ExtractError) -> Result<(), E> {
        let msg = e.to_string();
        self.error = Some(e);
        Err(E::custom(msg))
    }

    /// Keeps `v` for every active pointer that ends at this depth.
    fn keep(&mut self, active: &[usize], depth: usize, v: Json<'de>) {
        for &i in active {
            if self.pointers[i].len() == depth {
                self.out[i] = Some(v.clone());
            }
        }
    }

    /// Whether the value at `depth` is read as itself (not only as "an object"): its text is
    /// kept, to check the spelling of a number.
    fn reads_value(&self, active: &[usize], depth: usize) -> bool {
        active
            .iter()
            .any(|&i| self.pointers[i].len() == depth && !self.objects.contains(&i))
    }

    /// A key of an object at `depth` that is not a key the map reads there, but would be
    /// to a parser that folds case, trims blanks or stops at NUL.
    fn ambiguous(&self, key: &str, depth: usize) -> Option<&str> {
        self.pointers
            .iter()
            .filter_map(|p| p.get(depth))
            .map(|t| &**t)
            .find(|t| *t != key && loose_eq(t, key))
    }
}

/// Equal once cut at the first NUL, trimmed of blanks, and compared without case.
pub(super) fn loose_eq(a: &str, b: &str) -> bool {
    // Almost every key is printable ASCII: nothing to cut or trim, and case folds as ASCII,
    // so the comparison is ASCII-caseless (which looks at the lengths first). This runs for
    // every key of every object a pointer enters.
    let plain = |s: &str| s.bytes().all(|c| c.is_ascii_graphic());
    if plain(a) && plain(b) {
        return a.eq_ignore_ascii_case(b);
    }
    folded_eq(a, b)
}

/// [`loose_eq`] by its definition, for any text.
pub(super) fn folded_eq(a: &str, b: &str) -> bool {
    fn fold(s: &str) -> &str {
        s.split('\0').next().unwrap_or("").trim()
    }
    caseless_eq(fold(a), fold(b))
}

/// ASCII and Unicode case-insensitive equality (lower- or upper-case mappings agree).
pub(super) fn caseless_eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        // ASCII characters map to ASCII under both mappings: nothing more can match.
        return a.eq_ignore_ascii_case(b);
    }
    a.eq_ignore_ascii_case(b)
        || a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
        || a.chars()
            .flat_map(char::to_uppercase)
            .eq(b.chars().flat_map(char::to_uppercase))
}

/// RFC 6901: an array index token is `0` or digits without a leading zero.
fn is_index(token: &str, i: usize) -> bool {
    !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'))
        && token.parse::<usize>() == Ok(i)
}

struct Node<'w, 'p, 'de> {
    walk: &'w mut Walk<'p, 'de>,
    /// Pointers whose first `depth` tokens match the path to this value.
    active: SmallVec<[usize; 8]>,
    depth: usize,
    /// The root must be an object (some pointer is not empty).
    root_object: bool,
    /// The JSON text of this value, when a pointer reads it (to check its numbers).
    text: Option<&'de str>,
}

impl<'de> Node<'_, '_, 'de> {
    fn scalar<E: de::Error>(self, v: Json<'de>) -> Result<(), E> {
        if self.root_object {
            return self.walk.fail(ExtractError::BodyNotObject);
        }
        self.walk.keep(&self.active, self.depth, v);
        Ok(())
    }

    /// A number a pointer reads: its text must spell exactly the f64 it parsed to.
    fn number<E: de::Error>(self, v: Json<'de>, f: f64) -> Result<(), E> {
        if let Some(text) = self
            .text
            .filter(|_| self.walk.reads_value(&self.active, self.depth))
        {
            if !decimal_is_exact(text, f) {
                let e = ExtractError::BodyImpreciseNumber { text: text.into() };
                return self.walk.fail(e);
            }
        }
        self.scalar(v)
    }

    /// The child at `depth + 1` with the pointers `active` there. A child some pointer ends
    /// at is captured as raw text first and walked from that text, so its numbers can be
    /// checked against their spelling.
    fn child<D: Deserializer<'de>>(
        walk: &mut Walk<'_, 'de>,
        active: SmallVec<[usize; 8]>,
        depth: usize,
        d: D,
    ) -> Result<(), D::Error> {
        if !walk.reads_value(&active, depth) {
            return Node {
                walk,
                active,
                depth,
                root_object: false,
                text: None,
            }
            .deserialize(d);
        }
        let raw = <&'de RawValue as serde::Deserialize<'de>>::deserialize(d)?;
        let text = raw.get();
        let mut inner = serde_json::Deserializer::from_str(text);
        Node {
            walk,
            active,
            depth,
            root_object: false,
            text: Some(text),
        }
        .deserialize(&mut inner)
        .and_then(|()| inner.end())
        .map_err(|e| {
            // The outer parser adds its own position, in the whole document.
            let msg = e.to_string();
            let msg = match msg.rfind(" at line ") {
                Some(i) if e.line() != 0 => &msg[..i],
                _ => &msg,
            };
            de::Error::custom(msg)
        })
    }

    fn enter<E: de::Error>(&mut self, kind: Json<'de>) -> Result<(), E> {
        self.walk.keep(&self.active, self.depth, kind);
        if self.depth >= MAX_DEPTH {
            return self.walk.fail(ExtractError::BodyTooDeep);
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(Json::Bool(v))
    }

    // Integers are exact as parsed; whether a large one fits an f64 is the quantity's check.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(Json::I64(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(Json::U64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.number(Json::F64(v), v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.scalar(Json::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(Json::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.scalar(Json::Str(Cow::Owned(v)))
    }

    /// `null`: absent.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.root_object {
            return self.walk.fail(ExtractError::BodyNotObject);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        if self.root_object {
            return self.walk.fail(ExtractError::BodyNotObject);
        }
        self.enter(Json::Array)?;
        let depth = self.depth;
        let mut i = 0usize;
        loop {
            let active = self
                .active
                .iter()
                .copied()
                .filter(|&p| {
                    self.walk.pointers[p]
                        .get(depth)
                        .is_some_and(|t| is_index(t, i))
                })
                .collect();
            let child = Child {
                walk: &mut *self.walk,
                active,
                depth: depth + 1,
            };
            if seq.next_element_seed(child)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.enter(Json::Composite)?;
        let depth = self.depth;
        let mut keys: SmallVec<[Cow<'de, str>; 8]> = SmallVec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if depth == 0 && loose_eq(&key, "_method") {
                return self.walk.fail(ExtractError::BodyMethodOverride);
            }
            if let Some(read) = self.walk.ambiguous(&key, depth) {
                let e = ExtractError::BodyAmbiguousKey {
                    key: key.as_ref().into(),
                    read: read.into(),
                };
                return self.walk.fail(e);
            }
            let active = self
                .active
                .iter()
                .copied()
                .filter(|&p| {
                    self.walk.pointers[p]
                        .get(depth)
                        .is_some_and(|t| **t == *key)
                })
                .collect();
            map.next_value_seed(Child {
                walk: &mut *self.walk,
                active,
                depth: depth + 1,
            })?;
            keys.push(key);
        }
        if let Some(dup) = duplicate(&mut keys) {
            let e = ExtractError::BodyDuplicateKey { key: dup.into() };
            return self.walk.fail(e);
        }
        Ok(())
    }
}

/// A value inside an object or array; see [`Node::child`].
struct Child<'w, 'p, 'de> {
    walk: &'w mut Walk<'p, 'de>,
    active: SmallVec<[usize; 8]>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Child<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        Node::child(self.walk, self.active, self.depth, d)
    }
}

/// A decimal number as digits without leading or trailing zeros and a power of ten:
/// `(negative, digits, exponent)`, zero as `(false, "", 0)`. `None` when `text` is not a
/// JSON number.
fn decimal_parts(text: &str) -> Option<(bool, String, i64)> {
    let (neg, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_len = i64::try_from(frac.len()).ok()?;
    let mut digits: String = int.chars().chain(frac.chars()).collect();
    let mut exp = exp.checked_sub(frac_len)?;
    let lead = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..lead);
    while digits.ends_with('0') {
        digits.pop();
        exp = exp.checked_add(1)?;
    }
    if digits.is_empty() {
        return Some((false, String::new(), 0));
    }
    Some((neg, digits, exp))
}

/// Whether the decimal `text` is exactly the number Rust's shortest round-trip spelling of
/// `f` names (so a decimal parser and an f64 parser agree on it).
pub(super) fn decimal_is_exact(text: &str, f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    match (decimal_parts(text), decimal_parts(&format!("{f:e}"))) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// A key present twice (compared unescaped, byte for byte).
fn duplicate<'k>(keys: &'k mut [Cow<'_, str>]) -> Option<&'k str> {
    if keys.len() <= 16 {
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].contains(k) {
                return Some(k);
            }
        }
        return None;
    }
    keys.sort_unstable();
    keys.windows(2)
        .find(|w| w[0] == w[1])
        .map(|w| w[0].as_ref())
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}
