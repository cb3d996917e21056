//! Properties of routing on the normalized path, against the example bundle's route table:
//! whatever the spelling of a target, the route matched on the normalized path is the route
//! matched on what the upstream receives (the URI toolgate builds, parsed back as a server
//! parses a request target), and a server that percent-decodes before routing sees the same
//! segments: no `/`, `\`, `.` or `..` appears by decoding.

use http::Method;
use proptest::prelude::*;
use std::sync::LazyLock;
use toolgate::classify::normalize::normalize;
use toolgate::config::Upstream as UpstreamConfig;
use toolgate::forward::Upstream;
use toolgate::snapshot::Snapshot;

/// The example bundle, loaded once for every case.
fn bundle() -> &'static Snapshot {
    static SNAPSHOT: LazyLock<Snapshot> = LazyLock::new(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/tools");
        toolgate::bundle::load(&dir, "2026-03-16T10:00:00Z".parse().unwrap()).unwrap()
    });
    &SNAPSHOT
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        // Route literals and their encoded or cased spellings.
        prop::sample::select(vec![
            "db",
            "v1",
            "tenants",
            "payments",
            "payouts",
            "refunds",
            "deploy",
            "deployments",
            "migrations",
            "%64b",
            "%76%31",
            "tenant%73",
            "DB",
            "Tenants",
            "t-1",
            "po-7",
        ])
        .prop_map(str::to_owned),
        // Dot segments, separators and the escapes that hide them.
        prop::sample::select(vec![
            ".",
            "..",
            "%2e",
            "%2E%2e",
            ".%2e",
            "",
            "%2f",
            "%5c",
            "%25",
            "%252e",
            "..;",
            ".;x",
            "x;y=1",
            ";",
            "%3b",
            "%00",
            "%c0%ae",
            "%e2%80%ae",
            "%20",
            "~",
            "%7E",
            "a.b",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9._~%;:@!$&'()*+,=-]{1,6}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(segment(), 0..7),
        prop::bool::ANY,
        prop::option::of("[a-z0-9=&%._~;-]{0,10}"),
    )
        .prop_map(|(segs, double, query)| {
            let mut t = String::from(if double { "//" } else { "/" });
            t.push_str(&segs.join("/"));
            if let Some(q) = query {
                t.push('?');
                t.push_str(&q);
            }
            t
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![Method::GET, Method::POST, Method::DELETE])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_route_matched_is_the_route_the_upstream_sees(t in target(), m in method()) {
        let snapshot = bundle();
        let upstream = Upstream::new(&UpstreamConfig::default(), prometheus::IntGauge::new("t", "t").unwrap()).unwrap();
        let Ok(n) = normalize(&t) else { return Ok(()) };
        let matched = snapshot.table.find(&m, &n.path);

        // What toolgate sends, parsed back the way a server parses a request target.
        // The request's own target, which toolgate reuses when normalizing left it as is.
        let original: Option<http::uri::PathAndQuery> = t.parse().ok();
        let uri = upstream
            .uri_for(original.as_ref(), &n.path, n.query)
            .expect("a normalized target is a URI");
        let pq = uri.path_and_query().unwrap().as_str().to_owned();
        let received: http::Uri = pq.parse().expect("the upstream can parse it");
        prop_assert_eq!(received.path(), &*n.path);
        prop_assert_eq!(received.query(), n.query);
        let seen = snapshot.table.find(&m, received.path());
        match (&matched, &seen) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                prop_assert_eq!(a.index, b.index);
                let pa: Vec<_> = a.params.iter().collect();
                let pb: Vec<_> = b.params.iter().collect();
                prop_assert_eq!(pa, pb);
            }
            _ => prop_assert!(false, "{t}: matched {:?}, upstream {:?}",
                matched.as_ref().map(|r| r.index), seen.as_ref().map(|r| r.index)),
        }
        // Normalizing what the upstream got changes nothing.
        prop_assert_eq!(normalize(&pq).unwrap().path, n.path.clone());

        // A server that percent-decodes before routing sees the same segments.
        for seg in n.path.split('/').skip(1) {
            let decoded = percent_encoding::percent_decode_str(seg).collect::<Vec<u8>>();
            prop_assert!(!decoded.contains(&b'/') && !decoded.contains(&b'\\'), "{t}: {seg}");
            prop_assert!(decoded != b"." && decoded != b"..", "{t}: {seg}");
            prop_assert!(!decoded.contains(&b'%') && !decoded.iter().any(|b| *b < 0x20 || *b == 0x7f),
                "{t}: {seg} decodes to a byte that could be decoded again or a control");
            prop_assert!(std::str::from_utf8(&decoded).is_ok(), "{t}: {seg}");
        }
    }

    /// Spellings that normalize to the same path match the same route with the same params.
    #[test]
    fn equivalent_spellings_route_alike(id in "[a-z0-9-]{1,8}", m in method()) {
        let snapshot = bundle();
        let canonical = format!("/db/v1/tenants/{id}");
        let spellings = [
            format!("//db/v1/tenants/{id}"),
            format!("/db/./v1/tenants/{id}"),
            format!("/db/x/../v1/tenants/{id}"),
            format!("/%64b/v1/%74enants/{id}"),
            format!("/db//v1/tenants/{id}"),
            format!("/db/v1/x/%2e%2e/tenants/{id}"),
        ];
        let want = snapshot.table.find(&m, &canonical).map(|r| (r.index, r.params.get("id").map(str::to_owned)));
        for s in spellings {
            let n = normalize(&s).unwrap();
            prop_assert_eq!(&*n.path, canonical.as_str());
            let got = snapshot.table.find(&m, &n.path).map(|r| (r.index, r.params.get("id").map(str::to_owned)));
            prop_assert_eq!(&got, &want, "{}", s);
        }
    }
}
