//! Normalizing the request target, once, before routing: what is matched against the route
//! table is exactly the path the upstream receives.
//!
//! The rules are RFC 3986 §6.2.2 syntax-based normalization, hardened for a gate: only
//! unreserved characters are percent-decoded (other escapes are kept, with upper-case hex),
//! dot segments are removed (after decoding, so `%2e%2e` is `..`), runs of `/` collapse to
//! one, and every spelling that two HTTP stacks could read differently is refused instead of
//! guessed at: encoded `/` or `\`, a raw `\`, control bytes, an encoded `%` (double
//! encoding), raw non-ASCII, escapes that are not UTF-8, `..` above the root, `.`/`..` with
//! matrix parameters (`..;` is `..` to some servlet containers), and fragments.
//!
//! The common case, a target that is already normal, is returned borrowed.

use std::borrow::Cow;

/// The longest request target accepted, in bytes.
pub const MAX_TARGET_LEN: usize = 8192;

/// A normalized origin-form request target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// The normalized path: starts with `/`, no dot segments, no `//`, only unreserved
    /// characters decoded. Forwarded as is.
    pub path: Cow<'a, str>,
    /// The raw query (after the first `?`), unmodified; `None` when there is no `?`.
    pub query: Option<&'a str>,
}

/// Why a request target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("request target longer than {MAX_TARGET_LEN} bytes")]
    TooLong,
    #[error("empty request target")]
    Empty,
    #[error("request target is not in origin form (must start with '/')")]
    NotOriginForm,
    #[error("request target contains a fragment ('#')")]
    Fragment,
    #[error("invalid percent-escape")]
    InvalidEscape,
    #[error("encoded '/' (%2F) in path")]
    EncodedSlash,
    #[error("encoded '\\' (%5C) in path")]
    EncodedBackslash,
    #[error("'\\' in path")]
    Backslash,
    #[error("control byte in request target")]
    ControlByte,
    #[error("encoded control byte in path")]
    EncodedControlByte,
    #[error("encoded '%' (%25) in path: double encoding")]
    DoubleEncoding,
    #[error("raw non-ASCII byte in request target")]
    NonAscii,
    #[error("percent-escapes in path are not valid UTF-8")]
    InvalidUtf8,
    #[error("character not allowed in a path")]
    InvalidCharacter,
    #[error("'..' segment climbs above the root")]
    AboveRoot,
    #[error("'.' or '..' segment with parameters (';')")]
    DotSegmentParams,
}

/// Normalizes an origin-form request target (`/a/b?x=1`). See the module documentation
/// for the rules.
pub fn normalize(path_and_query: &str) -> Result<Target<'_>, NormalizeError> {
    if path_and_query.len() > MAX_TARGET_LEN {
        return Err(NormalizeError::TooLong);
    }
    if path_and_query.is_empty() {
        return Err(NormalizeError::Empty);
    }
    if !path_and_query.starts_with('/') {
        return Err(NormalizeError::NotOriginForm);
    }
    if path_and_query.contains('#') {
        return Err(NormalizeError::Fragment);
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    if let Some(q) = query {
        check_query(q)?;
    }
    Ok(Target {
        path: normalize_path(path)?,
        query,
    })
}

