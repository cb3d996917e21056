//! Properties of request-target normalization: it is idempotent, and what it returns is in
//! canonical form (no dot segments, no empty segments, no encoded separators, no control
//! bytes), so the path routed is the path the upstream receives, whatever it does with it.

use proptest::prelude::*;
use toolgate::classify::normalize::{normalize, NormalizeError};

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E%2e".to_owned()),
        Just(".%2E".to_owned()),
        Just(String::new()),
        Just("%41".to_owned()),
        Just("%7e".to_owned()),
        Just("%2f".to_owned()),
        Just("%5C".to_owned()),
        Just("%25".to_owned()),
        Just("%c3%a9".to_owned()),
        Just("%C0%AF".to_owned()),
        Just("%3b".to_owned()),
        Just("%20".to_owned()),
        Just(";x".to_owned()),
        Just("..;".to_owned()),
        Just("x;y=1".to_owned()),
        Just("é".to_owned()),
        Just("\\".to_owned()),
        Just("%00".to_owned()),
        Just("%".to_owned()),
        Just("...".to_owned()),
        "[a-zA-Z0-9._~-]{1,4}",
        "[a-z.%;0-9A-F]{1,6}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(segment(), 0..8),
        prop::bool::ANY,
        prop::option::of("[a-z=&%0-9./]{0,8}"),
    )
        .prop_map(|(segs, leading_double, query)| {
            let mut t = String::from(if leading_double { "//" } else { "/" });
            t.push_str(&segs.join("/"));
            if let Some(q) = query {
                t.push('?');
                t.push_str(&q);
            }
            t
        })
}

fn assert_canonical(path: &str) {
    assert!(path.starts_with('/'), "{path:?} does not start with '/'");
    assert!(!path.contains("//"), "{path:?} contains '//'");
    assert!(!path.contains("/./"), "{path:?} contains '/./'");
    assert!(!path.contains("/../"), "{path:?} contains '/../'");
    assert!(!path.ends_with("/."), "{path:?} ends with '/.'");
    assert!(!path.ends_with("/.."), "{path:?} ends with '/..'");
    for bad in [
        "%2F", "%2f", "%5C", "%5c", "%25", "%2E", "%2e", "\\", "?", "#",
    ] {
        assert!(!path.contains(bad), "{path:?} contains {bad:?}");
    }
    assert!(
        path.bytes().all(|b| (0x20..0x7F).contains(&b)),
        "{path:?} contains a control or non-ASCII byte"
    );
    for seg in path.split('/') {
        assert!(seg != "." && seg != "..", "{path:?} has a dot segment");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn normalized_paths_are_canonical_and_stable(t in target()) {
        if let Ok(n) = normalize(&t) {
            assert_canonical(&n.path);
            let again = normalize(&n.path).expect("a normalized path normalizes");
            prop_assert_eq!(&again.path, &n.path);
            prop_assert!(again.query.is_none());
            // With the query put back, the same target comes out.
            if let Some(q) = n.query {
                let whole = format!("{}?{}", n.path, q);
                let back = normalize(&whole).unwrap();
                prop_assert_eq!(back.path, n.path.clone());
                prop_assert_eq!(back.query, Some(q));
            }
        }
    }

    #[test]
    fn arbitrary_strings_never_panic_and_stay_canonical(s in "/[ -~]{0,40}") {
        if let Ok(n) = normalize(&s) {
            assert_canonical(&n.path);
            prop_assert_eq!(normalize(&n.path).unwrap().path, n.path.clone());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(s in any::<String>()) {
        let _ = normalize(&s);
        let _ = normalize(&format!("/{s}"));
    }

    #[test]
    fn encoded_and_plain_dots_are_the_same(segs in prop::collection::vec(prop_oneof![
        Just("a"), Just("b"), Just("."), Just(".."),
    ], 1..8)) {
        let plain = format!("/{}", segs.join("/"));
        let encoded = format!(
            "/{}",
            segs.iter().map(|s| s.replace('.', "%2e")).collect::<Vec<_>>().join("/")
        );
        let (p, e) = (normalize(&plain), normalize(&encoded));
        match (p, e) {
            (Ok(p), Ok(e)) => prop_assert_eq!(p.path, e.path),
            (Err(NormalizeError::AboveRoot), Err(NormalizeError::AboveRoot)) => {}
            (p, e) => prop_assert!(false, "{plain} -> {p:?}, {encoded} -> {e:?}"),
        }
    }
}
