//! Reading headers: presence, repetition, clean text, underscore aliases, names in any
//! case, values borrowed.

use super::*;

const DIRTY: &str =
    "header x-actor-role: value is not clean text (control or invisible character, or invalid UTF-8)";

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    vec![
        row("text header, borrowed", ROLE_H, h(&[("x-actor-role", b"admin")]),
            ok(facts!(actor_role: t("admin")))),
        row("absent header", ROLE_H, h(&[("x-other", b"admin")]), nothing()),
        row("empty header is absent", ROLE_H, h(&[("x-actor-role", b"")]), nothing()),
        row("UTF-8 header value", ROLE_H, h(&[("x-actor-role", b"Jos\xc3\xa9")]),
            ok(facts!(actor_role: t("José")))),
        // Read twice, a header could mean two things: refused, even when one copy is empty.
        row("repeated header", ROLE_H, h(&[("x-actor-role", b"viewer"), ("x-actor-role", b"admin")]),
            Err("header x-actor-role: repeated")),
        row("repeated header, one empty", ROLE_H, h(&[("x-actor-role", b""), ("x-actor-role", b"admin")]),
            Err("header x-actor-role: repeated")),
        // A value read must be clean text; one not read may be anything.
        row("tab in header value", ROLE_H, h(&[("x-actor-role", b"ad\tmin")]), Err(DIRTY)),
        row("obs-text that is not UTF-8", ROLE_H, h(&[("x-actor-role", b"adm\xffin")]), Err(DIRTY)),
        row("C1 control (U+0085) in header value", ROLE_H, h(&[("x-actor-role", b"ad\xc2\x85min")]),
            Err(DIRTY)),
        row("zero-width space in header value", ROLE_H, h(&[("x-actor-role", b"adm\xe2\x80\x8bin")]),
            Err(DIRTY)),
        row("unread header may be dirty", ROLE_H,
            h(&[("x-actor-role", b"admin"), ("x-other", b"a\tb"), ("x-other", b"c")]),
            ok(facts!(actor_role: t("admin")))),
        // Some stacks read `x_actor_role` as `x-actor-role` (and the other way round).
        row("underscore alias alone", ROLE_H, h(&[("x_actor_role", b"admin")]),
            Err("header x_actor_role: refused, an underscore alias of header x-actor-role")),
        row("underscore alias next to the header", ROLE_H,
            h(&[("x-actor-role", b"viewer"), ("x-actor_role", b"admin")]),
            Err("header x-actor_role: refused, an underscore alias of header x-actor-role")),
        row("underscore in an unrelated header", ROLE_H, h(&[("x-actor-role", b"viewer"), ("x_trace_id", b"1")]),
            ok(facts!(actor_role: t("viewer")))),
        row("dash alias of an underscore header", &[("actor_role", &["header:x_actor_role"])],
            h(&[("x-actor-role", b"admin")]),
            Err("header x-actor-role: refused, an underscore alias of header x_actor_role")),
        row("two fields, one header", &[("actor", &["header:x-who"]), ("approved_by", &["header:x-who"])],
            h(&[("x-who", b"bob")]), ok(facts!(actor: t("bob"), approved_by: t("bob")))),
    ]
}

#[test]
fn headers() {
    run("headers", rows());
}

/// A header name is lower-cased when parsed, whatever the spelling sent. (The rows cannot
/// tell the spellings apart once the request is built: `HeaderName` lower-cases them all
/// before the extractor sees them.)
#[test]
fn header_reads_are_case_insensitive_by_construction() {
    let name = HeaderName::from_bytes(b"X-Actor-Role").unwrap();
    assert_eq!(name.as_str(), "x-actor-role");
    let m = ContextMap::compile(
        vec![(Field::ActorRole, vec![Source::Header(name)])],
        "amount",
    );
    let mut failures = Failures::new("header name spellings");
    for sent in ["X-ACTOR-ROLE", "x-actor-role", "X-Actor-Role"] {
        let got = with_request(&m, &h(&[(sent, b"admin")]), |r| {
            r.map(|x| x.facts.actor_role.map(Cow::into_owned))
        });
        failures.check(sent, got, Ok(Some("admin".to_owned())));
    }
    failures.assert();
}

/// Text read from a header, or from a JSON string without escapes, borrows the request.
#[test]
fn values_are_borrowed() {
    type Read = fn(Facts<'_>) -> Option<Cow<'_, str>>;
    let rows: [(&str, Spec, Req, Read, &str); 2] = [
        (
            "header value",
            ROLE_H,
            h(&[("x-actor-role", b"admin")]),
            |f| f.actor_role,
            "admin",
        ),
        (
            "body string",
            ACTOR_B,
            b(r#"{"actor": "bob"}"#),
            |f| f.actor,
            "bob",
        ),
    ];
    let mut failures = Failures::new("borrowed values");
    for (name, fields, req, read, want) in rows {
        let got = with_request(&map(fields, "amount"), &req, |r| {
            r.map(|x| match read(x.facts) {
                Some(Cow::Borrowed(s)) => Some(format!("borrowed {s:?}")),
                Some(Cow::Owned(s)) => Some(format!("owned {s:?}")),
                None => None,
            })
        });
        failures.check(name, got, Ok(Some(format!("borrowed {want:?}"))));
    }
    failures.assert();
}
