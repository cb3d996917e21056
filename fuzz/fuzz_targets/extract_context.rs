//! Context extraction from headers and JSON bodies, through the example bundle's routes.
//! Input: a route selector byte, then header lines (`name: value`, raw bytes) up to an empty
//! line, then the body. Extraction never panics, is deterministic, never accepts a body
//! serde_json rejects, and every amount it yields is finite, non-negative and exact.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use toolgate::extract::{extract, RequestView};
use toolgate::snapshot::Snapshot;

static SNAPSHOT: LazyLock<Snapshot> = LazyLock::new(|| {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/tools");
    let now: jiff::Timestamp = "2026-03-16T10:00:00Z".parse().unwrap();
    toolgate::bundle::load(&dir, now).expect("the example bundle loads")
});

fuzz_target!(|data: &[u8]| {
    let Some((&r, rest)) = data.split_first() else {
        return;
    };
    let route = &SNAPSHOT.routes[usize::from(r) % SNAPSHOT.routes.len()];
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    // Route params: the template's own text is a fine stand-in path for any value.
    let mut router = matchit::Router::new();
    router.insert(&*route.path, ()).unwrap();
    let path = route
        .path
        .split('/')
        .map(|s| if s.starts_with('{') { "p" } else { s })
        .collect::<Vec<_>>()
        .join("/");
    let Ok(matched) = router.at(&path) else {
        return;
    };
    let view = RequestView {
        headers: &headers,
        params: &matched.params,
        query: None,
        body: route.context.reads_body.then_some(body),
    };
    let first = extract(&route.context, &view);
    let second = extract(&route.context, &view);
    assert_eq!(format!("{first:?}"), format!("{second:?}"));
    let Ok(x) = first else {
        return;
    };
    if route.context.reads_body && !body.is_empty() {
        let doc: serde_json::Value =
            serde_json::from_slice(body).expect("accepted bodies are JSON to serde_json too");
        assert!(doc.is_object());
    }
    if let Some(a) = x.facts.amount {
        assert!(a.is_finite() && a >= 0.0, "{a}");
    }
});
