//! What a request body may look like when toolgate reads it, as the frameworks behind it
//! read it. A body the route reads must be one the upstream reads the same way: a JSON media
//! type, UTF-8, and no content coding; otherwise the fields toolgate compared are not the
//! fields the upstream sees (a form body, a compressed or UTF-16 one). A body some framework
//! may read as a form is read on every route and refused when it carries a `_method` field,
//! which Rails, Laravel, Symfony and others read as the method.
//!
//! `Content-Type` is read as those frameworks read it, not more strictly: the media type
//! ends at the first `;`, `,` or blank (PHP and Rack cut there), a body the route reads
//! must have one (Rack reads an untyped body as a form), and a repeated or non-text one is
//! refused, since stacks disagree on it. Pure: [`before_reading`] judges the headers before
//! a byte is solicited, [`inspect`] the bytes once read.

use super::{ContextMap, ExtractError};
use crate::classify::target::{form_key_name, is_method_key};
use http::{header, HeaderMap};

/// Judges a body from the headers alone, before a byte of it is read: refused when the
/// route reads it (`reads`) and it is not JSON, or when its media type is repeated or not
/// text. `true` when some framework reads it as a form, so it must be read and inspected.
/// `declared_empty`: the request declares no body, so nothing can be read from it.
pub fn before_reading(
    headers: &HeaderMap,
    reads: bool,
    declared_empty: bool,
) -> Result<bool, ExtractError> {
    let media = media_type(headers);
    let form = if declared_empty {
        None
    } else {
        form_kind(&media)?
    };
    if reads {
        check_readable(&media, headers)?;
    }
    Ok(form.is_some())
}

/// Judges the bytes of a body toolgate read: no form reading of them may name `_method`,
/// and a body the route reads (`read`) that has no media type must not read, as a form, as
/// naming `_method` or a member the route evaluated (Rack reads an untyped body as a form).
pub fn inspect(
    read: Option<&ContextMap>,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<(), ExtractError> {
    let media = media_type(headers);
    if read.is_some() {
        check_readable(&media, headers)?;
    }
    if bytes.is_empty() {
        return Ok(());
    }
    if let Some(kind) = form_kind(&media)? {
        if has_method_field(kind, bytes) {
            return Err(ExtractError::BodyMethodOverride);
        }
    }
    if let (Some(map), Ok(None)) = (read, &media) {
        let form_reads = form_keys(bytes).any(|key| {
            let name = form_key_name(&key);
            name.eq_ignore_ascii_case("_method") || map.reads_body_key(&name)
        });
        if form_reads {
            return Err(ExtractError::BodyMediaType(
                "an untyped body that also reads as a form naming an evaluated field".into(),
            ));
        }
    }
    Ok(())
}

/// A media type: `type/subtype` lower-cased, and its parameters (names lower-cased).
type MediaType = (String, Vec<(String, String)>);

/// The media type of a request; `Err` when `Content-Type` is repeated or not text.
fn media_type(headers: &HeaderMap) -> Result<Option<MediaType>, ()> {
    let mut all = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return if headers.contains_key(header::CONTENT_TYPE) {
            Err(())
        } else {
            Ok(None)
        };
    };
    let text = v.to_str().map_err(|_| ())?.trim_start();
    // The essence ends where PHP and Rack end it; whatever follows a `,` or a blank is not
    // a parameter they read.
    let end = text
        .find(|c: char| c == ';' || c == ',' || c.is_ascii_whitespace())
        .unwrap_or(text.len());
    let essence = text[..end].to_ascii_lowercase();
    let params = text
        .split(';')
        .skip(1)
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect();
    Ok(Some((essence, params)))
}