/// The query is kept raw, but must still be a valid URI query: no control bytes, no raw
/// non-ASCII or space, and well-formed escapes.
fn check_query(q: &str) -> Result<(), NormalizeError> {
    let b = q.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0x00..=0x1F | 0x7F => return Err(NormalizeError::ControlByte),
            0x80..=0xFF => return Err(NormalizeError::NonAscii),
            b' ' => return Err(NormalizeError::InvalidCharacter),
            b'%' => {
                hex_pair(b, i)?;
                i += 2;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes the escape at `b[i] == '%'`: its byte value, and whether its hex was already
/// upper case.
fn hex_pair(b: &[u8], i: usize) -> Result<(u8, bool), NormalizeError> {
    let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) else {
        return Err(NormalizeError::InvalidEscape);
    };
    match (hex_val(h), hex_val(l)) {
        (Some(hv), Some(lv)) => Ok((
            hv << 4 | lv,
            !h.is_ascii_lowercase() && !l.is_ascii_lowercase(),
        )),
        _ => Err(NormalizeError::InvalidEscape),
    }
}

const fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Raw characters RFC 3986 allows in a path segment besides unreserved and `%`:
/// sub-delims, `:` and `@`.
pub(crate) const fn is_segment_char(c: u8) -> bool {
    is_unreserved(c)
        || matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_escape(out: &mut String, v: u8) {
    out.push('%');
    out.push(HEX_UPPER[usize::from(v >> 4)] as char);
    out.push(HEX_UPPER[usize::from(v & 0xF)] as char);
}

/// Normalizes one segment (no `/` inside): validates it, decodes unreserved escapes,
/// upper-cases the hex of kept ones. Borrowed when nothing changes.
fn segment(seg: &str) -> Result<Cow<'_, str>, NormalizeError> {
    let b = seg.as_bytes();
    let mut out: Option<String> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c != b'%' {
            match c {
                b'\\' => return Err(NormalizeError::Backslash),
                0x00..=0x1F | 0x7F => return Err(NormalizeError::ControlByte),
                0x80..=0xFF => return Err(NormalizeError::NonAscii),
                _ if !is_segment_char(c) => return Err(NormalizeError::InvalidCharacter),
                _ => {}
            }
            if let Some(o) = out.as_mut() {
                o.push(c as char);
            }
            i += 1;
            continue;
        }
        let start = i;
        let (v, upper) = hex_pair(b, i)?;
        i += 3;
        match v {
            b'/' => return Err(NormalizeError::EncodedSlash),
            b'\\' => return Err(NormalizeError::EncodedBackslash),
            b'%' => return Err(NormalizeError::DoubleEncoding),
            0x00..=0x1F | 0x7F => return Err(NormalizeError::EncodedControlByte),
            _ if is_unreserved(v) => {
                out.get_or_insert_with(|| seg[..start].to_owned())
                    .push(v as char);
            }
            0x80..=0xFF => {
                // A UTF-8 sequence spelled as escapes: read all of it, and require that it
                // decodes (refusing overlong forms, surrogates and stray continuations).
                let len = match v {
                    0xC2..=0xDF => 2,
                    0xE0..=0xEF => 3,
                    0xF0..=0xF4 => 4,
                    _ => return Err(NormalizeError::InvalidUtf8),
                };
                let mut buf = [v, 0, 0, 0];
                let mut all_upper = upper;
                for slot in buf.iter_mut().take(len).skip(1) {
                    if b.get(i) != Some(&b'%') {
                        return Err(NormalizeError::InvalidUtf8);
                    }
                    let (cv, cu) = hex_pair(b, i)?;
                    *slot = cv;
                    all_upper &= cu;
                    i += 3;
                }
                if std::str::from_utf8(&buf[..len]).is_err() {
                    return Err(NormalizeError::InvalidUtf8);
                }
                if out.is_none() && !all_upper {
                    out = Some(seg[..start].to_owned());
                }
                if let Some(o) = out.as_mut() {
                    for &byte in &buf[..len] {
                        push_escape(o, byte);
                    }
                }
            }
            _ => {
                if out.is_none() && !upper {
                    out = Some(seg[..start].to_owned());
                }
                if let Some(o) = out.as_mut() {
                    push_escape(o, v);
                }
            }
        }
    }
    Ok(match out {
        Some(o) => Cow::Owned(o),
        None => Cow::Borrowed(seg),
    })
}

/// `.` or `..` followed by parameters (`;` raw or encoded): a dot segment to servlet
/// containers that strip path parameters, a plain segment to everything else.
fn is_dot_with_params(seg: &str) -> bool {
    let rest = seg
        .strip_prefix("..")
        .or_else(|| seg.strip_prefix('.'))
        .unwrap_or("");
    rest.starts_with(';') || rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%3B"))
}

/// [`is_segment_char`] as a table, for the one-pass check of already normal paths.
const SEGMENT_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = is_segment_char(c as u8);
        c += 1;
    }
    t
};

