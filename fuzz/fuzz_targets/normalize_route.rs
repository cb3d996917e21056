//! Path normalization + route matching: for any target, a normalized path is canonical,
//! normalizing it again changes nothing, the route it matches in the example bundle is the
//! route matched on what the upstream receives, and percent-decoding a segment reveals no
//! separator, dot segment, control byte or second escape.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use toolgate::classify::normalize::normalize;
use toolgate::snapshot::Snapshot;

static SNAPSHOT: LazyLock<Snapshot> = LazyLock::new(|| {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/tools");
    let now: jiff::Timestamp = "2026-03-16T10:00:00Z".parse().unwrap();
    toolgate::bundle::load(&dir, now).expect("the example bundle loads")
});

const METHODS: [Method; 4] = [Method::GET, Method::POST, Method::DELETE, Method::PUT];

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let Ok(target) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(n) = normalize(target) else {
        return;
    };
    let path = &*n.path;
    assert!(path.starts_with('/'), "{target:?} -> {path:?}");
    assert!(!path.contains("//"), "{target:?} -> {path:?}");
    assert!(!path.contains(['?', '#', '\\']), "{target:?} -> {path:?}");
    for seg in path.split('/').skip(1) {
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(seg).collect();
        assert!(
            decoded != b"." && decoded != b"..",
            "{target:?} -> {path:?}"
        );
        assert!(
            !decoded
                .iter()
                .any(|b| matches!(b, b'/' | b'\\' | b'%' | 0..=0x1f | 0x7f)),
            "{target:?} -> {path:?}"
        );
        assert!(
            std::str::from_utf8(&decoded).is_ok(),
            "{target:?} -> {path:?}"
        );
    }
    let again = normalize(path).expect("a normalized path normalizes");
    assert_eq!(&*again.path, path, "{target:?}");

    // What the upstream receives, parsed back as a server parses a request target. (In the
    // proxy the target has already been parsed by hyper; normalize's own query check is
    // laxer than http's, so a target http would refuse never gets this far.)
    if target.parse::<http::uri::PathAndQuery>().is_err() {
        return;
    }
    let pq = match n.query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let received: http::Uri = pq.parse().expect("the forwarded target parses");
    assert_eq!(received.path(), path);
    let method = &METHODS[usize::from(m) % METHODS.len()];
    let a = SNAPSHOT.table.find(method, path);
    let b = SNAPSHOT.table.find(method, received.path());
    assert_eq!(
        a.as_ref().map(|r| r.index),
        b.as_ref().map(|r| r.index),
        "{target:?}"
    );
    if let (Some(a), Some(b)) = (a, b) {
        assert!(a.params.iter().eq(b.params.iter()), "{target:?}");
    }
});