/// A body the route reads must be JSON as the upstream will read it: `Content-Type` absent
/// or one JSON media type (`application/json`, `application/*+json`) whose charset, if
/// given, is UTF-8; no `Content-Encoding` but `identity`. (An untyped body is also checked
/// as a form once read, in `take`.)
fn check_readable(
    media: &Result<Option<MediaType>, ()>,
    headers: &HeaderMap,
) -> Result<(), ExtractError> {
    let refuse = |why: String| Err(ExtractError::BodyMediaType(why.into()));
    match media {
        Err(()) => return refuse("Content-Type is repeated or not text".into()),
        Ok(None) => {}
        Ok(Some((essence, params))) => {
            let json = essence == "application/json"
                || essence
                    .strip_prefix("application/")
                    .is_some_and(|s| s.ends_with("+json") && !s.contains('/'));
            if !json {
                return refuse(format!("Content-Type {essence:?} is not JSON"));
            }
            for (k, v) in params {
                if k == "charset" && !v.eq_ignore_ascii_case("utf-8") {
                    return refuse(format!("charset {v:?} is not UTF-8"));
                }
            }
        }
    }
    for v in headers.get_all(header::CONTENT_ENCODING) {
        let codings = v.to_str().unwrap_or("?");
        if codings
            .split(',')
            .map(str::trim)
            .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        {
            return refuse(format!("Content-Encoding {codings:?}"));
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    UrlEncoded,
    Multipart,
}

/// Whether the body is one some framework would read `_method` from, and as what. A
/// repeated or non-text `Content-Type` is refused, since stacks disagree on which one
/// counts. (An untyped body on a route that does not read it streams: see SECURITY.md.)
fn form_kind(media: &Result<Option<MediaType>, ()>) -> Result<Option<Form>, ExtractError> {
    Ok(match media {
        Err(()) => {
            return Err(ExtractError::BodyMediaType(
                "Content-Type is repeated or not text".into(),
            ))
        }
        Ok(None) => None,
        Ok(Some((essence, _))) if essence == "application/x-www-form-urlencoded" => {
            Some(Form::UrlEncoded)
        }
        Ok(Some((essence, _))) if essence.starts_with("multipart/") => Some(Form::Multipart),
        Ok(Some(_)) => None,
    })
}

/// The raw keys of a url-encoded body (`&` or the legacy `;` between pairs).
fn form_keys(body: &[u8]) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    body.split(|b| *b == b'&' || *b == b';')
        .map(|pair| pair.split(|b| *b == b'=').next().unwrap_or(b""))
        .map(String::from_utf8_lossy)
}

/// Whether a form body has a field some framework reads as `_method`. Multipart bodies are
/// searched line by line for a `Content-Disposition` naming it, whatever the boundary.
fn has_method_field(kind: Form, body: &[u8]) -> bool {
    match kind {
        Form::UrlEncoded => form_keys(body).any(|key| is_method_key(&key)),
        Form::Multipart => body
            .split(|b| *b == b'\n')
            .map(|line| String::from_utf8_lossy(line).to_ascii_lowercase())
            .filter(|line| line.trim_start().starts_with("content-disposition"))
            .any(|line| {
                line.split(';').skip(1).any(|param| {
                    let (k, v) = param.split_once('=').unwrap_or((param, ""));
                    let k = k.trim();
                    (k == "name" || k == "name*")
                        && is_method_key(v.trim().trim_end_matches('\r').trim().trim_matches('"'))
                })
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_json_bodies_are_readable() {
        let ok: &[&[(&str, &str)]] = &[
            &[],
            &[("content-type", "application/json")],
            &[("content-type", "Application/JSON; charset=UTF-8")],
            &[("content-type", "application/merge-patch+json")],
            &[
                ("content-type", "application/json"),
                ("content-encoding", "identity"),
            ],
        ];
        let readable = |h: &HeaderMap| check_readable(&media_type(h), h);
        for h in ok {
            assert!(readable(&headers(h)).is_ok(), "{h:?}");
        }
        let refused: &[&[(&str, &str)]] = &[
            &[("content-type", "application/x-www-form-urlencoded")],
            &[("content-type", "text/plain")],
            &[("content-type", "multipart/form-data; boundary=x")],
            &[("content-type", "application/json; charset=utf-16")],
            &[
                ("content-type", "application/json"),
                ("content-type", "application/json"),
            ],
            &[("content-type", "application/json+xml")],
            &[("content-encoding", "gzip")],
            &[("content-encoding", "identity, br")],
            // PHP and Rack end the media type at `,` or a blank.
            &[("content-type", "application/x-www-form-urlencoded,x+json")],
            &[("content-type", "application/x-www-form-urlencoded x+json")],
        ];
        for h in refused {
            assert!(readable(&headers(h)).is_err(), "{h:?}");
        }
    }

    #[test]
    fn what_a_framework_reads_as_a_form() {
        let kind = |h: &[(&str, &str)]| form_kind(&media_type(&headers(h)));
        assert_eq!(kind(&[]).unwrap(), None);
        for ct in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded; charset=utf-8",
            "application/x-www-form-urlencoded,x+json",
            "application/x-www-form-urlencoded x+json",
            " application/x-www-form-urlencoded",
        ] {
            assert_eq!(
                kind(&[("content-type", ct)]).unwrap(),
                Some(Form::UrlEncoded),
                "{ct}"
            );
        }
        assert_eq!(
            kind(&[("content-type", "multipart/form-data; boundary=b")]).unwrap(),
            Some(Form::Multipart)
        );
        assert_eq!(kind(&[("content-type", "application/json")]).unwrap(), None);
        assert!(kind(&[
            ("content-type", "text/plain"),
            ("content-type", "text/plain")
        ])
        .is_err());
    }

    #[test]
    fn method_fields_are_found_in_forms() {
        let url = |b: &str| has_method_field(Form::UrlEncoded, b.as_bytes());
        assert!(url("_method=DELETE"));
        assert!(url("a=1&_METHOD=put"));
        assert!(url("a=1;%5Fmethod=x"));
        assert!(url(".method=x"));
        assert!(url("_method[]=x"));
        assert!(!url("method=DELETE&a__method=1"));
        let mp = |b: &str| has_method_field(Form::Multipart, b.as_bytes());
        assert!(mp(
            "--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--b--"
        ));
        assert!(mp("--b\nCONTENT-DISPOSITION: form-data;name=_method\n\nx"));
        assert!(!mp("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"_method\"\r\n\r\n_method=1"));
    }
}