/// The common case, decided in one pass: a path that is already normal because it has
/// nothing to normalize or refuse: only raw segment characters and `/` (no escape), no
/// empty segment (`//`, or a trailing `/`), and no segment that starts with `.`.
fn is_plainly_normal(path: &str) -> bool {
    let b = path.as_bytes();
    if b.last() == Some(&b'/') {
        return b.len() == 1;
    }
    let mut prev = 0u8;
    for &c in b {
        let ok = match c {
            b'/' | b'.' => prev != b'/',
            _ => SEGMENT_CHAR[usize::from(c)],
        };
        if !ok {
            return false;
        }
        prev = c;
    }
    true
}

fn normalize_path(path: &str) -> Result<Cow<'_, str>, NormalizeError> {
    debug_assert!(path.starts_with('/'));
    if is_plainly_normal(path) {
        return Ok(Cow::Borrowed(path));
    }
    normalize_path_fully(path)
}

/// The whole rules, segment by segment.
fn normalize_path_fully(path: &str) -> Result<Cow<'_, str>, NormalizeError> {
    // Output so far: `path[..clean]` while `out` is None (nothing changed yet), else `out`.
    let mut out: Option<String> = None;
    let mut clean = 0usize;
    let mut depth = 0usize;
    let mut trailing = false;
    let mut pos = 1usize; // start of the current segment in `path`
    let mut segments = path[1..].split('/').peekable();
    while let Some(raw) = segments.next() {
        let start = pos;
        pos += raw.len() + 1;
        let last = segments.peek().is_none();
        trailing = false;
        let seg = segment(raw)?;
        match seg.as_ref() {
            "" | "." => trailing = last,
            ".." => {
                if depth == 0 {
                    return Err(NormalizeError::AboveRoot);
                }
                let o = out.get_or_insert_with(|| path[..clean].to_owned());
                let cut = o.rfind('/').unwrap_or(0);
                o.truncate(cut);
                depth -= 1;
                trailing = last;
            }
            s => {
                if is_dot_with_params(s) {
                    return Err(NormalizeError::DotSegmentParams);
                }
                depth += 1;
                match out.as_mut() {
                    None if matches!(seg, Cow::Borrowed(_))
                        && start == clean + 1
                        && path.as_bytes()[clean] == b'/' =>
                    {
                        clean = start + raw.len();
                    }
                    _ => {
                        let o = out.get_or_insert_with(|| path[..clean].to_owned());
                        o.push('/');
                        o.push_str(s);
                    }
                }
            }
        }
    }
    let empty = match &out {
        Some(o) => o.is_empty(),
        None => clean == 0,
    };
    if trailing || empty {
        match out.as_mut() {
            None if path.get(clean..clean + 1) == Some("/") => clean += 1,
            _ => out
                .get_or_insert_with(|| path[..clean].to_owned())
                .push('/'),
        }
    }
    Ok(match out {
        Some(o) => Cow::Owned(o),
        None => Cow::Borrowed(&path[..clean]),
    })
}

#[cfg(test)]
mod tests {
    use super::NormalizeError::*;
    use super::*;

    #[test]
    fn plainly_normal_paths_are_what_the_full_rules_return() {
        for p in [
            "/",
            "/a",
            "/payments/v1/payouts/po_123",
            "/a.b/c..d/e.",
            "/a;b/c=d/@x:y/~u/-_/!$&'()*+,",
        ] {
            assert!(is_plainly_normal(p), "{p}");
        }
        for p in [
            "//", "/a/", "/a//b", "/./a", "/a/..", "/.x", "/a%41", "/a b", "/a\\b",
        ] {
            assert!(!is_plainly_normal(p), "{p}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_shortcut_agrees_with_the_full_rules(p in "/[a-z0-9./;=%_~@-]{0,24}") {
            if is_plainly_normal(&p) {
                proptest::prop_assert_eq!(normalize_path_fully(&p), Ok(Cow::Borrowed(p.as_str())));
            }
        }
    }

    type Want = Result<(String, Option<String>), NormalizeError>;

    fn ok(path: &str, query: Option<&str>) -> Want {
        Ok((path.to_owned(), query.map(str::to_owned)))
    }

    #[test]
    fn table() {
        let long = format!("/{}", "a".repeat(MAX_TARGET_LEN));
        let just = format!("/{}", "a".repeat(MAX_TARGET_LEN - 1));
        let cases: Vec<(&str, Want)> = vec![
            // already normal
            ("/", ok("/", None)),
            ("/db/v1/tenants/t-1", ok("/db/v1/tenants/t-1", None)),
            ("/a/b?x=1", ok("/a/b", Some("x=1"))),
            ("/a/b?", ok("/a/b", Some(""))),
            ("/a?x=1?y=/../", ok("/a", Some("x=1?y=/../"))),
            ("/a?x=%2F%2e", ok("/a", Some("x=%2F%2e"))),
            ("/a?f[x]=1|2", ok("/a", Some("f[x]=1|2"))),
            ("/a/b/", ok("/a/b/", None)),
            ("/a;b=c/d", ok("/a;b=c/d", None)),
            ("/x;y", ok("/x;y", None)),
            ("/A/B", ok("/A/B", None)),
            ("/a:b@c!$&'()*+,=", ok("/a:b@c!$&'()*+,=", None)),
            ("/...", ok("/...", None)),
            ("/a/.b/..c/.../b..", ok("/a/.b/..c/.../b..", None)),
            // dot segments
            (
                "/payments/v1/payouts/../../db/v1/tenants/x",
                ok("/payments/db/v1/tenants/x", None),
            ),
            ("/a/../b", ok("/b", None)),
            ("/a/%2e%2e/b", ok("/b", None)),
            ("/a/.%2E/b", ok("/b", None)),
            ("/a/%2E/b", ok("/a/b", None)),
            ("/a/./b/.", ok("/a/b/", None)),
            ("/a/b/..", ok("/a/", None)),
            ("/a/..", ok("/", None)),
            ("/a/../", ok("/", None)),
            ("/.", ok("/", None)),
            ("/./", ok("/", None)),
            ("/a/b/../../c/", ok("/c/", None)),
            ("/%2e%2e/x", Err(AboveRoot)),
            ("/..", Err(AboveRoot)),
            ("/a/../..", Err(AboveRoot)),
            ("/a/../../b", Err(AboveRoot)),
            ("/../a?x", Err(AboveRoot)),
            ("/a/..;/b", Err(DotSegmentParams)),
            ("/a/.;x/b", Err(DotSegmentParams)),
            ("/a/%2e%2e;/b", Err(DotSegmentParams)),
            ("/a/..%3b/b", Err(DotSegmentParams)),
            ("/a/..%3B", Err(DotSegmentParams)),
            ("/a/..x;/b", ok("/a/..x;/b", None)),
            // slashes
            ("//db/v1", ok("/db/v1", None)),
            ("//", ok("/", None)),
            ("///", ok("/", None)),
            ("/db//v1///tenants", ok("/db/v1/tenants", None)),
            ("/a//", ok("/a/", None)),
            ("//a/..//b", ok("/b", None)),
            ("/.//a", ok("/a", None)),
            ("/..//a", Err(AboveRoot)),
            // escapes
            ("/%41%42c", ok("/ABc", None)),
            ("/a%7e%2D%5F%2e", ok("/a~-_.", None)),
            ("/%e2%82%ac", ok("/%E2%82%AC", None)),
            ("/%E2%82%AC", ok("/%E2%82%AC", None)),
            ("/%c3%a9x", ok("/%C3%A9x", None)),
            ("/%f0%9f%98%80", ok("/%F0%9F%98%80", None)),
            ("/a%20b%3f%23%3b", ok("/a%20b%3F%23%3B", None)),
            ("/a%3A%40", ok("/a%3A%40", None)),
            ("/a%2fb", Err(EncodedSlash)),
            ("/a%2Fb", Err(EncodedSlash)),
            ("/a%5cb", Err(EncodedBackslash)),
            ("/a%5Cb", Err(EncodedBackslash)),
            ("/a\\b", Err(Backslash)),
            ("/a%00", Err(EncodedControlByte)),
            ("/a%0a", Err(EncodedControlByte)),
            ("/a%7F", Err(EncodedControlByte)),
            ("/a%2500", Err(DoubleEncoding)),
            ("/a%252e%252e/", Err(DoubleEncoding)),
            ("/a%25", Err(DoubleEncoding)),
            ("/%", Err(InvalidEscape)),
            ("/%4", Err(InvalidEscape)),
            ("/%zz", Err(InvalidEscape)),
            ("/%4g", Err(InvalidEscape)),
            ("/a?x=%", Err(InvalidEscape)),
            ("/a?x=%zz", Err(InvalidEscape)),
            // UTF-8 in escapes
            ("/%C0%AF", Err(InvalidUtf8)),
            ("/%C0%80", Err(InvalidUtf8)),
            ("/%E0%80%AF", Err(InvalidUtf8)),
            ("/%ED%A0%80", Err(InvalidUtf8)),
            ("/%F4%90%80%80", Err(InvalidUtf8)),
            ("/%80", Err(InvalidUtf8)),
            ("/%C3", Err(InvalidUtf8)),
            ("/%C3a", Err(InvalidUtf8)),
            ("/%C3%41", Err(InvalidUtf8)),
            ("/%E2%82", Err(InvalidUtf8)),
            ("/%C3%", Err(InvalidEscape)),
            // raw bytes
            ("/a\0", Err(ControlByte)),
            ("/a\tb", Err(ControlByte)),
            ("/a\x7f", Err(ControlByte)),
            ("/a?x=\r\n", Err(ControlByte)),
            ("/é", Err(NonAscii)),
            ("/a?x=é", Err(NonAscii)),
            ("/a b", Err(InvalidCharacter)),
            ("/a?x y", Err(InvalidCharacter)),
            ("/a\"b", Err(InvalidCharacter)),
            ("/a<b>", Err(InvalidCharacter)),
            ("/a{b}", Err(InvalidCharacter)),
            ("/a|b", Err(InvalidCharacter)),
            ("/a[0]", Err(InvalidCharacter)),
            ("/a^b", Err(InvalidCharacter)),
            ("/a`b", Err(InvalidCharacter)),
            // form
            ("/x#frag", Err(Fragment)),
            ("/x?y#frag", Err(Fragment)),
            ("/x%23", ok("/x%23", None)),
            ("*", Err(NotOriginForm)),
            ("http://evil/x", Err(NotOriginForm)),
            ("a/b", Err(NotOriginForm)),
            ("?x=1", Err(NotOriginForm)),
            ("", Err(Empty)),
            (just.as_str(), Ok((just.clone(), None))),
            (long.as_str(), Err(TooLong)),
        ];
        let mut failures = Vec::new();
        for (input, want) in &cases {
            let got = normalize(input).map(|t| (t.path.into_owned(), t.query.map(str::to_owned)));
            if &got != want {
                failures.push(format!("{input:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn normal_targets_are_borrowed() {
        for input in [
            "/",
            "/db/v1/tenants/t-1",
            "/a/b/?x=%2f",
            "/a;b=c/%C3%A9/%20",
            "/a/.b",
        ] {
            let t = normalize(input).unwrap();
            assert!(matches!(t.path, Cow::Borrowed(_)), "{input}");
            assert_eq!(
                format!(
                    "{}{}",
                    t.path,
                    t.query.map(|q| format!("?{q}")).unwrap_or_default()
                ),
                input
            );
        }
        // A normal prefix of the input is borrowed too.
        for (input, want) in [
            ("/a//", "/a/"),
            ("/a/.", "/a/"),
            ("//", "/"),
            ("/a/b/./", "/a/b/"),
        ] {
            let t = normalize(input).unwrap();
            assert!(matches!(t.path, Cow::Borrowed(p) if p == want), "{input}");
        }
        for input in ["//a", "/a/./b", "/%41", "/%c3%a9", "/a/..", "/%2e/a"] {
            assert!(
                matches!(normalize(input).unwrap().path, Cow::Owned(_)),
                "{input}"
            );
        }
    }

    #[test]
    fn errors_have_short_reasons() {
        assert_eq!(EncodedSlash.to_string(), "encoded '/' (%2F) in path");
        assert_eq!(AboveRoot.to_string(), "'..' segment climbs above the root");
    }
}
